"""Step features from a batch composition (fitting/features.py): the attention terms counted by hand; a profile
that prices their waste below zero is refused."""

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasecal.fitting.features import FEATURE_NAMES, step_features
from phasecal.fitting.profile import ExclusiveCosts, Profile, ProfileError, StepModel, load_profile

COSTS = ExclusiveCosts(alpha_p=1.3e-3, beta_p=2.5e-5, alpha_d=8.9e-3, beta_d=4.6e-5)


def test_prefill_attention_counts_kept_and_masked_scores():
    # a chunk of 4 new tokens on 10 cached: each new token sees the cache and the new ones up to itself
    f = step_features([(4, 10), (3, 0)], [7, 9])
    assert f.n_p == 7 and f.n_d == 2 and f.n_seq == 4 and f.s_d == 16
    assert f.s_p == 4 * 10 + (1 + 2 + 3 + 4) + (1 + 2 + 3)
    assert f.p_mask == (3 + 2 + 1) + (2 + 1)  # past the diagonal of each chunk's own q x q block
    assert step_features([(1, 500)], []).p_mask == 0  # one new token masks nothing
    assert FEATURE_NAMES[-1] == "p_mask" and len(f.vector()) == len(FEATURE_NAMES)


@given(st.lists(st.tuples(st.integers(1, 2048), st.integers(0, 8192)), min_size=1, max_size=8))
def test_kept_plus_masked_is_the_rectangle_an_unskipping_attention_computes(prefill):
    f = step_features(prefill, [])
    assert f.s_p + f.p_mask == sum(q * (c + q) for q, c in prefill)


@pytest.mark.parametrize("family", ["extended_linear", "roofline"])
@pytest.mark.parametrize("term", ["d_pad", "p_mask"])
def test_a_negative_waste_term_is_refused_naming_the_field(tmp_path, family, term):
    # d_pad -1 s/key prices any spread decode batch below zero though every probed (equal-context) step is positive
    params = {"intercept": 1e-3, "s_p": 1e-9, "s_d": 1e-8, term: -1.0}
    if family == "roofline":
        params |= {"t_token": 1e-5, "knee_tokens": 64.0}
    prof = Profile(device={"name": "t"}, model={"name": "t"}, exclusive={"eager": COSTS},
                   step_model=StepModel(family, params))
    path = tmp_path / "p.json"
    path.write_text(json.dumps(prof.to_dict()))
    with pytest.raises(ProfileError, match=rf"field 'step_model.params.{term}' is -1.0: .* never less than 0"):
        load_profile(path)
    path.write_text(json.dumps(replace(prof, step_model=StepModel(family, params | {term: 0.0})).to_dict()))
    assert load_profile(path).step_model.params[term] == 0.0


def test_step_coefficients_time_takes_the_features_in_vector_order():
    import inspect

    from phasecal.fitting.predict import StepCoefficients

    # fair.estimate_load calls coeffs.time(*features.vector())
    assert tuple(inspect.signature(StepCoefficients.time).parameters)[1:] == FEATURE_NAMES
