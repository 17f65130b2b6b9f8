"""A roofline per device: attained TFLOP/s against arithmetic intensity (FLOP per byte of memory traffic).

The roof is min(bandwidth × intensity, peak rate), drawn twice: from this suite's measured ceilings (the
copy-bandwidth plateau and the best GEMM) and from the datasheet (`probes/peaks.json`, a published
reference). Each measured GEMM, attention kernel and whole step is a point at its intensity, so how far
below its roof it runs, and which roof binds it, reads straight off the plot. Published FlashAttention
times on an H200 (`results/reference/`) sit on that device's panel as hollow black markers.

Bytes are counted as the probes count them: a GEMM reads its two operands and writes its result; decode
attention reads the KV cache; prefill attention reads Q, K, V and the cached prefix and writes O. A
step's bytes are its weights read once plus the KV cache it reads (activations left out, so its
intensity is an upper bound); its FLOPs are 2 per weight per token plus attention.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from phasecal.kernels.catalog import ModelShape, load_catalog
from phasecal.point_params import AttentionParams, GemmParams, StepParams
from phasecal.records import PointRecord

from .compare import device_colors, reference_peaks
from .data import DeviceResults, Results, load_reference_json, reference_source
from .device_attention import PAPER_ATTENTION
from .device_common import peaks_of
from .devices import headline_numbers
from .provenance import provenance
from .style import REF_STYLE, Missing, finish, legend, missing, panel_grid, ref_label

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "fp8": 1, "float8_e4m3fn": 1}
KIND_MARKERS = {"GEMM": "o", "decode attention": "v", "prefill attention": "^", "step": "s"}


@dataclass(frozen=True)
class RoofPoint:
    """One measured kernel or step: what it is, its FLOPs per byte, and its attained TFLOP/s."""

    kind: str  # a KIND_MARKERS key
    intensity: float
    tflops: float


def model_shape(d: DeviceResults) -> ModelShape | None:
    """The model's shape as the run header records it, else the catalog's shape of that name, else None."""
    model = d.runs[0].header.model if d.runs else {}
    names = [f.name for f in fields(ModelShape)]
    if all(k in model for k in names):
        return ModelShape(**{k: model[k] for k in names})
    return load_catalog().get(str(model.get("name", d.model)))


def _dtype_bytes(dtype: str | None, d: DeviceResults) -> int:
    """Bytes per element of the point's dtype, else the run's (a step point's params carry none)."""
    dtype = dtype or (d.runs[0].header.settings.get("dtype") if d.runs else None)
    return DTYPE_BYTES.get(str(dtype), 2)


def _point(kind: str, flops: float, nbytes: float, seconds: float) -> RoofPoint | None:
    if flops <= 0 or nbytes <= 0 or seconds <= 0:
        return None
    return RoofPoint(kind, flops / nbytes, flops / seconds / 1e12)


def gemm_point(rec: PointRecord, d: DeviceResults) -> RoofPoint | None:
    """2·M·N·K FLOPs over the bytes of A (M×K), B (K×N) and C (M×N)."""
    p = GemmParams.from_dict(rec.params)
    return _point("GEMM", p.flops, (p.m * p.k + p.k * p.n + p.m * p.n) * _dtype_bytes(p.dtype, d), rec.median_s)


def attention_point(rec: PointRecord, d: DeviceResults, shape: ModelShape) -> RoofPoint | None:
    """One layer's attention: 4·heads·head_dim FLOPs per (query, key) pair; bytes of Q, K, V, O as counted above."""
    p = AttentionParams.from_dict(rec.params)
    size = _dtype_bytes(p.dtype, d)
    hd, kv = shape.num_heads * shape.head_dim, shape.num_kv_heads * shape.head_dim
    kind, prefill, decode = p.kind, p.prefill, p.decode
    if kind == "decode" and decode:
        return _point("decode attention", 4 * hd * sum(decode), (2 * kv * sum(decode) + 2 * hd * len(decode)) * size,
                      rec.median_s)
    if kind == "prefill" and prefill:
        pairs = sum(q * (c + (q + 1) / 2) for q, c in prefill)
        nbytes = sum(2 * hd * q + 2 * kv * (q + c) for q, c in prefill) * size
        return _point("prefill attention", 4 * hd * pairs, nbytes, rec.median_s)
    return None


def step_point(rec: PointRecord, d: DeviceResults, shape: ModelShape) -> RoofPoint | None:
    """A whole step: 2 FLOPs per weight per token (LM head once per sequence) plus attention in every layer;
    bytes: the weights once and the KV cache read."""
    p = StepParams.from_dict(rec.params)
    prefill, decode = p.prefill, p.decode
    tokens, seqs = sum(q for q, _ in prefill) + len(decode), len(prefill) + len(decode)
    layers, head = shape.num_layers * shape.params_per_layer(), shape.hidden_size * shape.vocab_size
    pairs = sum(q * (c + (q + 1) / 2) for q, c in prefill) + sum(decode)
    flops = 2 * layers * tokens + 2 * head * seqs + 4 * shape.num_heads * shape.head_dim * shape.num_layers * pairs
    kv_tokens = sum(c + q for q, c in prefill) + sum(decode)
    size = _dtype_bytes(None, d)
    return _point("step", flops, (layers + head) * size + shape.kv_bytes_per_token(size) * kv_tokens, rec.median_s)


def roof_points(d: DeviceResults) -> list[RoofPoint]:
    """Every GEMM, attention and step record of a device placed on the roofline (unplaceable ones skipped)."""
    shape = model_shape(d)
    out = [gemm_point(r, d) for r in d.points("gemm")]
    if shape is not None:
        out += [attention_point(r, d, shape) for r in d.points("attention")]
        out += [step_point(r, d, shape) for r in d.points("step") if not StepParams.from_dict(r.params).graph]
    return [p for p in out if p is not None]


def paper_points(results: Results) -> list[RoofPoint]:
    """The paper's H200 FlashAttention times (Qwen3-8B heads, fp16) placed as the probes' points are."""
    ref = load_reference_json(results, PAPER_ATTENTION)
    if ref is None:
        return []
    a = ref["args"]
    hd, kv, b = a["num_heads"] * a["head_size"], a["num_kv_heads"] * a["head_size"], a["batch_size"]
    out = [_point("decode attention", 4 * hd * c * b, (2 * kv * c + 2 * hd) * b * 2, row["time_ms"] / 1e3)
           for row in ref["results"]["pure_decode"] for c in [row["context_len"]]]
    out += [_point("prefill attention", 4 * hd * n * (n + 1) / 2, (2 * hd + 2 * kv) * n * 2, row["time_ms"] / 1e3)
            for row in ref["results"]["pure_prefill"] for n in [row["seq_len"]]]
    return [p for p in out if p is not None]


def _roof(ax: Axes, tb_s: float, tflops: float, x: np.ndarray, label: str, **style) -> None:
    ax.plot(x, np.minimum(tb_s * x, tflops), label=f"{label}: {tb_s:.3g} TB/s, {tflops:.3g} TFLOP/s, "
            f"ridge {tflops / tb_s:.3g} FLOP/B", **style)


def _scatter(ax: Axes, pts: list[RoofPoint], color: str | None, reference: bool) -> None:
    for kind, marker in KIND_MARKERS.items():
        mine = [p for p in pts if p.kind == kind]
        if mine:
            style = dict(REF_STYLE, ls="none") if reference else {"color": color, "ls": "none", "alpha": 0.75}
            ax.plot([p.intensity for p in mine], [p.tflops for p in mine], marker=marker, ms=4.5,
                    label=ref_label(f"paper {kind}") if reference else f"{kind} ({len(mine)})", **style)


def _device_panel(ax: Axes, d: DeviceResults, headline: dict, color: str) -> None:
    pts = roof_points(d)
    xs = [p.intensity for p in pts] or [1.0]
    x = np.logspace(np.log10(min(xs) / 3), np.log10(max(xs) * 3), 200)
    bw, gemm = headline.get("bandwidth_tb_s"), headline.get("gemm_tflops")
    if bw and gemm:
        _roof(ax, bw, gemm, x, "measured roof", color=color, lw=1.8)
    peaks = peaks_of(d)
    if peaks and peaks.get("hbm_tb_s") and peaks.get("bf16_dense_tflops"):
        _roof(ax, peaks["hbm_tb_s"], peaks["bf16_dense_tflops"], x, ref_label(f"{peaks['id']} datasheet"),
              color="black", ls=":", lw=1.2)
    _scatter(ax, pts, color, reference=False)
    ax.set_title(d.label, fontsize=9.5)


def _reference_panel(ax: Axes, peaks: dict, pts: list[RoofPoint]) -> None:
    xs = [p.intensity for p in pts] or [1.0, 1000.0]
    x = np.logspace(np.log10(min(xs) / 3), np.log10(max(max(xs) * 3, 2000)), 200)
    _roof(ax, peaks["hbm_tb_s"], peaks["bf16_dense_tflops"], x, ref_label("datasheet"), color="black", ls=":", lw=1.2)
    _scatter(ax, pts, None, reference=True)
    ax.set_title(f"{peaks['id']} ({ref_label('ceilings and kernels')})", fontsize=9.5)


def roofline(results: Results) -> Figure | Missing:
    """A panel per measured device with kernels or ceilings, then one per published reference device."""
    headline = headline_numbers(results)
    shown = [d for d in results.devices if roof_points(d) or headline[d.label].get("bandwidth_tb_s")]
    paper = paper_points(results)
    ref_peaks = [p for p in reference_peaks(results) if p.get("hbm_tb_s") and p.get("bf16_dense_tflops")
                 and p["id"] not in {peaks_of(d)["id"] for d in shown if peaks_of(d)}]
    if not shown and not ref_peaks:
        return missing("Roofline", "phasecal probe --suite all")
    colors = device_colors(results)
    fig, axes = panel_grid(len(shown) + len(ref_peaks), sharey=False)
    for ax, d in zip(axes, shown, strict=False):
        _device_panel(ax, d, headline[d.label], colors[d.label])
    for ax, peaks in zip(axes[len(shown):], ref_peaks, strict=True):
        _reference_panel(ax, peaks, paper if "H200" in peaks["id"] else [])
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("attained TFLOP/s")
        ax.grid(True, which="both", alpha=0.25)
        legend(ax, fontsize=6.5, loc="upper left")  # above the sloped roof: never over a point
    sources = [s for d in shown for s in d.sources()] + ["probes/peaks.json"]
    if paper:
        sources.append(reference_source(results, PAPER_ATTENTION))
    notes = [f"Not measured: kernels and ceilings on {d.label} (run `phasecal probe --suite all`)."
             for d in results.devices if d not in shown]
    return finish(fig, "Roofline per device: attained TFLOP/s against FLOP per byte, measured and datasheet roofs",
                  sources, notes, provenance(shown + results.references))
