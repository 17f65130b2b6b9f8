"""Bad input to the CLI: a clear one-line error naming the problem, exit code 2, nothing written."""

import json
import os

import pytest
from typer.testing import CliRunner

from phasecal.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args))


def test_version_and_help():
    assert _run("--version").output.startswith("phasecal ")
    out = _run("--help").output
    for cmd in ("run", "probe", "fit", "show", "simulate", "report"):
        assert cmd in out


def test_unknown_model_fails_before_writing(tmp_path):
    res = _run("run", "--model", "GPT-9", "--out", str(tmp_path / "r"))
    assert res.exit_code == 2
    assert "unknown model 'GPT-9'" in res.output and "Qwen3-8B" in res.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("device,message", [("meta", "not supported"), ("banana", "unknown device")])
def test_unknown_device(tmp_path, device, message):
    res = _run("run", "--device", device, "--out", str(tmp_path))
    assert res.exit_code == 2 and message in res.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_without_gpu_says_so(tmp_path):
    res = _run("run", "--device", "cuda", "--out", str(tmp_path))
    assert res.exit_code == 2 and "no CUDA GPU" in res.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_unwritable_out_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    res = _run("run", "--out", str(ro / "sub"))
    assert res.exit_code == 2 and "cannot create output folder" in res.output


def test_out_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    res = _run("run", "--out", str(f))
    assert res.exit_code == 2 and "output folder" in res.output


@pytest.mark.parametrize("content,field", [
    ('{"schema_version": 1, "device": {"name": "x"}, "model": {"name": "m"}, "exclusive": {"eager": '
     '{"alpha_p": 1e-3, "beta_p": -1e-5, "alpha_d": 1e-3, "beta_d": 1e-5}}}', "exclusive.eager.beta_p"),
    ('{"schema_version": 99, "device": {}, "model": {}, "exclusive": {}}', "schema_version"),
    ('{"schema_version": 1, "device": {"name": "x"}, "model": {"name": "m"}, "exclu', "not valid JSON"),
])
def test_show_refuses_a_malformed_profile(tmp_path, content, field):
    p = tmp_path / "profile.json"
    p.write_text(content)
    res = _run("show", str(p))
    assert res.exit_code == 2 and field in res.output


def test_fit_refuses_a_truncated_raw_file(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text(json.dumps({"kind": "header", "schema_version": 1, "device": {"name": "x"}, "settings": {}})
                   + "\n" + '{"kind": "point", "probe": "step", "key": 1\n')
    out = tmp_path / "profile.json"
    res = _run("fit", str(raw), "-o", str(out))
    assert res.exit_code == 2 and "raw.jsonl:2" in res.output
    assert not out.exists()
