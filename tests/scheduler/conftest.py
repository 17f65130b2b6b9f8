"""Profiles and helpers shared by the scheduler tests."""

import pytest

from phasecal.fitting.profile import ExclusiveCosts, MixedCost, Profile, StepModel

# The authors' H200 calibration of Qwen3-8B and their β_MB fit (reproduce/calibration/ of eb-vllm).
H200_COSTS = ExclusiveCosts(alpha_p=1.2786e-3, beta_p=2.4853e-5, alpha_d=8.9212e-3, beta_d=4.5865e-5)
H200_MIXED = MixedCost(budget=8192, a=2.494e-5, b=5.193e-5, c=1.478e-5)


@pytest.fixture
def h200_profile() -> Profile:
    return Profile(device={"name": "NVIDIA H200"}, model={"name": "Qwen3-8B"}, exclusive={"eager": H200_COSTS},
                   mixed=H200_MIXED)


@pytest.fixture
def linear_profile() -> Profile:
    """A step model with attention terms (s_p, s_d), so step time depends on contexts, not only counts."""
    params = {"intercept": 2e-4, "has_p": 5e-4, "has_d": 3e-3, "n_p": 2e-5, "n_d": 4e-5, "s_p": 1e-9, "s_d": 2e-8,
              "n_seq": 1e-6, "d_pad": 4e-8, "p_mask": 5e-10}
    return Profile(device={"name": "test"}, model={"name": "tiny"}, exclusive={"eager": H200_COSTS},
                   step_model=StepModel("extended_linear", params), mixed=H200_MIXED)
