"""Ctrl-C during `phasecal run` keeps every finished point, and the same command resumes from them."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phasecal.records import read_raw


def _phasecal(out: Path) -> list[str]:
    return [sys.executable, "-m", "phasecal", "run", "--quick", "--device", "cpu", "--out", str(out)]


def _raw(out: Path) -> Path | None:
    found = list(out.glob("*/tiny/raw.jsonl"))
    return found[0] if found else None


@pytest.mark.slow
def test_ctrl_c_keeps_points_and_rerun_resumes(tmp_path):
    env = dict(os.environ, TRITON_INTERPRET="0")
    proc = subprocess.Popen(_phasecal(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # wait for the first group of points to be on disk
        raw = _raw(tmp_path)
        if raw is not None and len(raw.read_text().splitlines()) > 1:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode()
    _, kept = read_raw(raw)  # whole lines only: nothing half-written
    assert kept

    done = subprocess.run(_phasecal(tmp_path), capture_output=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    _, final = read_raw(raw)
    assert [p.key for p in final[: len(kept)]] == [p.key for p in kept]
    assert [p.median_s for p in final[: len(kept)]] == [p.median_s for p in kept]  # not measured again
    assert len({p.key for p in final}) == len(final) >= len(kept)  # each point once
    assert (raw.parent / "profile.json").exists()
