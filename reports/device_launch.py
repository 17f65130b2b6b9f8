"""Kernel launch overhead per device, eager launches against CUDA Graph replay, from the launch probe."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from phasecal.probes.launch import graph_fit

from .data import Results
from .device_common import missing_note
from .probe_points import launch_points_from
from .provenance import provenance
from .style import finish, note, panel_grid


def launch_overhead(results: Results) -> Figure:
    """Launch overhead per device: eager launches (µs each: host enqueue, launch+sync round trip, or a
    CPU op's call) against CUDA-Graph replay (µs per node b and fixed cost a, fitted as a + b·nodes)."""
    devices = results.devices
    fig, axes = panel_grid(len(devices))
    if not devices:
        note(axes[0], f"no measured devices under {results.where} (run `phasecal run`)")
    sources: list[str] = []
    for ax, d in zip(axes, devices, strict=False):
        records = d.points("launch")
        if not records:
            missing_note(ax, d, "launch")
            continue
        sources += d.sources("launch")
        rows = launch_summary(records)
        y = np.arange(len(rows))
        ax.barh(y, [v * 1e6 for _, v in rows], color=["C1" if "graph" in label else "C0" for label, _ in rows])
        for yi, (_, v) in zip(y, rows, strict=True):
            ax.text(v * 1e6, yi, f" {v * 1e6:.3g}", va="center", fontsize=8)
        ax.set_yticks(y, [label for label, _ in rows], fontsize=8)
        ax.invert_yaxis()
        ax.margins(x=0.2)
        ax.set_xlabel("µs (eager: per launch; graph: per node, or fixed per replay)")
        graphs = any("graph" in label for label, _ in rows)
        ax.set_title(d.label + ("" if graphs else "\n(no CUDA Graph data on this device: CUDA only)"), fontsize=9.5)
        ax.grid(True, axis="x", alpha=0.25)
    return finish(fig, "Kernel launch overhead, eager against CUDA Graph replay (µs; lower is better)", sources,
                  provenance=provenance(devices))


LAUNCH_WHAT = {"call": "op call (host)", "enqueue": "enqueue (host)", "launch_sync": "launch + sync"}


def launch_summary(records) -> list[tuple[str, float]]:
    """(row label, seconds): every eager measure per implementation, then each implementation's graph
    replay fit (probes.launch.graph_fit): cost per node b and fixed cost per replay a."""
    rows = [(f"{p.impl}: {LAUNCH_WHAT.get(p.measure, p.measure)}", p.median_s)
            for p in launch_points_from(records) if p.mode == "eager"]
    for impl, fit in graph_fit(records).items():
        rows.append((f"{impl}: graph, per node", fit["b_us_per_node"] / 1e6))
        rows.append((f"{impl}: graph, fixed per replay", fit["a_us"] / 1e6))
    return rows
