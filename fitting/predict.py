"""Step time from a fitted model: plain float arithmetic, fast enough for the simulator's inner loop.

Families (their parameters are the keys of `StepModel.params`):
- `phase_affine`: the paper's form, alpha_p + beta_p*n_p if the step has prefill, plus alpha_d + beta_d*n_d
  if it has decodes.
- `extended_linear`: intercept + has_p + has_d (per-phase overheads) + a coefficient per feature
  (n_p, n_d, s_p, s_d, n_seq, d_pad, p_mask); a mixed step pays the shared intercept once.
- `mixed_linear`: extended_linear plus `mix` * n_p*n_d/(n_p+n_d), a term that is zero on pure steps and
  bends the cost of a mixed step with its decode share r (it equals B*r*(1-r) at B = n_p + n_d tokens).
- `roofline`: extended_linear without the n_p and n_d terms, plus the linear layers at their roofline,
  t_token * max(n_p + n_d, knee_tokens): weight reads bound them below the knee, arithmetic above it.

extended_linear, mixed_linear and roofline may carry the KV spill term t_kv_spill * max(s_d - kv_cache_tokens, 0):
decode KV beyond the K tokens the last-level cache holds beside the weights costs t_kv_spill more per token
(fitting/kv_spill.py derives K from the device's cache, the model shape and dtype). A model without those two
parameters has no such term.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    """Intercept plus per-phase overheads (`has_p`, `has_d`) plus a coefficient per feature, plus `mix`, plus
    `solo` on a one-token step (its linear layers run as matrix-vector products, a path of their own), plus
    the KV spill term past `kv_cache_tokens` decode KV tokens."""
    t = params.get("intercept", 0.0)
    if f.n_p + f.n_d == 1:
        t += params.get("solo", 0.0)
    if f.n_p > 0:
        t += params.get("has_p", 0.0)
    if f.n_d > 0:
        t += params.get("has_d", 0.0)
        if f.n_p > 0:
            t += params.get("mix", 0.0) * f.n_p * f.n_d / (f.n_p + f.n_d)
    for name in FEATURE_NAMES:  # attribute reads: StepFeatures.vector() (astuple) costs more than the sum
        t += params.get(name, 0.0) * getattr(f, name)
    spill = params.get("t_kv_spill", 0.0)
    if spill and f.s_d > params["kv_cache_tokens"]:
        t += spill * (f.s_d - params["kv_cache_tokens"])
    return t


def roofline_time(params: dict[str, float], f: StepFeatures) -> float:
    """Linear terms for overheads and attention, plus the linear layers as t_token * max(tokens, knee)."""
    return linear_time(params, f) + params["t_token"] * max(f.n_p + f.n_d, params["knee_tokens"])


def _phase_affine(params: dict[str, float], f: StepFeatures) -> float:
    return phase_affine_time(ExclusiveCosts(**params), f)


@dataclass(frozen=True)
class Family:
    """A step-time model family: what it models, and how a fitted one prices a step (None: nonparametric,
    scored when fitting but never stored in a profile)."""

    name: str
    doc: str
    step_time: Callable[[dict[str, float], StepFeatures], float] | None


# The one registry of model families, in scoring order (fitting.families fits each of them).
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("phase_affine", "the paper's baseline: T = alpha_p + beta_p*n_p (if prefill) + alpha_d + beta_d*n_d "
                           "(if decode)", _phase_affine),
    Family("extended_linear", "shared intercept + per-phase overheads + n_p, n_d, s_p (prefill attention), "
                              "s_d (decode KV), n_seq, d_pad (padded decode keys), p_mask (masked prefill scores) [+ "
                              "t_kv_spill*max(s_d - kv_cache_tokens, 0): decode KV beyond what the last-level "
                              "cache holds beside the weights]", linear_time),
    Family("mixed_linear", "extended_linear + mix*n_p*n_d/(n_p+n_d): a mixed step's cost bent by its decode share",
           linear_time),
    Family("roofline", "overheads + attention terms + linear layers at t_token*max(n_p+n_d, knee_tokens) "
                       "[+ the KV spill term as in extended_linear]", roofline_time),
    Family("gradient_boosting", "nonparametric reference: gradient-boosted trees on log time (scores only, "
                                "not stored)", None),
)}
PARAMETRIC = tuple(name for name, f in FAMILIES.items() if f.step_time is not None)


def predict_step_time(model: StepModel, f: StepFeatures) -> float:
    """Seconds for a step with features `f` under a fitted step model of a known parametric family."""
    family = FAMILIES.get(model.family)
    if family is None or family.step_time is None:
        raise ValueError(f"unknown step-model family {model.family!r}: this phasecal knows {', '.join(PARAMETRIC)}")
    return family.step_time(model.params, f)


def profile_step_time(profile: Profile, f: StepFeatures) -> float:
    """Step time under a profile.

    A CUDA-Graph pure-decode step (what engines capture) uses the profile's graph step model when it has
    one; every other step its chosen step model; a profile without step models its exclusive costs.
    """
    if f.graph and f.n_p == 0 and profile.graph_step_model is not None:
        return predict_step_time(profile.graph_step_model, f)
    if profile.step_model is not None:
        return predict_step_time(profile.step_model, f)
    mode = "graph" if f.graph and "graph" in profile.exclusive else "eager"
    return phase_affine_time(profile.exclusive[mode], f)


@dataclass(slots=True)
class StepCoefficients:
    """A step model flattened to plain floats, for a scheduler that predicts steps in its inner loop.

    Every parametric family is a special case of one form: `intercept` + `has_p` (if n_p > 0) + `has_d`
    (if n_d > 0) + a coefficient per feature + `mix`*n_p*n_d/(n_p+n_d) (mixed steps) + `t_token`*max(n_p+n_d,
    `knee`) + `t_kv_spill`*max(s_d - `kv_cache_tokens`, 0). `time` evaluates it without building a
    StepFeatures or touching a dict (the dict lookups and the dataclass of `profile_step_time` cost more
    than the arithmetic).
    """

    intercept: float = 0.0
    has_p: float = 0.0
    has_d: float = 0.0
    n_p: float = 0.0
    n_d: float = 0.0
    s_p: float = 0.0
    s_d: float = 0.0
    n_seq: float = 0.0
    d_pad: float = 0.0
    p_mask: float = 0.0
    mix: float = 0.0
    t_token: float = 0.0
    knee: float = 0.0
    solo: float = 0.0
    t_kv_spill: float = 0.0
    kv_cache_tokens: float = 0.0

    def time(self, n_p: float, n_d: float, s_p: float, s_d: float, n_seq: float, d_pad: float = 0.0,
             p_mask: float = 0.0) -> float:
        """Seconds for a step with these features (as `predict_step_time` gives for the same model)."""
        t = (self.intercept + self.n_p * n_p + self.n_d * n_d + self.s_p * s_p + self.s_d * s_d
             + self.n_seq * n_seq + self.d_pad * d_pad + self.p_mask * p_mask)
        if n_p > 0:
            t += self.has_p
            if n_d > 0:
                t += self.has_d + self.mix * n_p * n_d / (n_p + n_d)
        elif n_d > 0:
            t += self.has_d
        if n_p + n_d == 1:
            t += self.solo
        if self.t_token:
            tokens = n_p + n_d
            t += self.t_token * (tokens if tokens > self.knee else self.knee)
        if self.t_kv_spill and s_d > self.kv_cache_tokens:
            t += self.t_kv_spill * (s_d - self.kv_cache_tokens)
        return t

    def scaled(self, factor: float) -> StepCoefficients:
        """The same model with every step `factor` times as long (the knee and K, counts of tokens, kept)."""
        kept = ("knee", "kv_cache_tokens")
        return StepCoefficients(**{k: getattr(self, k) * (1.0 if k in kept else factor) for k in self.__slots__})


def step_coefficients(profile: Profile, graph: bool = False) -> StepCoefficients:
    """The coefficients `profile_step_time` uses for a step (a pure-decode one when `graph`)."""
    model = profile.graph_step_model if graph and profile.graph_step_model is not None else profile.step_model
    if model is None:
        costs = profile.exclusive["graph" if graph and "graph" in profile.exclusive else "eager"]
        return StepCoefficients(has_p=costs.alpha_p, has_d=costs.alpha_d, n_p=costs.beta_p, n_d=costs.beta_d)
    if model.family == "phase_affine":
        p = model.params
        return StepCoefficients(has_p=p["alpha_p"], has_d=p["alpha_d"], n_p=p["beta_p"], n_d=p["beta_d"])
    if model.family not in PARAMETRIC:
        raise ValueError(f"unknown step-model family {model.family!r}: this phasecal knows {', '.join(PARAMETRIC)}")
    p = model.params
    names = ("intercept", "has_p", "has_d", *FEATURE_NAMES, "mix", "solo", "t_kv_spill", "kv_cache_tokens")
    coeffs = StepCoefficients(**{k: float(p.get(k, 0.0)) for k in names})
    if model.family == "roofline":
        coeffs.t_token, coeffs.knee = float(p["t_token"]), float(p["knee_tokens"])
    return coeffs

