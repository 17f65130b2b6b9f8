"""`phasecal run`: the main job end to end — probe step times, fit, derive EB thresholds, simulate MB vs EB."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

WORKLOAD = "azure_conv"  # the bundled Azure LLM conversation trace (scheduler/traces/)


def _check_writable(out: Path) -> None:
    """Fail before any probing if results could not be written (nothing half-done afterwards)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create output folder {out}: {e.strerror}; pass a writable --out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {out} is not writable; pass a writable --out")


def run(
    device: Annotated[str, typer.Option(help="auto (the GPU if torch sees one, else the CPU), cpu or cuda[:N].")]
    = "auto",
    model: Annotated[str | None, typer.Option(help="Model of the catalog [default: tiny on the CPU, Qwen3-8B on a "
                                                   "GPU].")] = None,
    out: Annotated[Path, typer.Option(help="Results folder; files go to OUT/<device>/<model>/.")] = Path("results"),
    quick: Annotated[bool, typer.Option("--quick", help="A smaller grid and shorter sampling (CI, smoke tests).")]
    = False,
) -> None:
    """The main job: probe step times, fit the cost model, derive EB thresholds, simulate MB vs EB.

    Times whole model steps over a grid of batch compositions, fits the step-cost model, derives the
    EB thresholds and simulates MB against EB on the Azure conversation trace; prints a summary and
    writes OUT/<device>/<model>/raw.jsonl, profile.json and schedule_azure_conv.json. An interrupted
    run resumes from its finished points; for a fresh measurement, pass another --out.
    """
    from rich.console import Console

    from phasecal.fitting.fit import fit_profile
    from phasecal.fitting.profile import save_profile
    from phasecal.kernels.catalog import get_model_shape
    from phasecal.probes.suite import SuiteConfig, resolve_device, run_suite
    from phasecal.scheduler.run import simulate

    from .run_summary import print_summary, write_schedule

    console = Console(stderr=True)
    started = time.monotonic()
    dev = resolve_device(device)
    model = model or ("Qwen3-8B" if dev.type == "cuda" else "tiny")
    get_model_shape(model)  # unknown model: fail before touching the disk
    _check_writable(out)

    console.rule(f"[bold]phasecal run[/] · {model} on {dev}")
    raw = run_suite(SuiteConfig(suite="step", model=model, device=device, out_dir=out, quick=quick, resume=True),
                    console=console)
    console.print("fitting the step-cost model ...")
    profile = fit_profile([raw], command=" ".join(["phasecal", *sys.argv[1:]]))
    console.print(f"simulating MB and EB on the {WORKLOAD} trace ...")
    report = simulate(profile, WORKLOAD, ("mb", "eb"))
    profile.derived["eb_thresholds"] = {WORKLOAD: report.thresholds.to_dict()}
    profile_path = save_profile(profile, raw.with_name("profile.json"))
    schedule_path = write_schedule(report, raw.with_name(f"schedule_{WORKLOAD}.json"))
    print_summary(profile, report, Console())
    console.print(f"wrote {raw}, {profile_path}, {schedule_path} in {time.monotonic() - started:.0f} s")
