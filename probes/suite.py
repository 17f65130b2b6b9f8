"""Suite runner: plan each probe, measure point by point, append every point to the raw jsonl.

The raw file is `<out_dir>/<device-slug>/<model>/raw.jsonl` (header line, then one line per point,
records in phasecal/records.py). With `resume`, keys already in the file are skipped; a file whose
header names another device or model (or other threads, dtype or clock) is refused. Without
`resume`, an existing file is refused too, so no run silently mixes two sessions. A time budget
stops starting new points once spent; what is left is listed and a `resume` run finishes it. A
probe that raises is recorded and the others still run (ProbeFailed at the end). At the end one
line per probe is printed and `summary.json` (the lines, the skips, the measured ceilings beside
the datasheet peaks) is written beside the raw file.

Programmatic use (what `phasecal run` calls for its step grid):
    path = run_suite(SuiteConfig(suite="step", model="tiny", device="auto", out_dir="results", resume=True))
    header, points = phasecal.records.read_raw(path)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType

from phasecal.atomic import write_atomic
from phasecal.errors import Interrupted, RunFailed
from phasecal.folder_lock import hold_result_folder
from phasecal.probes.dist import broadcast_from_rank0, world
from phasecal.probes.suite_summary import ProbeSummary, SuiteSummary
from phasecal.records import RunHeader, append_record, heal_raw, read_raw

SUITES = ("all", "bandwidth", "launch", "gemm", "attention", "step", "allreduce")
DEFAULT_MODELS = {"cpu": "tiny", "cuda": "Qwen3-8B"}


@dataclass
class SuiteConfig:
    """What `phasecal probe` runs. device: 'auto' (GPU if visible, else CPU), 'cpu' or 'cuda[:N]'.
    model: a catalog name, or 'auto' (DEFAULT_MODELS by device). threads: CPU threads for torch
    (None: all cores but one, at least 1)."""

    suite: str = "all"
    model: str = "auto"
    device: str = "auto"
    out_dir: str | os.PathLike = "results"
    quick: bool = False
    resume: bool = False
    fresh: bool = False  # set an existing raw file aside (renamed, kept) and start a new one
    budget_minutes: float | None = None
    threads: int | None = None


def probe_modules(suite: str) -> list[ModuleType]:
    """The probe modules a suite name selects on one device, in running order (imported only when selected)."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}: choose one of {', '.join(SUITES)}")
    names = [n for n in SUITES[1:] if n != "allreduce"] if suite == "all" else [suite]
    return [importlib.import_module(f"phasecal.probes.{name}") for name in names]


def tp_probe_modules(suite: str) -> list[ModuleType]:
    """Over tensor-parallel ranks only what TP changes: `all` is the all-reduce probe and the sharded step
    probe (probes/tp_step.py); the one-device probes are a one-device run's."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}: choose one of {', '.join(SUITES)}")
    if suite not in ("all", "step", "allreduce"):
        raise ValueError(f"the {suite} probe measures one device: run it without --tp")
    names = {"all": ["allreduce", "tp_step"], "step": ["tp_step"], "allreduce": ["allreduce"]}[suite]
    return [importlib.import_module(f"phasecal.probes.{name}") for name in names]


def resolve_device(name: str):
    """'auto' -> cuda when torch sees a GPU, else cpu; a cuda request without a GPU is a clear error."""
    import torch

    if name == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use auto, cpu or cuda[:N]") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but torch sees no CUDA GPU here: use --device cpu")
        device = torch.device("cuda", device.index or 0)
    elif device.type != "cpu":
        raise ValueError(f"device {name!r} is not supported: use auto, cpu or cuda[:N]")
    return device


def select_device(name: str):
    """`resolve_device`, then make a GPU the current CUDA device: torch's events, streams, the spin
    kernel of a hold and Triton's and CuPy's launches go to the current device, not to the tensor's."""
    import torch

    device = resolve_device(name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def default_threads() -> int:
    """All cores but one (the host side and the rest of the machine keep one), at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


def stop_rule(device_type: str, quick: bool):
    """Per-point sampling rule: >= 10 samples, 1% spread target, a per-point cap sized for the budget.

    A default CPU run samples each point for 2 s: on the shared 2-core AMD EPYC VM, with 1 s per point the
    chosen family's k-fold MAPE went over 5% in 2 of 9 quiet runs; with 2 s it stayed at 3.1-4.7% in 3, and
    with the spill onset fitted too (fitting/families.py) at 2.7-3.7% in 6 (3 of them beside other jobs)."""
    from phasecal.probes.timing import StopRule

    if device_type == "cuda":
        return StopRule(max_time_s=0.25 if quick else 0.5, warmup_s=0.05)
    return StopRule(max_time_s=0.4 if quick else 2.0, warmup_s=0.02)


def raw_path_for(out_dir: str | os.PathLike, device_slug: str, model: str) -> Path:
    return Path(out_dir) / device_slug / model / "raw.jsonl"


def _check_resumable(path: Path, header: RunHeader) -> None:
    old, _ = read_raw(path)
    mismatches = []
    if bool(old.settings.get("quick")) != bool(header.settings.get("quick")):
        mismatches.append(f"{'--quick' if old.settings.get('quick') else 'full'} grid vs "
                          f"{'--quick' if header.settings.get('quick') else 'full'}")
    if old.device.get("name") != header.device.get("name"):
        mismatches.append(f"device {old.device.get('name')!r} vs {header.device.get('name')!r}")
    if (old.model or {}).get("name") != (header.model or {}).get("name"):
        mismatches.append(f"model {(old.model or {}).get('name')!r} vs {(header.model or {}).get('name')!r}")
    for k in ("dtype", "threads", "clock", "backend", "page_layout", "sample_order"):
        if k == "backend" and k not in old.settings:
            continue  # a header from before the model had backends: nothing recorded to compare
        if old.settings.get(k) != header.settings.get(k):
            mismatches.append(f"{k} {old.settings.get(k)!r} vs {header.settings.get(k)!r}")
    if mismatches:
        raise ValueError(f"cannot resume {path}: it was measured with other settings ({'; '.join(mismatches)}); "
                         "pass --fresh to set it aside and measure anew, or choose another --out directory")


def _open_raw(path: Path, header: RunHeader, config: SuiteConfig, console) -> set[str]:
    """Start the raw file, or heal and check the existing one for a resume; the keys it already holds."""
    if path.exists() and config.fresh:
        aside = path.with_name(f"raw.jsonl.before-{header.started.replace(':', '')}")
        path.rename(aside)  # not *.jsonl: the reports do not mix it in; nothing is deleted
        console.print(f"--fresh: the earlier raw file is kept as {aside}")
    if path.exists():
        if not config.resume:
            raise ValueError(f"{path} exists: pass --resume to continue it, --fresh to set it aside and measure "
                             "anew, or choose another --out directory")
        cut = heal_raw(path)
        if cut:
            console.print(f"[yellow]{path}: cut a torn last line ({cut} bytes of an unfinished point) "
                          "before resuming[/]")
        if path.stat().st_size == 0:  # only a torn header was there
            path.unlink()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        append_record(path, header)
        return set()
    _check_resumable(path, header)
    done = {p.key for p in read_raw(path)[1]}
    console.print(f"resuming {path}: reusing {len(done)} finished point(s)")
    return done


def _progress(console):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)


def run_suite(config: SuiteConfig, console=None, locks: contextlib.ExitStack | None = None) -> Path:
    """Run the configured probes and return the raw jsonl path. ValueError on bad input.

    The result folder is locked while the probes write to it; with `locks`, the lock is entered on that
    stack instead, so the caller keeps the folder while it goes on (fitting, writing the profile)."""
    import torch
    from rich.console import Console

    from phasecal.kernels._common import keep_freed_memory
    from phasecal.kernels.catalog import get_model_shape
    from phasecal.kernels.model import default_backend
    from phasecal.probes.context import ProbeContext
    from phasecal.probes.dist import clock_name
    from phasecal.probes.fingerprint import cache_bytes, device_fingerprint
    from phasecal.probes.nvml import open_nvml
    from phasecal.probes.timing import Timer

    rank, tp = world()
    modules = probe_modules(config.suite) if tp == 1 else tp_probe_modules(config.suite)
    if config.model != "auto":
        get_model_shape(config.model)  # an unknown name fails before any device work
    if config.budget_minutes is not None and not (math.isfinite(config.budget_minutes) and config.budget_minutes > 0):
        raise ValueError(f"--budget-minutes must be a positive number of minutes, got {config.budget_minutes}")
    if config.threads is not None and config.threads < 1:
        raise ValueError(f"threads must be >= 1, got {config.threads}")
    device = select_device(config.device)
    shape = get_model_shape(DEFAULT_MODELS[device.type] if config.model == "auto" else config.model)
    console = console or Console(stderr=True)
    threads = config.threads or max(1, default_threads() // tp)  # tp ranks share the cores
    torch.set_num_threads(threads)
    malloc = "glibc keeps freed memory (mmap/trim thresholds 1 GiB)" if device.type == "cpu" and \
        keep_freed_memory() else "default"
    nvml = open_nvml(device)
    fp = device_fingerprint(device, nvml)
    fp["threads"] = threads
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    rule = stop_rule(device.type, config.quick)
    # one CPU thread: time the thread's CPU time, robust to other processes on a shared machine
    cpu_clock = "thread" if device.type == "cpu" and threads == 1 else "wall"
    timer = Timer(device, nvml, flush_bytes=2 * cache_bytes(fp, device.type == "cuda"), cpu_clock=cpu_clock)
    backend = default_backend(device)
    start = time.monotonic()
    deadline = start + 60 * config.budget_minutes if config.budget_minutes else None
    ctx = ProbeContext(device=device, timer=timer, rule=rule, shape=shape, nvml=nvml, fingerprint=fp,
                       quick=config.quick, dtype=dtype, deadline=deadline, backend=backend)

    if any(mod.NAME == "step" for mod in modules):  # before the raw file exists: a refusal leaves nothing
        from phasecal.probes.step_memory import admit_step_grid

        admit_step_grid(shape, device, config.quick)
    path = raw_path_for(config.out_dir, fp["slug"], shape.name if tp == 1 else f"{shape.name}-tp{tp}")
    settings = {"suite": config.suite, "quick": config.quick, "dtype": str(dtype).removeprefix("torch."),
                "backend": backend,
                "threads": threads, "clock": "cuda events" if device.type == "cuda" else cpu_clock,
                "stop_rule": asdict(rule), "malloc": malloc, "budget_minutes": config.budget_minutes,
                "nvml": "available" if nvml.available else f"unavailable: {nvml.reason}"}
    step_modules = [mod for mod in modules if mod.NAME == "step"]
    if step_modules:  # how its steps were laid out and sampled: a resume must not mix two of either
        settings["page_layout"] = step_modules[0].PAGE_LAYOUT
        settings["sample_order"] = step_modules[0].sample_order(device.type == "cuda")
    if tp > 1:
        from phasecal.probes.tp_worker import interconnect

        settings |= {"tp": tp, "interconnect": interconnect(device), "clock": clock_name(timer.cpu_clock)}
    header = RunHeader(device=fp, settings=settings, model=shape.to_dict(), command=" ".join(sys.argv),
                       started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    if rank != 0:  # a tensor-parallel follower: runs what rank 0 runs, in lockstep; rank 0 writes
        from phasecal.probes.tp_worker import follow

        follow(modules, ctx)
        return path
    with contextlib.ExitStack() as own:
        (locks or own).enter_context(hold_result_folder(path.parent, header.command))
        done = _open_raw(path, header, config, console)
        summaries: dict[str, ProbeSummary] = {}
        reused = len(done)
        try:
            for mod in modules:
                summaries[mod.NAME] = _run_probe(mod, ctx, path, done, console)
        except KeyboardInterrupt:
            raise Interrupted(f"{path} keeps {len(done)} finished point(s), {len(done) - reused} of them from this "
                              "run; rerun the same command (with --resume for probe) to finish") from None
        _write_summary(path.with_name("summary.json"), fp, summaries)
    console.print(f"raw points: {path} ({time.monotonic() - start:.0f} s)")
    failed = {name: v.failed for name, v in summaries.items() if v.failed}
    if failed:
        raise ProbeFailed(f"{len(failed)} probe(s) failed ({'; '.join(f'{k}: {v}' for k, v in failed.items())}); "
                          f"their finished points are kept in {path}, the others ran")
    return path


class ProbeFailed(RunFailed):
    """A probe raised while measuring; raised after the other probes ran and the summary was written."""


def _run_probe(mod: ModuleType, ctx, path: Path, done: set[str], console) -> ProbeSummary:
    """Plan one probe, measure what is left of it, append each record; its summary entry. An error
    inside the probe is recorded (and printed) instead of stopping the other probes."""
    started = time.monotonic()
    plan = mod.plan(ctx)
    todo = [p for p in plan.points if p.key not in done]
    go = bool(todo) and ctx.time_left() > 0
    if world()[1] > 1:  # the followers run exactly these points (tp_worker.follow)
        broadcast_from_rank0(todo if go else [])
    for reason in plan.skipped:
        console.print(f"[yellow]{mod.NAME}: skipped[/] {reason}")
    failed = None
    if go:
        with _progress(console) as progress:
            task = progress.add_task(mod.NAME, total=len(todo))
            written = 0
            listening = replace(ctx, partial_progress=lambda points: progress.update(task, completed=written + points))
            try:
                for rec in mod.run(listening, todo):  # a probe starts no point (or group) once time_left() <= 0
                    append_record(path, rec)
                    done.add(rec.key)
                    written += 1
                    progress.update(task, completed=written)
            except Exception as e:  # a kernel or driver failure: keep it, go on with the next probe
                if world()[1] > 1:
                    raise  # the other ranks cannot go on in lockstep: the run stops (its points are kept)
                failed = f"{type(e).__name__}: {e}"
                console.print(f"[bold red]{mod.NAME}: failed[/] {failed}")
    not_run = [p.key for p in todo if p.key not in done]
    if not_run and not failed:
        console.print(f"[yellow]{mod.NAME}: time budget spent, {len(not_run)} points left for --resume[/]")
    records = [r for r in read_raw(path)[1] if r.probe == mod.NAME]
    entry = ProbeSummary(planned=len(plan.points), skipped=plan.skipped, not_run=not_run,
                         summary=mod.summarize(records) if records else "no points measured",
                         elapsed_s=round(time.monotonic() - started, 1), failed=failed,
                         measured=mod.ceilings(records) if records and hasattr(mod, "ceilings") else {})
    console.print(f"[bold green]{mod.NAME}[/]: {entry.summary}")
    return entry


def _write_summary(path: Path, fp: dict, summaries: dict[str, ProbeSummary]) -> None:
    """Write the run's per-probe summaries beside the raw file (temp file + rename), keeping the
    entries of probes that an earlier run into the same raw file measured."""
    probes: dict[str, ProbeSummary] = {}
    if path.exists():
        try:
            probes = SuiteSummary.from_dict(json.loads(path.read_text()), str(path)).probes
        except (ValueError, UnicodeDecodeError):
            probes = {}  # unreadable: rewritten from this run
    probes.update(summaries)
    # the measured ceilings (probes.*.measured) sit beside the datasheet peaks
    body = SuiteSummary(fp.get("name"), fp.get("datasheet"), probes).to_dict()
    write_atomic(path, json.dumps(body, indent=1) + "\n")
