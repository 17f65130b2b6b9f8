"""EB threshold math: refill fraction θ, batch size N̂*, and the MB/EB crossover Δ(N), from a profile.

Notation of the paper (arXiv 2606.00516) and of its authors' scheduler code is kept: μ_L, μ_O mean prompt
and output lengths, p₀ = 1/μ_O the completion hazard, N sequence slots, C KV capacity in tokens, ε the
tolerated OOM probability. Pure float arithmetic (numpy only for the hazard fit); no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .profile import Profile

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


@dataclass(frozen=True)
class HazardFit:
    """h(t) = p0 + eta·t fitted to observed output lengths; `n_samples` used, `method` how."""

    p0: float
    eta: float
    n_samples: int
    method: str


def fit_hazard(output_lengths: Sequence[int], min_samples: int = 50) -> HazardFit:
    """Survivor-weighted least squares of the empirical hazard ĥ(t) = #{O=t}/#{O≥t} on h(t) = p₀ + η·t.

    As the authors' code: fitted over t from the 5th to the 95th percentile (skips the zero-hazard
    prefix of bounded distributions and the noisy tail), points with fewer than 5 survivors dropped,
    weights = survivors, η clamped ≥ 0 (CFR), p₀ floored at 1/mean (the memoryless rate with the same
    mean, which keeps Δθ ∝ η/p₀² finite). Too few samples → the CFR estimate p₀ = 1/mean, η = 0.
    """
    o = np.asarray(output_lengths, dtype=np.int64)
    if o.size == 0:
        raise ValueError("hazard fit needs at least one observed output length")
    if (o < 1).any():
        raise ValueError(f"output lengths must be ≥ 1 token, got {int(o.min())}")
    p0_floor = 1.0 / float(o.mean())
    if o.size < min_samples:
        return HazardFit(p0_floor, 0.0, int(o.size), "cfr-mean (too few samples)")
    srt = np.sort(o)
    t_start = max(int(srt[int(o.size * 0.05)]), 1)
    t_end = max(int(srt[min(int(o.size * 0.95), o.size - 1)]), t_start + 10)
    counts = np.bincount(o)
    survivors = np.cumsum(counts[::-1])[::-1]  # survivors[t] = #{O ≥ t}
    t = np.arange(t_start, min(t_end, counts.size - 1) + 1)
    n_t = survivors[t]
    keep = n_t >= 5
    t, n_t, d_t = t[keep], n_t[keep].astype(float), counts[t[keep]].astype(float)
    if n_t.sum() < 10 or t.size < 2:
        return HazardFit(p0_floor, 0.0, int(o.size), "cfr-mean (degenerate support)")
    h = d_t / n_t
    w = n_t
    sw, swt, swt2 = w.sum(), (w * t).sum(), (w * t * t).sum()
    swh, swth = (w * h).sum(), (w * t * h).sum()
    det = sw * swt2 - swt * swt
    if abs(det) < 1e-10:
        return HazardFit(p0_floor, 0.0, int(o.size), "cfr-mean (singular fit)")
    p0 = (swt2 * swh - swt * swth) / det
    eta = (sw * swth - swt * swh) / det
    return HazardFit(max(float(p0), p0_floor), max(float(eta), 0.0), int(o.size), "survivor-weighted WLS")


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


def crossover_delta(
    *, alpha_p: float, beta_p: float, alpha_d: float, beta_d: float, beta_mb: float, alpha_mb: float,
    theta0: float, k: float, n: int, mu_l: float, mu_o: float,
) -> tuple[float, float, float]:
    """(Δ, LHS, RHS) of the crossover, LHS = β_MB(r) − β_EB,
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
class WorkloadStats:
    """What the thresholds depend on besides the device: lengths, slots, KV capacity, OOM tolerance.

    `output_lengths` (observed) switch on the hazard fit; without them outputs are taken as geometric
    (p₀ = 1/μ_O, η = 0). `concurrency`, when given, caps N (a closed loop of c requests never fills
    more slots).
    """

    mu_l: float
    mu_o: float
    max_num_seqs: int
    kv_capacity_tokens: float
    eps: float = 0.01
    concurrency: int | None = None
    output_lengths: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Thresholds:
    """Everything `derive_thresholds` computed, with the inputs it used (for logs and reports)."""

    # inputs
    alpha_p: float
    beta_p: float
    alpha_d: float
    beta_d: float
    beta_mb_coeffs: tuple[float, float, float] | None
    alpha_mb: float
    alpha_mb_source: str
    mu_l: float
    mu_o: float
    p0: float
    eta: float
    hazard_method: str
    kv_capacity_tokens: float
    eps: float
    max_num_seqs: int
    concurrency: int | None
    # outputs
    rhs_x: float  # p₀·α_p/α_d
    theta0: float
    delta_theta: float
    theta_star: float  # θ₀ + Δθ clipped to THETA_CLIP: what EB uses
    n_star_closed: int
    n_star_clt: int
    n_star_form: str  # which form N̂ used
    n: int  # N used for k̂ and the crossover: min(N̂*, max_num_seqs, concurrency)
    k_hat: int  # round(θ*·N), what EB uses
    k_hat0: float  # θ₀·N (real-valued), what the crossover uses
    k_exact: int | None  # exact k* for geometric outputs (β_d included)
    r: float
    beta_eb: float
    beta_mb: float | None
    crossover_lhs: float | None
    crossover_rhs: float | None
    crossover_delta: float | None  # < 0: MB wins
    decision: str  # "MB", "EB", or "EB (no β_MB in profile)"

    def to_dict(self) -> dict:
        return asdict(self)


def derive_thresholds(
    profile: Profile, stats: WorkloadStats, *, n_form: str = "clt", alpha_mb: float | None = None,
    mode: str = "eager", exact_k: bool = True,
) -> Thresholds:
    """θ₀, Δθ, θ*, N̂* (closed and CLT; `n_form` picks the one used), k̂, exact k*, and the crossover.

    Order: θ₀ from p₀·α_p/α_d; N̂*(θ₀) capped by max_num_seqs and concurrency gives N; Δθ at that N;
    θ* = clip(θ₀ + Δθ); k̂ = round(θ*·N). α_MB, the fixed cost of an MB step in the crossover: `alpha_mb`
    if given, else the profile's `mixed.alpha` where its fit separates it, else α_p as in the authors' code.
    `exact_k=False` skips the O(N) exact k* (the online selector does not need it).
    """
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
    c = profile.exclusive[mode]
    if c.alpha_d <= 0:
        raise ValueError("α_d must be positive for the threshold math (it divides)")
    if stats.output_lengths:
        hz = fit_hazard(stats.output_lengths)
    else:
        hz = HazardFit(1.0 / stats.mu_o, 0.0, 0, "cfr (p₀ = 1/μ_O)")
    p0 = hz.p0
    x = p0 * c.alpha_p / c.alpha_d
    theta0 = max(solve_theta0(x), 1e-9)
    n_closed = n_star_closed(stats.kv_capacity_tokens, theta0, p0, stats.mu_l, stats.eps)
    n_clt = n_star_clt(stats.kv_capacity_tokens, theta0, p0, stats.mu_l, stats.eps)
    n = max(1, min(n_clt if n_form == "clt" else n_closed, stats.max_num_seqs))
    if stats.concurrency is not None:
        n = max(1, min(n, stats.concurrency))
    d_theta = delta_theta(theta0, p0, hz.eta, c.beta_d, c.alpha_d, n)
    theta_star = min(max(theta0 + d_theta, THETA_CLIP[0]), THETA_CLIP[1])
    k_exact = exact_k_geometric(c.alpha_p, c.alpha_d, c.beta_d, p0, n) if exact_k and 0 < p0 < 1 else None
    r = stats.mu_o / (stats.mu_l + stats.mu_o)
    beta_eb = (c.beta_p * stats.mu_l + c.beta_d * stats.mu_o) / (stats.mu_l + stats.mu_o)
    if alpha_mb is not None:
        a_mb, a_mb_source = alpha_mb, "given"
    elif profile.mixed is not None and profile.mixed.alpha is not None:
        a_mb, a_mb_source = profile.mixed.alpha, "profile mixed.alpha"
    else:
        a_mb, a_mb_source = c.alpha_p, "α_p (authors' default)"
    k0 = theta0 * n
    if profile.mixed is not None:
        beta_mb = profile.mixed.beta_mb(r)
        delta, lhs, rhs = crossover_delta(
            alpha_p=c.alpha_p, beta_p=c.beta_p, alpha_d=c.alpha_d, beta_d=c.beta_d, beta_mb=beta_mb,
            alpha_mb=a_mb, theta0=theta0, k=k0, n=n, mu_l=stats.mu_l, mu_o=stats.mu_o,
        )
        decision = "MB" if delta < 0 else "EB"
        coeffs = (profile.mixed.a, profile.mixed.b, profile.mixed.c)
    else:
        beta_mb = delta = lhs = rhs = coeffs = None
        decision = "EB (no β_MB in profile)"
    return Thresholds(
        alpha_p=c.alpha_p, beta_p=c.beta_p, alpha_d=c.alpha_d, beta_d=c.beta_d, beta_mb_coeffs=coeffs,
        alpha_mb=a_mb, alpha_mb_source=a_mb_source,
        mu_l=stats.mu_l, mu_o=stats.mu_o, p0=p0, eta=hz.eta, hazard_method=hz.method,
        kv_capacity_tokens=stats.kv_capacity_tokens, eps=stats.eps, max_num_seqs=stats.max_num_seqs,
        concurrency=stats.concurrency, rhs_x=x, theta0=theta0, delta_theta=d_theta, theta_star=theta_star,
        n_star_closed=n_closed, n_star_clt=n_clt, n_star_form=n_form, n=n, k_hat=k_hat(theta_star, n), k_hat0=k0,
        k_exact=k_exact, r=r, beta_eb=beta_eb, beta_mb=beta_mb, crossover_lhs=lhs, crossover_rhs=rhs,
        crossover_delta=delta, decision=decision,
    )
