"""The output-length hazard h(t) = p₀ + η·t that the EB thresholds take from a workload's output lengths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HazardFit:
    """h(t) = p0 + eta·t fitted to observed output lengths; `n_samples` used, `method` how.

    `eta_fitted` is the slope the least squares found before any clamping (None without a fit): its sign
    says whether the increasing-hazard correction Δθ applies (> 0) or the constant-hazard refit was used (< 0).
    """

    p0: float
    eta: float
    n_samples: int
    method: str
    eta_fitted: float | None = None


def fit_hazard(output_lengths: Sequence[int], min_samples: int = 50) -> HazardFit:
    """Survivor-weighted least squares of the empirical hazard ĥ(t) = #{O=t}/#{O≥t} on h(t) = p₀ + η·t.

    As the authors' code: fitted over t from the 5th to the 95th percentile (skips the zero-hazard
    prefix of bounded distributions and the noisy tail), points with fewer than 5 survivors dropped,
    weights = survivors, p₀ floored at 1/mean (the memoryless rate with the same mean, which keeps
    Δθ ∝ η/p₀² finite). Where the fitted slope is negative (a hazard that falls with length) the line's
    intercept means nothing for a constant-hazard model, so p₀ is refitted as a constant hazard: the
    geometric maximum-likelihood rate 1/mean, η = 0. Too few samples → the same CFR estimate.
    """
    o = np.asarray(output_lengths, dtype=np.int64)
    if o.size == 0:
        raise ValueError("hazard fit needs at least one observed output length")
    if (o < 1).any():
        raise ValueError(f"output lengths must be ≥ 1 token, got {int(o.min())}")
    p0_floor = 1.0 / float(o.mean())
    if o.size < min_samples:
        return HazardFit(p0_floor, 0.0, int(o.size), "cfr-mean (too few samples)")
    srt = np.sort(o)
    t_start = max(int(srt[int(o.size * 0.05)]), 1)
    t_end = max(int(srt[min(int(o.size * 0.95), o.size - 1)]), t_start + 10)
    counts = np.bincount(o)
    survivors = np.cumsum(counts[::-1])[::-1]  # survivors[t] = #{O ≥ t}
    t = np.arange(t_start, min(t_end, counts.size - 1) + 1)
    n_t = survivors[t]
    keep = n_t >= 5
    t, n_t, d_t = t[keep], n_t[keep].astype(float), counts[t[keep]].astype(float)
    if n_t.sum() < 10 or t.size < 2:
        return HazardFit(p0_floor, 0.0, int(o.size), "cfr-mean (degenerate support)")
    h = d_t / n_t
    w = n_t
    sw, swt, swt2 = w.sum(), (w * t).sum(), (w * t * t).sum()
    swh, swth = (w * h).sum(), (w * t * h).sum()
    det = sw * swt2 - swt * swt
    if abs(det) < 1e-10:
        return HazardFit(p0_floor, 0.0, int(o.size), "cfr-mean (singular fit)")
    p0 = (swt2 * swh - swt * swth) / det
    eta = (sw * swth - swt * swh) / det
    if eta < 0:
        return HazardFit(p0_floor, 0.0, int(o.size), "constant hazard (fitted slope < 0: refit p₀ = 1/mean)",
                         float(eta))
    return HazardFit(max(float(p0), p0_floor), float(eta), int(o.size), "survivor-weighted WLS", float(eta))
