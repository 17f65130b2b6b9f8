"""The notebook runner and `phasecal report`: kernels see the results folder, HTML and ipynb are written,
a failing cell fails the run, bad input exits 2."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.errors import RunFailed
from phasecal.reports.run import NOTEBOOKS_DIR, execute_reports, notebook_sources

PROBE_NOTEBOOK = """# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # probe
# %%
import os
print("results at", os.environ["PHASECAL_RESULTS"])
"""


def _report(*args: str):
    return CliRunner().invoke(app, ["report", *args])


def test_shipped_notebooks_are_paired_sources():
    names = [p.stem for p in notebook_sources()]
    assert names == ["01_devices", "02_step_cost", "03_scheduling"]
    for source in notebook_sources():
        assert "formats: ipynb,py:percent" in source.read_text()
        assert source.with_suffix(".ipynb").exists(), f"executed twin of {source.name} is not committed"


def test_execute_writes_html_and_notebook_with_results_dir(tmp_path: Path, capfd):
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    (nbdir / "01_probe.py").write_text(PROBE_NOTEBOOK)
    results, other = tmp_path / "my-results", tmp_path / "machine-b"
    results.mkdir()
    other.mkdir()
    [html] = execute_reports([results, other], tmp_path / "html", update_notebooks=True, notebooks_dir=nbdir)
    assert html == tmp_path / "html" / "01_probe.html"
    assert f"{results}:{other}" in html.read_text()
    nb = nbformat.read(nbdir / "01_probe.ipynb", as_version=4)
    assert str(results) in nb.cells[1].outputs[0]["text"]
    assert nb.cells[0].cell_type == "markdown"  # no empty first cell
    assert "without encryption" not in capfd.readouterr().err  # the kernel runs over Unix sockets, not TCP


def test_failing_cell_fails_the_run(tmp_path: Path):
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    (nbdir / "01_bad.py").write_text("# %%\nraise RuntimeError('figure broke')\n")
    with pytest.raises(RunFailed, match="01_bad.py failed .*RuntimeError: figure broke"):
        execute_reports(tmp_path, tmp_path / "html", notebooks_dir=nbdir)


def test_cli_missing_results_exits_2(tmp_path: Path):
    r = _report("--results", str(tmp_path), "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "html"))
    assert r.exit_code == 2
    assert "nope does not exist" in r.output


def test_notebooks_dir_is_in_the_package():
    assert NOTEBOOKS_DIR.name == "notebooks" and (NOTEBOOKS_DIR.parent / "run.py").exists()


def test_committed_notebooks_match_their_sources():
    """The executed .ipynb must hold the same cells as its .py: re-run `phasecal report --update-notebooks`
    after editing a notebook source."""
    import jupytext

    for source in notebook_sources():
        py = [c.source for c in jupytext.read(source).cells]
        nb = [c.source for c in nbformat.read(source.with_suffix(".ipynb"), as_version=4).cells]
        assert py == nb, f"{source.with_suffix('.ipynb').name} is stale against {source.name}"
