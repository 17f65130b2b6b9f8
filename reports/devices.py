"""Figures that compare devices: attained bandwidth, launch overhead, GEMM and attention rates.

Measurements come from the probes' raw records (`probe` = bandwidth, launch, gemm, attention); each
device is a panel, side by side. Ceilings are datasheet peaks (`phasecal.probes.peaks`) and the paper's
H200 FlashAttention times (`results/reference/`), always labelled as published references.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from phasecal.probes.bandwidth import ceilings as bandwidth_ceilings
from phasecal.probes.launch import graph_fit
from phasecal.probes.peaks import datasheet_peaks

from .data import DeviceResults, Results, load_reference_json, reference_source, unique
from .probe_points import attention_points, bandwidth_points, gemm_points, launch_points_from, with_rates
from .provenance import provenance
from .style import REF_STYLE, REFERENCE, finish, legend, note, panel_grid, ref_label

PAPER_ATTENTION = "eb_paper_attention_H200_pure.json"
PEAKS_SOURCE = "probes/peaks.json"
MIB = 2**20
KERNEL_COLORS = {"copy": "C0", "scale": "C1", "add": "C2", "triad": "C3", "read": "C4", "write": "C5"}
IMPL_STYLES = {"torch": "-", "triton": "--", "cupy": "-."}


def peaks_of(d: DeviceResults) -> dict | None:
    """The datasheet entry of a device: the one its fingerprint carries, else matched by name."""
    return d.device.get("datasheet") or datasheet_peaks(d.device_name)


def _missing(ax, d: DeviceResults, probe: str) -> None:
    note(ax, f"no {probe} data for {d.label}: not measured (run `phasecal probe --suite {probe}`)")


def _cache_lines(ax, d: DeviceResults) -> None:
    """Vertical lines at the device's last-level cache sizes (where the bandwidth knee should sit)."""
    for key, name in (("l2_bytes", "L2"), ("l3_bytes", "L3")):
        size = d.device.get(key)
        if isinstance(size, int | float) and size > 0:
            ax.axvline(size / MIB, color="0.5", lw=0.8, ls="-.", label=f"{name} size ({size / MIB:g} MiB)")


def bandwidth_sweep(results: Results) -> Figure:
    """Attained bandwidth (TB/s) against working-set size: a row per device, a panel per implementation
    (Triton, CuPy, torch), a colour per BabelStream op; solid hot-cache samples, dashed cold (cache flushed).
    The datasheet memory bandwidth is a published reference line; the vertical line the cache size."""
    devices = results.devices
    impls = [unique(p.impl for p in bandwidth_points(d)) or [None] for d in devices]
    ncols = max((len(i) for i in impls), default=1)
    fig, axes = panel_grid(max(len(devices), 1) * ncols, ncols=ncols)
    if not devices:
        note(axes[0], f"no measured devices under {results.where} (run `phasecal run`)")
    sources: list[str] = []
    used_peaks = False
    for row, (d, row_impls) in enumerate(zip(devices, impls, strict=True)):
        pts = bandwidth_points(d)
        sources += d.sources("bandwidth")
        for col in range(ncols):
            ax = axes[row * ncols + col]
            impl = row_impls[col] if col < len(row_impls) else None
            if not pts:
                _missing(ax, d, "bandwidth") if col == 0 else ax.set_visible(False)
                continue
            if impl is None:
                ax.set_visible(False)
                continue
            mine = [p for p in pts if p.impl == impl]
            for op in unique(p.kernel for p in mine):
                for cold in (False, True):
                    series = sorted((p for p in mine if p.kernel == op and p.cold == cold), key=lambda p: p.working_set)
                    if series:
                        ax.plot([p.working_set / MIB for p in series], [p.tb_s for p in series], "--" if cold else "-",
                                marker=".", ms=3, lw=1, color=KERNEL_COLORS.get(op),
                                label=None if cold else op, alpha=0.7 if cold else 1.0)
            ax.plot([], [], "k-", lw=1, label="hot cache")
            ax.plot([], [], "k--", lw=1, alpha=0.7, label="cold (flushed)")
            _cache_lines(ax, d)
            peaks = peaks_of(d)
            if peaks and peaks.get("hbm_tb_s"):
                used_peaks = True
                ax.axhline(peaks["hbm_tb_s"], color="black", ls=":", lw=1.2,
                           label=ref_label(f"{peaks['id']} datasheet {peaks['hbm_tb_s']:g} TB/s"))
            ax.set_xscale("log")
            ax.set_xlabel("working set (MiB)")
            ax.set_ylabel("attained bandwidth (TB/s)")
            ax.set_title(f"{d.label}\n{impl}", fontsize=9.5)
            ax.grid(True, which="both", alpha=0.25)
            legend(ax, ncol=2, fontsize=7)
    if used_peaks:
        sources.append(PEAKS_SOURCE)
    return finish(fig, "Attained memory bandwidth against working-set size (TB/s; bytes read + written, counted as "
                       "BabelStream does)", sources, provenance=provenance(devices))


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
            _missing(ax, d, "launch")
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


def gemm_rates(results: Results) -> Figure:
    """GEMM rate (TFLOP/s) against M (tokens in the step) for the model's linear shapes, per device, with
    the datasheet dense bf16 peak as a published reference line."""
    devices = results.devices
    fig, axes = panel_grid(len(devices))
    if not devices:
        note(axes[0], f"no measured devices under {results.where} (run `phasecal run`)")
    sources: list[str] = []
    used_peaks = False
    for ax, d in zip(axes, devices, strict=False):
        pts = gemm_points(d)
        if not pts:
            _missing(ax, d, "gemm")
            continue
        sources += d.sources("gemm")
        for i, shape in enumerate(unique(p.shape for p in pts)):
            for impl in unique(p.impl for p in pts if p.shape == shape):
                series = sorted((p for p in pts if p.shape == shape and p.impl == impl), key=lambda p: p.m)
                ax.plot([p.m for p in series], [p.tflops for p in series], IMPL_STYLES.get(impl, "-."),
                        marker="o", ms=3, lw=1, color=f"C{i % 10}", label=f"{shape} ({impl})")
        peaks = peaks_of(d)
        if peaks and peaks.get("bf16_dense_tflops"):
            used_peaks = True
            ax.axhline(peaks["bf16_dense_tflops"], color="black", ls="--", lw=1,
                       label=ref_label(f"{peaks['id']} datasheet bf16 dense {peaks['bf16_dense_tflops']:g} TFLOP/s"))
        ax.set_xscale("log")
        ax.set_xlabel("M = tokens in the step")
        ax.set_ylabel("TFLOP/s")
        dtypes = ", ".join(unique(p.dtype for p in pts if p.dtype))
        ax.set_title(f"{d.label}" + (f"\n{dtypes}" if dtypes else ""), fontsize=9.5)
        ax.grid(True, which="both", alpha=0.25)
        legend(ax, fontsize=7)
    if used_peaks:
        sources.append(PEAKS_SOURCE)
    return finish(fig, "GEMM rate against tokens per step (TFLOP/s = 2·M·N·K / time) for the model's linear layers",
                  sources, provenance=provenance(devices))


def paper_attention_rates(results: Results) -> dict | None:
    """The paper's H200 FlashAttention times as rates, counted as the attention probe counts them:
    decode (context, KV-read TB/s), b sequences at context c reading 2·b·c·kv_heads·head_dim·2 bytes (fp16);
    prefill (tokens, TFLOP/s), one causal prompt of n tokens doing 4·heads·head_dim·n(n+1)/2 FLOPs."""
    ref = load_reference_json(results, PAPER_ATTENTION)
    if ref is None:
        return None
    args = ref["args"]
    heads, kv_heads, dim, batch = args["num_heads"], args["num_kv_heads"], args["head_size"], args["batch_size"]
    decode = [(row["context_len"], 2 * batch * row["context_len"] * kv_heads * dim * 2 / (row["time_ms"] / 1e3) / 1e12)
              for row in ref["results"]["pure_decode"]]
    prefill = [(row["seq_len"], 4 * heads * dim * row["seq_len"] * (row["seq_len"] + 1) / 2 / (row["time_ms"] / 1e3)
                / 1e12) for row in ref["results"]["pure_prefill"]]
    return {"decode": decode, "prefill": prefill, "gpu": ref.get("gpu", "?"), "kernel": ref.get("kernel", "?")}


def attention_rates(results: Results) -> Figure:
    """Attention per device, a row each: decode as KV-read bandwidth (TB/s) against context, prefill as
    TFLOP/s against prompt tokens, mixed batches' time against decode share. Ceilings: the device's
    measured bandwidth plateau, its datasheet peaks, and the paper's H200 FlashAttention figures."""
    devices = results.devices
    fig, axes = panel_grid(3 * max(len(devices), 1), ncols=3)
    paper = paper_attention_rates(results)
    sources: list[str] = [reference_source(results, PAPER_ATTENTION)] if paper else []
    if not devices:
        note(axes[0], f"no measured devices under {results.where} (run `phasecal run`)")
        for ax in axes[1:3]:
            note(ax, f"no measured devices under {results.where} (run `phasecal run`)")
    used_peaks = False
    headline = headline_numbers(results)
    for row, d in enumerate(devices):
        pts = attention_points(d)
        if pts:
            sources += d.sources("attention")
        peaks = peaks_of(d)
        for ax, kind in zip(axes[3 * row: 3 * row + 3], ("decode", "prefill", "mixed"), strict=True):
            mine = [p for p in pts if p.kind == kind]
            if not mine:
                note(ax, f"no {kind} attention data for {d.label} (run `phasecal probe --suite attention`)")
                continue
            if kind == "mixed":
                _mixed_panel(ax, d, mine)
                continue
            for i, (impl, batch) in enumerate(unique((p.impl, p.batch) for p in mine)):
                series = sorted((p for p in mine if (p.impl, p.batch) == (impl, batch)), key=lambda p: p.x)
                what = f"{batch} seq" if kind == "decode" else f"{batch} chunk"
                what += "s" if batch > 1 else ""
                ax.plot([p.x for p in series], [p.rate for p in series], "o-", ms=3, lw=1, color=f"C{i % 10}",
                        label=f"{impl}, {what}")
            plateau = headline[d.label]["bandwidth_tb_s"]
            if kind == "decode" and plateau:
                ax.axhline(plateau, color="0.4", ls="--", lw=1, label=f"bandwidth plateau, this run ({plateau:.3g})")
            peak = peaks and peaks.get("hbm_tb_s" if kind == "decode" else "bf16_dense_tflops")
            if peak:
                used_peaks = True
                unit = "TB/s" if kind == "decode" else "TFLOP/s bf16 dense"
                ax.axhline(peak, color="black", ls=":", lw=1.2,
                           label=ref_label(f"{peaks['id']} datasheet {peak:g} {unit}"))
            if paper:
                px, py = zip(*paper[kind], strict=True)
                ax.plot(px, py, "s--", ms=5, lw=0.8, **REF_STYLE,
                        label=ref_label(f"paper: {paper['kernel'].split(',')[0]}, {paper['gpu']}"))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("KV context per sequence (tokens)" if kind == "decode" else "prompt tokens (causal)")
            ax.set_ylabel("KV read (TB/s)" if kind == "decode" else "TFLOP/s")
            ax.set_title(f"{d.label}\n{kind} attention", fontsize=9.5)
            ax.grid(True, which="both", alpha=0.25)
            legend(ax, fontsize=6.5)
    if used_peaks:
        sources.append(PEAKS_SOURCE)
    return finish(fig, "Attention: decode as KV-read bandwidth (TB/s), prefill as TFLOP/s, mixed batches as time (ms)",
                  sources, provenance=provenance(devices))


def _mixed_panel(ax, d: DeviceResults, pts) -> None:
    """Mixed batches at one token budget: time against decode share, one line per implementation
    (one unified launch against two launches, on a GPU)."""
    for i, impl in enumerate(unique(p.impl for p in pts)):
        series = sorted((p for p in pts if p.impl == impl), key=lambda p: p.x)
        ax.plot([p.x for p in series], [p.median_s * 1e3 for p in series], "o-", ms=3, lw=1, color=f"C{i % 10}",
                label=impl)
    ax.set_xlabel("decode share of the batch's tokens")
    ax.set_ylabel("attention time (ms)")
    ax.set_xlim(-0.05, 1.05)
    ax.set_title(f"{d.label}\nmixed batches (fixed token budget)", fontsize=9.5)
    ax.grid(True, alpha=0.25)
    legend(ax, fontsize=7)


SUMMARY_PANELS = (("bandwidth_tb_s", "memory bandwidth: plateau past the cache (TB/s, higher is better)",
                   "hbm_tb_s", "copy_tb_s"),
                  ("launch_us", "launch overhead (µs, lower is better): eager host cost per launch, CUDA Graph per "
                   "node", None, None),
                  ("gemm_tflops", "best GEMM rate (TFLOP/s, higher is better)", "bf16_dense_tflops",
                   "bf16_gemm_tflops"))


def _reference_peaks(results: Results) -> list[dict]:
    """Datasheet entries of the measured devices and of the devices of the published calibrations, once each."""
    names = [d.device_name for d in results.devices] + [r.profile.device.get("name", "") for r in results.references]
    entries = [d.device.get("datasheet") for d in results.devices] + [datasheet_peaks(n) for n in names]
    return list({e["id"]: e for e in entries if e}.values())


def device_summary(results: Results) -> Figure:
    """Headline numbers of every device, one bar each: memory bandwidth plateau, launch overhead (eager
    and CUDA Graph), best GEMM rate. Hatched bars are published references: the datasheet peaks of the
    measured devices and of the published calibrations' devices, and the ceilings measured elsewhere
    that `probes/peaks.json` records with their source."""
    devices = results.devices
    rows = headline_numbers(results)
    refs = _reference_peaks(results)
    n_bars = max(len(devices) * 2, len(devices) + 2 * len(refs), 1)
    fig, axes = panel_grid(3, ncols=1, panel_w=11)
    fig.set_figheight(3 * (0.9 + 0.32 * n_bars) + 1.2)
    for ax, (key, xlabel, peak_key, measured_key) in zip(axes, SUMMARY_PANELS, strict=True):
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
            measured = peaks.get("measured") or {}
            if measured_key and measured.get(measured_key):
                bars.append((f"{peaks['id']}: measured elsewhere through PyTorch ({REFERENCE})",
                             measured[measured_key], "none", True))
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
