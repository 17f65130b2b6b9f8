"""Held-out error of a model family: k-fold over grid points, extrapolation to the largest steps, and
mixed steps with their decode share left out.

MAPE is in percent. k-fold: the points are shuffled with a fixed seed and split in k folds; each fold
is predicted by the family fitted on the others. Extrapolation: the family is fitted on the steps whose
token count (n_p + n_d) is among the smallest 80% of the distinct token counts, and predicts the rest;
the cut moves down until at least MIN_EXTRAPOLATION_POINTS steps are held out. Leave one share out: the
mixed steps of each decode share are predicted by the family fitted on every other step, which says how
well interference at a share never measured is predicted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import KFold

from .families import check_data, fit_family
from .features import StepFeatures


def mape(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Mean absolute percentage error of `predicted` against `measured` (percent)."""
    measured = np.asarray(measured, dtype=float)
    return float(100.0 * np.mean(np.abs(np.asarray(predicted, dtype=float) - measured) / measured))


def kfold_predictions(name: str, feats: Sequence[StepFeatures], y: np.ndarray, k: int = 5,
                      seed: int = 0, kv_cache_tokens: float | None = None) -> np.ndarray:
    """Each step's time predicted by family `name` fitted on the folds that do not hold it (`kv_cache_tokens`:
    K of the KV spill term, as for `fit_family`)."""
    y = check_data(name, feats, y, kv_cache_tokens)
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2 folds, got {k}")
    held = np.empty_like(y)
    for train, test in KFold(n_splits=min(k, len(y)), shuffle=True, random_state=seed).split(y):
        fitted = fit_family(name, [feats[i] for i in train], y[train], kv_cache_tokens)
        held[test] = fitted.predict([feats[i] for i in test])
    return held


MIN_EXTRAPOLATION_POINTS = 5


def extrapolation_split(feats: Sequence[StepFeatures], fraction: float = 0.8,
                        min_test: int = MIN_EXTRAPOLATION_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): steps with the smallest `fraction` of distinct token counts, and the rest,
    the cut lowered through the distinct counts until the rest holds at least `min_test` steps."""
    tokens = np.array([f.n_p + f.n_d for f in feats])
    distinct = np.unique(tokens)
    n_train = int(np.ceil(fraction * distinct.size))
    while n_train > 1 and int((tokens > distinct[n_train - 1]).sum()) < min_test:
        n_train -= 1
    if n_train >= distinct.size:
        return np.arange(len(feats)), np.array([], dtype=int)
    cut = distinct[n_train - 1]
    return np.flatnonzero(tokens <= cut), np.flatnonzero(tokens > cut)


def extrapolation_mape(name: str, feats: Sequence[StepFeatures], y: np.ndarray, fraction: float = 0.8,
                       kv_cache_tokens: float | None = None) -> float:
    """MAPE on the largest steps of family `name` fitted on the smallest ones; ValueError if it cannot be done."""
    y = check_data(name, feats, y, kv_cache_tokens)
    train, test = extrapolation_split(feats, fraction)
    if test.size == 0:
        raise ValueError("extrapolation needs at least two distinct token counts among the steps")
    fitted = fit_family(name, [feats[i] for i in train], y[train], kv_cache_tokens)
    return mape(fitted.predict([feats[i] for i in test]), y[test])


def leave_group_out(name: str, feats: Sequence[StepFeatures], y: np.ndarray,
                    groups: Sequence[float | None], kv_cache_tokens: float | None = None) -> dict[float, float]:
    """MAPE of each group's steps predicted by family `name` fitted on every step outside that group.

    `groups` labels each step (None: never held out), e.g. the decode share of each mixed step. A group
    whose removal leaves too few points for the family is left out of the result.
    """
    y = check_data(name, feats, y, kv_cache_tokens)
    out = {}
    for g in sorted({g for g in groups if g is not None}):
        test = np.array([x == g for x in groups])
        try:
            fitted = fit_family(name, [f for f, t in zip(feats, test, strict=True) if not t], y[~test],
                                kv_cache_tokens)
        except ValueError:
            continue
        out[g] = mape(fitted.predict([f for f, t in zip(feats, test, strict=True) if t]), y[test])
    return out
