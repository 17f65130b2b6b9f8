"""The paper's published calibration imports as a valid profile, with its values unchanged."""

import json
from pathlib import Path

import pytest

from phasecal.fitting.external import import_paper_calibration
from phasecal.fitting.features import step_features
from phasecal.fitting.predict import profile_step_time
from phasecal.fitting.profile import load_profile, save_profile

REFERENCE = Path(__file__).parents[2] / "results" / "reference"
CALIB = REFERENCE / "eb_paper_pd_calibration_Qwen3-8B_H200.json"
BETA_MB = REFERENCE / "eb_paper_beta_mb_Qwen3-8B_H200.json"


def test_paper_values_come_through(tmp_path):
    profile = load_profile(save_profile(import_paper_calibration(CALIB, BETA_MB), tmp_path / "p.json"))
    c = profile.exclusive["eager"]
    assert (c.alpha_p, c.beta_p, c.alpha_d, c.beta_d) == pytest.approx((1.2786e-3, 2.4853e-5, 8.9212e-3, 4.5865e-5),
                                                                       rel=1e-4)
    assert (profile.mixed.a, profile.mixed.b, profile.mixed.c) == (2.494e-5, 5.193e-5, 1.478e-5)
    assert profile.device["name"] == "NVIDIA H200" and profile.model == {"name": "Qwen/Qwen3-8B", "dtype": "float16"}
    assert profile.derived.exclusive_fit["eager"]["prefill_r2"] == pytest.approx(0.99681, abs=1e-5)
    # beta_MB(0) = 24.94 us is above beta_p = 24.85 us: by the paper's own coefficients a mixed token never
    # costs less than an exclusive one (the weakness DESIGN.md names): no blend crossing.
    blend = profile.derived.crossover.blend
    assert blend.crossings == () and blend.everywhere == "more"
    # No step model: steps are priced with the paper's phase-affine form.
    assert profile_step_time(profile, step_features([[1000, 0]], [])) == pytest.approx(1.2786e-3 + 1000 * 2.4853e-5,
                                                                                      rel=1e-4)


def test_committed_reference_profile_is_the_import():
    committed = json.loads((REFERENCE / "paper_H200_Qwen3-8B" / "profile.json").read_text())
    assert committed == import_paper_calibration(CALIB, BETA_MB).to_dict()


def test_missing_key_and_mismatched_pair(tmp_path):
    calib = json.loads(CALIB.read_text())
    del calib["beta_d"]
    bad = tmp_path / "calib.json"
    bad.write_text(json.dumps(calib))
    with pytest.raises(ValueError, match="key 'beta_d' is missing"):
        import_paper_calibration(bad, BETA_MB)
    beta = json.loads(BETA_MB.read_text()) | {"device_name": "NVIDIA RTX PRO 6000"}
    other = tmp_path / "beta.json"
    other.write_text(json.dumps(beta))
    with pytest.raises(ValueError, match="device_name 'NVIDIA RTX PRO 6000' differs"):
        import_paper_calibration(CALIB, other)
    beta = json.loads(BETA_MB.read_text())
    del beta["beta_mb_coefficients"]["c (s/tok)"]
    other.write_text(json.dumps(beta))
    with pytest.raises(ValueError, match="beta_mb_coefficients.c' is missing"):
        import_paper_calibration(CALIB, other)
    with pytest.raises(ValueError, match="no such calibration file"):
        import_paper_calibration(tmp_path / "none.json", BETA_MB)
