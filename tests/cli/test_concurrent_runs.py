"""Two `phasecal run`s into one folder at once: one runs, the other refuses in one line naming the holder."""

import subprocess
import sys

import pytest

from phasecal.records import read_raw


@pytest.mark.slow
def test_two_runs_into_one_folder_one_runs_one_refuses(tmp_path):
    cmd = [sys.executable, "-m", "phasecal", "run", "--quick", "--device", "cpu", "--out", str(tmp_path)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = {p: p.communicate(timeout=600) for p in (first, second)}
    codes = sorted(p.returncode for p in outs)
    assert codes == [0, 2], {p.returncode: err[-2000:] for p, (_, err) in outs.items()}
    loser = next(p for p in outs if p.returncode == 2)
    winner = next(p for p in outs if p.returncode == 0)
    assert f"in use by another phasecal (pid {winner.pid}" in outs[loser][1]
    [raw] = tmp_path.glob("*/tiny/raw.jsonl")
    keys = [p.key for p in read_raw(raw)[1]]
    assert len(keys) == len(set(keys))  # every point once
