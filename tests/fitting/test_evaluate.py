"""Held-out error: k-fold predictions never see their own point; extrapolation holds out the largest steps."""

import numpy as np
import pytest
from synthetic_steps import TRUE_LINEAR, grid

from phasecal.fitting.evaluate import (
    extrapolation_mape,
    extrapolation_split,
    kfold_predictions,
    leave_group_out,
    mape,
)
from phasecal.fitting.features import step_features
from phasecal.fitting.predict import predict_step_time
from phasecal.fitting.profile import StepModel

FEATS = [step_features(p, d) for p, d, tags in grid() if not tags.get("graph")]
EXACT = np.array([predict_step_time(StepModel("extended_linear", TRUE_LINEAR), f) for f in FEATS])


def test_mape_in_percent():
    assert mape(np.array([1.1, 0.9]), np.array([1.0, 1.0])) == pytest.approx(10.0)


def test_exact_data_scores_zero_and_the_wrong_form_does_not():
    assert mape(kfold_predictions("extended_linear", FEATS, EXACT), EXACT) < 1e-6
    assert mape(kfold_predictions("phase_affine", FEATS, EXACT), EXACT) > 1.0


def test_kfold_holds_each_point_out():
    # One outlier: in-sample it pulls the fit towards itself, held out it is predicted from the others.
    y = EXACT.copy()
    y[10] *= 3
    held = kfold_predictions("extended_linear", FEATS, y)
    assert held[10] == pytest.approx(EXACT[10], rel=0.05)


def test_extrapolation_split_by_distinct_token_counts():
    train, test = extrapolation_split(FEATS, 0.8, min_test=0)
    tokens = np.array([f.n_p + f.n_d for f in FEATS])
    assert set(train) | set(test) == set(range(len(FEATS))) and not set(train) & set(test)
    assert tokens[train].max() < tokens[test].min()
    distinct = np.unique(tokens)
    assert np.unique(tokens[train]).size == int(np.ceil(0.8 * distinct.size))


def test_extrapolation_mape_and_its_limits():
    assert extrapolation_mape("extended_linear", FEATS, EXACT) < 1e-6
    one_size = [step_features([[64, 0]], [])] * 12
    with pytest.raises(ValueError, match="two distinct token counts"):
        extrapolation_mape("phase_affine", one_size, np.full(12, 1e-3))


def test_extrapolation_holds_out_at_least_five_steps():
    train, test = extrapolation_split(FEATS, 0.95)  # the largest 5% of counts alone hold fewer steps
    tokens = np.array([f.n_p + f.n_d for f in FEATS])
    assert test.size >= 5 and tokens[train].max() < tokens[test].min()
    assert extrapolation_split(FEATS, 0.95, min_test=0)[1].size < 5


def test_leave_group_out_predicts_each_group_from_the_others():
    groups = [i % 3 if i % 2 else None for i in range(len(FEATS))]
    got = leave_group_out("extended_linear", FEATS, EXACT, groups)
    assert sorted(got) == [0, 1, 2] and max(got.values()) < 1e-6
    y = EXACT.copy()
    y[[i for i, g in enumerate(groups) if g == 1]] *= 1.5  # group 1 off the model: only its score shows it
    got = leave_group_out("extended_linear", FEATS, y, groups)
    assert got[1] > 20 and got[0] < got[1] and got[2] < got[1]
