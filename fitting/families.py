"""Step-time model families and how each is fitted (scikit-learn; numbers out, never a pickle).

Every parametric family is linear in its coefficients once its shape is fixed, and is fitted by
non-negative least squares (`scipy.optimize.nnls`) on relative errors: each row is divided
by its measured time, so a 1 ms step weighs as much as a 100 ms one, which is what MAPE scores.
Coefficients that physics says are costs (overheads, per-token, per-KV-token times) are kept >= 0;
the few that may take either sign (`mix`) enter as a pair of non-negative columns, +x and -x.
Predictions of the parametric families go through `predict.predict_step_time`, the very code the
scheduler runs, so what is scored is what is used.

The nonparametric reference (gradient boosting on log time) shows what the parametric forms leave on
the table; it lives only in memory, and a profile keeps its scores, not the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar, nnls
from sklearn.ensemble import GradientBoostingRegressor

from .features import FEATURE_NAMES, StepFeatures
from .predict import FAMILIES as REGISTRY
from .predict import PARAMETRIC, predict_step_time
from .profile import StepModel

Predictor = Callable[[Sequence[StepFeatures]], np.ndarray]


@dataclass(frozen=True)
class LinearForm:
    """A family linear in its coefficients: parameter name -> design column, and which may be negative."""

    name: str
    columns: dict[str, str]
    signed: tuple[str, ...] = ()


# `solo`: a one-token step, whose linear layers run as matrix-vector products (BLAS GEMV, not GEMM): on
# the 2-core AMD EPYC VM a 1x256 @ 256x768 product takes 21 us against 37 us at two rows, off the line
# through larger batches. Signed, so that a device without that path fits it to about 0.
EXTENDED_COLUMNS = {c: c for c in ("intercept", "has_p", "has_d", *FEATURE_NAMES, "solo")}
LINEAR_FORMS = {
    "phase_affine": LinearForm(
        "phase_affine", {"alpha_p": "has_p", "beta_p": "n_p", "alpha_d": "has_d", "beta_d": "n_d"}),
    "extended_linear": LinearForm("extended_linear", EXTENDED_COLUMNS, signed=("solo",)),
    "mixed_linear": LinearForm("mixed_linear", {**EXTENDED_COLUMNS, "mix": "mix"}, signed=("mix", "solo")),
}
ROOFLINE_COLUMNS = {c: c for c in ("intercept", "has_p", "has_d", "s_p", "s_d", "n_seq", "d_pad", "p_mask", "solo")}
# Families that take the KV spill term t_kv_spill * max(s_d - K, 0) where the header gives K (kv_spill.py);
# phase_affine stays the paper's form.
SPILL_FAMILIES = ("extended_linear", "mixed_linear", "roofline")
# The onset K of the spill is fitted, from half to four times the K the header's cache size gives, in steps
# of 2^(1/4): the share of a shared cache a process holds moves with its neighbours, and the replacement
# policy does not evict the way a hard knee at the full size would. On the 2-core AMD EPYC VM (derived K
# 4,096) three quiet default runs fitted best near 6,144-8,192 (roofline k-fold 3.1/2.4/2.8% there against
# 5.2/3.4/3.9% at 4,096).
SPILL_ONSET_SCALES = tuple(2.0 ** (i / 4) for i in range(-4, 9))
FAMILIES = tuple(REGISTRY)  # the registry's names, in scoring order (predict.FAMILIES)
FAMILY_DOCS = {name: f.doc for name, f in REGISTRY.items()}
assert set(LINEAR_FORMS) | {"roofline", "gradient_boosting"} == set(FAMILIES), "a registered family has no fitter"


@dataclass
class FittedFamily:
    """A family fitted to data: its coefficients (empty for the nonparametric one) and a predictor."""

    name: str
    params: dict[str, float]
    predict: Predictor

    @property
    def parametric(self) -> bool:
        return self.name in PARAMETRIC


def design_columns(feats: Sequence[StepFeatures], kv_cache_tokens: float | None = None) -> dict[str, np.ndarray]:
    """Every column a family may use, one entry per step; `kv_spill` = max(s_d − K, 0) where K is given."""
    raw = np.array([f.vector() for f in feats], dtype=float).reshape(len(feats), len(FEATURE_NAMES))
    cols = {name: raw[:, i] for i, name in enumerate(FEATURE_NAMES)}
    n_p, n_d = cols["n_p"], cols["n_d"]
    cols["intercept"] = np.ones(len(feats))
    cols["has_p"] = (n_p > 0).astype(float)
    cols["has_d"] = (n_d > 0).astype(float)
    total = n_p + n_d
    cols["mix"] = np.divide(n_p * n_d, total, out=np.zeros_like(total), where=total > 0)
    cols["solo"] = (total == 1).astype(float)
    if kv_cache_tokens is not None:
        cols["kv_spill"] = np.maximum(cols["s_d"] - kv_cache_tokens, 0.0)
    return cols


def spill_params(values: dict[str, float], coef: float, kv_cache_tokens: float | None) -> dict[str, float]:
    """`values` with the KV spill term (its coefficient and K) where the fit had one (kv_spill.py)."""
    if kv_cache_tokens is None:
        return values
    return values | {"t_kv_spill": float(coef), "kv_cache_tokens": float(kv_cache_tokens)}


def n_coefficients(name: str, kv_cache_tokens: float | None = None) -> int:
    """How many numbers a family fits (the knee counts for the roofline; the KV spill term where K is given)."""
    spill = int(kv_cache_tokens is not None and name in SPILL_FAMILIES)
    if name in LINEAR_FORMS:
        return len(LINEAR_FORMS[name].columns) + len(LINEAR_FORMS[name].signed) + spill
    if name == "roofline":
        return len(ROOFLINE_COLUMNS) + 2 + spill
    return 9  # gradient boosting: not coefficients, but fewer points than this teach trees nothing


def check_data(name: str, feats: Sequence[StepFeatures], y: np.ndarray,
               kv_cache_tokens: float | None = None) -> np.ndarray:
    """Validate step times and the point count for family `name`; the times as a float array."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or len(y) != len(feats):
        raise ValueError(f"{len(feats)} steps but {y.size} times: give one measured time per step")
    bad = np.flatnonzero(~np.isfinite(y) | (y <= 0))
    if bad.size:
        raise ValueError(f"step times must be positive finite seconds; step {bad[0]} has {y[bad[0]]!r} "
                         f"({bad.size} such): drop or re-measure those points")
    needed = n_coefficients(name, kv_cache_tokens) + 1
    if len(y) < needed:
        raise ValueError(f"family {name!r} fits {needed - 1} coefficients and needs at least {needed} "
                         f"step points; got {len(y)}: measure a larger grid")
    return y


def nonneg_lstsq(columns: list[np.ndarray], signed: list[bool], y: np.ndarray) -> tuple[np.ndarray, float]:
    """Coefficients >= 0 (or free where `signed`) minimising sum((X@c - y)/y)^2; also that relative SSE."""
    X = np.column_stack(columns)
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0  # a column absent from this data keeps coefficient 0
    Xs = X / scale
    neg = [i for i, s in enumerate(signed) if s]
    Xs = np.column_stack([Xs, -Xs[:, neg]]) if neg else Xs
    Xw, yw = Xs / y[:, None], np.ones_like(y)
    solution, _ = nnls(Xw, yw)  # scipy's active-set NNLS: sklearn's positive=True costs ~10x more per fit
    coef = solution[: X.shape[1]].copy()
    coef[neg] -= solution[X.shape[1]:]
    resid = Xw @ solution - yw
    return coef / scale, float(resid @ resid)


def _parametric_predictor(name: str, params: dict[str, float]) -> Predictor:
    model = StepModel(name, params)
    return lambda feats: np.array([predict_step_time(model, f) for f in feats])


def _spill_column(name: str, cols: dict[str, np.ndarray], kv_cache_tokens: float | None) -> list[np.ndarray]:
    return [cols["kv_spill"]] if kv_cache_tokens is not None and name in SPILL_FAMILIES else []


def fit_linear(name: str, feats: Sequence[StepFeatures], y: np.ndarray,
               kv_cache_tokens: float | None = None) -> FittedFamily:
    """A linear form by NNLS; with K, plus the KV spill column (a cost, kept >= 0)."""
    form = LINEAR_FORMS[name]
    cols = design_columns(feats, kv_cache_tokens)
    params = list(form.columns)
    extra = _spill_column(name, cols, kv_cache_tokens)
    coef, _ = nonneg_lstsq([*(cols[form.columns[p]] for p in params), *extra],
                           [p in form.signed for p in params] + [False] * len(extra), y)
    values = {p: float(c) for p, c in zip(params, coef[: len(params)], strict=True)}
    values = spill_params(values, coef[-1], kv_cache_tokens) if extra else values
    return FittedFamily(name, values, _parametric_predictor(name, values))


def roofline_knees(tokens: np.ndarray, n_grid: int = 48) -> np.ndarray:
    """Candidate knees: none (0), a geometric grid across the measured token counts, and the counts themselves."""
    lo, hi = max(float(tokens.min()), 1.0), max(float(tokens.max()), 2.0)
    seen = np.unique(tokens)
    if seen.size > 64:
        seen = np.quantile(seen, np.linspace(0, 1, 64))
    return np.unique(np.concatenate([[0.0], np.geomspace(lo, hi, n_grid), seen]))


def fit_roofline_at(feats: Sequence[StepFeatures], y: np.ndarray, knee: float, kv_cache_tokens: float | None = None,
                    cols: dict[str, np.ndarray] | None = None) -> tuple[dict[str, float], float]:
    """The roofline family with its knee fixed (then linear): coefficients and relative SSE. `cols`: the
    design columns of `feats` (with K's spill column), where the caller has them already."""
    cols = design_columns(feats, kv_cache_tokens) if cols is None else cols
    tokens = cols["n_p"] + cols["n_d"]
    names = list(ROOFLINE_COLUMNS)
    extra = _spill_column("roofline", cols, kv_cache_tokens)
    coef, sse = nonneg_lstsq([*(cols[c] for c in names), *extra, np.maximum(tokens, knee)],
                             [c == "solo" for c in names] + [False] * (len(extra) + 1), y)
    values = {p: float(c) for p, c in zip(names, coef[: len(names)], strict=True)}
    values["t_token"] = float(coef[-1])
    values["knee_tokens"] = knee if values["t_token"] > 0 else 0.0
    return (spill_params(values, coef[len(names)], kv_cache_tokens) if extra else values), sse


def fit_roofline(feats: Sequence[StepFeatures], y: np.ndarray, kv_cache_tokens: float | None = None) -> FittedFamily:
    """For a fixed knee the model is linear: search the knee over a grid of candidates, then refine it
    between the neighbours of the best candidate (bounded scalar minimisation of the relative error)."""
    cols = design_columns(feats, kv_cache_tokens)

    def sse_at(knee: float) -> float:
        return fit_roofline_at(feats, y, knee, kv_cache_tokens, cols)[1]

    knees = roofline_knees(cols["n_p"] + cols["n_d"])
    sse = np.array([sse_at(k) for k in knees])
    i = int(np.argmin(sse))
    lo, hi = knees[max(i - 1, 0)], knees[min(i + 1, knees.size - 1)]
    knee = float(knees[i])
    if hi > lo:
        best = minimize_scalar(sse_at, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3 * max(hi - lo, 1.0)})
        if best.fun < sse[i]:
            knee = float(best.x)
    values, _ = fit_roofline_at(feats, y, knee, kv_cache_tokens, cols)
    return FittedFamily("roofline", values, _parametric_predictor("roofline", values))


def fit_gradient_boosting(feats: Sequence[StepFeatures], y: np.ndarray) -> FittedFamily:
    """Trees on log time, so relative errors count alike; small enough to fit a grid in well under a second."""
    X = np.column_stack([design_columns(feats)[c] for c in FEATURE_NAMES])
    gb = GradientBoostingRegressor(n_estimators=150, max_depth=3, learning_rate=0.1, random_state=0)
    gb.fit(X, np.log(y))

    def predict(new: Sequence[StepFeatures]) -> np.ndarray:
        Xn = np.column_stack([design_columns(new)[c] for c in FEATURE_NAMES])
        return np.exp(gb.predict(Xn))

    return FittedFamily("gradient_boosting", {}, predict)


def _fit_at(name: str, feats: Sequence[StepFeatures], y: np.ndarray, kv_cache_tokens: float | None) -> FittedFamily:
    if name in LINEAR_FORMS:
        return fit_linear(name, feats, y, kv_cache_tokens)
    if name == "roofline":
        return fit_roofline(feats, y, kv_cache_tokens)
    return fit_gradient_boosting(feats, y)


def fit_spill_onset(name: str, feats: Sequence[StepFeatures], y: np.ndarray, kv_cache_tokens: float) -> FittedFamily:
    """Family `name` with its KV spill onset searched over SPILL_ONSET_SCALES times the cache-derived K, the
    fit of least relative SSE kept (the derived K itself wins a tie, e.g. when no step spills)."""
    best: tuple[float, FittedFamily] | None = None
    for scale in sorted(SPILL_ONSET_SCALES, key=lambda s: abs(math.log(s))):
        fitted = _fit_at(name, feats, y, kv_cache_tokens * scale)
        sse = float(np.sum(((fitted.predict(feats) - y) / y) ** 2))
        # better, not solver noise between equals: on exact synthetic times the fits land ~1e-10 apart (a
        # relative residual of ~1e-6 a point); a measured grid's SSE is ~0.1, where the relative term decides
        if best is None or best[0] - sse > 1e-6 * best[0] + 1e-9:
            best = (sse, fitted)
    return best[1]


def fit_family(name: str, feats: Sequence[StepFeatures], y: Sequence[float] | np.ndarray,
               kv_cache_tokens: float | None = None) -> FittedFamily:
    """Fit family `name` to steps `feats` with measured times `y` (seconds); ValueError on bad or too few data.

    `kv_cache_tokens` (K, from `kv_spill.kv_spill_derivation`): the families of SPILL_FAMILIES add the term
    t_kv_spill * max(s_d - K', 0), the onset K' fitted around K (`fit_spill_onset`); None fits them without it.
    """
    y = check_data(name, feats, y, kv_cache_tokens)
    if kv_cache_tokens is not None and name in SPILL_FAMILIES:
        fitted = fit_spill_onset(name, feats, y, kv_cache_tokens)
    else:
        fitted = _fit_at(name, feats, y, kv_cache_tokens)
    assert all(math.isfinite(v) for v in fitted.params.values()), fitted.params
    return fitted
