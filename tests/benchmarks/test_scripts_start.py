"""Every benchmark script still starts: they run by hand or on a lent GPU, so an import that a
refactor broke would otherwise surface only there (fair_executed.py once imported a moved name)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = ["bench_fit.py", "bench_kernels.py", "bench_simulator.py", "fair_executed.py", "fair_vs_mb.py",
           "gpu_check.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_answers_help(script):
    r = subprocess.run([sys.executable, str(BENCHMARKS / script), "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower()


def test_every_script_is_listed():
    mains = {p.name for p in BENCHMARKS.glob("*.py") if "__main__" in p.read_text()}
    assert mains <= set(SCRIPTS) | {"gpu_check_env.py", "gpu_check_runner.py", "gpu_check_summary.py"}, mains
