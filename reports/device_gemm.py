"""GEMM rate against tokens per step for the model's linear layers, from the GEMM probe."""

from __future__ import annotations

from matplotlib.figure import Figure

from .data import Results, unique
from .device_common import PEAKS_SOURCE, datasheet_line, label_axes, missing_note
from .probe_points import gemm_points
from .provenance import provenance
from .style import finish, legend, note, panel_grid

IMPL_STYLES = {"torch": "-", "triton": "--", "cupy": "-."}


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
            missing_note(ax, d, "gemm")
            continue
        sources += d.sources("gemm")
        for i, shape in enumerate(unique(p.shape for p in pts)):
            for impl in unique(p.impl for p in pts if p.shape == shape):
                series = sorted((p for p in pts if p.shape == shape and p.impl == impl), key=lambda p: p.m)
                ax.plot([p.m for p in series], [p.tflops for p in series], IMPL_STYLES.get(impl, "-."),
                        marker="o", ms=3, lw=1, color=f"C{i % 10}", label=f"{shape} ({impl})")
        used_peaks |= datasheet_line(ax, d, "bf16_dense_tflops", "TFLOP/s bf16 dense")
        dtypes = ", ".join(unique(p.dtype for p in pts if p.dtype))
        label_axes(ax, "M = tokens in the step", "TFLOP/s", f"{d.label}" + (f"\n{dtypes}" if dtypes else ""))
        legend(ax, fontsize=7)
    if used_peaks:
        sources.append(PEAKS_SOURCE)
    return finish(fig, "GEMM rate against tokens per step (TFLOP/s = 2·M·N·K / time) for the model's linear layers",
                  sources, provenance=provenance(devices))
