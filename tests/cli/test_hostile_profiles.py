"""Profiles that pass a form check but cannot mean anything: refused when loaded, naming the field."""

import pytest
from hostile import assert_refused, phasecal, profile_dict, write_json


def _mutate(fn):
    d = profile_dict()
    fn(d)
    return d


def _set(path: str, value):
    def fn(d):
        *head, last = path.split(".")
        for k in head:
            d = d[int(k)] if isinstance(d, list) else d[k]
        d[last] = value
    return fn


CASES = [
    ("derived as a string", _set("derived", "oops"), "'derived'"),
    ("kv_capacity_tokens a string", _set("derived.kv_capacity_tokens", "lots"), "derived.kv_capacity_tokens"),
    ("kv_capacity_tokens 1e13", _set("derived.kv_capacity_tokens", 1e13), "derived.kv_capacity_tokens"),
    ("families[].params a list", _set("families.0.params", [1, 2]), "families[0].params"),
    ("roofline without t_token", _set("step_model", {"family": "roofline", "params": {"knee_tokens": 0.0}}),
     "step_model.params.t_token"),
    ("unknown family", _set("step_model", {"family": "quantum", "params": {}}), "step_model.family"),
    ("a parameter the family lacks", _set("step_model.params.warp", 1.0), "step_model.params.warp"),
    ("negative step-model parameters", _set("step_model.params.intercept", -1.0), "step_model.params"),
    ("parameters of 1e308", _set("step_model.params.s_d", 1e308), "step_model.params"),
    ("all-zero exclusive costs", _set("exclusive.eager", {"alpha_p": 0, "beta_p": 0, "alpha_d": 0, "beta_d": 0}),
     "exclusive.eager"),
    ("negative beta_MB", _set("mixed.a", -1.0), "mixed"),
    ("a fractional MB budget", _set("mixed.budget", 1.5), "mixed.budget"),
    ("a device name that is a number", _set("device.name", 7), "device.name"),
    ("n_points a string", _set("families.0.n_points", "many"), "families[0].n_points"),
    ("a point's grid a number", _set("points.0.grid", 3), "points[0].grid"),
]


@pytest.mark.parametrize("what,mutate,field", CASES, ids=[c[0] for c in CASES])
def test_simulate_refuses_a_meaningless_profile(tmp_path, what, mutate, field):
    p = write_json(tmp_path / "profile.json", _mutate(mutate))
    assert_refused(phasecal("simulate", "-p", p, "-w", "512/64:c=4:n=8"), str(p), field)


@pytest.mark.parametrize("content,words", [
    (b"\xff\xfe{not text", ["not a text file"]),
    ("[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
])
def test_unreadable_profile_names_the_file(tmp_path, content, words):
    p = tmp_path / "profile.json"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_refused(phasecal("show", p), str(p), *words)


def test_committed_profiles_still_load():
    from hostile import ROOT

    from phasecal.fitting.profile import load_profile

    for path in sorted(ROOT.glob("results/**/profile.json")):
        load_profile(path)
