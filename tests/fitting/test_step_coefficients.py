"""The flattened step model a scheduler evaluates per step equals `profile_step_time` on every family."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasecal.fitting.features import step_features
from phasecal.fitting.predict import profile_step_time, step_coefficients
from phasecal.fitting.profile import ExclusiveCosts, Profile, StepModel

COSTS = ExclusiveCosts(alpha_p=1.3e-3, beta_p=2.5e-5, alpha_d=8.9e-3, beta_d=4.6e-5)
LINEAR = {"intercept": 2e-4, "has_p": 5e-4, "has_d": 3e-3, "n_p": 2e-5, "n_d": 4e-5, "s_p": 1e-9, "s_d": 2e-8,
          "n_seq": 1e-6, "d_pad": 3e-8, "p_mask": 4e-10}
MODELS = {
    "exclusive": None,
    "phase_affine": StepModel("phase_affine", {"alpha_p": 1e-3, "beta_p": 3e-5, "alpha_d": 7e-3, "beta_d": 5e-5}),
    "extended_linear": StepModel("extended_linear", LINEAR),
    "mixed_linear": StepModel("mixed_linear", {**LINEAR, "mix": -3e-6}),
    "roofline": StepModel("roofline", {**LINEAR, "n_p": 0.0, "n_d": 0.0, "t_token": 1e-5, "knee_tokens": 96.0}),
    "roofline_kv_spill": StepModel("roofline", {**LINEAR, "t_token": 1e-5, "knee_tokens": 96.0, "t_kv_spill": 3e-8,
                                                "kv_cache_tokens": 4096.0}),
}
chunks = st.lists(st.tuples(st.integers(1, 600), st.integers(0, 3000)), max_size=4)
contexts = st.lists(st.integers(1, 4000), max_size=40)


@given(st.sampled_from(sorted(MODELS)), chunks, contexts, st.booleans())
@settings(max_examples=200, deadline=None)
def test_coefficients_match_the_profile_model(family, prefill, decode, graph):
    graph_model = StepModel("extended_linear", {**LINEAR, "intercept": 1e-5}) if family != "exclusive" else None
    prof = Profile(device={"name": "t"}, model={"name": "t"}, exclusive={"eager": COSTS}, step_model=MODELS[family],
                   graph_step_model=graph_model)
    f = step_features(prefill, decode, graph=graph and not prefill)
    expect = profile_step_time(prof, f)
    got = step_coefficients(prof, graph=graph and not prefill).time(f.n_p, f.n_d, f.s_p, f.s_d, f.n_seq, f.d_pad,
                                                                      f.p_mask)
    assert got == pytest.approx(expect, rel=1e-12, abs=1e-15)


def test_unknown_family_is_refused():
    prof = Profile(device={"name": "t"}, model={"name": "t"}, exclusive={"eager": COSTS},
                   step_model=StepModel("gradient_boosting", {}))
    with pytest.raises(ValueError, match="unknown step-model family 'gradient_boosting'"):
        step_coefficients(prof)
