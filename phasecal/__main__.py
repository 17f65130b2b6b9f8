"""`python -m phasecal ...`: the CLI without the console script (e.g. from a wheel installed with --target)."""

import sys
from importlib.util import find_spec
from pathlib import Path

import phasecal

if find_spec("phasecal.kernels") is None:
    # The current folder's ./phasecal (a checkout's root) shadows the installed package, and a checkout's
    # stage folders (kernels/, probes/, ...) become subpackages only through an install.
    print(f"phasecal: {Path(phasecal.__file__).parent} is a source folder without its stage folders (kernels/, "
          "probes/, ...); run from another folder, or install this checkout with `pip install -e .`", file=sys.stderr)
    sys.exit(2)

from phasecal.cli import app  # noqa: E402

app(prog_name="phasecal")
