"""`python -m phasecal ...`: the CLI without the console script (e.g. from a wheel installed with --target)."""

from phasecal.cli import app

app(prog_name="phasecal")
