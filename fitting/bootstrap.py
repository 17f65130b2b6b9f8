"""Uncertainty on every derived number: bootstrap over the stored per-point timing samples.

One resample draws, for every measured point, its timing samples with replacement and takes their median
again; everything the profile derives is then refitted on those medians: the exclusive α/β, β_MB(r) and
the chosen step model (a roofline keeps the knee of the full fit, and a KV spill term the onset K of the
full fit, so each refit is one least squares).
Percentile intervals of the refits bound the profile's numbers; `decide` pushes each refit through the
EB threshold math of a workload to bound θ₀, θ*, k̂, N̂* and Δ(N), and calls the decision.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from .derive import MeasuredStep, exclusive_costs, fit_beta_mb
from .derived_values import Interval, Uncertainty, WorkloadDecision
from .families import LINEAR_FORMS, fit_linear, fit_roofline_at
from .hazard import fit_hazard
from .profile import ExclusiveCosts, MixedCost, Profile, StepModel
from .threshold_types import WorkloadStats
from .thresholds import derive_thresholds

RESAMPLES = 200
LEVEL = 0.9
COST_KEYS = ("alpha_p", "beta_p", "alpha_d", "beta_d")
MIXED_KEYS = ("a", "b", "c", "alpha")
THRESHOLD_KEYS = ("alpha_p", "beta_p", "alpha_d", "beta_d", "theta0", "theta_star", "n_star_clt", "n_star_closed",
                  "n", "k_hat", "crossover_delta")


def resampled_steps(steps: Sequence[MeasuredStep], rng: np.random.Generator) -> list[MeasuredStep]:
    """The steps with each median retaken over its own samples drawn with replacement."""
    out = []
    for s in steps:
        if len(s.samples_s) < 2:
            out.append(s)
            continue
        draw = rng.choice(np.asarray(s.samples_s), size=len(s.samples_s), replace=True)
        out.append(dataclasses.replace(s, time_s=float(np.median(draw))))
    return out


def _refit_model(model: StepModel, steps: Sequence[MeasuredStep]) -> dict[str, float]:
    feats, y = [s.features for s in steps], np.array([s.time_s for s in steps])
    kv_cache_tokens = model.params.get("kv_cache_tokens")  # the full fit's onset, kept like the knee
    if model.family in LINEAR_FORMS:
        return fit_linear(model.family, feats, y, kv_cache_tokens).params
    if model.family == "roofline":
        return fit_roofline_at(feats, y, model.params["knee_tokens"], kv_cache_tokens)[0]
    raise ValueError(f"no bootstrap refit for step-model family {model.family!r}")


def refit_replica(steps: Sequence[MeasuredStep], model: StepModel | None, budget: int | None) -> dict[str, float]:
    """One resample's fitted numbers, flat: α/β, β_MB's a, b, c, α_MB, and `model.<param>`."""
    costs, _ = exclusive_costs(steps, "bootstrap resample")
    out = {k: getattr(costs, k) for k in COST_KEYS}
    mixed, _ = fit_beta_mb(steps, costs, budget)
    if mixed is not None:
        out |= {k: getattr(mixed, k) for k in MIXED_KEYS if getattr(mixed, k) is not None}
    if model is not None:
        out |= {f"model.{k}": v for k, v in _refit_model(model, steps).items()}
    return out


def percentile_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """(low, high) percentiles holding `level` of the values between them."""
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(np.asarray(values, dtype=float), [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_fit(steps: Sequence[MeasuredStep], model: StepModel | None, budget: int | None = None,
                  resamples: int = RESAMPLES, seed: int = 0) -> Uncertainty:
    """Resample the points' samples `resamples` times and refit; intervals of every fitted number."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    replicas = [refit_replica(resampled_steps(steps, rng), model, budget) for _ in range(resamples)]
    keys = sorted(set.intersection(*(set(r) for r in replicas)))
    intervals = {k: percentile_interval([r[k] for r in replicas]) for k in keys}
    return Uncertainty("resample each point's samples, retake medians, refit", resamples, LEVEL,
                       time.perf_counter() - started, intervals, replicas)


def replica_profile(profile: Profile, replica: dict[str, float]) -> Profile:
    """The profile with one resample's exclusive costs, β_MB and step-model coefficients."""
    exclusive = dict(profile.exclusive)
    exclusive["eager"] = ExclusiveCosts(*(replica[k] for k in COST_KEYS))
    mixed = profile.mixed
    if mixed is not None and all(k in replica for k in "abc"):
        mixed = MixedCost(mixed.budget, replica["a"], replica["b"], replica["c"], replica.get("alpha"))
    model = profile.step_model
    params = {k.removeprefix("model."): v for k, v in replica.items() if k.startswith("model.")}
    if model is not None and params:
        model = StepModel(model.family, params)
    return dataclasses.replace(profile, exclusive=exclusive, mixed=mixed, step_model=model)


def replicas_fit_model(profile: Profile) -> bool:
    """Whether the stored replicas were refitted for this profile's step model (the same coefficients)."""
    model = set(profile.step_model.params) if profile.step_model is not None else set()
    return all({k.removeprefix("model.") for k in r if k.startswith("model.")} == model
               for r in profile.derived.uncertainty.replicas)


def verdict(point_decision: str, delta_interval: Interval | None) -> str:
    """"EB" or "MB" when Δ's interval lies on one side of 0, "too close to call" when it spans 0."""
    if delta_interval is None:
        return point_decision
    lo, hi = delta_interval
    if lo <= 0 <= hi:
        return "too close to call"
    return "EB" if lo > 0 else "MB"


def decide(profile: Profile, stats: WorkloadStats, **kwargs) -> WorkloadDecision:
    """The thresholds of `stats` under `profile`, with bootstrap intervals where the profile has replicas."""
    hazard = fit_hazard(stats.output_lengths) if stats.output_lengths else None
    point = derive_thresholds(profile, stats, hazard=hazard, **kwargs)
    unc = profile.derived.uncertainty
    if unc is None or not unc.replicas or not replicas_fit_model(profile):
        return WorkloadDecision(point, point.decision)
    values: dict[str, list[float]] = {k: [] for k in THRESHOLD_KEYS}
    for i, replica in enumerate(unc.replicas):
        try:
            th = derive_thresholds(replica_profile(profile, replica), stats, hazard=hazard, exact_k=False, **kwargs)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            raise ValueError(f"bootstrap replica {i} of the profile does not give thresholds ({type(e).__name__}: "
                             f"{e}); refit the profile with `phasecal fit`") from None
        for k in THRESHOLD_KEYS:
            v = getattr(th, k)
            if v is not None:
                values[k].append(float(v))
    intervals = {k: percentile_interval(v, unc.level) for k, v in values.items() if v}
    return WorkloadDecision(point, verdict(point.decision, intervals.get("crossover_delta")), intervals,
                            len(unc.replicas))
