"""`phasecal run`: the main job end to end — probe step times, fit, derive EB thresholds, simulate MB vs EB."""

from __future__ import annotations

import contextlib
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


def _surely_cpu(device: str) -> bool:
    """Whether the run will be on the CPU, told without importing torch: asked for, or no NVIDIA GPU here."""
    if device == "cpu":
        return True
    gpus = Path("/proc/driver/nvidia/gpus")
    return device == "auto" and (os.environ.get("CUDA_VISIBLE_DEVICES") == "" or not gpus.is_dir()
                                 or not any(gpus.iterdir()))


def run(
    device: Annotated[str, typer.Option(help="auto (the GPU if torch sees one, else the CPU), cpu or cuda[:N].")]
    = "auto",
    model: Annotated[str | None, typer.Option(help=(
        "A model of the catalog (phasecal models) or a Hugging Face config.json [default: tiny on the CPU, "
        "Qwen3-8B on a GPU]."))] = None,
    out: Annotated[Path, typer.Option(help="Results folder; files go to OUT/<device>/<model>/.")] = Path("results"),
    quick: Annotated[bool, typer.Option("--quick", help="A smaller grid and shorter sampling (CI, smoke tests).")]
    = False,
    workload: Annotated[str, typer.Option("--workload", "-w", help=(
        "Workload of the MB/EB comparison: a spec as for `phasecal simulate` or a trace file PATH.csv; "
        ":load=RHO time-scales it to that fraction of MB's capacity."))] = WORKLOAD,
    fresh: Annotated[bool, typer.Option("--fresh", help="Set an earlier raw file in the folder aside (renamed, "
                                                        "kept) and measure anew.")] = False,
    tp: Annotated[int, typer.Option("--tp", help=(
        "Tensor-parallel ranks: the model sharded over N GPUs (NCCL), or N gloo processes on the CPU; adds the "
        "all-reduce probe. Results go to OUT/<device>/<model>-tpN/."))] = 1,
) -> None:
    """The main job: probe step times, fit the cost model, derive EB thresholds, simulate MB vs EB.

    Times whole model steps over a grid of batch compositions, fits the step-cost model, derives the
    EB thresholds and simulates MB against EB on the Azure conversation trace (time-scaled to 0.8 of MB's
    capacity, so the device carries it); prints a summary and writes OUT/<device>/<model>/raw.jsonl,
    profile.json and schedule_<workload>.json. An interrupted run resumes from its finished points (a
    rerun with other settings is refused; --fresh measures anew). The result folder is locked for the
    whole run: a second run into it is refused.
    """
    from rich.console import Console

    from phasecal.kernels.catalog import get_model_shape

    console = Console(stderr=True)
    started = time.monotonic()
    if model is not None and _surely_cpu(device):  # refuse a model too big for RAM before importing torch
        from phasecal.probes.step_memory import admit_step_grid

        admit_step_grid(get_model_shape(model), "cpu", quick)
    from phasecal.probes.suite import SuiteConfig, resolve_device, run_suite
    from phasecal.scheduler.workload_spec import workload_from_spec

    dev = resolve_device(device)
    model = model or ("Qwen3-8B" if dev.type == "cuda" else "tiny")
    shape = get_model_shape(model)  # unknown model or bad workload: fail before touching the disk
    work = workload_from_spec(workload)
    _check_writable(out)
    config = SuiteConfig(suite="step" if tp == 1 else "all", model=model, device=device, out_dir=out, quick=quick,
                         resume=True, fresh=fresh)
    if tp != 1:
        from phasecal.commands.tp_launch import check_ranks

        check_ranks(config, tp)

    console.rule(f"[bold]phasecal run[/] · {shape.name} on {dev}" + (f" × {tp} (tensor-parallel)" if tp > 1 else ""))
    with contextlib.ExitStack() as locks:
        if tp == 1:
            raw = run_suite(config, console=console, locks=locks)
        else:  # the ranks hold the folder while they measure; this process holds it while it fits
            from phasecal.commands.tp_launch import run_ranks
            from phasecal.folder_lock import hold_result_folder

            raw = run_ranks(config, tp)
            locks.enter_context(hold_result_folder(raw.parent, " ".join(sys.argv)))
        paths = _fit_and_simulate(raw, work, workload, console)
    console.print(f"wrote {', '.join(map(str, paths))} in {time.monotonic() - started:.0f} s")


def _fit_and_simulate(raw: Path, work, workload: str, console) -> list[Path]:
    """Fit the raw step points, simulate MB and EB on `work`, write the profile and the schedule, print the
    summary; the files written."""
    from rich.console import Console

    from phasecal.fitting.fit import fit_profile
    from phasecal.fitting.profile import save_profile
    from phasecal.scheduler.run import simulate
    from phasecal.scheduler.schedule_doc import ScheduleDoc, write_schedule_doc

    from .run_summary import print_summary, schedule_name

    console.print("fitting the step-cost model ...")
    profile = fit_profile([raw], command=" ".join(["phasecal", *sys.argv[1:]]))
    console.print(f"simulating MB and EB on {work.name} ...")
    report = simulate(profile, work, ("mb", "eb"))
    profile.derived.eb_thresholds = {report.workload: report.decision}
    profile_path = save_profile(profile, raw.with_name("profile.json"))
    schedule_path = write_schedule_doc(ScheduleDoc.from_report(report, profile_path, spec=workload, seed=0),
                                       raw.with_name(f"schedule_{schedule_name(workload)}.json"))
    print_summary(profile, report, Console())
    return [raw, profile_path, schedule_path]
