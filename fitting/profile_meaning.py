"""What a profile must mean, beyond its form: a step model the simulator can run and that predicts a
positive, finite time (at most an hour) for every step on the profile's measured range.

`fitting/profile.py` checks the form of every field (types, presence); this module checks that the
numbers make sense together, so a profile with negative or astronomically large coefficients is
refused when loaded instead of giving negative TTFTs or an all-NaN table with exit 0.

The measured range is taken from the profile's fitted steps (largest prefill, decode count and decode
context), else from the exclusive fit's sizes, else from typical engine limits; the check evaluates the
model at both ends and the middle of that range, for pure prefill, pure decode and mixed steps, and at
every fitted step. Every family here is affine in the features within a phase combination, up to the
`mix` and roofline terms, so its extremes on the range lie at these corners; a KV spill term bends decode
time at s_d = kv_cache_tokens, so decode steps at that bend are checked too.
"""

from __future__ import annotations

import math

from .features import FEATURE_NAMES, REQUIRED_FEATURES, StepFeatures, step_features
from .predict import PARAMETRIC, phase_affine_time, predict_step_time
from .profile import Profile, ProfileError, StepModel

MAX_KV_TOKENS = 2**30  # the simulator keeps one Python int per KV block: 2^26 blocks of 16 is ~2.5 GiB
MAX_BUDGET = 10**7
MAX_STEP_S = 3600.0  # a step predicted to take longer than an hour is no device's measurement

_PHASE_AFFINE = ("alpha_p", "beta_p", "alpha_d", "beta_d")
_SPILL = ("t_kv_spill", "kv_cache_tokens")  # the KV spill term: both or neither (older profiles: neither)
_LINEAR = ("intercept", "has_p", "has_d", *FEATURE_NAMES, "solo", *_SPILL)
# Work an attention does beyond the scores it keeps: the fit keeps these >= 0. A negative one would price a
# step below zero at compositions no probe step below holds (spread decode contexts, a prefill between the
# sizes probed), so the loader refuses it.
WASTE_TERMS = {"d_pad": "padded decode keys", "p_mask": "masked prefill scores"}
# family -> (parameters it must have, parameters it may have)
FAMILY_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "phase_affine": (_PHASE_AFFINE, _PHASE_AFFINE),
    "extended_linear": ((), _LINEAR),
    "mixed_linear": ((), (*_LINEAR, "mix")),
    "roofline": (("t_token", "knee_tokens"), ("intercept", "has_p", "has_d", "s_p", "s_d", "n_seq", "d_pad", "p_mask",
                                              "solo", "t_token", "knee_tokens", *_SPILL)),
}
assert set(FAMILY_PARAMS) == set(PARAMETRIC)  # one entry per family of the registry (fitting/predict.py)


def _fail(where: str, field_path: str, msg: str):
    raise ProfileError(f"{where}: field '{field_path}' {msg}")


def measured_range(profile: Profile) -> tuple[int, int, int]:
    """(largest prefill tokens, largest decode count, largest per-decode context) the profile was fitted on."""
    pts = [p for p in profile.points if all(k in p for k in REQUIRED_FEATURES)]
    if pts:
        max_np = max(p["n_p"] for p in pts)
        max_nd = max(p["n_d"] for p in pts)
        ctx = [p["s_d"] / p["n_d"] for p in pts if p["n_d"] > 0]
        return max(1, int(max_np)), max(1, int(max_nd)), max(1, int(max(ctx, default=4096)))
    eager = profile.derived.exclusive_fit.get("eager")
    sizes = eager.get("prefill_sizes") if isinstance(eager, dict) else None
    counts = eager.get("decode_counts") if isinstance(eager, dict) else None

    def largest(values, default: int) -> int:
        ok = [v for v in values if isinstance(v, int | float) and math.isfinite(v) and v >= 1] \
            if isinstance(values, list) else []
        return int(min(max(ok), 10**7)) if ok else default

    return largest(sizes, 2048), largest(counts, 256), 4096


def probe_steps(profile: Profile, graph: bool = False) -> list[tuple[str, StepFeatures]]:
    """Steps at both ends and the middle of the measured range, plus every fitted step, described."""
    max_np, max_nd, max_ctx = measured_range(profile)
    qs = sorted({1, max(1, max_np // 2), max_np})
    ns = sorted({1, max(1, max_nd // 2), max_nd})
    ctxs = sorted({1, max_ctx})
    steps = []
    for n in ns:
        for ctx in ctxs:
            steps.append((f"a decode of {n} sequences at context {ctx}", step_features([], [ctx] * n, graph)))
    if not graph:
        for q in qs:
            steps.append((f"a prefill of {q} tokens", step_features([(q, 0)], [])))
            for n in (ns[0], ns[-1]):
                for ctx in ctxs:
                    steps.append((f"a mixed step of {q} prefill tokens and {n} decodes at context {ctx}",
                                  step_features([(q, 0)], [ctx] * n)))
    bends = {m.params["kv_cache_tokens"] for m in (profile.step_model, profile.graph_step_model)
             if m is not None and "kv_cache_tokens" in m.params}
    for n in ns:
        for ctx in sorted({round(k / n) for k in bends if 1 <= round(k / n) <= max_ctx}):
            steps.append((f"a decode of {n} sequences at context {ctx} (the KV spill bend)",
                          step_features([], [ctx] * n, graph)))
    for i, p in enumerate(profile.points):
        if all(k in p for k in REQUIRED_FEATURES) and bool(p.get("graph")) == graph:
            values = (float(p.get(k, 0.0)) for k in FEATURE_NAMES)  # d_pad, p_mask: 0 in profiles fitted before them
            steps.append((f"fitted step points[{i}]", StepFeatures(*values, graph=graph)))
    return steps


def check_step_model(model: StepModel, field_path: str, where: str) -> None:
    """The family is one the simulator runs, with the parameters that family needs and no others."""
    if model.family not in FAMILY_PARAMS:
        _fail(where, f"{field_path}.family", f"is {model.family!r}, not a family this phasecal runs "
                                             f"(known: {', '.join(sorted(FAMILY_PARAMS))})")
    required, allowed = FAMILY_PARAMS[model.family]
    for k in required:
        if k not in model.params:
            _fail(where, f"{field_path}.params.{k}", f"is missing (the {model.family} family needs it)")
    for k in model.params:
        if k not in allowed:
            _fail(where, f"{field_path}.params.{k}", f"is not a parameter of the {model.family} family "
                                                     f"(known: {', '.join(allowed)})")
    for k, what in WASTE_TERMS.items():
        v = model.params.get(k, 0.0)
        if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
            _fail(where, f"{field_path}.params.{k}", f"is {v!r}: {what} cost time, never less than 0 (the fit keeps "
                                                     "it >= 0): refit with `phasecal fit`")
    given = [k for k in _SPILL if k in model.params]
    if len(given) == 1:
        other = _SPILL[1 - _SPILL.index(given[0])]
        _fail(where, f"{field_path}.params.{other}", f"is missing: the KV spill term needs both {' and '.join(_SPILL)} "
                                                    "(or neither, for no spill term)")
    kv = model.params.get("kv_cache_tokens", 0.0)
    if isinstance(kv, bool) or not isinstance(kv, int | float) or not 0 <= kv <= MAX_KV_TOKENS:
        _fail(where, f"{field_path}.params.kv_cache_tokens", f"must be a number of tokens in [0, {MAX_KV_TOKENS:,}] "
                                                            f"(decode KV the last-level cache holds), got {kv!r}")


def _check_positive(where: str, field_path: str, time_of, steps) -> None:
    for desc, f in steps:
        t = time_of(f)
        if not (math.isfinite(t) and 0 < t <= MAX_STEP_S):
            _fail(where, field_path, f"predicts a step time of {t!r} s for {desc}, inside the profile's measured "
                                     f"range; a step takes a positive time of at most {MAX_STEP_S:g} s: refit with "
                                     "`phasecal fit`")


def check_meaning(profile: Profile, where: str) -> None:
    """Raise ProfileError naming the field if the profile cannot drive the simulator sensibly."""
    if profile.derived.kv_capacity_tokens is not None:
        kv = profile.derived.kv_capacity_tokens
        if isinstance(kv, bool) or not isinstance(kv, int | float) or not (1 <= kv <= MAX_KV_TOKENS) \
                or kv != int(kv):
            _fail(where, "derived.kv_capacity_tokens", f"must be a whole number of tokens in [1, {MAX_KV_TOKENS:,}] "
                                                       f"(leave it out for the simulator's default), got {kv!r}")
    if profile.mixed is not None:
        budget = profile.mixed.budget
        if isinstance(budget, bool) or not isinstance(budget, int | float) or budget != int(budget) \
                or not 1 <= budget <= MAX_BUDGET:
            _fail(where, "mixed.budget", f"must be a whole number of tokens in [1, {MAX_BUDGET:,}], got {budget!r}")
        for r in (i / 100 for i in range(101)):
            if not (math.isfinite(profile.mixed.beta_mb(r)) and profile.mixed.beta_mb(r) > 0):
                _fail(where, "mixed", f"gives beta_MB(r={r:.2f}) = {profile.mixed.beta_mb(r)!r} s/token; a mixed "
                                      "step's cost per token is positive and finite: refit with `phasecal fit`")
    for name in ("step_model", "graph_step_model"):
        model = getattr(profile, name)
        if model is not None:
            check_step_model(model, name, where)
            _check_positive(where, f"{name}.params", lambda f, m=model: predict_step_time(m, f),
                            probe_steps(profile, graph=name == "graph_step_model"))
    for mode, costs in profile.exclusive.items():
        if not (costs.alpha_d > 0 and math.isfinite(costs.alpha_p / costs.alpha_d)):
            _fail(where, f"exclusive.{mode}.alpha_d", f"must be positive and not vanishing beside alpha_p (the EB "
                                                     f"threshold math divides by it), got {costs.alpha_d!r}")
        _check_positive(where, f"exclusive.{mode}", lambda f, c=costs: phase_affine_time(c, f),
                        probe_steps(profile, graph=True)[:1] + [("a prefill of 1 token", step_features([(1, 0)], []))])
