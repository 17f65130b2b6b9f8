"""Devices on shared axes: one line per device (and per published reference) in the same panel, so which
device is faster, and by how much, reads off the lines instead of off tick labels of separate panels.

Figures: attained bandwidth against working-set size, step time against tokens (prefill and decode),
MB marginal cost β_MB(r) against decode share, decode cost per sequence against KV context; and a table
of each device's headline numbers as ratios against a chosen baseline device. Measured devices get a
colour each (the same in every figure); published references are black, dashed, hollow-marked.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from phasecal.probes.peaks import datasheet_peaks

from .data import DeviceResults, ReferenceProfile, Results
from .probe_points import bandwidth_points
from .provenance import provenance
from .step_cost import measured_steps
from .style import REF_STYLE, Missing, finish, legend, missing, panel_grid, ref_label, scale_to

MS, US, MIB = 1e3, 1e6, 2**20
DECODE_CONTEXT = 1024  # decode step time is compared at the measured context nearest this


def device_colors(results: Results) -> dict[str, str]:
    """A colour per measured device and model, the same in every figure of a report."""
    return {d.label: f"C{i % 10}" for i, d in enumerate(results.devices)}


def _not_measured(devices: list[DeviceResults], what: str, run: str) -> list[str]:
    """One footer line naming the devices a figure could not draw, and what to run to fill them."""
    if not devices:
        return []
    return [f"Not measured: {what} on {', '.join(d.label for d in devices)} (run `{run}`)."]


def _decorate(ax: Axes, xlabel: str, ylabel: str, values: list[float]) -> None:
    """A one-panel comparison's axes: x log (sizes span decades), y log only where `values` do."""
    ax.set_xscale("log")
    scale_to(ax, "y", values)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.25)
    legend(ax, fontsize=7, loc="best")


def copy_curve(d: DeviceResults) -> list[tuple[float, float]]:
    """(working set bytes, TB/s): hot-cache copy (else the best op), the best implementation at each size."""
    pts = [p for p in bandwidth_points(d) if not p.cold]
    ops = {p.kernel for p in pts}
    pts = [p for p in pts if p.kernel == "copy"] if "copy" in ops else pts
    best: dict[float, float] = {}
    for p in pts:
        best[p.working_set] = max(best.get(p.working_set, 0.0), p.tb_s)
    return sorted(best.items())


def reference_peaks(results: Results) -> list[dict]:
    """Datasheet entries (probes/peaks.json) of every device shown and of the published calibrations, each once."""
    names = [d.device_name for d in results.devices] + [r.profile.device.get("name", "") for r in results.references]
    entries = [d.device.get("datasheet") for d in results.devices] + [datasheet_peaks(n) for n in names]
    return list({e["id"]: e for e in entries if e}.values())


def _peak_lines(ax: Axes, peaks: list[dict], key: str, unit: str) -> list[float]:
    """Horizontal published-reference lines at each device's datasheet figure `key`."""
    drawn = []
    for entry in peaks:
        if entry.get(key):
            ax.axhline(entry[key], color="black", ls=":", lw=1.1,
                       label=ref_label(f"{entry['id']} datasheet {entry[key]:g} {unit}"))
            drawn.append(entry[key])
    return drawn


def bandwidth_by_device(results: Results) -> Figure | Missing:
    """Attained copy bandwidth (TB/s) against working-set size, one line per device, with the datasheet
    bandwidth of the devices shown as published reference lines."""
    curves = {d.label: copy_curve(d) for d in results.devices}
    shown = [d for d in results.devices if curves[d.label]]
    if not shown:
        return missing("Bandwidth against working set", "phasecal probe --suite bandwidth")
    colors = device_colors(results)
    fig, (ax,) = panel_grid(1, panel_w=8)
    values = []
    for d in shown:
        ws, tb = zip(*curves[d.label], strict=True)
        ax.plot(np.array(ws) / MIB, tb, "o-", ms=3, lw=1.2, color=colors[d.label], label=d.label)
        values += tb
    values += _peak_lines(ax, reference_peaks(results), "hbm_tb_s", "TB/s")
    _decorate(ax, "working set (MiB)", "attained bandwidth (TB/s)", values)
    sources = [s for d in shown for s in d.sources("bandwidth")] + ["probes/peaks.json"]
    notes = _not_measured([d for d in results.devices if d not in shown], "bandwidth",
                          "phasecal probe --suite bandwidth")
    return finish(fig, "Attained copy bandwidth against working-set size (TB/s; hot cache, best implementation)",
                  sources, notes, provenance(shown + results.references))


def _median_by(steps, key) -> list[tuple[float, float]]:
    """(x, median step time) with the median over repeated x."""
    by: dict[float, list[float]] = {}
    for s in steps:
        by.setdefault(key(s), []).append(s.median_s)
    return sorted((x, float(np.median(v))) for x, v in by.items())


def step_curves(d: DeviceResults) -> dict[str, tuple[list[tuple[float, float]], str]]:
    """Per phase: (tokens or sequences, step seconds) of eager pure steps, and what the line is."""
    steps = [s for s in measured_steps(d) if not s.graph]
    prefill = [s for s in steps if s.grid == "prefill" and s.prefill_shape == "fresh prompt"]
    decode = [s for s in steps if s.grid == "decode"]
    out = {}
    if prefill:
        out["prefill"] = (_median_by(prefill, lambda s: s.n_p), "fresh prompt")
    if decode:
        ctx = min({round(s.mean_ctx) for s in decode}, key=lambda c: abs(c - DECODE_CONTEXT))
        out["decode"] = (_median_by([s for s in decode if round(s.mean_ctx) == ctx], lambda s: s.n_d), f"context {ctx}")
    return out


def _reference_fit(ax: Axes, ref: ReferenceProfile, phase: str) -> list[float]:
    """A published calibration's α + β·n over the sizes it was fitted on (black, hollow markers)."""
    costs = ref.profile.exclusive["eager"]
    fit = ref.profile.derived.exclusive_fit.get("eager", {})
    x = np.array(fit.get("prefill_sizes" if phase == "prefill" else "decode_counts") or [1, 1024], dtype=float)
    a, b = (costs.alpha_p, costs.beta_p) if phase == "prefill" else (costs.alpha_d, costs.beta_d)
    y = (a + b * x) * MS
    ax.plot(x, y, "s--", ms=4, lw=1, **REF_STYLE, label=ref_label(f"{ref.label}: α + β·n fit"))
    return list(y)


def step_cost_by_device(results: Results) -> Figure | Missing:
    """Step time (ms) against prefill tokens (fresh prompts) and against decode sequences (at one KV context),
    one line per device, with the published calibrations' α + β·n fits beside them."""
    curves = {d.label: step_curves(d) for d in results.devices}
    shown = [d for d in results.devices if curves[d.label]]
    refs = [r for r in results.references if "eager" in r.profile.exclusive]
    if not shown and not refs:
        return missing("Step time against tokens", "phasecal run")
    colors = device_colors(results)
    fig, axes = panel_grid(2, sharey=True)
    values: list[float] = []
    for ax, phase in zip(axes, ("prefill", "decode"), strict=True):
        for d in shown:
            if phase in curves[d.label]:
                pts, what = curves[d.label][phase]
                x, y = zip(*pts, strict=True)
                ax.plot(x, np.array(y) * MS, "o-", ms=3, lw=1.2, color=colors[d.label], label=f"{d.label} ({what})")
                values += [v * MS for v in y]
        for r in refs:
            values += _reference_fit(ax, r, phase)
        ax.set_xscale("log")
        ax.set_xlabel("prefill tokens in the step" if phase == "prefill" else "decode sequences in the step")
        ax.set_title(f"pure {phase} steps (eager)", fontsize=9.5)
        ax.grid(True, which="both", alpha=0.25)
        legend(ax, fontsize=6.5, loc="upper left")
    scale_to(axes[0], "y", values)
    axes[0].set_ylabel("step time (ms)")
    sources = [s for d in shown for s in d.sources("step")] + [r.source for r in refs]
    notes = _not_measured([d for d in results.devices if d not in shown], "step times", "phasecal run")
    return finish(fig, "Step time against tokens per phase (ms), devices on shared axes; lower is faster",
                  sources, notes, provenance(shown + refs))


def beta_mb_by_device(results: Results) -> Figure | Missing:
    """β_MB(r), the marginal cost per token of a mixed step at decode share r, one line per profile;
    the dots on each line are its decode crossovers (the paper's share: β_MB(r) = β_d)."""
    entries = [e for e in results.profiles() if e[1].mixed is not None]
    if not entries:
        return missing("β_MB(r) against decode share", "phasecal run")
    colors = device_colors(results)
    fig, (ax,) = panel_grid(1, panel_w=8)
    r = np.linspace(0, 1, 101)
    values: list[float] = []
    for label, profile, _, is_ref, _ in entries:
        y = np.array([profile.mixed.beta_mb(x) for x in r]) * US
        style = {"color": "black", "ls": "--"} if is_ref else {"color": colors.get(label, "C9"), "ls": "-"}
        ax.plot(r, y, lw=1.6, **style, label=(ref_label(label) if is_ref else label) + f" (B = {profile.mixed.budget})")
        cross = profile.derived.crossover
        for c in cross.decode.crossings if cross else ():
            ax.plot([c.share], [profile.mixed.beta_mb(c.share) * US], "o", ms=6, mfc="white", color=style["color"])
        values += list(y)
    ax.plot([], [], "o", mfc="white", color="0.3", label="decode crossover: β_MB(r) = β_d")
    scale_to(ax, "y", values)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("decode share r of the step's tokens")
    ax.set_ylabel("β_MB(r): marginal cost per token (µs/token)")
    ax.grid(True, which="both", alpha=0.25)
    legend(ax, fontsize=7, loc="best")
    return finish(fig, "MB marginal cost per token against decode share (µs/token), one line per device profile",
                  [e[2] for e in entries], None, provenance(e[4] for e in entries))


def decode_slopes(d: DeviceResults) -> list[tuple[float, float]]:
    """(KV context, seconds per extra decode sequence): the slope of eager pure-decode step time over batch
    size at each measured context (contexts with fewer than two batch sizes are left out)."""
    steps = [s for s in measured_steps(d) if s.grid == "decode" and not s.graph]
    out = []
    for ctx in sorted({round(s.mean_ctx) for s in steps}):
        pts = _median_by([s for s in steps if round(s.mean_ctx) == ctx], lambda s: s.n_d)
        if len(pts) >= 2:
            n, t = zip(*pts, strict=True)
            out.append((float(ctx), float(np.polyfit(n, t, 1)[0])))
    return out


def decode_cost_by_context(results: Results) -> Figure | Missing:
    """Decode cost per sequence (µs per extra sequence in a decode step) against its KV context, one line per
    device; a published calibration without contexts is its β_d, a flat reference line."""
    slopes = {d.label: decode_slopes(d) for d in results.devices}
    shown = [d for d in results.devices if slopes[d.label]]
    refs = [r for r in results.references if "eager" in r.profile.exclusive]
    if not shown:
        return missing("Decode cost against context", "phasecal run")
    colors = device_colors(results)
    fig, (ax,) = panel_grid(1, panel_w=8)
    values: list[float] = []
    for d in shown:
        ctx, slope = zip(*slopes[d.label], strict=True)
        ax.plot(ctx, np.array(slope) * US, "o-", ms=4, lw=1.2, color=colors[d.label], label=d.label)
        values += [v * US for v in slope]
    for r in refs:
        beta = r.profile.exclusive["eager"].beta_d * US
        ax.axhline(beta, color="black", ls="--", lw=1.1,
                   label=ref_label(f"{r.label}: β_d = {beta:.3g} µs/seq (one fit over its contexts)"))
        values.append(beta)
    _decorate(ax, "KV context per sequence (tokens)", "decode cost per sequence (µs)", values)
    sources = [s for d in shown for s in d.sources("step")] + [r.source for r in refs]
    notes = _not_measured([d for d in results.devices if d not in shown], "decode steps", "phasecal run")
    return finish(fig, "Decode cost per sequence against KV context (µs per extra sequence in a decode step)",
                  sources, notes, provenance(shown + refs))
