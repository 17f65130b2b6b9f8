"""Resuming a result folder: torn files heal, one writer at a time, settings must match, --fresh keeps the old."""

import subprocess
import sys

import pytest

from phasecal.errors import Interrupted
from phasecal.probes import step
from phasecal.probes.suite import SuiteConfig, run_suite
from phasecal.records import read_raw


def _cfg(tmp_path, **kw):
    return SuiteConfig(suite="step", model="tiny", device="cpu", out_dir=tmp_path, threads=1, **kw)


def test_a_torn_last_record_is_cut_and_remeasured(fast_suite, tmp_path, capsys):
    path = run_suite(_cfg(tmp_path))
    whole = path.read_bytes()
    _, points = read_raw(path)
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    for cut in (last_start + 1, (last_start + len(whole)) // 2, len(whole) - 1):
        path.write_bytes(whole[:cut])
        run_suite(_cfg(tmp_path, resume=True))
        assert "cut a torn last line" in capsys.readouterr().err
        _, again = read_raw(path)
        assert [p.key for p in again[:-1]] == [p.key for p in points[:-1]]  # every whole point kept
        assert sorted(p.key for p in again) == sorted(p.key for p in points)  # the torn one measured again


def test_a_rerun_says_how_many_points_it_reuses(fast_suite, tmp_path, capsys):
    path = run_suite(_cfg(tmp_path))
    n = len(read_raw(path)[1])
    run_suite(_cfg(tmp_path, resume=True))
    assert f"reusing {n} finished point(s)" in capsys.readouterr().err


def test_quick_after_full_is_refused_and_fresh_starts_anew_keeping_the_old(fast_suite, tmp_path):
    path = run_suite(_cfg(tmp_path))
    before = path.read_bytes()
    with pytest.raises(ValueError, match="full grid vs --quick.*--fresh"):
        run_suite(_cfg(tmp_path, resume=True, quick=True))
    assert path.read_bytes() == before
    run_suite(_cfg(tmp_path, resume=True, quick=True, fresh=True))
    assert read_raw(path)[0].settings["quick"] is True
    [aside] = path.parent.glob("raw.jsonl.before-*")
    assert aside.read_bytes() == before


def test_a_second_writer_is_refused_naming_the_holder(fast_suite, tmp_path):
    path = run_suite(_cfg(tmp_path))
    hold = ("import sys, time\nfrom phasecal.folder_lock import hold_result_folder\n"
            "with hold_result_folder(sys.argv[1], 'phasecal probe --suite step'):\n"
            "    print('held', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", hold, str(path.parent)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        before = path.read_bytes()
        with pytest.raises(ValueError, match=f"pid {proc.pid}: phasecal probe --suite step"):
            run_suite(_cfg(tmp_path, resume=True))
        assert path.read_bytes() == before
    finally:
        proc.kill()
        proc.wait()


def test_an_interrupt_says_how_many_points_are_kept(fast_suite, tmp_path, monkeypatch):
    monkeypatch.setattr(step, "group_size", lambda ctx: 2)
    real, calls = step.prepare_point, []

    def dies_in_second_group(ctx, model, params):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(ctx, model, params)

    monkeypatch.setattr(step, "prepare_point", dies_in_second_group)
    with pytest.raises(Interrupted, match="keeps 2 finished point\\(s\\), 2 of them from this run"):
        run_suite(_cfg(tmp_path))
    monkeypatch.setattr(step, "prepare_point", lambda ctx, model, params: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(Interrupted, match="keeps 2 finished point\\(s\\), 0 of them from this run"):
        run_suite(_cfg(tmp_path, resume=True))


def test_a_grid_beyond_memory_is_refused_before_any_file_is_written(fast_suite, tmp_path, monkeypatch):
    from phasecal.probes import step_memory

    monkeypatch.setattr(step_memory, "available_bytes", lambda device: 1024)
    with pytest.raises(ValueError, match=r"step probe's grid of tiny on cpu needs about .* only 0\.0 GiB"):
        run_suite(_cfg(tmp_path))
    assert list(tmp_path.iterdir()) == []
