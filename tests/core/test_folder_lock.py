"""One writer per result folder: a second process is refused, naming the holder; the lock dies with its holder."""

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


def test_a_second_process_is_refused_with_the_holders_pid_and_command(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match=f"in use by another phasecal \\(pid {proc.pid}: phasecal run --quick\\)"):
            with hold_result_folder(tmp_path):
                pass
    finally:
        proc.kill()
        proc.wait()
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
