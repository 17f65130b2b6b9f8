"""Figures of whole-step cost: step time per phase, MB marginal cost against decode share, model error.

Measured steps come from the step probe's raw records; fitted curves from each device's profile.json.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from phasecal.fitting.features import step_features
from phasecal.fitting.predict import profile_step_time
from phasecal.fitting.profile import Profile
from phasecal.point_params import StepParams

from .data import DeviceResults, Results
from .provenance import provenance
from .style import finish, legend, note, panel_grid, ref_label

MS, US = 1e3, 1e6


@dataclass(frozen=True)
class Step:
    """One measured step: its composition and its time."""

    n_p: int
    n_d: int
    mean_ctx: float  # mean decode context (0 without decodes)
    graph: bool
    median_s: float
    p10_s: float
    p90_s: float
    grid: str  # which grid of the step probe: "prefill", "decode" or "mixed"
    prefill_shape: str  # "fresh prompt", or how many chunks on how much cache
    params: StepParams

    @property
    def tokens(self) -> int:
        return self.n_p + self.n_d

    @property
    def share(self) -> float:
        """Decode share r: decode tokens over all tokens of the step."""
        return self.n_d / self.tokens if self.tokens else 0.0


def measured_steps(d: DeviceResults) -> list[Step]:
    """The step probe's points of a device as Steps (their params were checked when the raw file was read)."""
    steps = []
    for rec in d.points("step"):
        p = StepParams.from_dict(rec.params)
        p10, p90 = np.percentile(rec.samples_s, [10, 90])
        # a point written without its grid (by other tools) is placed by its composition
        grid = p.grid or ("prefill" if not p.decode else "decode" if not p.prefill else "mixed")
        steps.append(Step(p.num_tokens - len(p.decode), len(p.decode), float(np.mean(p.decode)) if p.decode else 0.0,
                          p.graph, rec.median_s, float(p10), float(p90), grid, _prefill_shape(p.prefill), p))
    return steps


def _prefill_shape(prefill: tuple[tuple[int, int], ...]) -> str:
    if not prefill:
        return ""
    cached = sorted({int(c) for _, c in prefill})
    if len(prefill) == 1 and cached == [0]:
        return "fresh prompt"
    chunks = f"{len(prefill)} chunk{'s' if len(prefill) > 1 else ''}"
    return f"{chunks} on {'/'.join(map(str, cached))} cached"


def predicted_time(profile: Profile, step: Step) -> float:
    """The profile's step time for a measured step's exact composition."""
    return profile_step_time(profile, step_features(step.params.prefill, step.params.decode, step.graph))


def _mode(graph: bool) -> str:
    return "CUDA Graph" if graph else "eager"


def step_time_vs_tokens(results: Results) -> Figure:
    """Step time against tokens per phase, one row per device: pure prefill (left), pure decode (right).

    Markers are measured medians with p10–p90 bars; lines are the profile's exclusive fit α + β·n.
    """
    devices = [d for d in results.devices if d.points("step")]
    fig, axes = panel_grid(2 * max(len(devices), 1), ncols=2)
    sources: list[str] = []
    if not devices:
        for ax in axes:
            note(ax, f"no step-probe records under {results.where} (run `phasecal run`)")
    for row, d in enumerate(devices):
        steps = measured_steps(d)
        sources += d.sources("step") + ([d.profile_source()] if d.profile is not None else [])
        for ax, phase in zip(axes[2 * row: 2 * row + 2], ("prefill", "decode"), strict=True):
            pure = [s for s in steps if s.grid == phase]
            if not pure:
                note(ax, f"no pure-{phase} steps measured for {d.label}")
                continue
            _plot_phase(ax, d, pure, phase)
    return finish(fig, "Step time against tokens per phase (ms); markers measured, lines fitted", sources,
                  provenance=provenance(devices))


def _plot_phase(ax, d: DeviceResults, steps: list[Step], phase: str) -> None:
    for graph in sorted({s.graph for s in steps}):
        group = [s for s in steps if s.graph == graph]
        if phase == "decode":
            # decode cost depends on context too: one series per mean context
            for ctx in sorted({round(s.mean_ctx) for s in group}):
                sub = sorted((s for s in group if round(s.mean_ctx) == ctx), key=lambda s: s.n_d)
                _errorbar(ax, [s.n_d for s in sub], sub, f"{_mode(graph)}, context {ctx}",
                          "^" if graph else "o")
        else:
            for shape in sorted({s.prefill_shape for s in group}, key=lambda x: (x != "fresh prompt", x)):
                sub = sorted((s for s in group if s.prefill_shape == shape), key=lambda s: s.n_p)
                _errorbar(ax, [s.n_p for s in sub], sub, f"{_mode(graph)}, {shape}", "^" if graph else "o")
        if d.profile is not None:
            mode = "graph" if graph else "eager"
            costs = d.profile.exclusive.get(mode)
            if costs is not None:
                x = np.array(sorted({s.n_p if phase == "prefill" else s.n_d for s in group}), dtype=float)
                x = np.linspace(x.min(), x.max(), 50)
                a, b = (costs.alpha_p, costs.beta_p) if phase == "prefill" else (costs.alpha_d, costs.beta_d)
                sym = "p" if phase == "prefill" else "d"
                ax.plot(x, (a + b * x) * MS, "--", lw=1, color="0.35" if graph else "0.1",
                        label=f"fit ({mode}): α_{sym}={a * MS:.3g} ms, β_{sym}={b * US:.3g} µs/token")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("prefill tokens in the step" if phase == "prefill" else "decode sequences (tokens) in the step")
    ax.set_ylabel("step time (ms)")
    ax.set_title(f"{d.label}\npure {phase}", fontsize=9.5)
    ax.grid(True, which="both", alpha=0.25)
    legend(ax)


def _errorbar(ax, x, steps: list[Step], label: str, marker: str) -> None:
    y = np.array([s.median_s for s in steps]) * MS
    lo = y - np.array([s.p10_s for s in steps]) * MS
    hi = np.array([s.p90_s for s in steps]) * MS - y
    ax.errorbar(x, y, yerr=[np.maximum(lo, 0), np.maximum(hi, 0)], fmt=marker + "-", ms=4, lw=0.8,
                capsize=2, label=label)


def marginal_cost_vs_decode_share(results: Results) -> Figure:
    """MB marginal cost per token against decode share r, per device profile, with the crossover marked.

    The curve is the profile's β_MB(r) = a + b·r + c·r² at its token budget B; the dashed line is what
    the same tokens cost in exclusive steps, (1 − r)·β_p + r·β_d, and the flat dashed line pure decode's
    β_d. Vertical lines mark every crossing (`fitting.crossover`): green where β_MB(r) crosses β_d (the
    paper's crossover share), dotted where it crosses the blend. Markers are the per-share β(r) the fit
    went through, where the profile keeps them. Published calibrations under results/reference/ get their own panels.
    """
    entries = [e for e in results.profiles() if e[1].mixed is not None]
    fig, axes = panel_grid(len(entries))
    if not entries:
        note(axes[0], f"no profile with a mixed-step fit (β_MB) under {results.where} (run `phasecal run`)")
    sources = []
    for ax, (label, profile, source, is_ref, _) in zip(axes, entries, strict=False):
        sources.append(source)
        mixed = profile.mixed
        r = np.linspace(0, 1, 101)
        what = f"β_MB(r) at B={mixed.budget}"
        ax.plot(r, [mixed.beta_mb(x) * US for x in r], "-", color="black" if is_ref else "C0", lw=1.8,
                label=ref_label(what) if is_ref else what)
        shares, betas = beta_mb_points(profile)
        if shares:
            ax.plot(shares, np.array(betas) * US, "o", color="black" if is_ref else "C0", ms=4,
                    mfc="none" if is_ref else None, label="β(r) per measured share")
        eager = profile.exclusive["eager"]
        ax.plot(r, ((1 - r) * eager.beta_p + r * eager.beta_d) * US, "--", color="C3", lw=1.2,
                label="exclusive steps: (1−r)·β_p + r·β_d")
        cross = profile.derived.crossover
        for c in cross.decode.crossings if cross else ():
            ax.axvline(c.share, color="C2", lw=1.2, label=f"β_MB = β_d at r = {c.share:.0%}")
        for c in cross.blend.crossings if cross else ():
            ax.axvline(c.share, color="C3", lw=1.0, ls=":", label=f"β_MB = blend at r = {c.share:.0%}")
        ax.axhline(eager.beta_d * US, color="C2", lw=0.8, ls="--", label="pure decode β_d")
        ax.set_xlabel("decode share r of the step's tokens")
        ax.set_ylabel("marginal cost per token (µs/token)")
        ax.set_xlim(0, 1)
        verdict = f"decode crossover: {cross.decode.describe()}" if cross else "no crossover computed"
        ax.set_title(f"{label}" + (f" ({ref_label('calibration')})" if is_ref else "") + f"\n{verdict}",
                     fontsize=9)
        ax.grid(True, alpha=0.25)
        legend(ax, loc="best")
    return finish(fig, "MB marginal cost per token against decode share (µs/token), crossover marked", sources,
                  provenance=provenance(e[4] for e in entries))


def beta_mb_points(profile: Profile) -> tuple[list[float], list[float]]:
    """The per-share β(r) (s/token) that β_MB(r) was fitted through, if the profile keeps them."""
    fit = profile.derived.beta_mb_fit
    return list(fit.get("shares", [])), list(fit.get("beta_mb_points", []))


def predicted_vs_measured(results: Results) -> Figure:
    """Predicted against measured step time for every measured step of every device with a profile.

    Horizontal bars are the measured p10–p90; the bands are ±10% and ±25% around y = x.
    """
    devices = [d for d in results.with_profile() if d.points("step")]
    fig, axes = panel_grid(len(devices))
    if not devices:
        note(axes[0], f"no device with both step records and a profile under {results.where} (run `phasecal run`)")
    sources = []
    for ax, d in zip(axes, devices, strict=False):
        sources += d.sources("step") + [d.profile_source()]
        steps = measured_steps(d)
        pred = np.array([predicted_time(d.profile, s) for s in steps]) * MS
        meas = np.array([s.median_s for s in steps]) * MS
        lo = meas - np.array([s.p10_s for s in steps]) * MS
        hi = np.array([s.p90_s for s in steps]) * MS - meas
        kinds = np.array(["prefill" if s.n_d == 0 else "decode" if s.n_p == 0 else "mixed" for s in steps])
        graph = np.array([s.graph for s in steps])
        for kind in ("prefill", "decode", "mixed"):
            for g in (False, True):
                m = (kinds == kind) & (graph == g)
                if m.any():
                    ax.errorbar(meas[m], pred[m], xerr=[np.maximum(lo[m], 0), np.maximum(hi[m], 0)],
                                fmt="^" if g else "o", ms=4, lw=0.6, label=f"{kind}, {_mode(g)} ({m.sum()})")
        span = np.array([min(meas.min(), pred.min()) * 0.8, max(meas.max(), pred.max()) * 1.25])
        ax.plot(span, span, "k-", lw=0.8, label="predicted = measured")
        for band, alpha in ((0.25, 0.08), (0.10, 0.15)):
            ax.fill_between(span, span * (1 - band), span * (1 + band), color="C0", alpha=alpha, lw=0,
                            label=f"±{band:.0%}")
        mape = float(np.mean(np.abs(pred - meas) / meas) * 100)
        family = d.profile.step_model.family if d.profile.step_model else "exclusive α/β"
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("measured step time (ms)")
        ax.set_ylabel("predicted step time (ms)")
        held = next((f.cv_mape for f in d.profile.families if f.name == family and f.cv_mape is not None), None)
        held_text = f", k-fold held-out {held:.1f}%" if held is not None else ""
        ax.set_title(f"{d.label}\nmodel: {family}; MAPE in-sample {mape:.1f}%{held_text}", fontsize=9.5)
        ax.grid(True, which="both", alpha=0.25)
        legend(ax, loc="upper left")
    return finish(fig, "Predicted against measured step time (ms), profile model on every measured step", sources,
                  provenance=provenance(devices))


def model_error_by_family(results: Results) -> Figure:
    """Held-out error (k-fold and extrapolation MAPE, %) of every fitted model family, per device profile."""
    devices = [d for d in results.with_profile() if d.profile.families]
    fig, axes = panel_grid(len(devices))
    if not devices:
        note(axes[0], f"no profile with a model-family error table under {results.where} (run `phasecal run`)")
    sources = []
    for ax, d in zip(axes, devices, strict=False):
        sources.append(d.profile_source())
        fams = d.profile.families
        x = np.arange(len(fams))
        chosen = d.profile.step_model.family if d.profile.step_model else None
        for off, attr, label in ((-0.2, "cv_mape", "k-fold held out"), (0.2, "extrap_mape", "largest steps held out")):
            vals = [getattr(f, attr) for f in fams]
            ax.bar(x + off, [v if v is not None else 0 for v in vals], 0.4, label=label)
            for xi, v in zip(x, vals, strict=True):
                if v is None:
                    ax.text(xi + off, 0, "n/a", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(x, [f.name + (" ★" if f.name == chosen else "") for f in fams], rotation=20, fontsize=8)
        ax.set_ylabel("MAPE (%)")
        ax.set_title(f"{d.label}\n★ = model the profile uses", fontsize=9.5)
        ax.grid(True, axis="y", alpha=0.25)
        legend(ax)
    return finish(fig, "Step-model error by family: held-out MAPE (%), lower is better", sources,
                  provenance=provenance(devices))
