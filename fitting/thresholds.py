"""EB thresholds of a profile for a workload: θ₀, θ*, N̂*, k̂ and the load-dependent MB/EB decision Δ(N).

Notation of the paper (arXiv 2606.00516) and of its authors' scheduler code is kept: μ_L, μ_O mean prompt
and output lengths, p₀ = 1/μ_O the completion hazard, N sequence slots, C KV capacity in tokens, ε the
tolerated OOM probability. The refill math is in `refill.py`, the hazard fit in `hazard.py`, the
records in `threshold_types.py`; the share crossovers (β_MB(r) against β_d or the blend) in `crossover.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .features import step_features
from .hazard import HazardFit, fit_hazard
from .predict import predict_step_time
from .profile import ExclusiveCosts, Profile, StepModel
from .refill import (
    THETA_CLIP,
    delta_theta,
    exact_k_geometric,
    k_hat,
    n_star_closed,
    n_star_clt,
    solve_theta0,
)
from .threshold_types import RangeCheck, Thresholds, WorkloadStats

POOR_FIT_R2 = 0.9  # below this R² (or above POOR_FIT_MAPE %) the exclusive α/β fit is flagged as poor
POOR_FIT_MAPE = 10.0


def crossover_delta(
    *, alpha_p: float, beta_p: float, alpha_d: float, beta_d: float, beta_mb: float, alpha_mb: float,
    theta0: float, k: float, n: int, mu_l: float, mu_o: float,
) -> tuple[float, float, float]:
    """(Δ, LHS, RHS) of the load-dependent decision, LHS = β_MB(r) − β_EB,
    RHS = [(α_p − α_d·ln(1−θ₀)·μ_O)/k̂ − α_MB(1+μ_O)/N]/(μ_L+μ_O).

    MB wins iff LHS < RHS, i.e. Δ = LHS − RHS < 0. With k̂ = θ₀·N (real-valued, as in the asymptotic
    derivation) the RHS falls as 1/N: light load favours MB. Rounding k̂ up to 1 slot at tiny N would
    flip that, so `derive_thresholds` passes the real value.
    """
    beta_eb = (beta_p * mu_l + beta_d * mu_o) / (mu_l + mu_o)
    lhs = beta_mb - beta_eb
    rhs = ((alpha_p - alpha_d * math.log1p(-theta0) * mu_o) / k - alpha_mb * (1 + mu_o) / n) / (mu_l + mu_o)
    return lhs - rhs, lhs, rhs


@dataclass(frozen=True)
class OperatingPoint:
    """α/β and β_MB(r) that the threshold math uses for one workload, and where they came from."""

    costs: ExclusiveCosts
    beta_mb: float | None  # marginal cost per token of a mixed step at the workload's share r
    source: str


def _step_model_point(model: StepModel, mu_l: float, mu_o: float, n: int, budget: int | None) -> OperatingPoint:
    q, ctx, m = max(round(mu_l), 2), max(round(mu_l + mu_o / 2), 1), max(n, 2)
    r = mu_o / (mu_l + mu_o)

    def time(prefill: int, decodes: int) -> float:
        return predict_step_time(model, step_features([[prefill, 0]] if prefill else [], [ctx] * decodes))

    beta_p, beta_d = (time(q + 1, 0) - time(q - 1, 0)) / 2, (time(0, m + 1) - time(0, m - 1)) / 2
    alpha_p, alpha_d = 2 * time(1, 0) - time(2, 0), 2 * time(0, 1) - time(0, 2)
    beta_mb = None
    if budget is not None and budget >= 4:  # slope over half and whole budget at share r, as the grid fit does
        sizes = [(b - round(r * b), round(r * b)) for b in (budget // 2, budget)]
        beta_mb = (time(*sizes[1]) - time(*sizes[0])) / (sum(sizes[1]) - sum(sizes[0]))
    return OperatingPoint(ExclusiveCosts(alpha_p, beta_p, alpha_d, beta_d), beta_mb,
                          f"step model {model.family}: marginal at a {q}-token prompt, {m} decodes at context {ctx}"
                          + (f", mixed steps of {budget} tokens at r = {r:.3f}" if beta_mb is not None else ""))


def operating_point(profile: Profile, mu_l: float, mu_o: float, n: int, mode: str = "eager") -> OperatingPoint:
    """α/β and β_MB of the threshold math at the workload's operating point.

    With a step model (the chosen family), β is its marginal cost there: dT/dn_p at one fresh prompt of
    μ_L tokens, dT/dN at a decode batch of N sequences at the mean decode context μ_L + μ_O/2, and β_MB
    the slope of a mixed step's time over half and whole token budget at the workload's share r with
    decodes at that context. So the context a decode reads is priced as that family prices it, on both
    sides of Δ. α is the per-step overhead the formulas amortise: the step time extrapolated to zero
    tokens (2·T(1) − T(2)), not the tangent's intercept, which a convex prefill cost (attention) drives
    below zero. Without a step model (or in graph mode, whose prefill it does not cover), the phase-affine
    exclusive fit and the profile's β_MB(r) polynomial.
    """
    model = profile.step_model
    r = mu_o / (mu_l + mu_o)
    fallback = profile.mixed.beta_mb(r) if profile.mixed is not None else None
    if model is None or mode != "eager" or model.family == "phase_affine":
        return OperatingPoint(profile.exclusive[mode], fallback, f"exclusive fit ({mode}) and β_MB(r) polynomial")
    point = _step_model_point(model, mu_l, mu_o, n, profile.mixed.budget if profile.mixed is not None else None)
    c = point.costs
    if min(c.alpha_p, c.beta_p, c.alpha_d, c.beta_d, point.beta_mb or 1.0) <= 0:
        return OperatingPoint(profile.exclusive[mode], fallback,
                              f"exclusive fit ({mode}; the {model.family} costs are not all positive)")
    return point


def _fit_quality(profile: Profile, mode: str) -> dict[str, float]:
    info = profile.derived.exclusive_fit.get(mode, {})
    return {k: float(info[k]) for k in ("prefill_r2", "decode_r2", "prefill_mape", "decode_mape")
            if isinstance(info.get(k), int | float)}


def fit_is_poor(quality: dict[str, float]) -> bool:
    """True when the phase-affine exclusive fit misses its own points (R² < 0.9 or MAPE > 10%)."""
    return (any(v < POOR_FIT_R2 for k, v in quality.items() if k.endswith("r2"))
            or any(v > POOR_FIT_MAPE for k, v in quality.items() if k.endswith("mape")))


def range_checks(n: int, hz: HazardFit, k_exact: int | None, k_used: int) -> tuple[RangeCheck, ...]:
    """Whether the exact k* and the hazard correction are inside their assumptions, and what EB uses."""
    checks = []
    if k_exact is not None:
        per_step = n * hz.p0
        ok = per_step <= 1.0
        checks.append(RangeCheck(
            "exact k*", ok, per_step,
            f"N·p₀ = {per_step:.2f} completions per step: "
            + ("inside the exact k*'s one-completion-per-step regime" if ok else
               "outside the exact k*'s regime (it assumes about one completion per step), so it overstates "
               "the refill")
            + f"; EB uses k̂ = round(θ*·N) = {k_used} either way, k* = {k_exact} is shown for comparison"))
    if hz.eta_fitted is not None:
        rising = hz.eta_fitted > 0
        checks.append(RangeCheck(
            "hazard slope", rising, hz.eta_fitted,
            f"fitted η = {hz.eta_fitted:.3g} per token: "
            + ("rising hazard, the Δθ correction applies" if rising else
               f"falling hazard, η clamped to 0 and p₀ refitted as a constant hazard ({hz.p0:.4g} = 1/μ_O)")))
    return tuple(checks)


def _alpha_mb(profile: Profile, given: float | None, alpha_p: float) -> tuple[float, str]:
    if given is not None:
        return given, "given"
    if profile.mixed is not None and profile.mixed.alpha is not None:
        return profile.mixed.alpha, "profile mixed.alpha"
    return alpha_p, "α_p (authors' default)"


def _check_inputs(profile: Profile, stats: WorkloadStats, n_form: str, mode: str) -> None:
    if n_form not in ("clt", "closed"):
        raise ValueError(f"n_form must be 'clt' or 'closed', got {n_form!r}")
    if mode not in profile.exclusive:
        raise ValueError(f"profile has no exclusive costs for mode {mode!r} (has {', '.join(profile.exclusive)})")
    if stats.mu_l <= 0 or stats.mu_o < 1:
        raise ValueError(f"need μ_L > 0 and μ_O ≥ 1 tokens, got μ_L={stats.mu_l}, μ_O={stats.mu_o}")
    if not 0 < stats.eps < 1:
        raise ValueError(f"OOM tolerance ε must be in (0, 1), got {stats.eps}")
    if stats.max_num_seqs < 1 or stats.kv_capacity_tokens <= 0:
        raise ValueError("max_num_seqs and kv_capacity_tokens must be positive")


def derive_thresholds(
    profile: Profile, stats: WorkloadStats, *, n_form: str = "clt", alpha_mb: float | None = None,
    mode: str = "eager", exact_k: bool = True, hazard: HazardFit | None = None,
) -> Thresholds:
    """θ₀, Δθ, θ*, N̂* (closed and CLT; `n_form` picks the one used), k̂, exact k*, and Δ(N).

    Order: α/β at the operating point (`operating_costs`); θ₀ from p₀·α_p/α_d; N̂*(θ₀) capped by
    max_num_seqs and concurrency gives N; Δθ at that N; θ* = clip(θ₀ + Δθ); k̂ = round(θ*·N). α_MB, the
    fixed cost of an MB step in Δ: `alpha_mb` if given, else the profile's `mixed.alpha` where its fit
    separates it, else α_p as in the authors' code. `exact_k=False` skips the O(N) exact k* (the online
    selector does not need it); `hazard` reuses a fit of the same output lengths.
    """
    _check_inputs(profile, stats, n_form, mode)
    cap = min(stats.max_num_seqs, stats.concurrency or stats.max_num_seqs)
    op = operating_point(profile, stats.mu_l, stats.mu_o, max(cap, 1), mode)
    c, cost_source = op.costs, op.source
    if c.alpha_d <= 0:
        raise ValueError("α_d must be positive for the threshold math (it divides)")
    hz = hazard or (fit_hazard(stats.output_lengths) if stats.output_lengths
                    else HazardFit(1.0 / stats.mu_o, 0.0, 0, "cfr (p₀ = 1/μ_O)"))
    x = hz.p0 * c.alpha_p / c.alpha_d
    theta0 = max(solve_theta0(x), 1e-9)
    n_closed = n_star_closed(stats.kv_capacity_tokens, theta0, hz.p0, stats.mu_l, stats.eps)
    n_clt = n_star_clt(stats.kv_capacity_tokens, theta0, hz.p0, stats.mu_l, stats.eps)
    n = max(1, min(n_clt if n_form == "clt" else n_closed, cap))
    d_theta = delta_theta(theta0, hz.p0, hz.eta, c.beta_d, c.alpha_d, n)
    theta_star = min(max(theta0 + d_theta, THETA_CLIP[0]), THETA_CLIP[1])
    k_exact = exact_k_geometric(c.alpha_p, c.alpha_d, c.beta_d, hz.p0, n) if exact_k and 0 < hz.p0 < 1 else None
    r = stats.mu_o / (stats.mu_l + stats.mu_o)
    a_mb, a_mb_source = _alpha_mb(profile, alpha_mb, c.alpha_p)
    beta_mb, delta = op.beta_mb, None
    lhs = rhs = coeffs = None
    decision = "EB (no β_MB in profile)"
    if profile.mixed is not None and beta_mb is not None:
        delta, lhs, rhs = crossover_delta(
            alpha_p=c.alpha_p, beta_p=c.beta_p, alpha_d=c.alpha_d, beta_d=c.beta_d, beta_mb=beta_mb,
            alpha_mb=a_mb, theta0=theta0, k=theta0 * n, n=n, mu_l=stats.mu_l, mu_o=stats.mu_o)
        decision = "MB" if delta < 0 else "EB"
        coeffs = (profile.mixed.a, profile.mixed.b, profile.mixed.c)
    k = k_hat(theta_star, n)
    return Thresholds(
        alpha_p=c.alpha_p, beta_p=c.beta_p, alpha_d=c.alpha_d, beta_d=c.beta_d, cost_source=cost_source,
        exclusive_fit=_fit_quality(profile, mode), beta_mb_coeffs=coeffs, alpha_mb=a_mb, alpha_mb_source=a_mb_source,
        mu_l=stats.mu_l, mu_o=stats.mu_o, p0=hz.p0, eta=hz.eta, eta_fitted=hz.eta_fitted, hazard_method=hz.method,
        kv_capacity_tokens=stats.kv_capacity_tokens, eps=stats.eps, max_num_seqs=stats.max_num_seqs,
        concurrency=stats.concurrency, rhs_x=x, theta0=theta0, delta_theta=d_theta, theta_star=theta_star,
        n_star_closed=n_closed, n_star_clt=n_clt, n_star_form=n_form, n=n, k_hat=k, k_hat0=theta0 * n,
        k_exact=k_exact, r=r, beta_eb=(c.beta_p * stats.mu_l + c.beta_d * stats.mu_o) / (stats.mu_l + stats.mu_o),
        beta_mb=beta_mb, crossover_lhs=lhs, crossover_rhs=rhs, crossover_delta=delta, decision=decision,
        checks=range_checks(n, hz, k_exact, k),
    )
