"""Values derived from fitted step costs: exclusive alpha/beta, beta_MB(r), marginal costs, ridge point.

Torch-free and light (numpy + scikit-learn), shared by `fit.py` (our measurements) and `external.py`
(the paper's calibrations).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .crossover import decode_crossover
from .families import nonneg_lstsq
from .features import StepFeatures, step_features
from .predict import predict_step_time
from .profile import ExclusiveCosts, MixedCost, StepModel

SHARE_DECIMALS = 3  # decode shares closer than this are one grid column


@dataclass(frozen=True)
class MeasuredStep:
    """One measured step of the grid: its composition, features, median time and timing samples."""

    prefill: tuple[tuple[int, int], ...]
    decode: tuple[int, ...]
    features: StepFeatures
    time_s: float
    grid: str | None = None
    budget: int | None = None
    decode_share: float | None = None
    samples_s: tuple[float, ...] = ()  # the point's timing samples, which the bootstrap resamples


def affine_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """alpha, beta >= 0 of y = alpha + beta*x on relative errors; also R^2 (as the paper reports) and MAPE %."""
    (alpha, beta), _ = nonneg_lstsq([np.ones_like(x), x], [False, False], y)
    pred = alpha + beta * x
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return float(alpha), float(beta), r2, float(100 * np.mean(np.abs(pred - y) / y))


def _phase_fit(steps: list[MeasuredStep], phase: str, what: str) -> tuple[float, float, dict]:
    x = np.array([s.features.n_p if phase == "prefill" else s.features.n_d for s in steps])
    if np.unique(x).size < 2:
        raise ValueError(f"{what}: the {phase} alpha/beta need pure-{phase} steps at >= 2 token counts; "
                         f"found {np.unique(x).size} ({len(steps)} steps): measure the {phase} grid")
    alpha, beta, r2, err = affine_fit(x, np.array([s.time_s for s in steps]))
    return alpha, beta, {f"{phase}_points": len(steps), f"{phase}_r2": r2, f"{phase}_mape": err}


def exclusive_costs(steps: Sequence[MeasuredStep], what: str,
                    prefill_fallback: ExclusiveCosts | None = None) -> tuple[ExclusiveCosts, dict]:
    """The paper's alpha/beta from pure steps, each phase an affine fit in its token count.

    Prefill as the paper calibrates it: single-chunk prompts with no cache, when the grid has them at
    >= 2 sizes, else every pure-prefill step. Decode: every pure-decode step, whatever its context
    (the context range is reported; the step model carries the context dependence through s_d).
    Where a mode has no prefill steps (CUDA Graphs capture decode only) `prefill_fallback` gives them.
    """
    prefill = [s for s in steps if s.features.n_d == 0 and s.features.n_p > 0]
    fresh = [s for s in prefill if len(s.prefill) == 1 and s.prefill[0][1] == 0]
    if len({s.features.n_p for s in fresh}) >= 2:
        prefill = fresh
    decode = [s for s in steps if s.features.n_p == 0 and s.features.n_d > 0]
    info: dict = {}
    if prefill_fallback is not None and len({s.features.n_p for s in prefill}) < 2:
        alpha_p, beta_p = prefill_fallback.alpha_p, prefill_fallback.beta_p
        info["prefill_from"] = "eager (no prefill steps in this mode)"
    else:
        alpha_p, beta_p, more = _phase_fit(prefill, "prefill", what)
        info |= more
    alpha_d, beta_d, more = _phase_fit(decode, "decode", what)
    info |= more
    contexts = [c for s in decode for c in s.decode]
    info["decode_context_range"] = [min(contexts), max(contexts)]
    return ExclusiveCosts(alpha_p, beta_p, alpha_d, beta_d), info


def _step_share(s: MeasuredStep) -> tuple[int, float]:
    tokens = s.features.n_p + s.features.n_d
    budget = s.budget if s.budget is not None else int(tokens)
    share = s.decode_share if s.decode_share is not None else s.features.n_d / tokens
    return budget, round(float(share), SHARE_DECIMALS)


def _share_betas(groups: dict[float, list[MeasuredStep]], over_budgets: bool,
                 time_of) -> tuple[list[float], list[float], list[float]]:
    """(shares, beta(r), alpha(r)) from the steps of each share, timed by `time_of(step)`."""
    shares, betas, alphas = [], [], []
    for r in sorted(groups):
        tokens = np.array([s.features.n_p + s.features.n_d for s in groups[r]])
        times = np.array([time_of(s) for s in groups[r]])
        if over_budgets:
            if np.unique(tokens).size < 2:
                continue
            alpha, beta = _weighted_line(tokens, times, 1 / times**2)
            alphas.append(alpha)
            betas.append(beta)
        else:
            betas.append(float(np.mean(times / tokens)))
        shares.append(r)
    return shares, betas, alphas


def _weighted_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of weighted least squares y ≈ a + b·x (closed form; called per bootstrap resample)."""
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    slope = float(np.sum(w * (x - xm) * (y - ym)) / np.sum(w * (x - xm) ** 2))
    return float(ym - slope * xm), slope


def _quadratic(shares: list[float], betas: list[float]) -> tuple[float, float, float]:
    R = np.column_stack([np.ones(len(shares)), shares, np.square(shares)])
    return tuple(float(v) for v in np.linalg.lstsq(R, np.asarray(betas, dtype=float), rcond=None)[0])


def fit_beta_mb(steps: Sequence[MeasuredStep], costs: ExclusiveCosts, budget: int | None = None,
                model: StepModel | None = None) -> tuple[MixedCost | None, dict]:
    """beta_MB(r) = a + b*r + c*r^2 from the mixed grid; None (with the reason) where the grid cannot give it.

    The mixed grid runs steps of B tokens at decode share r (n_d = r*B decodes, the rest prefill). Steps
    tagged `grid == "mixed"` count, and so does any eager step holding both phases. With `budget`, only
    grid budgets <= it are used (an engine with that budget never runs a larger step).
    - Two or more budgets: at each share r, regress step time on its tokens, T = alpha(r) + beta(r)*n;
      beta(r) is the marginal cost per token and alpha_MB is the mean of the alpha(r). This keeps the
      per-step overhead out of beta_MB, as the paper's crossover (which has a separate alpha_MB) wants.
    - One budget: beta(r) = T/B, per-token cost including the amortised overhead, as the paper measured
      it (from throughput); alpha_MB is then unknown.
    Then a least-squares quadratic in r through the beta(r). It needs >= 3 shares. With `model`, the same
    is done on the step model's times of the same steps (`info["from_step_model"]`): a cross-check that
    smooths the noise of a grid with few budgets.
    """
    mixed = [s for s in steps if s.grid == "mixed" or (s.features.n_p > 0 and s.features.n_d > 0)]
    groups: dict[float, list[MeasuredStep]] = defaultdict(list)
    budgets = set()
    for s in mixed:
        b, r = _step_share(s)
        if budget is None or b <= budget:
            groups[r].append(s)
            budgets.add(b)
    if not budgets:
        return None, {"note": "no mixed steps" + (f" with budget <= {budget}" if budget is not None else "")}
    over_budgets = len(budgets) >= 2
    shares, betas, alphas = _share_betas(groups, over_budgets, lambda s: s.time_s)
    info = {"method": "slope over budgets" if over_budgets else "T/B at one budget", "budgets": sorted(budgets),
            "shares": shares, "beta_mb_points": betas, "alpha_mb_points": alphas}
    if len(shares) < 3:
        info["note"] = f"beta_MB(r) needs >= 3 decode shares; the mixed grid gives {len(shares)}"
        return None, info
    a, b, c = _quadratic(shares, betas)
    result = MixedCost(budget=int(budget if budget is not None else max(budgets)), a=a, b=b, c=c,
                       alpha=float(np.mean(alphas)) if alphas else None)
    if model is not None:
        m_shares, m_betas, _ = _share_betas(groups, over_budgets, lambda s: predict_step_time(model, s.features))
        if len(m_shares) >= 3:
            m = MixedCost(result.budget, *_quadratic(m_shares, m_betas))
            info["from_step_model"] = {"a": m.a, "b": m.b, "c": m.c, "beta_mb_points": m_betas,
                                       "decode_crossover": decode_crossover(m, costs).describe()}
    return result, info


def marginal_costs(model: StepModel, steps: Sequence[MeasuredStep]) -> dict:
    """dT/dn of a prefill and of a decode token under the step model, by central difference at the
    grid's median pure step: one fresh prompt of the median prefill size, and the median decode batch
    at the median decode context."""
    prefill = [s.features.n_p for s in steps if s.features.n_d == 0 and s.features.n_p > 0]
    decodes = [s for s in steps if s.features.n_p == 0 and s.features.n_d > 0]
    out: dict = {}
    if prefill:
        q = max(int(statistics.median(prefill)), 2)
        t = [predict_step_time(model, step_features([[n, 0]], [])) for n in (q - 1, q + 1)]
        out["prefill_s_per_token"] = (t[1] - t[0]) / 2
        out["prefill_at_tokens"] = q
    if decodes:
        n = max(int(statistics.median(s.features.n_d for s in decodes)), 2)
        ctx = int(statistics.median(c for s in decodes for c in s.decode))
        t = [predict_step_time(model, step_features([], [ctx] * m)) for m in (n - 1, n + 1)]
        out["decode_s_per_token"] = (t[1] - t[0]) / 2
        out["decode_at_batch"], out["decode_at_context"] = n, ctx
    return out


DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}


def _ceiling_ratio(flops: object, bandwidth: object) -> float | None:
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in (flops, bandwidth))
    return flops / bandwidth if ok else None


def ridge_point(device: dict, dtype: str | None, roofline: dict[str, float] | None,
                tokens: Sequence[float]) -> dict:
    """Tokens per step where the linear layers turn compute-bound: fitted (the roofline family's knee,
    reported when >= 2 measured token counts lie on each side of it) beside the device's peak FLOP/s over
    bandwidth. A linear layer of P weights at `dtype` does 2*P FLOPs per token and reads P*bytes: its
    arithmetic intensity at n tokens is 2n/bytes FLOP/byte, so the device ridge in tokens is
    (FLOP/byte)*bytes/2. The ceilings come from the fingerprint's `datasheet` (bf16_dense_tflops over
    hbm_tb_s, probes/peaks.json); absent ones leave None (CPUs).
    """
    out: dict = {"fitted_tokens": None, "device_flop_per_byte": None, "device_tokens": None}
    if roofline is not None and roofline.get("t_token", 0) > 0:
        knee, distinct = roofline["knee_tokens"], np.unique(tokens)
        below, above = int((distinct < knee).sum()), int((distinct > knee).sum())
        if below >= 2 and above >= 2:  # a bend the grid really shows, on both sides
            out["fitted_tokens"] = knee
        else:
            out["fitted_note"] = (f"no knee inside the measured {distinct[0]:g}..{distinct[-1]:g} tokens: "
                                  + ("weight-read bound throughout" if above < 2 else "compute-bound throughout"))
    sheet = device.get("datasheet") or {}
    width = DTYPE_BYTES.get(str(dtype).removeprefix("torch."), 2)
    ratio = _ceiling_ratio(sheet.get("bf16_dense_tflops"), sheet.get("hbm_tb_s"))
    if ratio is not None:
        out["device_flop_per_byte"] = ratio
        out["device_tokens"] = ratio * width / 2
        out["dtype_bytes"] = width
    return out
