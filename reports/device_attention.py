"""Attention rates per device (decode KV-read bandwidth, prefill FLOP rate, mixed batches' time), from the
attention probe, beside the paper's H200 FlashAttention times (`results/reference/`, a published reference)."""

from __future__ import annotations

from matplotlib.figure import Figure

from .data import DeviceResults, Results, load_reference_json, reference_source, unique
from .device_common import PEAKS_SOURCE, datasheet_line, label_axes
from .devices import headline_numbers
from .probe_points import attention_points
from .provenance import provenance
from .style import REF_STYLE, finish, legend, note, panel_grid, ref_label

PAPER_ATTENTION = "eb_paper_attention_H200_pure.json"


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
            used_peaks |= datasheet_line(ax, d, "hbm_tb_s", "TB/s") if kind == "decode" else \
                datasheet_line(ax, d, "bf16_dense_tflops", "TFLOP/s bf16 dense")
            if paper:
                px, py = zip(*paper[kind], strict=True)
                ax.plot(px, py, "s--", ms=5, lw=0.8, **REF_STYLE,
                        label=ref_label(f"paper: {paper['kernel'].split(',')[0]}, {paper['gpu']}"))
            label_axes(ax, "KV context per sequence (tokens)" if kind == "decode" else "prompt tokens (causal)",
                       "KV read (TB/s)" if kind == "decode" else "TFLOP/s", f"{d.label}\n{kind} attention", ylog=True)
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
