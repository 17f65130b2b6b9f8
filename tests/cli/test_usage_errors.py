"""Usage errors of the installed command (a flag value of the wrong type, an unknown option, a missing
argument) are one line and exit 2 too, not click's usage box."""

import subprocess
import sys

import pytest
from hostile import CPU_PROFILE


@pytest.mark.parametrize("args,words", [
    (["simulate", "-p", str(CPU_PROFILE), "--kv-tokens", "1e12"], ["--kv-tokens", "integer"]),
    (["simulate", "--bogus"], ["--bogus"]),
    (["fit"], ["Missing argument"]),
])
def test_usage_errors_are_one_line_and_exit_2(args, words):
    res = subprocess.run([sys.executable, "-m", "phasecal", *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), res.stderr
