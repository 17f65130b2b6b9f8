"""The per-test time limit turns a hang into a failure that names the test."""

import os
import subprocess
import sys
from pathlib import Path

HANGS = '''
import pytest

@pytest.mark.time_limit(1)
def test_hangs():
    while True:
        try:
            pass
        except Exception:  # code under test that swallows errors must not swallow the limit
            pass
'''


def test_a_hanging_test_fails_naming_itself(tmp_path):
    (tmp_path / "test_hang.py").write_text(HANGS)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "time_limit", "-p", "no:cacheprovider",
                          str(tmp_path / "test_hang.py")], capture_output=True, text=True, env=env, timeout=120,
                         cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "test_hangs ran past its time limit of 1 s" in res.stdout
