"""Refill math of exclusive batching: θ₀, the exact k*, Δθ and the memory-safe batch size N̂*.

Notation of the paper (arXiv 2606.00516) and of its authors' scheduler code: p₀ the completion hazard,
N sequence slots, C KV capacity in tokens, ε the tolerated OOM probability, μ_L the mean prompt length.
Pure float arithmetic; no numpy, no torch.
"""

from __future__ import annotations

import math

THETA_CLIP = (0.01, 0.80)  # the authors' policy range for θ*
DELTA_THETA_CAP = 5.0  # Δθ is capped at this multiple of θ₀ (authors' guard against η/p₀² blowing up)


def _refill_lhs(theta: float) -> float:
    """θ/(1−θ) + ln(1−θ) = Σ_{n≥2} (n−1)/n·θⁿ, by its series where the closed form would cancel."""
    if theta < 0.05:
        total, power = 0.0, theta
        for n in range(2, 40):
            power *= theta
            total += (n - 1) / n * power
            if power < 1e-18 * total:
                break
        return total
    return theta / (1.0 - theta) + math.log1p(-theta)


def solve_theta0(x: float) -> float:
    """Root θ₀ ∈ [0, 1) of θ/(1−θ) + ln(1−θ) = x (x = p₀·α_p/α_d), accurate from x→0 to x→∞.

    The left side rises from 0 (≈ θ²/2 near 0) to ∞ (≈ 1/(1−θ) near 1), so the root is unique.
    Small x is solved in θ, large x in u = 1−θ (which would otherwise round to 0), both by Newton
    steps kept inside a shrinking bisection bracket.
    """
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"θ₀ equation needs a finite x = p₀·α_p/α_d ≥ 0, got {x!r}")
    if x == 0:
        return 0.0
    if x <= 1.0:
        # In θ: f(θ) − x increasing, f'(θ) = θ/(1−θ)²; start from the small-x asymptote √(2x).
        lo, hi = 0.0, 0.9  # f(0.9) ≈ 6.7 > 1
        theta = min(math.sqrt(2 * x), 0.5)
        for _ in range(200):
            g = _refill_lhs(theta) - x
            if g > 0:
                hi = theta
            else:
                lo = theta
            step = g * (1 - theta) ** 2 / theta if theta > 0 else math.inf
            new = theta - step
            if not lo < new < hi:
                new = 0.5 * (lo + hi)
            if abs(new - theta) <= 1e-15 * max(new, 1e-300):
                theta = new
                break
            theta = new
        return theta
    # In u = 1−θ: h(u) = 1/u − 1 + ln u − x decreasing, h'(u) = (u − 1)/u²; start from 1/(x+1).
    lo, hi = 0.0, 0.6  # h(0.6) ≈ −0.84 < 0 for x > 1
    u = 1.0 / (x + 1.0 - math.log(1.0 / (x + 1.0)))
    for _ in range(200):
        h = 1.0 / u - 1.0 + math.log(u) - x
        if h > 0:
            lo = u
        else:
            hi = u
        new = u - h * u * u / (u - 1.0)
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - u) <= 1e-15 * new:
            u = new
            break
        u = new
    return 1.0 - max(u, 2.0**-53)  # u underflows for huge x; θ₀ must stay below 1, where ln(1−θ) exists


def k_hat(theta: float, n: int) -> int:
    """Refill size k̂ = θ·N rounded to the nearest slot, at least 1 (the worked example: 0.0116·318 → 4)."""
    return max(1, round(theta * n))


def exact_k_geometric(alpha_p: float, alpha_d: float, beta_d: float, p: float, n: int) -> int:
    """Smallest k with k·τ(N−k) − Σ_{j=N−k+1..N} τ(j) ≥ α_p, τ(j) = (α_d + β_d·j)/(1 − (1−p)^j).

    τ(j) is the expected decode time per completion with j geometric(p) sequences running. Returns N
    when no k < N reaches α_p (refill only once the batch has drained).
    """
    if not 0 < p < 1:
        raise ValueError(f"geometric output parameter p must be in (0, 1), got {p!r}")
    if n < 1:
        raise ValueError(f"N must be at least 1, got {n!r}")
    log_q = math.log1p(-p)

    def tau(j: int) -> float:
        return (alpha_d + beta_d * j) / -math.expm1(j * log_q)

    top_sum = 0.0  # Σ τ(j) over the k largest j
    for k in range(1, n):
        top_sum += tau(n - k + 1)
        if k * tau(n - k) - top_sum >= alpha_p:
            return k
    return n


def delta_theta(theta0: float, p0: float, eta: float, beta_d: float, alpha_d: float, n: int) -> float:
    """Increasing-hazard correction Δθ = η(1−θ₀)²/(p₀²θ₀)·[Λ(θ₀/(1−θ₀) − Λ/2) + ρ(Λ − θ₀)], capped at 5θ₀."""
    if eta <= 0 or not 0 < theta0 < 1:
        return 0.0
    lam = -math.log1p(-theta0)
    rho = beta_d * n / alpha_d
    d = eta * (1 - theta0) ** 2 / (p0 * p0 * theta0) * (lam * (theta0 / (1 - theta0) - lam / 2) + rho * (lam - theta0))
    return min(max(d, 0.0), DELTA_THETA_CAP * theta0)


def slot_kv_tokens(theta: float, p0: float, mu_l: float) -> float:
    """D(θ) = μ_L + ((1−θ)/(θ·p₀))·ln(1/(1−θ)): expected KV tokens one slot holds under EB."""
    return mu_l + (1 - theta) / (theta * p0) * -math.log1p(-theta)


def n_star_closed(capacity: float, theta: float, p0: float, mu_l: float, eps: float) -> int:
    """Paper's memory-safe batch size ⌊(C − ν·ln(1/ε))/D(θ)⌋, ν = 1/(p₀²μ_L); 0 if C is too small."""
    nu = 1.0 / (p0 * p0 * mu_l)
    return max(0, math.floor((capacity - nu * math.log(1 / eps)) / slot_kv_tokens(theta, p0, mu_l)))


def n_star_clt(capacity: float, theta: float, p0: float, mu_l: float, eps: float) -> int:
    """Largest N with N·D(θ) + σ(θ)·√(N·ln(1/ε)) ≤ C, σ² = 2Λ(1 + (p₀μ_L + Λ/θ)²)/p₀² (authors' code)."""
    lam = -math.log1p(-theta)
    d = slot_kv_tokens(theta, p0, mu_l)
    var = 2 * lam * (1 + (p0 * mu_l + lam / theta) ** 2) / (p0 * p0)
    log_inv = math.log(1 / eps)
    root = (-math.sqrt(var * log_inv) + math.sqrt(var * log_inv + 4 * d * capacity)) / (2 * d)
    return max(0, math.floor(max(root, 0.0) ** 2))
