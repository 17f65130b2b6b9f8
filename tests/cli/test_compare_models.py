"""`phasecal compare` and `phasecal models`, and Profile.predict: numbers from the committed profiles."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.fitting.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
CPU = ROOT / "results" / "cpu-intel-r-xeon-r-processor" / "tiny" / "profile.json"
H200 = ROOT / "results" / "reference" / "paper_H200_Qwen3-8B" / "profile.json"


def test_compare_cpu_against_the_papers_h200_prints_ratios():
    res = CliRunner().invoke(app, ["compare", str(CPU), str(H200)])
    assert res.exit_code == 0, res.output
    a, b = load_profile(CPU).exclusive["eager"], load_profile(H200).exclusive["eager"]
    line = next(r for r in res.output.splitlines() if "eager β_p (µs/token)" in r)
    assert f"{b.beta_p / a.beta_p:.3g}" in line  # the ratio B ÷ A
    assert "MB capacity, azure_conv (tok/s)" in res.output and "B ÷ A" in res.output


def test_compare_bad_profile_exit_2(tmp_path):
    res = CliRunner().invoke(app, ["compare", str(CPU), str(tmp_path / "none.json")])
    assert res.exit_code == 2 and "no such profile" in res.output


def test_models_lists_catalog_with_sources():
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0
    assert "Qwen3-8B" in res.output and "https://huggingface.co/Qwen/Qwen3-8B/blob/main/config.json" in res.output


def test_predict_is_the_step_model_in_one_call():
    p = load_profile(H200)
    c = p.exclusive["eager"]
    assert p.predict(prefill=2048) == pytest.approx(c.alpha_p + c.beta_p * 2048)
    assert p.predict(decode=256, context=1024) == pytest.approx(c.alpha_d + c.beta_d * 256)
    assert p.predict(prefill=[(256, 1024)], decode=[900, 3000]) == pytest.approx(
        c.alpha_p + c.beta_p * 256 + c.alpha_d + c.beta_d * 2)
    for bad in ({}, {"prefill": [(0, 0)]}, {"decode": [-1]}):
        with pytest.raises(ValueError):
            p.predict(**bad)


def test_help_shows_defaults_and_flags_as_flags():
    text = " ".join(CliRunner().invoke(app, ["simulate", "--help"]).output.split())  # whatever the wrapping
    assert "[default: the profile's MB budget, else 2048]" in text and "[default: 256" in text
    assert "<bool>" not in text and "--execute Also run" in text and "trace file PATH.csv" in text
    run_help = " ".join(CliRunner().invoke(app, ["run", "--help"]).output.split())
    assert "[default: tiny on the CPU" in run_help and "--quick A smaller" in run_help and "<bool>" not in run_help


def test_compare_reads_measured_ceilings_beside_each_profile():
    out = CliRunner().invoke(app, ["compare", str(CPU), str(CPU)]).output
    gemm = next(line for line in out.splitlines() if "measured gemm torch.tflops" in line)
    assert [c.strip() for c in gemm.split("│")[-4:-1]] == ["0.09", "0.09", "1"]  # from results/.../summary.json
    assert "measured bandwidth torch/copy.plateau_gb_s" in out
