"""The one atomic writer: whole file or nothing, umask permissions, no temp left, symlinks not followed."""

import os
import stat
import subprocess
import sys

import pytest

from phasecal.atomic import atomic_file, write_atomic


def test_writes_text_and_bytes_with_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.json", "{}\n")
        write_atomic(tmp_path / "b.png", b"\x89PNG")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").read_text() == "{}\n" and (tmp_path / "b.png").read_bytes() == b"\x89PNG"
    for name in ("a.json", "b.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.png"]


def test_a_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write("half")
        raise RuntimeError("disk went away")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_full_disk_leaves_no_temp(tmp_path):
    """A file-size limit makes write() fail with EFBIG as a full disk fails with ENOSPC."""
    code = ("import resource, signal, sys\n"
            "from phasecal.atomic import write_atomic\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
            "try:\n    write_atomic(sys.argv[1], 'x' * 100000)\n"
            "except OSError as e:\n    print('failed', e.errno)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "summary.json")], capture_output=True,
                         text=True, timeout=60)
    assert res.stdout.startswith("failed"), res.stdout + res.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_planted_symlink_is_replaced_not_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").symlink_to(outside)
    for i in range(3):  # temp names are unique: no fixed name to plant a link at
        (out / f".summary.json.{i}.tmp").symlink_to(outside)
    write_atomic(out / "summary.json", "new")
    assert outside.read_text() == "precious"
    assert not (out / "summary.json").is_symlink() and (out / "summary.json").read_text() == "new"
