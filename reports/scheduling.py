"""Figures that compare schedulers (MB, EB, EB+, ...) on each device profile: throughput, TTFT and TPOT
across workloads and concurrency.

Scheduler summaries are the JSON documents `phasecal.scheduler.metrics.write_summary_json` writes
(`{..context.., "policies": [PolicySummary, ...]}`), found anywhere under the results folder; each is
attributed to a device profile from its own context fields, else from the `<device>/<model>/` folder
it lies in. Those under `results/reference/` were simulated on a published calibration and say so.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from phasecal.scheduler.metrics import PolicySummary

from .data import REFERENCE_DIR, Results, _relative, unique
from .style import REFERENCE, finish, legend, note, panel_grid

POLICY_NAMES = {"mb": "MB", "pf": "PF", "eb": "EB", "ebplus": "EB+"}
POLICY_COLORS = {"mb": "C0", "pf": "C7", "eb": "C3", "ebplus": "C2"}
CONCURRENCY = re.compile(r"(?:^|[\s:])c=(\d+)")


@dataclass(frozen=True)
class SchedulerRun:
    """One policy's summary on one workload, for one device profile."""

    profile: str  # device (and model) the run was simulated or executed for
    reference: bool  # simulated on a published calibration
    workload: str  # workload family, concurrency removed
    concurrency: int | None
    summary: PolicySummary
    source: str

    @property
    def policy(self) -> str:
        return self.summary.policy

    @property
    def case(self) -> str:
        """The workload with its concurrency, as an axis label."""
        return self.workload if self.concurrency is None else f"{self.workload}\nc={self.concurrency}"


def _profile_label(doc: dict, path: Path, results: Results) -> tuple[str, bool]:
    parts = path.relative_to(results.root).parts
    reference = parts[0] == REFERENCE_DIR
    for d in results.devices:
        if len(parts) >= 3 and (d.slug, d.model) == parts[:2]:
            return d.label, False
    for key in ("profile_label", "device", "profile"):
        value = doc.get(key)
        if isinstance(value, dict):
            value = value.get("name")
        if isinstance(value, str) and value:
            label = value
            break
    else:
        label = " · ".join(parts[:2]) if len(parts) >= 3 else path.stem
    model = doc.get("model")
    if isinstance(model, dict):
        model = model.get("name")
    if isinstance(model, str) and model and model not in label:
        label = f"{label} · {model}"
    if reference and REFERENCE not in label:
        label = f"{label} ({REFERENCE} calibration)"
    return label, reference


def _split_workload(name: str, doc: dict) -> tuple[str, int | None]:
    m = CONCURRENCY.search(name)
    conc = int(m.group(1)) if m else doc.get("concurrency") if isinstance(doc.get("concurrency"), int) else None
    family = CONCURRENCY.sub("", name).strip(" :") or name
    return family, conc


def load_scheduler_runs(results: Results) -> list[SchedulerRun]:
    """Every policy summary under the results folder; unreadable documents go to `results.problems`."""
    runs = []
    for path in sorted(results.root.rglob("*.json")):
        if path.name == "profile.json":
            continue
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("policies"), list):
            continue
        label, reference = _profile_label(doc, path, results)
        source = _relative(path, results.root)
        for i, entry in enumerate(doc["policies"]):
            try:
                summary = PolicySummary(**entry)
            except TypeError as e:
                results.problems.append(f"{source}: policies[{i}] is not a scheduler summary ({e})")
                continue
            family, conc = _split_workload(summary.workload, {**doc, **entry})
            runs.append(SchedulerRun(label, reference, family, conc, summary, source))
    return runs


def _name(policy: str) -> str:
    return POLICY_NAMES.get(policy, policy)


def _color(policy: str) -> str:
    return POLICY_COLORS.get(policy, "C9")


def _by_profile(runs: list[SchedulerRun]) -> dict[str, list[SchedulerRun]]:
    out: dict[str, list[SchedulerRun]] = {}
    for r in sorted(runs, key=lambda r: (r.reference, r.profile)):
        out.setdefault(r.profile, []).append(r)
    return out


def _grouped_bars(ax, runs: list[SchedulerRun], value, best=max, log: bool = False) -> None:
    """Bars per workload case, one per policy; the best policy of each case gets a ★."""
    cases = unique(r.case for r in sorted(runs, key=lambda r: (r.workload, r.concurrency or 0)))
    policies = [p for p in POLICY_NAMES if any(r.policy == p for r in runs)]
    policies += unique(r.policy for r in runs if r.policy not in policies)
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
            win = best(vals, key=vals.get)
            j = policies.index(win)
            ax.annotate("★", (i + (j - (len(policies) - 1) / 2) * width, vals[win]), ha="center", va="bottom",
                        fontsize=11, color=_color(win))
    ax.set_xticks(range(len(cases)), cases, fontsize=7.5)
    if log:
        ax.set_yscale("log")
        shown = [value(r) for r in runs if math.isfinite(value(r)) and value(r) > 0]
        if shown:  # log-scale bars start at the axis bottom: keep it well below the smallest bar
            ax.set_ylim(bottom=min(shown) / 3)
    else:
        ax.margins(y=0.12)
    ax.grid(True, axis="y", alpha=0.25)


def scheduler_throughput(results: Results) -> Figure:
    """Throughput (input + output tokens/s) of each policy per workload, one panel per device profile;
    ★ marks the best policy of each workload."""
    groups = _by_profile(load_scheduler_runs(results))
    fig, axes = panel_grid(len(groups), ncols=min(max(len(groups), 1), 2))
    if not groups:
        note(axes[0], f"no scheduler summaries under {results.root.name}/: run `phasecal simulate`")
    sources = []
    for ax, (label, runs) in zip(axes, groups.items(), strict=False):
        sources += [r.source for r in runs]
        _grouped_bars(ax, runs, lambda r: r.summary.throughput_tok_s)
        ax.set_ylabel("throughput (tokens/s, input + output)")
        ax.set_title(f"{label}\n{_mode_note(runs)}", fontsize=9)
        legend(ax, ncol=len(POLICY_NAMES))
    return finish(fig, "Scheduler throughput per workload (tokens/s; ★ = best; higher is better)", sources)


def scheduler_latency(results: Results) -> Figure:
    """TTFT and TPOT per policy and workload (median bars, p90 whiskers), a row per device profile."""
    groups = _by_profile(load_scheduler_runs(results))
    fig, axes = panel_grid(2 * max(len(groups), 1), ncols=2)
    if not groups:
        note(axes[0], f"no scheduler summaries under {results.root.name}/")
        note(axes[1], "no scheduler summaries")
    sources = []
    for row, (label, runs) in enumerate(groups.items()):
        sources += [r.source for r in runs]
        for ax, (metric, what) in zip(axes[2 * row: 2 * row + 2],
                                      (("ttft", "time to first token"), ("tpot", "time per output token")),
                                      strict=True):
            _grouped_bars(ax, runs, lambda r, m=metric: getattr(r.summary, f"{m}_p50") * 1e3, best=min, log=True)
            _p90_whiskers(ax, runs, metric)
            ax.set_ylabel(f"{metric.upper()} (ms), median; whisker p90")
            ax.set_title(f"{label}\n{what} (★ = lowest median; lower is better)", fontsize=9)
            legend(ax, ncol=len(POLICY_NAMES))
    return finish(fig, "Scheduler latency per workload: TTFT and TPOT (ms, log scale)", sources)


def _p90_whiskers(ax, runs: list[SchedulerRun], metric: str) -> None:
    cases = unique(r.case for r in sorted(runs, key=lambda r: (r.workload, r.concurrency or 0)))
    policies = [p for p in POLICY_NAMES if any(r.policy == p for r in runs)]
    policies += unique(r.policy for r in runs if r.policy not in policies)
    width = 0.8 / max(len(policies), 1)
    for j, pol in enumerate(policies):
        for i, case in enumerate(cases):
            for r in runs:
                if r.case == case and r.policy == pol:
                    p50, p90 = getattr(r.summary, f"{metric}_p50") * 1e3, getattr(r.summary, f"{metric}_p90") * 1e3
                    if math.isfinite(p50) and math.isfinite(p90) and p50 > 0:
                        x = i + (j - (len(policies) - 1) / 2) * width
                        ax.plot([x, x], [p50, p90], color="black", lw=0.8)


def _mode_note(runs: list[SchedulerRun]) -> str:
    executed = {r.summary.executed for r in runs}
    kind = "executed on the device" if executed == {True} else "simulated from the profile" if executed == {
        False} else "simulated and executed"
    return f"{kind}; {len({r.case for r in runs})} workload cases"


def scheduler_concurrency(results: Results) -> Figure:
    """Throughput, TTFT and TPOT against concurrency for workloads run at several concurrencies, one row
    per device profile; colours are policies, line styles workloads."""
    groups = {label: [r for r in runs if r.concurrency is not None]
              for label, runs in _by_profile(load_scheduler_runs(results)).items()}
    groups = {label: runs for label, runs in groups.items()
              if any(len({r.concurrency for r in runs if r.workload == w}) >= 2 for w in {r.workload for r in runs})}
    fig, axes = panel_grid(3 * max(len(groups), 1), ncols=3)
    if not groups:
        note(axes[0], "no workload was run at two or more concurrencies")
        for ax in axes[1:3]:
            note(ax, "no concurrency sweep")
    sources = []
    styles = ["-", "--", ":", "-."]
    metrics = (("throughput_tok_s", 1.0, "throughput (tokens/s)"), ("ttft_p50", 1e3, "TTFT median (ms)"),
               ("tpot_p50", 1e3, "TPOT median (ms)"))
    for row, (label, runs) in enumerate(groups.items()):
        sources += [r.source for r in runs]
        workloads = [w for w in unique(r.workload for r in runs)
                     if len({r.concurrency for r in runs if r.workload == w}) >= 2]
        for ax, (attr, scale, ylabel) in zip(axes[3 * row: 3 * row + 3], metrics, strict=True):
            for k, w in enumerate(workloads):
                for pol in unique(r.policy for r in runs if r.workload == w):
                    sel = sorted((r for r in runs if r.workload == w and r.policy == pol), key=lambda r: r.concurrency)
                    ax.plot([r.concurrency for r in sel], [getattr(r.summary, attr) * scale for r in sel],
                            styles[k % len(styles)], marker="o", ms=3, color=_color(pol),
                            label=f"{_name(pol)}, {w}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("concurrency (requests in flight)")
            ax.set_ylabel(ylabel)
            ax.set_title(label, fontsize=9)
            ax.grid(True, which="both", alpha=0.25)
            legend(ax, fontsize=6.5)
    return finish(fig, "Schedulers against concurrency: throughput (tokens/s), TTFT and TPOT (ms)", sources)


def winners_markdown(results: Results) -> str:
    """A markdown table: for each device profile and workload case, the policy with the highest
    throughput, the lowest median TTFT and the lowest median TPOT, with the throughput margin."""
    groups = _by_profile(load_scheduler_runs(results))
    if not groups:
        return f"No scheduler summaries under `{results.root.name}/` (run `phasecal simulate`)."
    lines = ["| device profile | workload | best throughput | margin over next | lowest TTFT p50 | lowest TPOT p50 |",
             "|---|---|---|---|---|---|"]
    for label, runs in groups.items():
        for case in unique(r.case for r in sorted(runs, key=lambda r: (r.workload, r.concurrency or 0))):
            sel = [r for r in runs if r.case == case]
            thr = sorted(sel, key=lambda r: -r.summary.throughput_tok_s)
            margin = (f"{thr[0].summary.throughput_tok_s / thr[1].summary.throughput_tok_s - 1:+.1%} "
                      f"vs {_name(thr[1].policy)}" if len(thr) >= 2 else "—")
            ttft = min(sel, key=lambda r: _finite(r.summary.ttft_p50))
            tpot = min(sel, key=lambda r: _finite(r.summary.tpot_p50))
            lines.append(f"| {label} | {case.replace(chr(10), ' ')} | **{_name(thr[0].policy)}** "
                         f"({thr[0].summary.throughput_tok_s:,.0f} tok/s) | {margin} | {_name(ttft.policy)} "
                         f"({ttft.summary.ttft_p50 * 1e3:.3g} ms) | {_name(tpot.policy)} "
                         f"({tpot.summary.tpot_p50 * 1e3:.3g} ms) |")
    return "\n".join(lines)


def _finite(x: float) -> float:
    return x if math.isfinite(x) else np.inf
