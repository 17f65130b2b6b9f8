"""`python -m phasecal` from the checkout's root: works in the editable install, says what is wrong otherwise."""

import subprocess
import sys

from wheel_files import ROOT

PROFILE = min(ROOT.glob("results/*/*/profile.json"))  # a committed profile


def _module(*args: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *flags, "-m", "phasecal", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_python_m_phasecal_from_the_root_reaches_the_stage_folders():
    proc = _module("show", str(PROFILE))
    assert proc.returncode == 0, proc.stderr
    assert "phase_affine" in proc.stdout


def test_a_shadowing_source_folder_gets_one_line_and_exit_2():
    # -S leaves out site-packages, so only the root's ./phasecal is importable: the case of a wheel
    # installed elsewhere while the current folder is a checkout's root.
    proc = _module("--version", flags=("-S",))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "install this checkout" in proc.stderr
