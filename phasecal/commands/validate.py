"""`phasecal validate`: execute MB, EB and EB+ over a load sweep here and check the profile's predicted winner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_CONCURRENCY = "1,4,8,16,32,48,64"  # scheduler.validate.CONCURRENCIES, kept here so the CLI starts light


def _concurrencies(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--concurrency must be comma-separated positive integers, got {text!r}") from None
    if len(values) < 1 or min(values) < 1:
        raise ValueError(f"--concurrency must be comma-separated positive integers, got {text!r}")
    return values


def _workload(text: str) -> tuple[float, float]:
    try:
        mu_l, mu_o = (float(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--workload must be L/O mean prompt/output tokens (e.g. 256/64), got {text!r}") from None
    if not (1 <= mu_l <= 1e6 and 1 <= mu_o <= 1e6):
        raise ValueError(f"--workload lengths must be between 1 and 1e6 tokens, got {text!r}")
    return mu_l, mu_o


def validate(
    profile: Annotated[Path, typer.Option("--profile", "-p", help="Profile of THIS device (phasecal run / fit).")],
    workload: Annotated[str, typer.Option("--workload", "-w", help="L/O mean prompt/output tokens (±50%).")]
    = "256/64",
    concurrency: Annotated[str, typer.Option("--concurrency", help="Closed-loop load points, light to heavy.")]
    = DEFAULT_CONCURRENCY,
    repeats: Annotated[int, typer.Option("--repeats", min=2, help="Executed runs per policy and point (noise).")] = 3,
    out: Annotated[Path | None, typer.Option("--out", "-o", help=(
        "Folder for validation.json [default: validate/ beside the profile].")) ] = None,
) -> None:
    """Execute MB, EB and EB+ for real over a sweep of load and compare the executed winner with the
    profile's predicted decision and with the simulation; writes validation.json."""
    from rich.console import Console

    from phasecal.atomic import write_atomic
    from phasecal.fitting.profile import load_profile
    from phasecal.scheduler.validate import validate as run_validation

    from .validate_summary import print_point, print_validation

    mu_l, mu_o = _workload(workload)
    loads = _concurrencies(concurrency)
    prof = load_profile(profile)
    folder = out if out is not None else profile.parent / "validate"
    console = Console()
    console.print(f"validating {profile} on this machine: {workload} at c = {', '.join(map(str, loads))}, "
                  f"{repeats} executed runs per policy ...")
    result = run_validation(prof, str(profile), mu_l=mu_l, mu_o=mu_o, concurrencies=loads, repeats=repeats,
                            progress=lambda p: print_point(p, console))
    print_validation(result, console)
    path = write_atomic(folder / "validation.json", json.dumps(result.to_dict(), indent=2) + "\n")
    console.print(f"wrote {path} in {result.seconds:.0f} s")
