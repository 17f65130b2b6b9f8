"""Bootstrap intervals and the three-way decision, on synthetic step grids whose MB/EB gap Δ is known."""

import dataclasses

import numpy as np
import pytest
from synthetic_steps import grid, write_raw

from phasecal.fitting.bootstrap import bootstrap_fit, decide, resampled_steps, verdict
from phasecal.fitting.derive import exclusive_costs, fit_beta_mb
from phasecal.fitting.derived_values import Derived
from phasecal.fitting.fit import read_steps
from phasecal.fitting.profile import ExclusiveCosts, Profile
from phasecal.fitting.threshold_types import WorkloadStats

EXCL = ExclusiveCosts(alpha_p=4e-4, beta_p=2e-6, alpha_d=7e-4, beta_d=6e-6)
STATS = WorkloadStats(mu_l=512, mu_o=256, max_num_seqs=256, kv_capacity_tokens=1_000_000, concurrency=64)
SHARES = (0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9)


def steps_with_mixed_cost(beta_mb_shift: float):
    """Exclusive steps on EXCL; mixed steps at α_MB + n·(β_EB-like cost + shift): the shift moves Δ one for one."""
    def model(prefill, decode, tags):
        n_p, n_d = sum(q for q, _ in prefill), len(decode)
        if tags.get("grid") == "mixed":
            r = n_d / (n_p + n_d)
            return 9e-4 + (n_p + n_d) * ((1 - r) * EXCL.beta_p + r * EXCL.beta_d + beta_mb_shift)
        return (EXCL.alpha_p + EXCL.beta_p * n_p if n_p else 0.0) + (EXCL.alpha_d + EXCL.beta_d * n_d if n_d else 0.0)
    return model


def _decision(tmp_path, shift: float, noise: float, name: str, resamples: int = 60):
    """The decision of a profile fitted on the exclusive form (no step model: quick) with bootstrap intervals."""
    raw = write_raw(tmp_path / f"{name}.jsonl", steps_with_mixed_cost(shift), noise=noise,
                    steps=grid((400, 800, 1600, 2000), False, SHARES))
    _, steps, _ = read_steps([raw])
    costs, info = exclusive_costs(steps, "test")
    mixed, _ = fit_beta_mb(steps, costs)
    profile = Profile(device={"name": "synthetic"}, model={"name": "tiny"}, exclusive={"eager": costs}, mixed=mixed,
                      derived=Derived(exclusive_fit={"eager": info},
                                      uncertainty=bootstrap_fit(steps, None, resamples=resamples)))
    return decide(profile, STATS)


def test_verdict_reads_the_interval():
    assert verdict("EB", (1e-6, 3e-6)) == "EB"
    assert verdict("EB", (-1e-6, 3e-6)) == "too close to call"
    assert verdict("MB", (-3e-6, -1e-7)) == "MB"
    assert verdict("MB", None) == "MB"


def test_decision_on_both_sides_and_too_close(tmp_path):
    base = _decision(tmp_path, 0.0, 0.0, "exact", resamples=2)  # noise-free: Δ at shift 0
    delta0 = base.thresholds.crossover_delta
    assert base.thresholds.crossover_lhs == pytest.approx(0.0, abs=1e-12)  # β_MB = the blend: Δ = −RHS
    eb = _decision(tmp_path, 1e-6 - delta0, 0.01, "eb")  # Δ = +1 µs/token
    mb = _decision(tmp_path, -1e-6 - delta0, 0.01, "mb")  # Δ = −1 µs/token
    close = _decision(tmp_path, -delta0, 0.03, "close")  # Δ = 0 up to noise
    assert eb.verdict == "EB" and eb.intervals["crossover_delta"][0] > 0
    assert mb.verdict == "MB" and mb.intervals["crossover_delta"][1] < 0
    lo, hi = close.intervals["crossover_delta"]
    assert lo < 0 < hi and close.verdict == "too close to call"
    assert close.resamples == 60 and {"theta0", "theta_star", "k_hat", "n_star_clt"} <= set(close.intervals)


def test_resampling_keeps_points_inside_their_samples(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", steps_with_mixed_cost(0.0), noise=0.05,
                    steps=grid((400, 800), False, SHARES))
    _, steps, _ = read_steps([raw])
    again = resampled_steps(steps, np.random.default_rng(1))
    assert all(min(s.samples_s) <= r.time_s <= max(s.samples_s) for s, r in zip(steps, again, strict=True))
    assert any(r.time_s != s.time_s for s, r in zip(steps, again, strict=True))
    assert resampled_steps([dataclasses.replace(steps[0], samples_s=())], np.random.default_rng(0))[0] == \
        dataclasses.replace(steps[0], samples_s=())


def test_intervals_cover_the_truth_and_shrink_with_noise(tmp_path):
    widths = []
    for noise in (0.01, 0.08):
        raw = write_raw(tmp_path / f"n{noise}.jsonl", steps_with_mixed_cost(0.0), noise=noise,
                        steps=grid((400, 800, 1600, 2000), False, SHARES))
        _, steps, _ = read_steps([raw])
        unc = bootstrap_fit(steps, None, resamples=100)
        lo, hi = unc.intervals["beta_d"]
        widths.append(hi - lo)
        assert lo <= EXCL.beta_d * (1 + 3 * noise) and hi >= EXCL.beta_d * (1 - 3 * noise)
        assert len(unc.replicas) == 100 and unc.seconds > 0
    assert widths[0] < widths[1]
