"""`phasecal simulate`: serve a workload with MB, PF, EB, EB+ and fair under a profile's step costs (and, with
--execute, with the synthetic model really running here), printing the policies side by side."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import typer

from phasecal.scheduler.workload_spec import SPEC_HELP

_ROWS = (  # (label, summary field, format)
    ("throughput (tok/s)", "throughput_tok_s", "{:,.0f}"),
    ("output (tok/s)", "output_tok_s", "{:,.0f}"),
    ("TTFT mean (s)", "ttft_mean_s", "{:.3f}"), ("TTFT p50 (s)", "ttft_p50_s", "{:.3f}"),
    ("TTFT p90 (s)", "ttft_p90_s", "{:.3f}"), ("TTFT p99 (s)", "ttft_p99_s", "{:.3f}"),
    ("TPOT mean (ms)", "tpot_mean_s", "ms"), ("TPOT p50 (ms)", "tpot_p50_s", "ms"),
    ("TPOT p90 (ms)", "tpot_p90_s", "ms"), ("TPOT p99 (ms)", "tpot_p99_s", "ms"),
    ("SLO attainment", "slo_attainment", "{:.1%}"), ("preemptions", "preemptions", "{}"),
    ("mode switches", "mode_switches", "{}"), ("steps", "steps", "{:,}"), ("makespan (s)", "makespan_s", "{:.1f}"),
    ("run time (s)", "wall_s", "{:.2f}"),
)


_BAND_ROWS = (("SLO attainment", "slo_attainment", "{:.1%}"), ("TTFT p99 (s)", "ttft_p99_s", "{:.3f}"),
              ("TPOT p99 (ms)", "tpot_p99_s", "ms"))  # shown slower–faster with --error-band


def _fmt(value, fmt: str) -> str:
    return f"{value * 1e3:.2f}" if fmt == "ms" else fmt.format(value)


def simulate(
    profile: Annotated[Path, typer.Option("--profile", "-p", help="Profile JSON (phasecal fit / run, or imported).")],
    workload: Annotated[str, typer.Option("--workload", "-w", help=SPEC_HELP[0].upper() + SPEC_HELP[1:] + ".")]
    = "azure_conv",
    policy: Annotated[str, typer.Option("--policy", help=(
        "mb, pf, eb, ebplus, fair (SLO-aware: plans each step against --slo-tpot), a comma list, or all."))] = "all",
    execute: Annotated[bool, typer.Option("--execute", help=(
        "Also run the profile's model for real on this machine (GPU if torch sees one, else CPU) under the "
        "same policies and print executed against simulated throughput. Use a small workload."))] = False,
    max_num_seqs: Annotated[int, typer.Option("--max-num-seqs", min=1, help="N: sequences per step.")] = 256,
    token_budget: Annotated[int | None, typer.Option("--token-budget", min=1, help=(
        "B: tokens per step [default: the profile's MB budget, else 2048].")) ] = None,
    kv_tokens: Annotated[int | None, typer.Option("--kv-tokens", min=1, help=(
        "KV-cache capacity in tokens [default: the profile's, else 2^20; 65536 when executed].")) ] = None,
    block_size: Annotated[int, typer.Option("--block-size", min=1, help="KV block size in tokens.")] = 16,
    slo_ttft: Annotated[float, typer.Option("--slo-ttft", min=0, help="SLO on TTFT (s).")] = 2.0,
    slo_tpot: Annotated[float, typer.Option("--slo-tpot", min=0, help="SLO on TPOT (s).")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of synthetic workloads and of the model.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help=(
        "Folder for summary.json and one requests_<policy>.csv per policy (and per executed run); with "
        "--sweep, for sweep.json and sweep.csv.")) ] = None,
    sweep: Annotated[str | None, typer.Option("--sweep", help=(
        "load=START:STOP:STEP (STOP included, e.g. load=0.2:1.4:0.1): run each policy at each offered load ρ "
        "(fractions of MB's capacity) and search each policy's capacity under the SLOs by bisection."))] = None,
    slo_target: Annotated[float, typer.Option("--slo-target", min=0, max=1, help=(
        "Share of requests that must meet both SLOs for a load to count as carried (with --sweep).")) ] = 0.9,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help=(
        "Worker processes of a --sweep [default: the CPU cores].")) ] = None,
    error_band: Annotated[bool, typer.Option("--error-band", help=(
        "Also simulate each policy with every step slower, then faster, by the step model's held-out error "
        "(its k-fold MAPE) and print the range that leaves on SLO attainment and the p99s: a policy whose "
        "attainment swings across that range sits on a knife edge of the SLO.")) ] = False,
) -> None:
    """Simulate scheduling policies on a workload under a profile and print them side by side."""
    from rich.console import Console

    from phasecal.fitting.profile import load_profile
    from phasecal.scheduler.metrics import SLO
    from phasecal.scheduler.run import simulate as run_simulation
    from phasecal.scheduler.state import EngineConfig

    prof = load_profile(profile)
    cfg = EngineConfig(max_num_seqs=max_num_seqs, token_budget=token_budget, block_size=block_size,
                       kv_capacity_tokens=kv_tokens)
    if sweep is not None:
        if execute or error_band:
            raise ValueError("--sweep simulates only, without a band; run --execute and --error-band without --sweep")
        from .sweep import run_sweep

        return run_sweep(prof, profile, workload, policy, cfg, SLO(slo_ttft, slo_tpot), slo_target, sweep,
                         jobs or os.cpu_count() or 1, seed, out)
    report = run_simulation(prof, workload, policy, execute=execute, config=cfg, seed=seed,
                            slo=SLO(slo_ttft, slo_tpot), error_band=error_band)
    console = Console()
    console.print(policy_table(report, prof, execute))
    warn_overload(report, console)
    print_decision(report, prof, console)
    for name, run in report.runs.items():
        if run.throughput_gap is not None:
            console.print(f"{name}: executed {run.executed.throughput_tok_s:,.0f} tok/s vs simulated "
                          f"{run.simulated.throughput_tok_s:,.0f} tok/s → gap {run.throughput_gap:+.1%}")
    if out is not None:
        write_outputs(report, profile, out, console, seed)


def policy_table(report, prof, execute: bool):
    """The policies side by side (simulated, and executed where run), one row per metric."""
    from rich.table import Table

    c = report.config
    table = Table(title=f"{report.workload} · {prof.model.get('name', '?')} on {prof.device.get('name', '?')} · "
                        f"N {c.max_num_seqs}, B {c.token_budget}, KV {c.kv_capacity_tokens:,} tokens · "
                        f"{report.capacity.describe(report.offered_load)}")
    table.add_column("metric")
    cols = []
    for name, run in report.runs.items():
        cols.append((f"{name}" + (" sim" if execute else ""), run.simulated))
        if run.executed is not None:
            cols.append((f"{name} exec", run.executed))
    for label, _ in cols:
        table.add_column(label, justify="right")
    for label, field, fmt in _ROWS:
        table.add_row(label, *(_fmt(getattr(s, field), fmt) for _, s in cols))
    band = report.error_band
    if band is not None:  # the simulated columns only: an executed run has its own machine's speed
        ranges = iter(zip(band.slower, band.faster, strict=True))
        by_col = [None if s.executed else next(ranges) for _, s in cols]
        for label, field, fmt in _BAND_ROWS:
            table.add_row(f"{label}, steps ±{band.error:.1%}", *(
                "" if r is None else f"{_fmt(getattr(r[0], field), fmt)}–{_fmt(getattr(r[1], field), fmt)}"
                for r in by_col))
    return table


def print_decision(report, prof, console) -> None:
    """Both crossover shares, then EB's thresholds with their intervals, range checks and Δ(N)'s verdict."""
    from phasecal.fitting.explain import crossover_lines, decision_lines

    for line in [*crossover_lines(prof.derived.crossover), *decision_lines(report.decision)]:
        console.print(line, highlight=False)


def write_outputs(report, profile: Path, out: Path, console, seed: int) -> None:
    """summary.json (the run's ScheduleDoc) and one per-request CSV per policy run in `out`."""
    from phasecal.scheduler.metrics import write_requests_csv
    from phasecal.scheduler.schedule_doc import ScheduleDoc, write_schedule_doc

    for name, run in report.runs.items():
        write_requests_csv(run.simulated_result, out / f"requests_{_safe(name)}.csv")
        if run.executed_result is not None:
            write_requests_csv(run.executed_result, out / f"requests_{_safe(name)}_executed.csv")
    path = write_schedule_doc(ScheduleDoc.from_report(report, profile, seed=seed), out / "summary.json")
    console.print(f"wrote {path} and {len(report.runs)} per-request CSV file(s) in {out}")


def warn_overload(report, console) -> None:
    """Say so when the workload offers more than MB can serve: every policy then measures a growing queue."""
    rho = report.offered_load
    if rho is not None and rho > 1:
        console.print(f"[yellow]warning:[/] the workload offers ρ = {rho:.2f} of MB's capacity "
                      f"({report.capacity.tokens_per_s:,.0f} tok/s, bounded by {report.capacity.limit}): "
                      "the queue grows for the whole run and TTFT measures it; add :load=0.8 to the workload "
                      "to run at a load the device carries")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
