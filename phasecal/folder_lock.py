"""One writer per result folder: an OS lock (flock) on `<folder>/.phasecal.lock`.

A second `phasecal run` or `probe` into the same folder is refused at once, with the holder's pid and
command, instead of both appending the same points while they fight for the cores. The kernel drops
the lock when its holder exits, however it exits, so a killed run never leaves the folder locked.
The lock file itself stays (removing it would race with a process about to lock it); it holds the
current holder's pid and command, and is emptied on release.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".phasecal.lock"
_held: dict[Path, int] = {}  # folder -> how many times this process entered it (re-entrant)


def _holder(fd: int, wait_s: float = 1.0) -> str:
    """Who holds the lock. A holder writes its pid just after it locks, so a reader that lands in
    between waits a moment for it instead of naming no one (two runs started together did)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            return f"pid {info['pid']}: {info['command']}"
        except (ValueError, KeyError, TypeError, OSError):
            if time.monotonic() >= deadline:
                return "a process that has not yet said who it is"
            time.sleep(0.01)


@contextlib.contextmanager
def hold_result_folder(folder: str | os.PathLike, command: str | None = None) -> Iterator[Path]:
    """Hold the folder's lock for the block; ValueError naming the holder if another process has it."""
    folder = Path(folder).resolve()
    if folder in _held:
        _held[folder] += 1
        try:
            yield folder
        finally:
            _held[folder] -= 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{folder} is in use by another phasecal ({_holder(fd)}); wait for it to finish, "
                             "or pass another --out") from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "command": command or " ".join(["phasecal", *sys.argv[1:]]),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.pwrite(fd, json.dumps(info).encode(), 0)
        _held[folder] = 1
        try:
            yield folder
        finally:
            del _held[folder]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the last descriptor releases the flock
