"""`phasecal fit` and `phasecal show`: profile and plot written; bad input exits 2 with one clear line."""

from pathlib import Path

from synthetic_steps import TRUE_LINEAR, grid, write_raw
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.fitting.external import import_paper_calibration
from phasecal.fitting.profile import StepModel, load_profile, save_profile

runner = CliRunner()


def test_fit_then_show_with_plot(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", StepModel("extended_linear", TRUE_LINEAR), steps=grid(graph=False))
    out = tmp_path / "profile.json"
    result = runner.invoke(app, ["fit", str(raw), "-o", str(out), "--budget", "1024"])
    assert result.exit_code == 0, result.output
    assert "profile written to" in result.output and "extrapolation" in result.output
    assert load_profile(out).mixed.budget == 1024
    png = tmp_path / "fit.png"
    result = runner.invoke(app, ["show", str(out), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "β_MB" in result.output and png.read_bytes()[:4] == b"\x89PNG"


def test_bad_input_exits_2(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text('{"kind": "point"}\n')
    result = runner.invoke(app, ["fit", str(raw), "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 2 and "first line must be the run header" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "device": {"name": "x"}, "model": {"name": "m"}, "exclusive": {}}')
    result = runner.invoke(app, ["show", str(bad)])
    assert result.exit_code == 2 and "field 'exclusive.eager' is missing" in result.output


def test_plot_of_imported_profile_is_refused(tmp_path):
    reference = Path(__file__).parents[2] / "results" / "reference"
    path = save_profile(import_paper_calibration(reference / "eb_paper_pd_calibration_Qwen3-8B_H200.json",
                                                 reference / "eb_paper_beta_mb_Qwen3-8B_H200.json"),
                        tmp_path / "p.json")
    result = runner.invoke(app, ["show", str(path), "--plot", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "no fitted steps to plot" in result.output


def test_fitting_imports_without_torch():
    """Profiles are fitted, shown and imported on machines without torch, triton or cupy."""
    import subprocess
    import sys

    code = ("import sys, phasecal.fitting.fit, phasecal.fitting.show, phasecal.fitting.external, "
            "phasecal.commands.fit; print(sorted(m for m in ('torch', 'triton', 'cupy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
