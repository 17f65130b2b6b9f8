"""Figures that compare schedulers (MB, EB, EB+, ...) on each device profile: throughput, TTFT and TPOT
across workloads and concurrency. The runs come from `scheduler_runs.load_scheduler_runs`.
"""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from .data import Results, unique
from .provenance import provenance, shown
from .scheduler_runs import SchedulerRun, load_scheduler_runs
from .style import PANEL_W, finish, legend, note, panel_grid, scale_to

POLICY_NAMES = {"mb": "MB", "pf": "PF", "eb": "EB", "ebplus": "EB+", "fair": "Fair"}
POLICY_COLORS = {"mb": "C0", "pf": "C7", "eb": "C3", "ebplus": "C2", "fair": "C1"}
TIE = 0.01  # policies within 1% of the best share its ★: closer than that is not a win worth reporting


def _name(policy: str) -> str:
    return POLICY_NAMES.get(policy, policy)


def _color(policy: str) -> str:
    return POLICY_COLORS.get(policy, "C9")


def _by_profile(runs: list[SchedulerRun]) -> dict[str, list[SchedulerRun]]:
    out: dict[str, list[SchedulerRun]] = {}
    for r in sorted(runs, key=lambda r: (r.reference, r.profile)):
        out.setdefault(r.profile, []).append(r)
    return out


def _bar_width(groups: dict[str, list[SchedulerRun]]) -> float:
    """Panel width (inches) that fits the most workload cases of any profile side by side."""
    return max(PANEL_W, 1.1 * max((len(_cases(runs)) for runs in groups.values()), default=1) + 2.5)


def _policies(runs: list[SchedulerRun]) -> list[str]:
    """Policies present, in the usual order (MB, PF, EB, EB+), then any others."""
    known = [p for p in POLICY_NAMES if any(r.policy == p for r in runs)]
    return known + unique(r.policy for r in runs if r.policy not in known)


def _grouped_bars(ax, runs: list[SchedulerRun], value, best=max, log: bool = False) -> None:
    """Bars per workload case, one per policy (`log`: a log axis if they span decades); the best policy of each
    case (and any within TIE of it) gets a ★."""
    cases = _cases(runs)
    policies = _policies(runs)
    width = 0.8 / max(len(policies), 1)
    for j, pol in enumerate(policies):
        xs, ys = [], []
        for i, case in enumerate(cases):
            v = [value(r) for r in runs if r.case == case and r.policy == pol]
            if v and math.isfinite(v[0]):
                xs.append(i + (j - (len(policies) - 1) / 2) * width)
                ys.append(v[0])
        ax.bar(xs, ys, width, color=_color(pol), label=_name(pol))
    for i, case in enumerate(cases):
        vals = {r.policy: value(r) for r in runs if r.case == case and math.isfinite(value(r))}
        if len(vals) >= 2:
            top = vals[best(vals, key=vals.get)]
            for pol, v in vals.items():
                if abs(v - top) <= TIE * abs(top):
                    j = policies.index(pol)
                    ax.annotate("★", (i + (j - (len(policies) - 1) / 2) * width, v), ha="center", va="bottom",
                                fontsize=11, color=_color(pol))
    half = max(len(cases), 4) / 2  # a lone case keeps slim bars
    ax.set_xlim((len(cases) - 1) / 2 - half, (len(cases) - 1) / 2 + half)
    predicted = {r.case: r.predicted for r in runs if r.predicted}
    ax.set_xticks(range(len(cases)), [c + (f"\npredicts {predicted[c]}" if c in predicted else "") for c in cases],
                  fontsize=7.5)
    shown = [value(r) for r in runs if math.isfinite(value(r)) and value(r) > 0]
    if log and shown and max(shown) / min(shown) >= 10:  # log only where the bars span decades
        ax.set_yscale("log")
        ax.set_ylim(bottom=min(shown) / 3)  # log-scale bars start at the axis bottom: keep it below the smallest
    else:
        ax.margins(y=0.12)
    ax.grid(True, axis="y", alpha=0.25)


def scheduler_throughput(results: Results) -> Figure:
    """Throughput (input + output tokens/s) of each policy per workload, one panel per device profile;
    ★ marks the best policy of each workload."""
    groups = _by_profile(load_scheduler_runs(results))
    fig, axes = panel_grid(len(groups), ncols=1, panel_w=_bar_width(groups))
    if not groups:
        note(axes[0], f"no scheduler summaries under {results.where} (run `phasecal run` or `phasecal simulate`)")
    sources = []
    for ax, (label, runs) in zip(axes, groups.items(), strict=False):
        sources += [r.source for r in runs]
        _grouped_bars(ax, runs, lambda r: r.result.throughput_tok_s)
        ax.set_ylabel("throughput (tokens/s, input + output)")
        ax.set_title(f"{label}\n{_mode_note(runs)}", fontsize=9)
        legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return finish(fig, "Scheduler throughput per workload (tokens/s, higher is better; ★ = best or within 1% of it)",
                  sources, provenance=provenance(shown(results, groups)))


def scheduler_latency(results: Results) -> Figure:
    """TTFT and TPOT per policy and workload (median bars, p90 whiskers), a row per device profile."""
    groups = _by_profile(load_scheduler_runs(results))
    fig, axes = panel_grid(2 * max(len(groups), 1), ncols=1, panel_w=_bar_width(groups))
    if not groups:
        for ax in axes:
            note(ax, f"no scheduler summaries under {results.where} (run `phasecal run` or `phasecal simulate`)")
    sources = []
    for row, (label, runs) in enumerate(groups.items()):
        sources += [r.source for r in runs]
        for ax, (metric, what) in zip(axes[2 * row: 2 * row + 2],
                                      (("ttft", "time to first token"), ("tpot", "time per output token")),
                                      strict=True):
            _grouped_bars(ax, runs, lambda r, m=metric: getattr(r.result, f"{m}_p50_s") * 1e3, best=min, log=True)
            _p90_whiskers(ax, runs, metric)
            ax.set_ylabel(f"{metric.upper()} (ms), median; whisker p90")
            ax.set_title(f"{label}: {what} (★ = lowest median or within 1% of it)", fontsize=9)
            legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return finish(fig, "Scheduler latency per workload: TTFT and TPOT (ms)", sources,
                  provenance=provenance(shown(results, groups)))


def _p90_whiskers(ax, runs: list[SchedulerRun], metric: str) -> None:
    cases = _cases(runs)
    policies = _policies(runs)
    width = 0.8 / max(len(policies), 1)
    for j, pol in enumerate(policies):
        for i, case in enumerate(cases):
            for r in runs:
                if r.case == case and r.policy == pol:
                    p50, p90 = getattr(r.result, f"{metric}_p50_s") * 1e3, getattr(r.result, f"{metric}_p90_s") * 1e3
                    if math.isfinite(p50) and math.isfinite(p90) and p50 > 0:
                        x = i + (j - (len(policies) - 1) / 2) * width
                        ax.plot([x, x], [p50, p90], color="black", lw=0.8)


def _mode_note(runs: list[SchedulerRun]) -> str:
    executed = {r.result.executed for r in runs}
    kind = "executed on the device" if executed == {True} else "simulated from the profile" if executed == {
        False} else "simulated and executed"
    n = len({r.case for r in runs})
    return f"{kind}; {n} workload case{'s' if n > 1 else ''}"


def scheduler_concurrency(results: Results) -> Figure:
    """Throughput, TTFT and TPOT against concurrency, a row per device profile and workload run at two or
    more concurrencies, a line per policy."""
    rows: list[tuple[str, str, list[SchedulerRun]]] = []
    for label, runs in _by_profile(load_scheduler_runs(results)).items():
        for w in unique(r.workload for r in runs if r.concurrency is not None):
            sel = [r for r in runs if r.workload == w and r.concurrency is not None]
            if len({r.concurrency for r in sel}) >= 2:
                rows.append((label, w, sel))
    fig, axes = panel_grid(3 * max(len(rows), 1), ncols=3)
    if not rows:
        for ax in axes:
            note(ax, "no workload was run at two or more concurrencies (run `phasecal simulate -w "
                     "balanced:c=64` and again at other c)")
    sources = []
    metrics = (("throughput_tok_s", 1.0, "throughput (tokens/s)"), ("ttft_p50_s", 1e3, "TTFT median (ms)"),
               ("tpot_p50_s", 1e3, "TPOT median (ms)"))
    for row, (label, workload, runs) in enumerate(rows):
        sources += [r.source for r in runs]
        for col, (ax, (attr, scale, ylabel)) in enumerate(zip(axes[3 * row: 3 * row + 3], metrics, strict=True)):
            values = []
            for pol in _policies(runs):
                sel = sorted((r for r in runs if r.policy == pol), key=lambda r: r.concurrency)
                ys = [getattr(r.result, attr) * scale for r in sel]
                ax.plot([r.concurrency for r in sel], ys, "o-" if len(sel) > 2 else "o:", ms=4, color=_color(pol),
                        label=_name(pol))
                values += ys
            scale_to(ax, "x", [r.concurrency for r in runs], zero=False)
            scale_to(ax, "y", values)  # throughput from zero unless it spans decades
            ax.set_xlabel("concurrency (requests in flight)")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{label}\n{workload}", fontsize=9)
            ax.grid(True, which="both", alpha=0.25)
            if col == 0:
                legend(ax)
    return finish(fig, "Schedulers against concurrency: throughput (tokens/s), TTFT and TPOT (ms)", sources,
                  provenance=provenance(shown(results, [r[0] for r in rows])))


def winners_markdown(results: Results) -> str:
    """A markdown table: for each device profile and workload case, the policy with the highest throughput
    (and its margin), what the MB/EB crossover predicted, and the lowest median TTFT and TPOT. Policies
    within 1% of the best are a tie: all are named, none in bold."""
    groups = _by_profile(load_scheduler_runs(results))
    if not groups:
        return f"No scheduler results under `{results.where}` (run `phasecal run` or `phasecal simulate`)."
    lines = ["| device profile | workload | best throughput | margin over next | crossover predicted | "
             "lowest TTFT p50 | lowest TPOT p50 |", "|---|---|---|---|---|---|---|"]
    for label, runs in groups.items():
        for case in _cases(runs):
            sel = [r for r in runs if r.case == case]
            thr = sorted(sel, key=lambda r: -r.result.throughput_tok_s)
            margin = "—"
            if len(thr) >= 2:
                gain = thr[0].result.throughput_tok_s / thr[1].result.throughput_tok_s - 1
                margin = f"{gain:+.1%} vs {_name(thr[1].policy)}"
            best = _best(sel, lambda r: r.result.throughput_tok_s, max, lambda v: f"{v:,.0f} tok/s")
            ttft = _best(sel, lambda r: r.result.ttft_p50_s, min, _duration)
            tpot = _best(sel, lambda r: r.result.tpot_p50_s, min, _duration)
            lines.append(f"| {label} | {case.replace(chr(10), ' ')} | {best} | {margin} | "
                         f"{sel[0].predicted or '—'} | {ttft} | {tpot} |")
    return "\n".join(lines)


def _best(runs: list[SchedulerRun], value, best, fmt) -> str:
    """`**EB** (value)` for a clear winner; `MB = EB (tie within 1%: value)` when several are within TIE of the
    best, never bolded; `—` when no policy has a finite value."""
    finite = [r for r in runs if math.isfinite(value(r))]
    if not finite:
        return "—"
    top = value(best(finite, key=value))
    tied = [r for r in finite if abs(value(r) - top) <= TIE * abs(top)]
    if len(tied) == 1 and len(finite) > 1:
        return f"**{_name(tied[0].policy)}** ({fmt(top)})"
    names = " = ".join(_name(r.policy) for r in tied)
    return f"{names} ({fmt(top)})" if len(tied) == 1 else f"{names} (tie within 1%: {fmt(top)})"


def _cases(runs: list[SchedulerRun]) -> list[str]:
    return unique(r.case for r in sorted(runs, key=lambda r: (r.workload, r.concurrency or 0)))


def _duration(seconds: float) -> str:
    """3 significant digits in ms below a second, s up to 1,000 s, then whole seconds with separators."""
    if seconds >= 1000:
        return f"{seconds:,.0f} s"
    return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1e3:.3g} ms"


