"""A results folder holding a profile that cannot mean anything: the report lists it in one line
(file and field) and draws the rest, instead of a notebook's traceback."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.reports.data import load_results

REPO = Path(__file__).resolve().parents[2] / "results" / "cpu-intel-r-xeon-r-processor" / "tiny"


def _results_with_a_bad_profile(tmp_path: Path) -> Path:
    good, bad = tmp_path / "cpu-good" / "tiny", tmp_path / "cpu-bad" / "tiny"
    for folder in (good, bad):
        folder.mkdir(parents=True)
        shutil.copy(REPO / "raw.jsonl", folder)
    shutil.copy(REPO / "profile.json", good)
    profile = json.loads((REPO / "profile.json").read_text())
    profile["step_model"]["params"]["intercept"] = -1.0  # negative TTFTs with exit 0, before
    profile["derived"] = "oops"
    (bad / "profile.json").write_text(json.dumps(profile))
    return tmp_path


def test_the_bad_profile_is_one_problem_line_and_the_rest_loads(tmp_path):
    results = load_results(_results_with_a_bad_profile(tmp_path))
    [problem] = results.problems
    assert "cpu-bad/tiny/profile.json" in problem and "'derived'" in problem and "\n" not in problem
    assert [d.slug for d in results.with_profile()] == ["cpu-good"]


@pytest.mark.slow
def test_report_on_a_folder_with_a_bad_profile_succeeds_and_names_it(tmp_path):
    results = _results_with_a_bad_profile(tmp_path / "results")
    res = CliRunner().invoke(app, ["report", "--results", str(results), "--out", str(tmp_path / "html")])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    assert "cpu-bad/tiny/profile.json" in (tmp_path / "html" / "01_devices.html").read_text()
