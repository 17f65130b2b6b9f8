"""What `phasecal validate` prints: one line per load point as it finishes, then the scores."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from phasecal.scheduler.validate import LoadPoint, Validation


def print_point(p: LoadPoint, console: Console) -> None:
    """One finished load point: executed throughput per policy, the winner, the gap against the noise."""
    tps = ", ".join(f"{n} {r.executed_tok_s:,.0f}" for n, r in p.policies.items())
    verdict = ("agrees" if p.agrees else "does not name it" if p.agrees is not None else
               "not counted (MB and EB schedule the same steps)" if p.same_schedule else "not counted (gap ≤ noise)")
    console.print(f"c = {p.concurrency}: executed tok/s {tps}; winner {p.executed_winner} "
                  f"(gap {p.gap:.1%}, noise {p.noise:.1%}); predicted {p.predicted}: {verdict}", highlight=False)


def print_validation(v: Validation, console: Console) -> None:
    """The sweep as a table, then agreement, crossover loads and executed against simulated throughput."""
    table = Table(title=f"validation · {v.workload} on {v.device} ({v.repeats} executed runs per policy)")
    for col in ("c", "verdict", "Δ µs/tok", "MB tok/s", "EB tok/s", "EB+ tok/s", "gap", "noise", "exec", "sim", "ok"):
        table.add_column(col, justify="right")
    for p in v.points:
        table.add_row(str(p.concurrency), p.predicted.replace("too close to call", "close"),
                      "—" if p.delta is None else f"{p.delta * 1e6:.2f}",
                      *(f"{p.policies[n].executed_tok_s:,.0f}" for n in ("mb", "eb", "ebplus")),
                      f"{p.gap:.1%}", f"{p.noise:.1%}", p.executed_winner, p.simulated_winner,
                      "—" if p.agrees is None else ("✓" if p.agrees else "✗"))
    console.print(table)
    console.print("verdict: Δ(N)'s bootstrap verdict (close = too close to call); exec/sim: the executed and "
                  "simulated throughput winner of MB and EB; gap: the mean of each repeat's EB − MB gap, noise: "
                  "their spread; ok: the verdict names the executed winner, counted only where the gap exceeds "
                  "the noise", highlight=False)
    share = "—" if v.agreement is None else f"{v.agreement:.0%}"
    point = "—" if v.point_agreement is None else f"{v.point_agreement:.0%}"
    console.print(f"the verdict names the executed winner at {share} of the {len(v.counted)} load points whose "
                  f"executed gap exceeds the noise (of {len(v.points)}); Δ's point estimate at {point}",
                  highlight=False)
    sim = "—" if v.simulated_agreement is None else f"{v.simulated_agreement:.0%}"
    console.print(f"the simulation under the profile names it at {sim} of them", highlight=False)
    console.print(f"crossover concurrency: executed {v.crossover('executed') or 'none in the sweep'}, "
                  f"predicted {v.crossover('predicted') or 'none in the sweep'}", highlight=False)
    gaps = ", ".join(f"{n} {g:.1%}" for n, g in v.sim_gaps.items())
    console.print(f"executed against simulated throughput, mean |gap|: {gaps}", highlight=False)
    for p in v.points:
        each = ", ".join(f"{n} {r.sim_gap:+.1%}" for n, r in p.policies.items())
        console.print(f"  c = {p.concurrency}: executed − simulated {each}", highlight=False)
    load = v.load_average
    console.print(f"machine load average (1 min) before {load['before'][0]:.1f}, after {load['after'][0]:.1f}",
                  highlight=False)
