"""Which policy wins under which load: throughput–latency curves, capacity under the SLOs, latency CDFs at one
load, and predicted against observed winners per load point, all from a `load_sweep.LoadSweep`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from matplotlib.figure import Figure

from .data import unique
from .load_sweep import LoadPoint, LoadSweep
from .scheduling import TIE, _color, _name
from .style import Missing, finish, legend, missing, panel_grid, ref_label, scale_to

MS = 1e3
SWEEP_RUN = "phasecal simulate --sweep load=…"
METRICS = (("ttft", "TTFT"), ("tpot", "TPOT"))


def _width(j: int) -> float:
    """Line width of the j-th policy: later ones thinner, so a policy that coincides with another stays visible."""
    return max(2.6 - 0.6 * j, 0.8)


def _profiles(points: list[LoadPoint]) -> list[str]:
    return unique(p.profile for p in sorted(points, key=lambda p: p.reference))


def _title(profile: str, points: list[LoadPoint]) -> str:
    ref = any(p.reference for p in points if p.profile == profile)
    return ref_label(f"{profile}, calibration") if ref else profile


def throughput_latency(sweep: LoadSweep, sources: list[str], provenance: list[str] | None = None) -> Figure | Missing:
    """A row per device profile: TTFT and TPOT (p50 solid, p99 dashed; ms) against achieved throughput
    (tokens/s, from zero), a line per policy through the sweep's load points in order of offered load."""
    profiles = _profiles(sweep.points)
    if not profiles:
        return missing("Throughput–latency curves", SWEEP_RUN)
    fig, axes = panel_grid(2 * len(profiles), ncols=2)
    for row, profile in enumerate(profiles):
        mine = [p for p in sweep.points if p.profile == profile]
        for ax, (metric, name) in zip(axes[2 * row: 2 * row + 2], METRICS, strict=True):
            values = []
            for j, pol in enumerate(unique(p.policy for p in mine)):
                line = sorted((p for p in mine if p.policy == pol), key=lambda p: p.load_tok_s)
                x = [p.throughput_tok_s for p in line]
                for q, ls in (("p50", "-"), ("p99", "--")):
                    y = [getattr(p, f"{metric}_{q}_s") * MS for p in line]
                    ax.plot(x, y, ls, marker="o", ms=3, lw=_width(j), color=_color(pol), label=f"{_name(pol)} {q}")
                    values += y
            slo = getattr(sweep.slo, f"{metric}_s") * MS
            ax.axhline(slo, color="0.4", ls=":", lw=1, label=f"SLO {slo:g} ms")
            scale_to(ax, "y", values + [slo])
            ax.set_xlim(0, max(p.throughput_tok_s for p in mine) * 1.08)
            ax.set_xlabel("throughput (tokens/s, input + output)")
            ax.set_ylabel(f"{name} (ms)")
            ax.set_title(f"{_title(profile, sweep.points)}\n{name} against throughput", fontsize=9)
            ax.grid(True, which="both", alpha=0.25)
            legend(ax, fontsize=6.5, ncol=2, loc="upper left")
    return finish(fig, f"Throughput against latency over a load sweep ({sweep.workload}); p50 solid, p99 dashed",
                  sources, None, provenance)


def capacities(sweep: LoadSweep, min_attainment: float = 0.9) -> dict[tuple[str, str], float | None]:
    """Per (profile, policy): the highest offered load (tok/s) at which at least `min_attainment` of requests
    met both SLOs (the sweep's own bisection where it searched, else the highest swept load); None if none did."""
    out: dict[tuple[str, str], float | None] = dict(sweep.searched)
    for p in sorted(sweep.points, key=lambda p: p.load_tok_s):
        key = (p.profile, p.policy)
        if key in sweep.searched:
            continue
        out.setdefault(key, None)
        if p.slo_attainment >= min_attainment:
            out[key] = p.load_tok_s
    return out


def capacity_markdown(sweep: LoadSweep, min_attainment: float = 0.9) -> str:
    """A markdown table: each policy's capacity under the SLOs per profile; the best in bold unless others are
    within 1% of it (then all are named as a tie, none bold)."""
    caps = capacities(sweep, min_attainment)
    if not caps:
        return f"No load sweep yet (run `{SWEEP_RUN}`)."
    slo = (f"TTFT ≤ {sweep.slo.ttft_s:g} s and TPOT ≤ {sweep.slo.tpot_s * MS:g} ms for ≥ {min_attainment:.0%} "
           "of requests")
    lines = [f"Capacity: the highest offered load meeting the SLOs ({slo}); bisected between the swept loads "
             "where the sweep searched for it (`phasecal simulate --sweep`), else the highest swept load.", "",
             "| device profile | " + " | ".join(_name(p) for p in unique(k[1] for k in caps)) + " | best |",
             "|---|" + "---|" * (len({k[1] for k in caps}) + 1)]
    for profile in _profiles(sweep.points):
        row = {pol: cap for (prof, pol), cap in caps.items() if prof == profile}
        cells = ["—" if p not in row else f"{row[p]:,.0f} tok/s" if row[p] else "below the lowest load"
                 for p in unique(k[1] for k in caps)]
        lines.append(f"| {profile} | " + " | ".join(cells) + f" | {_winner(row)} |")
    return "\n".join(lines)


def _winner(values: dict[str, float | None]) -> str:
    have = {k: v for k, v in values.items() if v}
    if not have:
        return "none meets the SLOs"
    top = max(have.values())
    tied = [k for k, v in have.items() if v >= top * (1 - TIE)]
    names = " = ".join(_name(k) for k in tied)
    return f"**{names}**" if len(tied) == 1 else f"{names} (tie)"


def _nearest_load(sweep: LoadSweep, profile: str, load: float) -> float:
    loads = unique(k[2] for k in sweep.latencies if k[0] == profile)
    return min(loads, key=lambda x: abs(math.log(x / load))) if loads else math.nan


def latency_cdfs(sweep: LoadSweep, fraction: float, sources: list[str],
                 provenance: list[str] | None = None) -> Figure | Missing:
    """TTFT and TPOT CDFs (ms) at one offered load per profile (the sweep point nearest `fraction` of its
    highest load), a line per policy."""
    profiles = [p for p in _profiles(sweep.points) if any(k[0] == p for k in sweep.latencies)]
    if not profiles:
        return missing("Latency distributions", SWEEP_RUN)
    fig, axes = panel_grid(2 * len(profiles), ncols=2)
    for row, profile in enumerate(profiles):
        top = max(p.load_tok_s for p in sweep.points if p.profile == profile)
        load = _nearest_load(sweep, profile, fraction * top)
        for col, (ax, (metric, name)) in enumerate(zip(axes[2 * row: 2 * row + 2], METRICS, strict=True)):
            values = []
            for (prof, pol, at), lat in sweep.latencies.items():
                if prof == profile and at == load and lat[col].size:
                    x = np.sort(lat[col]) * MS
                    j = unique(k[1] for k in sweep.latencies).index(pol)
                    ax.plot(x, np.arange(1, x.size + 1) / x.size, color=_color(pol), lw=_width(j), label=_name(pol))
                    values += list(x[x > 0])
            slo = getattr(sweep.slo, f"{metric}_s") * MS
            ax.axvline(slo, color="0.4", ls=":", lw=1, label=f"SLO {slo:g} ms")
            scale_to(ax, "x", values + [slo])
            ax.set_ylim(0, 1.02)
            ax.set_xlabel(f"{name} (ms)")
            ax.set_ylabel("share of requests")
            ax.set_title(f"{_title(profile, sweep.points)}\n{name} at {load:,.0f} tok/s offered", fontsize=9)
            ax.grid(True, which="both", alpha=0.25)
            legend(ax, fontsize=7, loc="lower right")
    return finish(fig, f"TTFT and TPOT distributions at one load ({sweep.workload})", sources, None, provenance)


def observed_winner(points: Iterable[LoadPoint]) -> str:
    """The policy with the highest SLO attainment at one load point, then the highest throughput; `A = B`
    when within 1% on both."""
    pts = list(points)
    key = [(p.slo_attainment, p.throughput_tok_s) for p in pts]
    best = max(key)
    tied = [p for p, k in zip(pts, key, strict=True)
            if k[0] >= best[0] - TIE and k[1] >= best[1] * (1 - TIE)]
    return " = ".join(_name(p.policy) for p in tied)


def validation_markdown(rows: list[tuple], what: str, load_header: str = "offered load (tok/s)") -> str:
    """A markdown table of (profile, load, predicted winner, observed winner[, agrees]): ✓ when the observed
    winners include the predicted one (or as `agrees` says: None is "not counted", —), ✗ otherwise; `what`
    says where the observed winners come from, `load_header` what the load is (a float is tok/s)."""
    if not rows:
        return "No predictions to check yet (run `phasecal validate`)."
    lines = [f"| device profile | {load_header} | predicted | {what} | agrees |", "|---|---|---|---|---|"]
    for profile, load, predicted, observed, *agrees in rows:
        ok = agrees[0] if agrees else predicted in observed.split(" = ")
        mark = "—" if ok is None else "✓" if ok else "·" if predicted == "too close to call" else "✗"
        shown = f"{load:,.0f}" if isinstance(load, float) else str(load)
        lines.append(f"| {profile} | {shown} | {predicted} | {observed} | {mark} |")
    return "\n".join(lines)


def _share(x) -> str:
    return "—" if x is None else f"{x:.0%}"


def validation_throughput_markdown(rows: list[tuple]) -> str:
    """Executed against simulated throughput per load point and policy (`read_validation_throughput` rows),
    with the executed MB/EB gap against the repeats' noise, and a line per file with its scores."""
    if not rows:
        return "No executed validation yet (run `phasecal validate`)."
    names = next(r[4] for r in rows if r[1] != "all")
    head = " | ".join(f"{n} exec / sim tok/s (gap)" for n in names)
    lines = [f"| device profile | c | MB/EB gap | noise | {head} |", "|---|---|---|---|" + "---|" * len(names)]
    for label, c, a, b, per in rows:
        if c == "all":
            lines.append(f"| {label} | all | verdict names the winner at {_share(a)} of counted points; "
                         f"simulation at {_share(b)} | | " + "| " * len(names))
            continue
        cells = " | ".join(f"{e:,.0f} / {s:,.0f} ({e / s - 1:+.1%})" for s, e in (per[n] for n in names))
        lines.append(f"| {label} | {c} | {a:.1%} | {b:.1%} | {cells} |")
    return "\n".join(lines)


CROSSOVER_POLICIES = ("mb", "eb", "ebplus")  # what the MB/EB crossover speaks about (EB+ applies it online)


def sweep_validation(sweep: LoadSweep) -> list[tuple[str, float, str, str]]:
    """(profile, load, Δ(N)'s verdict, the simulated winner among CROSSOVER_POLICIES) for
    every load point."""
    rows = []
    for profile in _profiles(sweep.points):
        for load in sorted({p.load_tok_s for p in sweep.points if p.profile == profile}):
            pts = [p for p in sweep.points if p.profile == profile and p.load_tok_s == load
                   and p.policy in CROSSOVER_POLICIES]
            if not pts:
                continue
            predicted = (pts[0].predicted or "—").split(" (")[0]
            rows.append((profile, load, predicted, observed_winner(pts)))
    return rows
