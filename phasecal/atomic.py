"""The one way phasecal writes a whole file: a reader sees the old file or the new one, never half of one.

The new content goes to a uniquely named temp file beside the target (same filesystem, so the final
rename is atomic), created with O_EXCL|O_NOFOLLOW so a planted symlink cannot redirect it, with the
permissions the user's umask gives a new file (like `open(path, "w")`), flushed to disk, then renamed
over the target. On any failure, a full disk or Ctrl-C included, the temp file is removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _create_temp(path: Path) -> tuple[int, Path]:
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp  # 0o666 & ~umask, as open(path, "w") gives
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: could not create a unique temp file for {path.name}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, binary: bool = False) -> Iterator[IO]:
    """Open a temp file beside `path` for writing; on a clean exit it replaces `path`, else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8, or bytes) to `path` atomically; returns the path."""
    with atomic_file(path, binary=isinstance(data, bytes)) as f:
        f.write(data)
    return Path(path)
