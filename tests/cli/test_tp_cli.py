"""`--tp N`: refused in one line when the ranks cannot run; over 2 gloo ranks on the CPU the all-reduce probe
writes nccl-tests-style points; a rank killed mid-run ends the run in one line, keeping finished points."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import assert_refused, phasecal
from hypothesis import given, settings
from hypothesis import strategies as st

from phasecal.commands.tp_launch import check_devices
from phasecal.records import read_raw


def test_more_ranks_than_cores_is_one_line(tmp_path):
    too_many = (os.cpu_count() or 1) + 1
    assert_refused(phasecal("probe", "--tp", too_many, "--device", "cpu", "--out", tmp_path), f"--tp {too_many}",
                   "cores")


def test_zero_ranks_and_one_device_probe_are_one_line(tmp_path):
    assert_refused(phasecal("run", "--tp", "0", "--device", "cpu", "--out", tmp_path), "--tp must be a positive")
    assert_refused(phasecal("probe", "--tp", "2", "--suite", "bandwidth", "--device", "cpu", "--out", tmp_path),
                   "bandwidth probe measures one device", "without --tp")


@settings(max_examples=50, deadline=None)
@given(st.integers(-10**6, 10**6))
def test_any_rank_count_runs_on_the_cpu_or_is_refused_in_one_line(tp):
    cores = os.cpu_count() or 1
    if 1 <= tp <= cores:
        assert check_devices("cpu", tp) == "cpu"
    else:
        with pytest.raises(ValueError, match=r"^--tp .*(positive|cores)") as e:
            check_devices("cpu", tp)
        assert "\n" not in str(e.value)


def _probe(out: Path, suite: str) -> list[str]:
    return [sys.executable, "-m", "phasecal", "probe", "--tp", "2", "--suite", suite, "--quick", "--device", "cpu",
            "--out", str(out)]


@pytest.mark.slow
def test_allreduce_probe_over_two_gloo_ranks(tmp_path):
    res = subprocess.run(_probe(tmp_path, "allreduce"), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (raw,) = tmp_path.glob("*/tiny-tp2/raw.jsonl")
    header, points = read_raw(raw)
    assert header.settings["tp"] == 2 and "gloo" in header.settings["interconnect"]
    assert len(points) == 4 and all(p.probe == "allreduce" for p in points)
    for p in points:  # world 2: busbw = algbw = bytes / time
        assert p.extra["algbw_gb_s"] == pytest.approx(p.params["bytes"] / p.median_s / 1e9)
        assert p.extra["busbw_gb_s"] == pytest.approx(p.extra["algbw_gb_s"])


def _workers(pid: int) -> list[int]:
    """The launcher's rank processes: children of `pid` started by multiprocessing's spawn."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in cmd:
            out.append(int(stat.parent.name))
    return out


def _start_and_wait_for_points(out: Path, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    """`probe --tp 2 --suite step` started, once its first group of points is on disk."""
    proc = subprocess.Popen(_probe(out, "step"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = list(out.glob("*/tiny-tp2/raw.jsonl"))
        if found and len(found[0].read_text().splitlines()) > 1:
            return proc, found[0]
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("no point was written in time")


@pytest.mark.slow
def test_killed_rank_ends_the_run_in_one_line_keeping_points(tmp_path):
    proc, raw = _start_and_wait_for_points(tmp_path)
    workers = _workers(proc.pid)
    assert len(workers) == 2, workers
    os.kill(workers[1], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err.decode()
    last = err.decode().strip().splitlines()[-1]
    # the agent saw the kill, or rank 0 saw its peer go first: either way the dead rank is named
    assert re.search(r"rank \d of 2 died (\(signal SIGKILL\)|without an error)", last), last
    assert "finished points are kept" in last, last
    assert "Traceback" not in err.decode()
    _, kept = read_raw(raw)
    assert kept and all(p.probe == "step" for p in kept)


@pytest.mark.slow
def test_hung_rank_ends_the_run_within_the_timeout(tmp_path):
    proc, raw = _start_and_wait_for_points(tmp_path, {"PHASECAL_TP_TIMEOUT_S": "5"})
    workers = _workers(proc.pid)
    os.kill(workers[0], signal.SIGSTOP)  # alive but stuck: only the collectives' timeout can tell
    try:
        _, err = proc.communicate(timeout=150)
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert proc.returncode == 1, err.decode()
    last = err.decode().strip().splitlines()[-1]
    assert re.search(r"rank \d of 2 (hung \(a collective waited 5 s\)|died)", last), last
    assert read_raw(raw)[1]


def test_bad_hang_timeout_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PHASECAL_TP_TIMEOUT_S", "soon")
    assert_refused(phasecal("probe", "--tp", "2", "--device", "cpu", "--out", tmp_path), "PHASECAL_TP_TIMEOUT_S")
