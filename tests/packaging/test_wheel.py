"""The wheel holds every subpackage and data file of the checkout; a package left out of pyproject fails here."""

import zipfile

import pytest
from wheel_files import (
    ROOT,
    build_wheel,
    copy_sources,
    declared_packages,
    missing_from_wheel,
    package_dirs,
    package_folders,
)


def test_every_package_folder_is_declared():
    assert sorted(declared_packages()) == sorted(package_folders())


def test_every_top_level_package_folder_is_mapped():
    mapped = set(package_dirs().values())
    tops = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert tops <= mapped, f"top-level folders with an __init__.py but no entry in package-dir: {tops - mapped}"


@pytest.fixture
def sources(tmp_path):
    """A fresh copy of what the wheel is built from (a reused build/ folder would hide a change)."""
    return copy_sources(ROOT, tmp_path / "src")


def test_wheel_holds_every_file_of_the_mapped_folders(sources, tmp_path):
    wheel = build_wheel(sources, tmp_path / "dist")
    assert missing_from_wheel(wheel) == []
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    # the files a wheel-installed `phasecal run` and `phasecal report` open
    assert {"phasecal/commands/run.py", "phasecal/kernels/models.json", "phasecal/probes/peaks.json",
            "phasecal/scheduler/traces/azure_llm_2023_conv.csv", "phasecal/reports/notebooks/01_devices.ipynb"} <= names


def test_a_package_left_out_of_pyproject_is_caught(sources, tmp_path):
    pyproject = sources / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('    "phasecal.commands",\n', ""))
    wheel = build_wheel(sources, tmp_path / "dist")
    missing = missing_from_wheel(wheel)
    assert "phasecal/commands/run.py" in missing
    assert all(m.startswith("phasecal/commands/") for m in missing), missing
