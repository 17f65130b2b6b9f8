"""One writer per result folder: a second process is refused, naming the holder; the lock dies with its holder."""

import contextlib
import subprocess
import sys
import time

import pytest

from phasecal.folder_lock import LOCK_NAME, hold_result_folder

HOLD = ("import sys, time\n"
        "from phasecal.folder_lock import hold_result_folder\n"
        "with hold_result_folder(sys.argv[1], 'phasecal run --quick'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n")


@contextlib.contextmanager
def other_process(script: str, folder, ready: str):
    """A child running `script` on `folder`, once it has printed `ready`; killed on leaving."""
    proc = subprocess.Popen([sys.executable, "-c", script, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == ready
        yield proc
    finally:
        proc.kill()
        proc.wait()


def assert_refused_naming(folder, pid: int, command: str) -> None:
    with pytest.raises(ValueError, match=f"in use by another phasecal \\(pid {pid}: {command}\\)"):
        with hold_result_folder(folder):
            pass


def test_a_second_process_is_refused_with_the_holders_pid_and_command(tmp_path):
    with other_process(HOLD, tmp_path, "held") as proc:
        assert_refused_naming(tmp_path, proc.pid, "phasecal run --quick")
    with hold_result_folder(tmp_path, "after"):  # killed: the kernel dropped its lock
        assert "after" in (tmp_path / LOCK_NAME).read_text()


def test_the_lock_is_reentrant_in_one_process_and_released_after(tmp_path):
    with hold_result_folder(tmp_path, "outer"), hold_result_folder(tmp_path, "inner"):
        assert "outer" in (tmp_path / LOCK_NAME).read_text()
    assert (tmp_path / LOCK_NAME).read_text() == ""
    t0 = time.monotonic()
    with hold_result_folder(tmp_path):
        pass
    assert time.monotonic() - t0 < 1


# locks first and says who it is 0.3 s later: the gap in which two runs started together used to meet
LATE = ("import fcntl, json, os, sys, time\n"
        "fd = os.open(os.path.join(sys.argv[1], '.phasecal.lock'), os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(0.3)\n"
        "os.pwrite(fd, json.dumps({'pid': os.getpid(), 'command': 'late'}).encode(), 0)\n"
        "time.sleep(60)\n")


def test_a_holder_that_has_locked_but_not_yet_written_its_pid_is_still_named(tmp_path):
    with other_process(LATE, tmp_path, "locked") as proc:
        assert_refused_naming(tmp_path, proc.pid, "late")
