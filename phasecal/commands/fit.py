"""`phasecal fit` and `phasecal show`: raw step measurements -> profile.json -> tables and a plot."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer


def fit(
    raw: Annotated[list[Path], typer.Argument(help="Raw jsonl files of the step probe (one device, one model).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Profile JSON to write (atomically).")],
    budget: Annotated[int | None, typer.Option(
        "--budget", min=1, help="Engine token budget B for beta_MB(r): mixed steps up to B are used "
                                "(default: every budget measured).")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="k of the k-fold held-out error.")] = 5,
) -> None:
    """Fit every model family to RAW step points, keep the best parametric one, derive alpha/beta and beta_MB."""
    from phasecal.fitting.fit import fit_profile
    from phasecal.fitting.profile import save_profile
    from phasecal.fitting.show import show_profile

    command = shlex.join(["phasecal", *sys.argv[1:]])
    _refuse_overwriting_an_input(out, raw)
    profile = fit_profile(raw, budget=budget, command=command, k=folds)
    save_profile(profile, out)
    show_profile(profile)
    print(f"profile written to {out}")


def _refuse_overwriting_an_input(out: Path, inputs: list[Path]) -> None:
    """The profile must not replace a raw file it is fitted from (that would lose the measurements)."""
    for path in inputs:
        if out.resolve() == path.resolve() or (out.exists() and path.exists() and out.samefile(path)):
            raise ValueError(f"-o {out} is one of the raw input files; write the profile elsewhere, "
                             "e.g. -o profile.json")


def show(
    profile: Annotated[Path, typer.Argument(help="Profile JSON written by `phasecal fit` (or an imported one).")],
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Also write predicted-vs-measured step times to this PNG.")] = None,
) -> None:
    """Print a profile's coefficients, held-out errors and derived values; optionally plot its fit."""
    from phasecal.fitting.profile import load_profile
    from phasecal.fitting.show import plot_predicted_vs_measured, show_profile

    loaded = load_profile(profile)
    show_profile(loaded)
    if plot is not None:
        print(f"plot written to {plot_predicted_vs_measured(loaded, plot)}")
