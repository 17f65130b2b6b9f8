"""The communication term of a tensor-parallel profile (torch-free).

A TP step sums each rank's partial o_proj and down outputs: two all-reduces per layer, each of
tokens x hidden x dtype bytes. Its cost is modelled as comm(T) = 2L * (latency + T*H*b * s_per_byte),
and found two ways, reported side by side:
- `allreduce_probe`: latency and s/byte fitted to the all-reduce probe's own points (eager, relative
  least squares), with the busbw that slope means (nccl-tests' convention);
- `comm_term`: the same two coefficients fitted to the all-reduce time rank 0 spent inside each TP
  step (`extra.comm_s`, measured where the backend makes it exact: gloo).
The step-cost families fitted on TP steps absorb this term into their per-token coefficients (it is
tokens times a constant, so it cannot be told apart from compute by step times alone). Splitting it
off, `composed` predicts each held-out TP step as the chosen family fitted on compute time
(step time - comm_s, k-fold) plus the comm term predicted from the all-reduce probe alone, and scores it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phasecal.records import PointRecord, RunHeader

from .evaluate import kfold_predictions, mape
from .families import nonneg_lstsq
from .features import step_features

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def _affine(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) >= 0 of y = a + b*x, fitted on relative errors."""
    coef, _ = nonneg_lstsq([np.ones_like(x), x], [False, False], y)
    return float(coef[0]), float(coef[1])


def _probe_fit(points: list[PointRecord], world: int) -> dict | None:
    eager = [p for p in points if p.probe == "allreduce" and not p.params.get("graph")]
    if len(eager) < 2:
        return None
    x = np.array([p.params["bytes"] for p in eager], dtype=float)
    latency, s_per_byte = _affine(x, np.array([p.median_s for p in eager]))
    largest = max(eager, key=lambda p: p.params["bytes"])
    algbw = 1 / s_per_byte / 1e9 if s_per_byte > 0 else None
    return {"points": len(eager), "latency_s": latency, "s_per_byte": s_per_byte,
            "busbw_gb_s_of_slope": None if algbw is None else algbw * 2 * (world - 1) / world,
            "largest_bytes": largest.params["bytes"], "largest_busbw_gb_s": largest.extra.get("busbw_gb_s")}


def tp_summary(header: RunHeader, points: Sequence[PointRecord], family: str, k: int = 5) -> dict | None:
    """The TP block of a profile (None for a one-device run): degree, interconnect, the comm term fitted
    two ways, and the composed prediction's k-fold MAPE. See the module docstring."""
    world = header.settings.get("tp", 1)
    if not isinstance(world, int) or world < 2:
        return None
    model = header.model or {}
    layers, hidden = model.get("num_layers"), model.get("hidden_size")
    nbytes = DTYPE_BYTES.get(str(header.settings.get("dtype")))
    out: dict = {"degree": world, "interconnect": header.settings.get("interconnect"),
                 "allreduces_per_step": None if layers is None else 2 * layers,
                 "allreduce_bytes_per_token": None if hidden is None or nbytes is None else hidden * nbytes}
    out["allreduce_probe"] = probe = _probe_fit(list(points), world)
    steps = [p for p in points if p.probe == "step" and "comm_s" in p.extra and not p.params.get("graph")]
    if None in (layers, hidden, nbytes) or len(steps) < 3:
        out["comm_term"] = {"note": "no steps with a measured all-reduce time (comm_s): the comm term is not split"}
        return out
    n_ar = 2 * layers
    tokens = np.array([sum(q for q, _ in p.params["prefill"]) + len(p.params["decode"]) for p in steps], float)
    comm = np.array([max(p.extra["comm_s"], 1e-9) for p in steps])
    latency, s_per_byte = _affine(np.full_like(tokens, hidden * nbytes) * tokens, comm / n_ar)
    total = np.array([p.median_s for p in steps])
    out["comm_term"] = {"points": len(steps), "latency_s": latency, "s_per_byte": s_per_byte,
                        "share_of_step_median": float(np.median(comm / total))}
    if probe is not None:
        feats = [step_features(p.params["prefill"], p.params["decode"]) for p in steps]
        comm_probe = n_ar * (probe["latency_s"] + tokens * hidden * nbytes * probe["s_per_byte"])
        compute = np.maximum(total - comm, 1e-9)
        try:
            composed = kfold_predictions(family, feats, compute, k=k) + comm_probe
            out["composed"] = {"family": family, "cv_mape": mape(composed, total),
                               "comm_from_probe_mape": mape(comm_probe, comm)}
        except ValueError as e:
            out["composed"] = {"note": f"not scored: {e}"}
    return out


def tp_line(tp: dict) -> str:
    """One line for `phasecal show`: degree and interconnect, the comm term beside the probe, the composed MAPE."""
    def coef(d: dict | None) -> str:
        if not d or "s_per_byte" not in d:
            return (d or {}).get("note", "not measured")
        return f"{d['latency_s'] * 1e6:.1f} us + {d['s_per_byte'] * 1e12:.2f} ps/byte per all-reduce"

    composed = tp.get("composed") or {}
    mape_text = f"{composed['cv_mape']:.1f}%" if "cv_mape" in composed else composed.get("note", "not scored")
    return (f"{tp['degree']} ranks, {tp.get('interconnect')}; comm term in steps: {coef(tp.get('comm_term'))}; "
            f"all-reduce probe: {coef(tp.get('allreduce_probe'))}; compute + probe comm k-fold MAPE {mape_text}")
