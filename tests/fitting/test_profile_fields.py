"""The optional profile fields the fitting adds: old files still load, bad values name their field."""

import json

import pytest

from phasecal.fitting.profile import ProfileError, load_profile

BASE = {"schema_version": 1, "device": {"name": "d"}, "model": {"name": "m"},
        "exclusive": {"eager": {"alpha_p": 1e-3, "beta_p": 1e-5, "alpha_d": 2e-3, "beta_d": 3e-5}}}


def load(tmp_path, **extra):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(BASE | extra))
    return load_profile(path)


def test_a_profile_without_the_new_fields_loads(tmp_path):
    p = load(tmp_path, mixed={"budget": 2048, "a": 1e-5, "b": 2e-5, "c": 1e-5})
    assert p.graph_step_model is None and p.points == [] and p.mixed.alpha is None


@pytest.mark.parametrize("extra, field", [
    ({"mixed": {"budget": 1, "a": 0, "b": 0, "c": 0, "alpha": "x"}}, "mixed.alpha"),
    ({"mixed": {"budget": 1, "a": 0, "b": 0, "c": 0, "beta": 1}}, "mixed.beta"),
    ({"graph_step_model": {"family": "roofline", "params": {"t_token": None}}}, "graph_step_model.params.t_token"),
    ({"step_model": {"family": 3, "params": {}}}, "step_model.family"),
    ({"families": [{"name": "x", "cv_mape": 1, "extrap_mape": None, "n_points": 3, "oops": 1}]}, "families[0].oops"),
    ({"points": [{"measured_s": -1.0, "fitted_s": 1.0}]}, "points[0].measured_s"),
    ({"points": [{"fitted_s": 1.0}]}, "points[0].measured_s"),
])
def test_bad_new_fields_name_the_field(tmp_path, extra, field):
    with pytest.raises(ProfileError, match=f"field '{field.replace('[', '.').replace(']', '.')}"):
        load(tmp_path, **extra)
