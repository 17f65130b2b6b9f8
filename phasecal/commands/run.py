"""`phasecal run`: the main job end to end — probe step times, fit, derive EB thresholds, simulate MB vs EB."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

# the bundled Azure LLM conversation trace (scheduler/traces/), time-scaled to a load the device carries:
# at its own rate it swamps a CPU, and both policies then only measure the queue
WORKLOAD = "azure_conv:load=0.8"


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
    workload: Annotated[str, typer.Option("--workload", "-w", help=(
        "Workload of the MB/EB comparison: a spec as for `phasecal simulate` or a trace file PATH.csv; "
        ":load=RHO time-scales it to that fraction of MB's capacity."))] = WORKLOAD,
) -> None:
    """The main job: probe step times, fit the cost model, derive EB thresholds, simulate MB vs EB.

    Times whole model steps over a grid of batch compositions, fits the step-cost model, derives the
    EB thresholds and simulates MB against EB on the Azure conversation trace (time-scaled to 0.8 of MB's
    capacity, so the device carries it); prints a summary and writes OUT/<device>/<model>/raw.jsonl,
    profile.json and schedule_<workload>.json. An interrupted
    run resumes from its finished points; for a fresh measurement, pass another --out.
    """
    from rich.console import Console

    from phasecal.fitting.fit import fit_profile
    from phasecal.fitting.profile import save_profile
    from phasecal.kernels.catalog import get_model_shape
    from phasecal.probes.suite import SuiteConfig, resolve_device, run_suite
    from phasecal.scheduler.run import simulate
    from phasecal.scheduler.workload_spec import workload_from_spec

    from .run_summary import print_summary, schedule_name, write_schedule

    console = Console(stderr=True)
    started = time.monotonic()
    dev = resolve_device(device)
    model = model or ("Qwen3-8B" if dev.type == "cuda" else "tiny")
    get_model_shape(model)  # unknown model or bad workload: fail before touching the disk
    work = workload_from_spec(workload)
    _check_writable(out)

    console.rule(f"[bold]phasecal run[/] · {model} on {dev}")
    raw = run_suite(SuiteConfig(suite="step", model=model, device=device, out_dir=out, quick=quick, resume=True),
                    console=console)
    console.print("fitting the step-cost model ...")
    profile = fit_profile([raw], command=" ".join(["phasecal", *sys.argv[1:]]))
    console.print(f"simulating MB and EB on {work.name} ...")
    report = simulate(profile, work, ("mb", "eb"))
    profile.derived["eb_thresholds"] = {report.workload: report.thresholds.to_dict()}
    profile_path = save_profile(profile, raw.with_name("profile.json"))
    schedule_path = write_schedule(report, raw.with_name(f"schedule_{schedule_name(workload)}.json"), workload)
    print_summary(profile, report, Console())
    console.print(f"wrote {raw}, {profile_path}, {schedule_path} in {time.monotonic() - started:.0f} s")
