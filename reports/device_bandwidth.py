"""Attained memory bandwidth against working-set size, from the bandwidth probe (BabelStream kernels)."""

from __future__ import annotations

from matplotlib.figure import Figure

from .data import DeviceResults, Results, unique
from .device_common import MIB, PEAKS_SOURCE, datasheet_line, label_axes, missing_note
from .probe_points import bandwidth_points
from .provenance import provenance
from .style import finish, legend, note, panel_grid

KERNEL_COLORS = {"copy": "C0", "scale": "C1", "add": "C2", "triad": "C3", "read": "C4", "write": "C5"}


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
                missing_note(ax, d, "bandwidth") if col == 0 else ax.set_visible(False)
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
            used_peaks |= datasheet_line(ax, d, "hbm_tb_s", "TB/s")
            label_axes(ax, "working set (MiB)", "attained bandwidth (TB/s)", f"{d.label}\n{impl}")
            legend(ax, ncol=2, fontsize=7)
    if used_peaks:
        sources.append(PEAKS_SOURCE)
    return finish(fig, "Attained memory bandwidth against working-set size (TB/s; bytes read + written, counted as "
                       "BabelStream does)", sources, provenance=provenance(devices))
