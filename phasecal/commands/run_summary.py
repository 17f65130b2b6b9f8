"""What `phasecal run` prints at the end: the fitted costs, the model's held-out error, EB vs MB."""

from __future__ import annotations

import re

from rich.console import Console
from rich.table import Table

from phasecal.fitting.explain import (
    crossover_lines,
    decision_lines,
    fit_interval_lines,
    kv_spill_line,
    mixed_heldout_line,
)
from phasecal.fitting.profile import Profile
from phasecal.scheduler.run import SimulationReport

from .simulate import warn_overload


def schedule_name(spec: str) -> str:
    """File-name part for a workload spec: its workload (a trace file's stem), options dropped."""
    head = spec.split(":", 1)[0].replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", head.removesuffix(".csv"))


def print_summary(profile: Profile, report: SimulationReport, console: Console) -> None:
    """Three small tables (exclusive-step costs, model families by held-out error, MB against EB), then the
    crossovers, the bootstrap intervals and the EB decision with its range checks."""
    dev, model = profile.device.get("name", "?"), profile.model.get("name", "?")
    costs = Table(title=f"Step costs · {model} on {dev}")
    for col in ("mode", "α_p (ms)", "β_p (µs/token)", "α_d (ms)", "β_d (µs/seq)"):
        costs.add_column(col, justify="right")
    for mode, c in profile.exclusive.items():
        costs.add_row(mode, f"{c.alpha_p * 1e3:.3f}", f"{c.beta_p * 1e6:.2f}", f"{c.alpha_d * 1e3:.3f}",
                      f"{c.beta_d * 1e6:.2f}")
    console.print(costs)

    chosen = profile.step_model.family if profile.step_model else None
    fams = Table(title="Step-time model families (held-out MAPE, %)")
    for col in ("family", "k-fold", "extrapolation (held out)", "points"):
        fams.add_column(col, justify="right")
    for f in profile.families:
        name = f"{f.name} ✓" if f.name == chosen else f.name
        fams.add_row(name, _pct(f.cv_mape),
                     _pct(f.extrap_mape) + ("" if f.extrap_points is None else f" ({f.extrap_points})"),
                     str(f.n_points))
    console.print(fams)

    th = report.thresholds
    eb = Table(title=f"Exclusive vs mixed batching · {report.workload} (μ_L {th.mu_l:.0f}, μ_O {th.mu_o:.0f}) · "
                     f"{report.capacity.describe(report.offered_load)}")
    for col in ("policy", "throughput (tok/s)", "TTFT p50 (s)", "TPOT p50 (ms)", "preemptions", "steps"):
        eb.add_column(col, justify="right")
    for s in report.summaries():
        eb.add_row(s.policy, f"{s.throughput_tok_s:,.0f}", f"{s.ttft_p50_s:.3f}", f"{s.tpot_p50_s * 1e3:.2f}",
                   str(s.preemptions), str(s.steps))
    console.print(eb)
    warn_overload(report, console)
    for line in [kv_spill_line(profile.derived.kv_spill, profile.step_model),
                 mixed_heldout_line(profile.derived.mixed_heldout), *crossover_lines(profile.derived.crossover),
                 *fit_interval_lines(profile.derived.uncertainty),
                 *decision_lines(report.decision)]:
        console.print(line, highlight=False)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"
