"""What the wheel must hold, read from pyproject.toml and the checkout, and what a built wheel lacks.

Used by tests/packaging and by CI on the wheel it builds:

    python tests/packaging/wheel_files.py dist/phasecal-*.whl    # exit 1 and the missing files, if any
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}


def package_dirs(root: Path = ROOT) -> dict[str, str]:
    """pyproject's `[tool.setuptools.package-dir]`: import name -> folder of the checkout."""
    return tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def declared_packages(root: Path = ROOT) -> list[str]:
    return tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def package_folders(root: Path = ROOT) -> dict[str, Path]:
    """Every package the mapped folders hold (a folder with an __init__.py), by import name."""
    found = {}
    for name, folder in package_dirs(root).items():
        base = root / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if SKIP_PARTS.isdisjoint(rel.parts):
                found[".".join([name, *rel.parts])] = init.parent
    return found


def checkout_files(root: Path = ROOT) -> list[Path]:
    """Files of the checkout (tracked and untracked-not-ignored; every file if this is no git checkout)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=True,
                                capture_output=True, text=True).stdout.split("\0")
        files = [root / f for f in listed if f]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in root.rglob("*") if p.is_file()]
    return sorted(p for p in files if p.is_file() and SKIP_PARTS.isdisjoint(p.parts) and p.suffix != ".pyc")


def expected_wheel_paths(root: Path = ROOT) -> dict[str, Path]:
    """Path inside the wheel -> checkout file, for every file of every mapped folder."""
    expected, claimed = {}, set()
    files = checkout_files(root)
    # the longest mapping wins: a folder mapped on its own is not also counted under its parent
    for name, folder in sorted(package_dirs(root).items(), key=lambda kv: -len(kv[1])):
        base = (root / folder).resolve()
        for f in files:
            if f not in claimed and f.resolve().is_relative_to(base):
                claimed.add(f)
                expected[f"{name.replace('.', '/')}/{f.resolve().relative_to(base).as_posix()}"] = f
    return expected


def missing_from_wheel(wheel: Path, root: Path = ROOT) -> list[str]:
    """Files of the mapped folders that the wheel lacks, as paths inside the wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    return sorted(set(expected_wheel_paths(root)) - names)


def copy_sources(root: Path, dest: Path) -> Path:
    """Copy what a wheel is built from (pyproject, README, the mapped folders) into dest."""
    wanted = {"pyproject.toml", "README.md"} | set(package_dirs(root).values())
    for f in checkout_files(root):
        rel = f.relative_to(root)
        if rel.parts[0] in wanted:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(f.read_bytes())
    return dest


def build_wheel(src: Path, out: Path) -> Path:
    """Build the wheel of the sources in src with this interpreter's setuptools (no pip, no network)."""
    out.mkdir(parents=True, exist_ok=True)
    code = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"wheel build failed in {src}:\n{proc.stderr[-3000:]}")
    return out / proc.stdout.strip().splitlines()[-1]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python tests/packaging/wheel_files.py WHEEL", file=sys.stderr)
        return 2
    missing = missing_from_wheel(Path(argv[0]))
    for path in missing:
        print(f"missing from the wheel: {path}")
    print(f"{argv[0]}: {len(expected_wheel_paths())} checkout files expected, {len(missing)} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
