"""Fuzzing the profile loader: any JSON put anywhere in a profile is refused in one line naming the file,
or loads into a profile the simulator runs to a valid result (finite, non-negative times). Never a
traceback, never a hang (the suite's per-test time limit turns a hang into a failure)."""

import json
import math
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from phasecal.fitting.profile import ProfileError, load_profile
from phasecal.scheduler.run import simulate
from phasecal.scheduler.state import EngineConfig

PROFILE = Path(__file__).resolve().parents[2] / "results" / "cpu-intel-r-xeon-r-processor" / "tiny" / "profile.json"
BASE = json.loads(PROFILE.read_text())

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
                    st.sampled_from([0, -1, 1e-300, 1e308, -1e-9, 2**63]))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=6)


def _paths(node, prefix=()):
    """Every path into the profile (the points list is cut to its first entry to keep the space small)."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:1]):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(BASE) if p and p[0] not in ("software", "provenance")]


def _replaced(path, value):
    data = json.loads(json.dumps(BASE))
    node = data
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=values)
def test_any_value_anywhere_is_refused_in_one_line_or_simulates(tmp_path_factory, path, value):
    p = tmp_path_factory.mktemp("fuzz") / "profile.json"
    p.write_text(json.dumps(_replaced(path, value)))
    try:
        profile = load_profile(p)
    except ProfileError as e:
        event("refused by the loader")
        message = str(e)
        assert message.startswith(str(p)) and "\n" not in message
        return
    try:
        report = simulate(profile, "64/16:c=4:n=12", ("mb", "eb"), config=EngineConfig(kv_capacity_tokens=4096))
    except ValueError as e:  # refused by the engine or the threshold math: one line
        event("refused by the engine")
        assert "\n" not in str(e)
        return
    event("simulated")
    for s in report.summaries():
        assert math.isfinite(s.makespan_s) and s.makespan_s > 0 and math.isfinite(s.ttft_p50_s) and s.ttft_p50_s >= 0


@settings(max_examples=60, deadline=None)
@given(text=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_any_text_is_refused_in_one_line_or_loads(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("fuzz") / "profile.json"
    p.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        load_profile(p)
    except ProfileError as e:
        assert "\n" not in str(e)


coefficients = st.one_of(st.floats(-1e-3, 1e-2), st.floats(allow_nan=False, allow_infinity=False),
                         st.sampled_from([0.0, 1e300, -1e300, 5e-324]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(["phase_affine", "extended_linear", "mixed_linear", "roofline"]), data=st.data())
def test_any_step_model_coefficients_are_refused_or_simulate(tmp_path_factory, family, data):
    from phasecal.fitting.profile_meaning import FAMILY_PARAMS

    required, allowed = FAMILY_PARAMS[family]
    names = data.draw(st.sets(st.sampled_from(allowed), min_size=len(allowed) // 2)) | set(required)
    params = {k: data.draw(coefficients, label=k) for k in sorted(names)}
    p = tmp_path_factory.mktemp("fuzz") / "profile.json"
    p.write_text(json.dumps(_replaced(("step_model",), {"family": family, "params": params})))
    try:
        profile = load_profile(p)
    except ProfileError as e:
        assert "\n" not in str(e) and "step_model" in str(e)
        return
    report = simulate(profile, "64/16:c=4:n=12", ("mb", "eb"), config=EngineConfig(kv_capacity_tokens=4096))
    for s in report.summaries():
        assert math.isfinite(s.makespan_s) and s.makespan_s > 0 and math.isfinite(s.ttft_p50_s) and s.ttft_p50_s >= 0


costs = st.one_of(st.floats(0, 1e3), st.sampled_from([0.0, 1e-300, 5e-324, 1.1e-308, 1e300]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exclusive=st.lists(costs, min_size=4, max_size=4), mixed=st.lists(st.floats(-1, 1), min_size=3, max_size=3),
       keep_step_model=st.booleans())
def test_any_exclusive_and_mixed_costs_are_refused_or_give_thresholds(tmp_path_factory, exclusive, mixed,
                                                                     keep_step_model):
    """Extreme α/β once gave 'math domain error' (θ₀ rounded to 1) with no file or field named."""
    data = _replaced(("exclusive", "eager"), dict(zip(("alpha_p", "beta_p", "alpha_d", "beta_d"), exclusive,
                                                      strict=True)))
    data["mixed"].update(zip("abc", mixed, strict=True))
    if not keep_step_model:
        data["step_model"] = None
    p = tmp_path_factory.mktemp("fuzz") / "profile.json"
    p.write_text(json.dumps(data))
    try:
        profile = load_profile(p)
    except ProfileError as e:
        assert str(e).startswith(str(p)) and "\n" not in str(e)
        return
    report = simulate(profile, "64/16:c=4:n=12", ("mb", "eb"), config=EngineConfig(kv_capacity_tokens=8192))
    assert 0 < report.thresholds.theta0 < 1 and math.isfinite(report.thresholds.theta_star)
