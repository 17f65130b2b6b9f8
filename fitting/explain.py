"""The words phasecal says about a decision, written once for `run`, `show` and `simulate`.

Crossover shares, the EB thresholds with their bootstrap intervals, where α/β came from and how well the
exclusive fit holds, which formula is inside its range, and the verdict on MB against EB.
"""

from __future__ import annotations

from .crossover import CrossoverReport
from .derived_values import Interval, Uncertainty, WorkloadDecision
from .profile import StepModel
from .thresholds import fit_is_poor


def _iv(iv: Interval | None, fmt: str, scale: float = 1.0) -> str:
    return "" if iv is None else f" [{fmt.format(iv[0] * scale)} … {fmt.format(iv[1] * scale)}]"


def crossover_lines(report: CrossoverReport | None) -> list[str]:
    """Both crossover shares, each crossing with its direction."""
    if report is None:
        return ["crossover shares: the profile has no β_MB(r) fit (no mixed steps)"]
    return [f"decode crossover (paper's, β_MB(r) vs β_d): {report.decode.describe()}",
            f"blend crossover (β_MB(r) vs (1−r)β_p + rβ_d): {report.blend.describe()}"]


def mixed_heldout_line(heldout: dict | None) -> str:
    """How well the step model predicts mixed steps at a decode share it was not fitted on."""
    if not heldout or not heldout.get("by_share"):
        return "mixed steps, one decode share left out: no mixed shares strictly between 0 and 1 measured"
    shares = ", ".join(f"r = {r} {v:.1f}%" for r, v in heldout["by_share"].items())
    return f"mixed steps, one decode share left out ({heldout['family']}): {shares}; mean {heldout['mean']:.1f}%"


def kv_spill_line(spill: dict | None, model: StepModel | None) -> str:
    """Where decode KV spills out of the last-level cache (K, from the header), where the step model's fit put
    the onset, and what it charges past it."""
    if not spill:
        return "KV spill term: none (fitted before phasecal derived one)"
    cost = ""
    if model is not None and "t_kv_spill" in model.params:
        cost = (f"; the {model.family} step model, its onset fitted at K' = {model.params['kv_cache_tokens']:,.0f} "
                f"tokens, charges t_kv_spill {model.params['t_kv_spill'] * 1e9:.3g} ns per decode KV token beyond it")
    return f"KV spill term: {spill.get('note', '')}{cost}"


def fit_interval_lines(unc: Uncertainty | None) -> list[str]:
    """The bootstrap intervals of the fitted α/β and β_MB coefficients."""
    if unc is None:
        return ["no bootstrap intervals (the profile holds no per-point samples)"]
    iv = unc.intervals
    head = f"{unc.level:.0%} intervals, {unc.resamples} bootstrap resamples ({unc.seconds:.1f} s)"
    costs = ", ".join(f"{k} {_iv(iv.get(k), '{:.4g}', 1e6).strip()} µs" for k in ("alpha_p", "beta_p", "alpha_d",
                                                                                   "beta_d") if k in iv)
    lines = [f"{head}: {costs}"]
    if all(k in iv for k in "abc"):
        lines.append("β_MB(r) = a + b·r + c·r² (µs/token): " + ", ".join(f"{k} {_iv(iv[k], '{:.4g}', 1e6).strip()}"
                                                                        for k in "abc"))
    return lines


def decision_lines(d: WorkloadDecision) -> list[str]:
    """The thresholds EB uses (with intervals), their cost source and fit quality, range checks, the verdict."""
    th, iv = d.thresholds, d.intervals
    lines = [
        f"α/β from {th.cost_source}: α_p {th.alpha_p * 1e3:.4g} ms, β_p {th.beta_p * 1e6:.4g} µs/token, "
        f"α_d {th.alpha_d * 1e3:.4g} ms, β_d {th.beta_d * 1e6:.4g} µs/seq",
    ]
    if th.exclusive_fit:
        quality = ", ".join(f"{k} {v:.3g}" for k, v in th.exclusive_fit.items())
        warn = " — poor: EB's α/β do not come from it" if fit_is_poor(th.exclusive_fit) and \
            th.cost_source.startswith("step model") else (" — poor fit" if fit_is_poor(th.exclusive_fit) else "")
        lines.append(f"phase-affine exclusive fit quality: {quality}{warn}")
    lines.append(
        f"EB uses θ* {th.theta_star:.4f}{_iv(iv.get('theta_star'), '{:.4f}')} "
        f"(θ₀ {th.theta0:.4f}{_iv(iv.get('theta0'), '{:.4f}')}, Δθ {th.delta_theta:.4f}), "
        f"N {th.n}{_iv(iv.get('n'), '{:.0f}')} (N̂* {th.n_star_form}: closed {th.n_star_closed}, "
        f"CLT {th.n_star_clt}{_iv(iv.get('n_star_clt'), '{:.0f}')}), k̂ {th.k_hat}{_iv(iv.get('k_hat'), '{:.0f}')}")
    lines += [f"{c.name}: {'holds' if c.holds else 'OUT OF RANGE'} — {c.note}" for c in th.checks]
    if th.crossover_delta is None:
        lines.append("decision: EB (the profile has no β_MB(r) fit, so Δ cannot be computed)")
    else:
        lines.append(f"Δ(N = {th.n}) = β_MB(r={th.r:.3f}) − β_EB − RHS = {th.crossover_delta:.3g} s/token"
                     f"{_iv(iv.get('crossover_delta'), '{:.3g}')} (Δ < 0: MB) → decision: {d.verdict}"
                     + (f" (point estimate {th.decision})" if d.verdict == "too close to call" else "")
                     + ("" if d.resamples else " (no bootstrap: no interval)"))
    return lines
