"""Model families: known coefficients come back from synthetic steps; bad data is refused clearly."""

import math
import random

import numpy as np
import pytest
from synthetic_steps import TRUE_LINEAR, grid

from phasecal.fitting.families import FAMILIES, PARAMETRIC, fit_family, n_coefficients
from phasecal.fitting.features import step_features
from phasecal.fitting.predict import predict_step_time
from phasecal.fitting.profile import StepModel

TRUTHS = {
    "phase_affine": {"alpha_p": 5e-4, "beta_p": 3e-6, "alpha_d": 8e-4, "beta_d": 1e-5},
    "extended_linear": TRUE_LINEAR | {"solo": -1e-4},  # a one-token step cheaper (GEMV): signed, recovered
    "mixed_linear": TRUE_LINEAR | {"mix": -1e-6, "solo": 5e-5},
    "roofline": {"intercept": 2e-4, "has_p": 3e-4, "has_d": 5e-4, "s_p": 1e-9, "s_d": 2e-9, "n_seq": 1e-6,
                 "d_pad": 5e-8, "p_mask": 5e-10, "solo": -5e-5, "t_token": 4e-6, "knee_tokens": 300.0},
}
FEATS = [step_features(p, d) for p, d, tags in grid() if not tags.get("graph")]


def times(family: str, noise: float, seed: int) -> np.ndarray:
    rng = random.Random(seed)
    model = StepModel(family, TRUTHS[family])
    return np.array([predict_step_time(model, f) * (1 + rng.gauss(0, noise)) for f in FEATS])


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("family", PARAMETRIC)
def test_coefficients_recovered_within_one_percent(family, seed):
    fitted = fit_family(family, FEATS, times(family, noise=2e-4, seed=seed))
    assert set(fitted.params) == set(TRUTHS[family])
    for name, true in TRUTHS[family].items():
        assert fitted.params[name] == pytest.approx(true, rel=0.01), name


def test_noisy_fit_predicts_the_truth():
    """With 1% noise the coefficients wander, but the fitted model predicts the noise-free times within 1%."""
    fitted = fit_family("mixed_linear", FEATS, times("mixed_linear", noise=0.01, seed=3))
    truth = times("mixed_linear", noise=0.0, seed=0)
    assert np.mean(np.abs(fitted.predict(FEATS) / truth - 1)) < 0.01


def test_costs_stay_non_negative_and_mix_may_go_negative():
    # Times that fall with prefill tokens would need a negative beta_p: the fit clips it at zero.
    feats = [step_features([[q, 0]], []) for q in (10, 20, 40, 80, 160, 320)] * 2
    y = np.array([1e-3 - 1e-7 * f.n_p for f in feats])
    assert fit_family("phase_affine", feats, y).params["beta_p"] == 0.0
    assert fit_family("mixed_linear", FEATS, times("mixed_linear", 0.0, 0)).params["mix"] < 0


def test_gradient_boosting_keeps_no_coefficients():
    fitted = fit_family("gradient_boosting", FEATS, times("extended_linear", 0.01, 0))
    assert fitted.params == {} and not fitted.parametric
    assert np.all(fitted.predict(FEATS[:5]) > 0)


@pytest.mark.parametrize("bad", [math.nan, -1e-3, 0.0, math.inf])
def test_bad_times_are_refused(bad):
    y = times("phase_affine", 0.0, 0)
    y[7] = bad
    with pytest.raises(ValueError, match="positive finite seconds; step 7"):
        fit_family("phase_affine", FEATS, y)


@pytest.mark.parametrize("family", FAMILIES)
def test_too_few_points_names_the_family(family):
    n = n_coefficients(family)
    with pytest.raises(ValueError, match=f"family '{family}' fits {n} coefficients and needs at least {n + 1}"):
        fit_family(family, FEATS[:n], times("phase_affine", 0.0, 0)[:n])


def test_unknown_family_and_length_mismatch():
    with pytest.raises(ValueError, match="unknown model family 'cubic'"):
        fit_family("cubic", FEATS, times("phase_affine", 0.0, 0))
    with pytest.raises(ValueError, match="one measured time per step"):
        fit_family("phase_affine", FEATS, times("phase_affine", 0.0, 0)[:-1])
