"""fit_profile end to end on synthetic raw files: family choice, alpha/beta, beta_MB(r), crossover, errors."""

import json

import numpy as np
import pytest
from synthetic_steps import TRUE_LINEAR, grid, write_raw

from phasecal.fitting.crossover import blend_crossover, decode_crossover
from phasecal.fitting.features import step_features
from phasecal.fitting.fit import fit_profile
from phasecal.fitting.predict import predict_step_time, profile_step_time
from phasecal.fitting.profile import ExclusiveCosts, MixedCost, StepModel, load_profile, save_profile
from phasecal.records import RawFormatError

EXCL = ExclusiveCosts(alpha_p=4e-4, beta_p=2e-6, alpha_d=7e-4, beta_d=6e-6)
ALPHA_MB, A, B, C = 9e-4, 2e-6, 1e-6, 6e-6  # beta_MB(r) crosses (1-r)beta_p + r*beta_d at r = 0.5
BUDGETS = (400, 800, 1600, 2000)  # every grid share times these is a whole number of decodes
MIXED_SHARES = (0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9)  # truly mixed: pure steps stay exclusive


def exclusive_and_mixed(prefill, decode, tags):
    """Prefill and decode grids on the exclusive form, mixed-grid steps at alpha_MB + n*beta_MB(r)."""
    n_p, n_d = sum(q for q, _ in prefill), len(decode)
    if tags.get("grid") == "mixed":
        r = n_d / (n_p + n_d)
        return ALPHA_MB + (n_p + n_d) * (A + B * r + C * r * r)
    return (EXCL.alpha_p + EXCL.beta_p * n_p if n_p else 0.0) + (EXCL.alpha_d + EXCL.beta_d * n_d if n_d else 0.0)


@pytest.fixture(scope="module")
def linear_profile(tmp_path_factory):
    raw = write_raw(tmp_path_factory.mktemp("raw") / "raw.jsonl", StepModel("extended_linear", TRUE_LINEAR),
                    noise=0.01)
    return fit_profile([raw], command="test"), raw


def test_chosen_family_is_the_best_parametric_and_accurate(linear_profile):
    profile, _ = linear_profile
    scores = {f.name: f for f in profile.families}
    assert set(scores) == {"phase_affine", "extended_linear", "mixed_linear", "roofline", "gradient_boosting"}
    best = min((f for f in profile.families if f.parametric), key=lambda f: f.cv_mape)
    assert profile.step_model.family == best.name == profile.derived.chosen_family
    assert best.cv_mape < 1.0 and best.extrap_mape < 2.0  # 1% sample noise, median of 11
    assert scores["phase_affine"].cv_mape > 3 * best.cv_mape  # the paper's form misses s_p, s_d
    assert not scores["gradient_boosting"].parametric and scores["gradient_boosting"].params == {}


def test_graph_steps_get_their_own_model(linear_profile):
    profile, _ = linear_profile
    assert set(profile.exclusive) == {"eager", "graph"} and profile.graph_step_model is not None
    assert profile.derived.exclusive_fit["graph"]["prefill_from"].startswith("eager")
    assert profile.derived.graph_fit["cv_mape"] < 2.0
    f_eager, f_graph = step_features([], [512] * 64), step_features([], [512] * 64, graph=True)
    truth = predict_step_time(StepModel("extended_linear", TRUE_LINEAR), f_eager)
    assert profile_step_time(profile, f_eager) == pytest.approx(truth, rel=0.02)
    assert profile_step_time(profile, f_graph) == pytest.approx(0.6 * truth, rel=0.02)


def test_profile_round_trips_as_plain_json(linear_profile, tmp_path):
    profile, raw = linear_profile
    path = save_profile(profile, tmp_path / "profile.json")
    assert load_profile(path).to_dict() == json.loads(path.read_text()) == profile.to_dict()
    assert profile.provenance["raw_files"][0]["path"] == str(raw)
    assert profile.probe_settings == {"dtype": "float32"}
    assert len(profile.points) == len(grid()) and all(p["measured_s"] > 0 for p in profile.points)


def test_alpha_beta_beta_mb_and_crossover_recovered(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", exclusive_and_mixed, noise=0.0, steps=grid(BUDGETS, False, MIXED_SHARES))
    profile = fit_profile([raw])
    got = profile.exclusive["eager"]
    for k in ("alpha_p", "beta_p", "alpha_d", "beta_d"):
        assert getattr(got, k) == pytest.approx(getattr(EXCL, k), rel=1e-6), k
    m = profile.mixed
    assert (m.a, m.b, m.c, m.alpha) == pytest.approx((A, B, C, ALPHA_MB), rel=1e-6)
    assert m.budget == 2000 and profile.derived.beta_mb_fit["method"] == "slope over budgets"
    (cross,) = profile.derived.crossover.blend.crossings
    assert cross.share == pytest.approx(0.5, abs=1e-3)
    assert profile.derived.marginal_cost["prefill_s_per_token"] > 0


def test_beta_mb_at_one_budget_is_time_per_token(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", exclusive_and_mixed, noise=0.0, steps=grid((1000,), False, MIXED_SHARES))
    m = fit_profile([raw]).mixed
    assert m.budget == 1000 and m.alpha is None
    assert (m.a, m.b, m.c) == pytest.approx((A + ALPHA_MB / 1000, B, C), rel=1e-6)


def test_budget_limits_the_mixed_grid(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", exclusive_and_mixed, noise=0.0, steps=grid(graph=False))
    profile = fit_profile([raw], budget=600)
    assert profile.mixed.budget == 600 and profile.derived.beta_mb_fit["budgets"] == [256, 512]


def test_crossover_share_cases():
    costs = ExclusiveCosts(0.0, 2.0, 0.0, 6.0)
    # blend 2 + 4r against 2 + r + 6r²: equal at r = 0 (touching, no sign change there) and r = 0.5
    (cross,) = blend_crossover(MixedCost(1, 2.0, 1.0, 6.0), costs).crossings
    assert (cross.share, cross.costs_more) == (pytest.approx(0.5), "above")
    above = blend_crossover(MixedCost(1, 3.0, 4.0, 0.0), costs)
    assert above.crossings == () and above.everywhere == "more"
    below = blend_crossover(MixedCost(1, 1.0, 4.0, 0.0), costs)
    assert below.crossings == () and below.everywhere == "less"
    (d,) = decode_crossover(MixedCost(1, 8.0, -4.0, 0.0), costs).crossings  # 8 − 4r = 6 at r = 0.5, falling
    assert (d.share, d.costs_more) == (pytest.approx(0.5), "below")


def test_ridge_point_from_device_ceilings(tmp_path):
    device = {"name": "fake-gpu", "kind": "cuda", "versions": {"torch": "2.11"}, "driver": "580",
              "datasheet": {"hbm_tb_s": 3.2, "bf16_dense_tflops": 800.0}}
    truth = {"intercept": 2e-4, "has_p": 3e-4, "has_d": 5e-4, "s_p": 1e-9, "s_d": 2e-9, "n_seq": 1e-6,
             "t_token": 4e-6, "knee_tokens": 300.0}
    raw = write_raw(tmp_path / "raw.jsonl", StepModel("roofline", truth), noise=0.002, device=device,
                    steps=grid(graph=False))
    profile = fit_profile([raw])
    ridge = profile.derived.ridge_point
    assert ridge["device_flop_per_byte"] == pytest.approx(250.0)
    assert ridge["device_tokens"] == pytest.approx(500.0)  # fp32 weights: 4 bytes each, 2 FLOPs per token
    assert ridge["fitted_tokens"] == pytest.approx(300.0, rel=0.05)
    assert profile.software == {"torch": "2.11", "driver": "580"}


# --- bad input: each error says what is wrong and where ---------------------------------------------


def test_malformed_raw_file(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", exclusive_and_mixed, steps=grid(graph=False))
    with raw.open("a") as f:
        f.write("{not json\n")
    with pytest.raises(RawFormatError, match=r"raw.jsonl:\d+: not valid JSON"):
        fit_profile([raw])


@pytest.mark.parametrize("value", ["NaN", "-0.001"])
def test_nan_or_negative_time(tmp_path, value):
    raw = write_raw(tmp_path / "raw.jsonl", exclusive_and_mixed, steps=grid(graph=False))
    lines = raw.read_text().splitlines()
    lines[3] = lines[3].replace('"median_s": ', f'"median_s": {value}, "_old": ')
    d = json.loads(lines[3])
    d.pop("_old")
    lines[3] = json.dumps(d)
    raw.write_text("\n".join(lines) + "\n")
    with pytest.raises(RawFormatError, match="raw.jsonl:4: median_s must be a positive finite time"):
        fit_profile([raw])


def test_malformed_step_params(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", exclusive_and_mixed, steps=[([[0, 5]], [64], {})] + grid(graph=False))
    with pytest.raises(RawFormatError, match=r"raw.jsonl:2: params.prefill entries must be"):
        fit_profile([raw])


def test_no_step_points_and_no_files(tmp_path):
    raw = write_raw(tmp_path / "raw.jsonl", exclusive_and_mixed, steps=[])
    with pytest.raises(ValueError, match="no step-probe points"):
        fit_profile([raw])
    with pytest.raises(ValueError, match="no raw files given"):
        fit_profile([])
    with pytest.raises(RawFormatError, match="no such raw file"):
        fit_profile([tmp_path / "missing.jsonl"])


def test_too_few_points(tmp_path):
    steps = [([[q, 0]], [], {}) for q in (16, 32)] + [([], [64] * n, {}) for n in (1, 2)]
    raw = write_raw(tmp_path / "raw.jsonl", exclusive_and_mixed, steps=steps)
    with pytest.raises(ValueError, match="no model family could be fitted to 4 eager steps.*needs at least 5"):
        fit_profile([raw])


def test_mixed_devices_refused(tmp_path):
    a = write_raw(tmp_path / "a.jsonl", exclusive_and_mixed, steps=grid(graph=False))
    b = write_raw(tmp_path / "b.jsonl", exclusive_and_mixed, steps=grid(graph=False), device={"name": "other"})
    with pytest.raises(ValueError, match="device 'other' differs from 'synthetic-cpu'"):
        fit_profile([a, b])


def test_missing_family_is_reported_not_fatal(tmp_path):
    """A grid big enough for the baseline but not for every family keeps the others' notes."""
    steps = [([[q, 0]], [], {}) for q in (16, 32, 64, 128)] + [([], [64] * n, {}) for n in (1, 2, 4, 8)]
    raw = write_raw(tmp_path / "raw.jsonl", exclusive_and_mixed, noise=0.0, steps=steps)
    profile = fit_profile([raw])
    notes = {f.name: f.note for f in profile.families if f.cv_mape is None}
    assert "gradient_boosting" in notes and "needs at least 10" in notes["gradient_boosting"]
    assert profile.mixed is None and "no mixed steps" in profile.derived.beta_mb_fit["note"]
    assert np.isfinite(profile.exclusive["eager"].beta_d)
