"""Step time from a fitted model: plain float arithmetic, fast enough for the simulator's inner loop."""

from __future__ import annotations

from .features import FEATURE_NAMES, StepFeatures
from .profile import ExclusiveCosts, Profile, StepModel


def phase_affine_time(costs: ExclusiveCosts, f: StepFeatures) -> float:
    """The paper's exclusive-step form; a mixed step pays both phases (their overheads add)."""
    t = 0.0
    if f.n_p > 0:
        t += costs.alpha_p + costs.beta_p * f.n_p
    if f.n_d > 0:
        t += costs.alpha_d + costs.beta_d * f.n_d
    return t


def linear_time(params: dict[str, float], f: StepFeatures) -> float:
    """Intercept plus per-phase overheads (`has_p`, `has_d`) plus a coefficient per feature."""
    t = params.get("intercept", 0.0)
    if f.n_p > 0:
        t += params.get("has_p", 0.0)
    if f.n_d > 0:
        t += params.get("has_d", 0.0)
    for name, value in zip(FEATURE_NAMES, f.vector(), strict=True):
        t += params.get(name, 0.0) * value
    return t


def predict_step_time(model: StepModel, f: StepFeatures) -> float:
    """Seconds for a step with features `f` under a fitted step model of a known family."""
    if model.family == "phase_affine":
        return phase_affine_time(ExclusiveCosts(**model.params), f)
    if model.family in LINEAR_FAMILIES:
        return linear_time(model.params, f)
    raise ValueError(f"unknown step-model family {model.family!r}: this phasecal knows "
                     f"phase_affine, {', '.join(sorted(LINEAR_FAMILIES))}")


def profile_step_time(profile: Profile, f: StepFeatures) -> float:
    """Step time under a profile: its chosen step model, else its exclusive (eager or graph) costs."""
    if profile.step_model is not None:
        return predict_step_time(profile.step_model, f)
    mode = "graph" if f.graph and "graph" in profile.exclusive else "eager"
    return phase_affine_time(profile.exclusive[mode], f)


LINEAR_FAMILIES = {"extended_linear"}
