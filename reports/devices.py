"""Device summary figures and text: headline numbers per device (bandwidth plateau, launch overhead, best
GEMM rate) beside the datasheet peaks (`phasecal.probes.peaks`, published references), and what each device
did not measure. The per-probe figures are in `device_bandwidth`, `device_launch`, `device_gemm` and
`device_attention`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from phasecal.probes.bandwidth import ceilings as bandwidth_ceilings
from phasecal.probes.launch import graph_fit
from phasecal.probes.peaks import datasheet_peaks

from .data import Results
from .device_common import PEAKS_SOURCE
from .probe_points import gemm_points, launch_points_from, with_rates
from .provenance import provenance
from .style import REFERENCE, finish, note, panel_grid

SUMMARY_PANELS = (("bandwidth_tb_s", "memory bandwidth: plateau past the cache (TB/s, higher is better)", "hbm_tb_s"),
                  ("launch_us", "launch overhead (µs, lower is better): eager host cost per launch, CUDA Graph per "
                   "node", None),
                  ("gemm_tflops", "best GEMM rate (TFLOP/s, higher is better)", "bf16_dense_tflops"))


def _reference_peaks(results: Results) -> list[dict]:
    """Datasheet entries of the measured devices and of the devices of the published calibrations, once each."""
    names = [d.device_name for d in results.devices] + [r.profile.device.get("name", "") for r in results.references]
    entries = [d.device.get("datasheet") for d in results.devices] + [datasheet_peaks(n) for n in names]
    return list({e["id"]: e for e in entries if e}.values())


def device_summary(results: Results) -> Figure:
    """Headline numbers of every device, one bar each: memory bandwidth plateau, launch overhead (eager
    and CUDA Graph), best GEMM rate. Hatched bars are published references: the datasheet peaks of the
    measured devices and of the published calibrations' devices (`probes/peaks.json`)."""
    devices = results.devices
    rows = headline_numbers(results)
    refs = _reference_peaks(results)
    n_bars = max(len(devices) * 2, len(devices) + 2 * len(refs), 1)
    fig, axes = panel_grid(3, ncols=1, panel_w=11)
    fig.set_figheight(3 * (0.9 + 0.32 * n_bars) + 1.2)
    for ax, (key, xlabel, peak_key) in zip(axes, SUMMARY_PANELS, strict=True):
        bars: list[tuple[str, float, str, bool]] = []  # label, value, colour, is a reference
        for d in devices:
            h = rows[d.label]
            if key == "launch_us":
                for mode in ("eager", "graph"):
                    if h[f"launch_{mode}_us"] is not None:
                        bars.append((f"{d.label}: {'eager' if mode == 'eager' else 'CUDA Graph'}",
                                     h[f"launch_{mode}_us"], "C0" if mode == "eager" else "C1", False))
            elif h[key] is not None:
                bars.append((d.label, h[key], "C0", False))
        for peaks in refs:
            if peak_key and peaks.get(peak_key):
                bars.append((f"{peaks['id']}: datasheet ({REFERENCE})", peaks[peak_key], "none", True))
        if not bars:
            note(ax, f"no data for {xlabel} (run `phasecal probe --suite all`)")
            continue
        y = np.arange(len(bars))
        values = [b[1] for b in bars]
        drawn = ax.barh(y, values, color=[b[2] for b in bars], edgecolor=["black" if b[3] else "none" for b in bars])
        for bar, b in zip(drawn, bars, strict=True):
            bar.set_hatch("//" if b[3] else "")
            ax.text(0.005, bar.get_y() + bar.get_height() / 2, f"{b[0]}: {b[1]:.3g}", va="center", fontsize=7.5,
                    transform=ax.get_yaxis_transform(), color="black",
                    bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1})
        ax.set_yticks([])
        ax.invert_yaxis()
        if max(values) / min(values) > 10:
            ax.set_xscale("log")
            ax.set_xlim(min(values) / 20, max(values) * 4)  # room for the labels at the left, values at the right
        else:
            ax.set_xlim(0, max(values) * 1.25)
        ax.set_title(xlabel, fontsize=9.5)
        ax.grid(True, axis="x", which="both", alpha=0.25)
    sources = [src for d in devices for src in d.sources("bandwidth") + d.sources("launch") + d.sources("gemm")]
    if refs:
        sources.append(PEAKS_SOURCE)
    return finish(fig, "Device summary: what each device delivers (measured bars; hatched = published references)",
                  sources, provenance=provenance(devices + results.references))


def headline_numbers(results: Results) -> dict[str, dict]:
    """Per device label: bandwidth plateau past the cache (best implementation and op), eager launch (cheapest
    implementation) and graph per-node cost (µs), best GEMM TFLOP/s. Missing measurements are None."""
    out = {}
    for d in results.devices:
        h: dict = {"bandwidth_tb_s": None, "launch_eager_us": None, "launch_graph_us": None, "gemm_tflops": None}
        bw = with_rates(d.points("bandwidth"))
        if bw:
            # the probe's own plateau: median hot rate over the largest working sets, per implementation and op
            h["bandwidth_tb_s"] = max(c["plateau_gb_s"] for c in bandwidth_ceilings(bw).values()) / 1e3
        records = d.points("launch")
        eager = [p.median_s for p in launch_points_from(records) if p.measure in ("call", "enqueue")]
        graph = [fit["b_us_per_node"] / 1e6 for fit in graph_fit(records).values()]
        h["launch_eager_us"] = min(eager) * 1e6 if eager else None
        h["launch_graph_us"] = min(graph) * 1e6 if graph else None
        gemm = gemm_points(d)
        h["gemm_tflops"] = max(p.tflops for p in gemm) if gemm else None
        out[d.label] = h
    return out


def headline_markdown(results: Results) -> str:
    """A sentence per headline question (which device has the higher bandwidth, the lower launch
    overhead, the faster GEMM), from the measurements; for the notebook's text."""
    rows = headline_numbers(results)
    if not rows:
        return f"No measured devices under `{results.where}`."
    lines = ["| device · model | bandwidth plateau (TB/s) | eager launch, host cost (µs) | CUDA Graph per node (µs) "
             "| best GEMM (TFLOP/s) |",
             "|---|---|---|---|---|"]
    for label, h in rows.items():
        cells = [f"{h[k]:.3g}" if h[k] is not None else "—" for k in
                 ("bandwidth_tb_s", "launch_eager_us", "launch_graph_us", "gemm_tflops")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    verdicts = []
    for key, what, best in (("bandwidth_tb_s", "highest bandwidth", max), ("launch_eager_us",
                            "lowest eager launch overhead", min), ("gemm_tflops", "fastest GEMM", max)):
        have = {label: h[key] for label, h in rows.items() if h[key] is not None}
        if len(have) >= 2:  # a verdict needs two devices; within 1% of the best is a tie, not a win
            top = have[best(have, key=have.get)]
            tied = [label for label, v in have.items() if abs(v - top) <= 0.01 * top]
            verdicts.append(f"- **{what}**: {tied[0]} ({top:.3g})" if len(tied) == 1 else
                            f"- {what}: a tie within 1% between {' and '.join(tied)} ({top:.3g})")
    return "\n".join(lines + [""] + verdicts)


def skipped_markdown(results: Results) -> str:
    """What the probe suite did not measure on each device, and why (from its summary.json)."""
    lines = []
    for d in results.devices:
        if d.skipped:
            lines.append(f"**{d.label}**")
            lines += [f"- {line}" for line in d.skipped]
            lines.append("")
    return "\n".join(lines) or "Every probe ran in full on every device (or no suite summary was found)."
