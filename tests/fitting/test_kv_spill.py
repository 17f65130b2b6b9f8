"""The KV spill term: K from a run header, a planted spill recovered, old profiles unchanged, a plain-float step."""

import dis
import json
import random
from pathlib import Path

import numpy as np
import pytest
from synthetic_steps import grid, write_raw

from phasecal.fitting.evaluate import kfold_predictions, mape
from phasecal.fitting.explain import kv_spill_line
from phasecal.fitting.families import SPILL_FAMILIES, fit_family
from phasecal.fitting.features import StepFeatures, step_features
from phasecal.fitting.fit import fit_profile
from phasecal.fitting.kv_spill import kv_spill_derivation
from phasecal.fitting.predict import StepCoefficients, predict_step_time, profile_step_time, step_coefficients
from phasecal.fitting.profile import ExclusiveCosts, Profile, ProfileError, StepModel, load_profile

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "results" / "cpu-intel-r-xeon-r-processor" / "tiny" / "profile.json"
TINY = json.loads((ROOT / "kernels" / "models.json").read_text())["models"]["tiny"] | {"name": "tiny"}
EPYC = {"name": "AMD EPYC", "kind": "cpu", "l2_bytes": 1 << 20, "l3_bytes": 32 << 20, "versions": {"torch": "x"}}
K = 4096.0  # (32 MiB L3 - 16 MiB of fp32 tiny weights) / 4,096 B of KV per token
BASE = {"intercept": 2e-4, "has_p": 3e-4, "has_d": 5e-4, "n_p": 2e-6, "n_d": 4e-6, "s_p": 1e-9, "s_d": 2e-8,
        "n_seq": 1e-5, "d_pad": 2e-8, "p_mask": 5e-10, "solo": -1e-4}
TRUTHS = {
    "extended_linear": BASE,
    "mixed_linear": BASE | {"mix": -1e-6},
    "roofline": {k: v for k, v in BASE.items() if k not in ("n_p", "n_d")} | {"n_seq": 1e-6, "solo": -5e-5,
                                                                          "t_token": 4e-6, "knee_tokens": 300.0},
}
SPILL = {"t_kv_spill": 4e-8, "kv_cache_tokens": K}  # three times the in-cache s_d cost past K
FEATS = [step_features(p, d) for p, d, tags in grid(graph=False)]


def test_k_from_the_epyc_header_is_4096_tokens():
    d = kv_spill_derivation(EPYC, TINY, "float32")
    assert d["kv_cache_tokens"] == K and d["cache_level"] == "l3"
    assert (d["llc_bytes"], d["weight_bytes"], d["kv_bytes_per_token"]) == (32 << 20, 16 << 20, 4096)
    assert "4096 decode KV tokens" in d["note"]


def test_k_on_a_gpu_reads_l2_and_bf16_halves_every_size():
    gpu = {"name": "g", "kind": "cuda", "l2_bytes": 50 << 20, "l3_bytes": 1 << 40}
    d = kv_spill_derivation(gpu, TINY, "torch.bfloat16")
    assert d["cache_level"] == "l2" and d["kv_cache_tokens"] == ((50 << 20) - (8 << 20)) // 2048


def test_no_k_where_weights_fill_the_cache_or_the_header_lacks_a_size():
    qwen8b = json.loads((ROOT / "kernels" / "models.json").read_text())["models"]["Qwen3-8B"] | {"name": "Qwen3-8B"}
    h200 = {"name": "NVIDIA H200", "kind": "cuda", "l2_bytes": 60 << 20}
    d = kv_spill_derivation(h200, qwen8b, "bfloat16")
    assert d["kv_cache_tokens"] is None and "fill the L2" in d["note"] and "already has" in d["note"]
    assert kv_spill_derivation({"name": "c", "kind": "cpu"}, TINY, "float32")["note"].endswith(
        "lacks the device's cache size")
    assert "dtype 'int3'" in kv_spill_derivation(EPYC, TINY, "int3")["note"]
    assert "model shape" in kv_spill_derivation(EPYC, {"name": "no-such-model"}, "float32")["note"]


def planted(family: str, noise: float, seed: int = 0) -> np.ndarray:
    rng = random.Random(seed)
    model = StepModel(family, TRUTHS[family] | SPILL)
    return np.array([predict_step_time(model, f) * (1 + rng.gauss(0, noise)) for f in FEATS])


@pytest.mark.parametrize("family", SPILL_FAMILIES)
def test_a_planted_spill_is_recovered(family):
    y = planted(family, noise=2e-4)
    fitted = fit_family(family, FEATS, y, kv_cache_tokens=K)
    for name, true in (TRUTHS[family] | SPILL).items():
        # mix bends the mixed steps only, a tenth of the grid: 0.02% noise moves it up to ~1.1% over seeds 0-3
        rel = 0.02 if name == "mix" else 0.01
        assert fitted.params[name] == pytest.approx(true, rel=rel, abs=1e-12), name
    without = mape(kfold_predictions(family, FEATS, y), y)
    with_spill = mape(kfold_predictions(family, FEATS, y, kv_cache_tokens=K), y)
    assert with_spill < 0.1 < without  # the bend is invisible to the s_d column alone


@pytest.mark.parametrize("scale", [2 ** -0.5, 2 ** 0.5, 2.0])
def test_the_spill_onset_is_fitted_around_the_derived_k(scale):
    true = StepModel("roofline", TRUTHS["roofline"] | SPILL | {"kv_cache_tokens": K * scale})
    y = np.array([predict_step_time(true, f) * (1 + random.Random(i).gauss(0, 2e-4)) for i, f in enumerate(FEATS)])
    fitted = fit_family("roofline", FEATS, y, kv_cache_tokens=K)
    assert fitted.params["kv_cache_tokens"] == pytest.approx(K * scale)
    assert fitted.params["t_kv_spill"] == pytest.approx(4e-8, rel=0.01)
    line = kv_spill_line({"note": "K = 4096"}, StepModel("roofline", fitted.params))
    assert f"K' = {K * scale:,.0f} tokens" in line


def test_no_spill_in_the_data_fits_a_zero_coefficient():
    y = np.array([predict_step_time(StepModel("roofline", TRUTHS["roofline"]), f) for f in FEATS])
    params = fit_family("roofline", FEATS, y, kv_cache_tokens=K).params
    assert params["t_kv_spill"] == pytest.approx(0.0, abs=1e-13) and params["kv_cache_tokens"] == K
    assert "t_kv_spill" not in fit_family("phase_affine", FEATS, y, kv_cache_tokens=K).params


def test_fit_profile_takes_k_from_the_header_and_bootstraps_with_it(tmp_path):
    steps = grid(graph=False)

    def timed(prefill, decode, tags):
        return predict_step_time(StepModel("roofline", TRUTHS["roofline"] | SPILL), step_features(prefill, decode))

    raw = write_raw(tmp_path / "raw.jsonl", timed, noise=0.002, device=EPYC, steps=steps)  # model "tiny"
    profile = fit_profile([raw], resamples=20)
    assert profile.derived.kv_spill["kv_cache_tokens"] == K
    assert profile.step_model.params["kv_cache_tokens"] == K
    assert profile.step_model.params["t_kv_spill"] == pytest.approx(4e-8, rel=0.05)
    assert {r["model.kv_cache_tokens"] for r in profile.derived.uncertainty.replicas} == {K}
    assert min(s.cv_mape for s in profile.families if s.cv_mape is not None) < 1.0


def test_a_committed_profile_without_the_term_predicts_as_when_it_was_fitted():
    profile = load_profile(COMMITTED)
    assert "t_kv_spill" not in profile.step_model.params
    for p in profile.points:
        f = StepFeatures(p["n_p"], p["n_d"], p["s_p"], p["s_d"], p["n_seq"], p.get("d_pad", 0.0), p.get("p_mask", 0.0),
                         p["graph"])
        assert profile_step_time(profile, f) == pytest.approx(p["fitted_s"], rel=1e-12)


def spill_profile(params: dict) -> Profile:
    return Profile(device={"name": "t"}, model={"name": "t"},
                   exclusive={"eager": ExclusiveCosts(1e-3, 1e-5, 2e-3, 3e-5)},
                   step_model=StepModel("roofline", params))


def test_step_coefficients_price_the_spill_in_plain_floats():
    prof = spill_profile(TRUTHS["roofline"] | SPILL)
    coeffs = step_coefficients(prof)
    for f in FEATS:
        assert coeffs.time(f.n_p, f.n_d, f.s_p, f.s_d, f.n_seq, f.d_pad, f.p_mask) == pytest.approx(
            profile_step_time(prof, f), rel=1e-12)
    # the scheduler's inner loop: float arithmetic and attribute reads only, no call and no container built
    ops = {i.opname for i in dis.get_instructions(StepCoefficients.time)}
    assert not {op for op in ops if op.startswith(("CALL", "PRECALL", "BUILD_", "LIST_", "DICT_"))}, ops


@pytest.mark.parametrize("params, field", [
    ({"t_kv_spill": 1e-9}, "step_model.params.kv_cache_tokens"),
    ({"kv_cache_tokens": 4096.0}, "step_model.params.t_kv_spill"),
    ({"t_kv_spill": 1e-9, "kv_cache_tokens": -1.0}, "step_model.params.kv_cache_tokens"),
])
def test_half_a_spill_term_is_refused_naming_the_field(tmp_path, params, field):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(spill_profile(TRUTHS["roofline"] | params).to_dict()))
    with pytest.raises(ProfileError, match=f"field '{field}'"):
        load_profile(path)
