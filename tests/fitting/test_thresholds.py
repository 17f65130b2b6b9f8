"""EB threshold math: θ₀ solver, exact k*, hazard fit, Δθ, N̂*, crossover, derive_thresholds."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasecal.fitting.hazard import fit_hazard
from phasecal.fitting.profile import ExclusiveCosts, MixedCost, Profile
from phasecal.fitting.refill import (
    _refill_lhs,
    delta_theta,
    exact_k_geometric,
    k_hat,
    n_star_closed,
    n_star_clt,
    slot_kv_tokens,
    solve_theta0,
)
from phasecal.fitting.threshold_types import Thresholds, WorkloadStats
from phasecal.fitting.thresholds import crossover_delta, derive_thresholds, range_checks

# The authors' H200 calibration of Qwen3-8B (reproduce/calibration/pd_calibration_Qwen3-8B_H200.json).
H200 = ExclusiveCosts(alpha_p=1.2786e-3, beta_p=2.4853e-5, alpha_d=8.921e-3, beta_d=4.5865e-5)


def h200_profile(mixed: bool = True) -> Profile:
    mc = MixedCost(budget=8192, a=2.494e-5, b=5.193e-5, c=1.478e-5) if mixed else None
    return Profile(device={"name": "H200"}, model={"name": "Qwen3-8B"}, exclusive={"eager": H200}, mixed=mc)


def test_authors_h200_worked_example():
    x = 4.75e-4 * H200.alpha_p / H200.alpha_d
    theta0 = solve_theta0(x)
    assert theta0 == pytest.approx(0.0116, abs=5e-5)
    assert k_hat(theta0, 318) == 4


@pytest.mark.parametrize("x", [1e-30, 1e-16, 1e-9, 1e-6, 1e-3])
def test_small_x_asymptote(x):
    # f(θ) = θ²/2 + 2θ³/3 + ..., so θ₀ = √(2x)·(1 − (2/3)·√(2x)/... ): the relative gap shrinks like √x.
    theta0 = solve_theta0(x)
    approx = math.sqrt(2 * x)
    assert abs(theta0 / approx - 1) < 2 * approx
    assert theta0 < approx  # the cubic term is positive, so the root lies below the asymptote


@pytest.mark.parametrize("x", [1e-300, 1e-40, 1e-12, 1e-4, 0.3, 1.0, 1.0001, 7.0, 1e3, 1e8])
def test_root_residual_both_ends(x):
    theta0 = solve_theta0(x)
    assert 0 < theta0 < 1
    if x <= 1:
        assert _refill_lhs(theta0) == pytest.approx(x, rel=1e-10)
    else:
        u = 1 - theta0  # near θ = 1 check in u, where 1/u − 1 + ln u = x
        assert 1 / u - 1 + math.log(u) == pytest.approx(x, rel=1e-6)


def test_large_x_asymptote():
    # 1/u − 1 + ln u = x  ⇒  u ≈ 1/(x + 1 + ln x) for large x.
    x = 1e6
    assert 1 - solve_theta0(x) == pytest.approx(1 / (x + 1 + math.log(x)), rel=1e-5)


@given(st.floats(min_value=1e-12, max_value=1e4), st.floats(min_value=1.0001, max_value=3.0))
@settings(max_examples=60, deadline=None)
def test_theta0_monotone(x, factor):
    assert solve_theta0(x * factor) > solve_theta0(x)


def test_series_matches_closed_form_where_both_are_accurate():
    for theta in (0.02, 0.04, 0.049):
        closed = theta / (1 - theta) + math.log1p(-theta)
        assert _refill_lhs(theta) == pytest.approx(closed, rel=1e-12)


def test_theta0_rejects_bad_input():
    for bad in (-1e-3, math.nan, math.inf):
        with pytest.raises(ValueError, match="θ₀"):
            solve_theta0(bad)
    assert solve_theta0(0.0) == 0.0


def test_exact_k_tends_to_theta0_without_beta_d():
    # With β_d = 0 and p·N → 0, k*/N → θ₀ (Prop. 1).
    alpha_p, alpha_d, p = 1e-3, 1e-2, 1e-6
    theta0 = solve_theta0(p * alpha_p / alpha_d)
    n = 100_000
    assert exact_k_geometric(alpha_p, alpha_d, 0.0, p, n) / n == pytest.approx(theta0, rel=0.02)


def test_exact_k_h200_example_and_edges():
    assert exact_k_geometric(H200.alpha_p, H200.alpha_d, H200.beta_d, 4.75e-4, 318) == 4
    # A refill so expensive that no k < N pays for it: refill only when the batch drains.
    assert exact_k_geometric(10.0, 1e-3, 0.0, 0.5, 8) == 8
    with pytest.raises(ValueError):
        exact_k_geometric(1e-3, 1e-2, 0.0, 0.0, 10)


def test_exact_k_grows_with_alpha_p():
    ks = [exact_k_geometric(a, 1e-2, 1e-5, 1e-3, 512) for a in (1e-4, 1e-3, 1e-2, 1e-1)]
    assert ks == sorted(ks) and ks[0] < ks[-1]


def test_hazard_fit_recovers_geometric():
    rng = np.random.default_rng(0)
    p = 1 / 200
    o = rng.geometric(p, size=200_000)
    fit = fit_hazard(o)
    assert fit.p0 == pytest.approx(p, rel=0.05)
    assert fit.eta < 0.05 * p / 200  # flat hazard: slope negligible over the support


def test_hazard_fit_recovers_linear_hazard():
    # Discrete-time survival with hazard h(t) = p0 + eta*t, sampled exactly by inversion.
    p0, eta = 2e-3, 2e-5
    t = np.arange(1, 3000)
    h = np.minimum(p0 + eta * t, 1.0)
    surv = np.concatenate([[1.0], np.cumprod(1 - h)])
    pmf = surv[:-1] * h
    rng = np.random.default_rng(1)
    o = rng.choice(t, size=300_000, p=pmf / pmf.sum())
    fit = fit_hazard(o)
    assert fit.eta == pytest.approx(eta, rel=0.1)
    assert fit.p0 >= 1 / o.mean()  # floored at the memoryless rate, as the authors do
    assert fit.method == "survivor-weighted WLS"


def test_hazard_fit_few_samples_and_bad_input():
    assert fit_hazard([100, 200, 300]).p0 == pytest.approx(1 / 200)
    with pytest.raises(ValueError):
        fit_hazard([])
    with pytest.raises(ValueError):
        fit_hazard([5, 0, 3])


def test_delta_theta_sign_cap_and_zero():
    theta0 = 0.05
    assert delta_theta(theta0, 1e-3, 0.0, 4e-5, 9e-3, 300) == 0.0
    small = delta_theta(theta0, 1e-2, 1e-8, 4e-5, 9e-3, 300)
    assert 0 < small < 5 * theta0
    assert delta_theta(theta0, 1e-3, 1.0, 4e-5, 9e-3, 300) == pytest.approx(5 * theta0)  # capped


def test_delta_theta_formula_by_hand():
    theta0, p0, eta, beta_d, alpha_d, n = 0.03, 5e-3, 1e-7, 4e-5, 9e-3, 256
    lam = -math.log(1 - theta0)
    rho = beta_d * n / alpha_d
    bracket = lam * (theta0 / (1 - theta0) - lam / 2) + rho * (lam - theta0)
    expect = eta * (1 - theta0) ** 2 / (p0**2 * theta0) * bracket
    assert delta_theta(theta0, p0, eta, beta_d, alpha_d, n) == pytest.approx(expect, rel=1e-12)


def test_n_star_forms():
    theta, p0, mu_l, eps = 0.05, 1 / 512, 512, 0.01
    d = slot_kv_tokens(theta, p0, mu_l)
    assert d == pytest.approx(mu_l + (1 - theta) / (theta * p0) * math.log(1 / (1 - theta)))
    cap = 700_000
    n_clt = n_star_clt(cap, theta, p0, mu_l, eps)
    n_closed = n_star_closed(cap, theta, p0, mu_l, eps)
    # CLT: the returned N satisfies the constraint and N+1 does not.
    lam = -math.log(1 - theta)
    sigma = math.sqrt(2 * lam * (1 + (p0 * mu_l + lam / theta) ** 2) / p0**2)
    used = lambda n: n * d + sigma * math.sqrt(n * math.log(1 / eps))
    assert used(n_clt) <= cap < used(n_clt + 1)
    assert n_closed == math.floor((cap - 1 / (p0**2 * mu_l) * math.log(1 / eps)) / d)
    assert 0 < n_clt <= cap / d and 0 < n_closed <= cap / d
    assert n_star_clt(10.0, theta, p0, mu_l, eps) == 0


def test_crossover_falls_with_n():
    kw = dict(alpha_p=H200.alpha_p, beta_p=H200.beta_p, alpha_d=H200.alpha_d, beta_d=H200.beta_d,
              beta_mb=3e-5, alpha_mb=H200.alpha_p, theta0=0.02, mu_l=512, mu_o=512)
    rhs = [crossover_delta(k=0.02 * n, n=n, **kw)[2] for n in (64, 256, 1024, 4096)]
    assert rhs == sorted(rhs, reverse=True)


def test_derive_thresholds_h200_echoes_inputs_and_decides():
    stats = WorkloadStats(mu_l=512, mu_o=512, max_num_seqs=1024, kv_capacity_tokens=700_000)
    th = derive_thresholds(h200_profile(), stats)
    assert th.alpha_p == H200.alpha_p and th.mu_o == 512 and th.p0 == pytest.approx(1 / 512)
    assert th.theta0 == pytest.approx(solve_theta0(th.rhs_x))
    assert th.n == min(th.n_star_clt, 1024)
    assert th.k_hat == k_hat(th.theta_star, th.n)
    assert th.decision in ("MB", "EB")
    assert (th.crossover_delta < 0) == (th.decision == "MB")
    assert th.crossover_delta == pytest.approx(th.crossover_lhs - th.crossover_rhs)
    assert th.to_dict()["n_star_form"] == "clt"
    closed = derive_thresholds(h200_profile(), stats, n_form="closed")
    assert closed.n == min(closed.n_star_closed, 1024)
    capped = derive_thresholds(h200_profile(), WorkloadStats(512, 512, 1024, 700_000, concurrency=32))
    assert capped.n == 32
    assert derive_thresholds(h200_profile(mixed=False), stats).crossover_delta is None


def test_derive_thresholds_light_load_favours_mb():
    # The RHS falls as 1/N: at a small N the same device and workload picks MB, at a large one EB.
    prof = h200_profile()
    light = derive_thresholds(prof, WorkloadStats(512, 256, 4096, 10_000_000, concurrency=4))
    heavy = derive_thresholds(prof, WorkloadStats(512, 256, 4096, 10_000_000, concurrency=4096))
    assert light.crossover_rhs > heavy.crossover_rhs
    assert light.decision == "MB" and heavy.decision == "EB"
    assert light.k_hat0 == pytest.approx(light.theta0 * 4)


def test_derive_thresholds_with_observed_outputs_uses_hazard_fit():
    rng = np.random.default_rng(2)
    o = tuple(int(v) for v in rng.geometric(1 / 300, size=5000))
    th = derive_thresholds(h200_profile(), WorkloadStats(512, float(np.mean(o)), 512, 700_000, output_lengths=o))
    assert th.hazard_method == "survivor-weighted WLS"
    assert th.p0 == pytest.approx(1 / 300, rel=0.1)


def test_derive_thresholds_rejects_bad_stats():
    with pytest.raises(ValueError, match="μ_L"):
        derive_thresholds(h200_profile(), WorkloadStats(0, 100, 10, 1000))
    with pytest.raises(ValueError, match="ε"):
        derive_thresholds(h200_profile(), WorkloadStats(10, 100, 10, 1000, eps=1.5))
    with pytest.raises(ValueError, match="n_form"):
        derive_thresholds(h200_profile(), WorkloadStats(10, 100, 10, 1000), n_form="x")


def _falling_hazard_trace(n: int = 50_000, seed: int = 3) -> np.ndarray:
    """Output lengths from a mix of short and long geometric outputs: the hazard falls with length."""
    rng = np.random.default_rng(seed)
    short = rng.geometric(1 / 30, size=n // 2)
    long = rng.geometric(1 / 600, size=n - n // 2)
    return np.concatenate([short, long])


def test_falling_hazard_refits_a_constant_hazard():
    o = _falling_hazard_trace()
    fit = fit_hazard(o)
    assert fit.eta_fitted < 0  # the line's slope says the hazard falls
    assert fit.eta == 0 and fit.p0 == pytest.approx(1 / o.mean())  # constant hazard: the geometric MLE
    assert fit.method.startswith("constant hazard")
    th = derive_thresholds(h200_profile(), WorkloadStats(512, float(o.mean()), 256, 700_000, output_lengths=tuple(o)))
    (slope,) = [c for c in th.checks if c.name == "hazard slope"]
    assert not slope.holds and slope.value < 0 and "refitted as a constant hazard" in slope.note
    assert th.p0 == pytest.approx(1 / th.mu_o)


def test_rising_hazard_check_holds():
    rng = np.random.default_rng(4)
    o = rng.integers(200, 400, size=20_000)  # uniform lengths: the hazard rises towards the top
    (slope,) = [c for c in range_checks(64, fit_hazard(o), None, 3) if c.name == "hazard slope"]
    assert slope.holds and slope.value > 0


def test_exact_k_range_report():
    inside = derive_thresholds(h200_profile(), WorkloadStats(512, 2000, 256, 10_000_000, concurrency=256))
    (k,) = [c for c in inside.checks if c.name == "exact k*"]
    assert k.holds and k.value == pytest.approx(256 / 2000)
    # short outputs at many slots: several completions per step, the exact k* is outside its regime
    outside = derive_thresholds(h200_profile(), WorkloadStats(2048, 30, 256, 10_000_000, concurrency=256))
    (k,) = [c for c in outside.checks if c.name == "exact k*"]
    assert not k.holds and k.value == pytest.approx(256 / 30)
    assert f"EB uses k̂ = round(θ*·N) = {outside.k_hat}" in k.note and str(outside.k_exact) in k.note


def test_thresholds_round_trip_through_dict():
    th = derive_thresholds(h200_profile(), WorkloadStats(512, 300, 256, 700_000))
    assert Thresholds.from_dict(th.to_dict()) == th
