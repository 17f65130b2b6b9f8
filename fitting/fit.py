"""Fit a profile from raw step-probe files: every family scored, the best parametric one chosen, values derived."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from phasecal.point_params import StepParams
from phasecal.records import PointRecord, RunHeader, read_raw

from .bootstrap import RESAMPLES, bootstrap_fit
from .crossover import crossover_report
from .derive import (
    MeasuredStep,
    exclusive_costs,
    fit_beta_mb,
    marginal_costs,
    ridge_point,
)
from .derived_values import Derived
from .evaluate import extrapolation_mape, extrapolation_split, kfold_predictions, leave_group_out, mape
from .families import FAMILIES, FAMILY_DOCS, PARAMETRIC, FittedFamily, fit_family
from .features import FEATURE_DOCS, step_features
from .kv_spill import kv_spill_derivation
from .profile import FamilyScore, Profile, StepModel
from .tp import tp_summary

SOFTWARE_KEYS = ("cuda_runtime", "cudnn", "driver", "os")  # beside the fingerprint's `versions`


def measured_step(rec: PointRecord, where: str) -> MeasuredStep:
    """A step-probe point as a MeasuredStep; ValueError naming the point if its composition is malformed."""
    p = StepParams.from_dict(rec.params, f"{where}: params")
    return MeasuredStep(p.prefill, p.decode, step_features(p.prefill, p.decode, p.graph), rec.median_s,
                        p.grid, p.budget, p.decode_share, tuple(rec.samples_s))


def read_steps(raw_paths: Sequence[Path]) -> tuple[RunHeader, list[MeasuredStep], list[dict]]:
    """The step points of all raw files, the header of the first file holding some, and per-file provenance.

    Files from different devices or models are refused: a profile describes one device running one model.
    """
    if not raw_paths:
        raise ValueError("no raw files given: pass the raw.jsonl written by `phasecal run` or the step probe")
    header: RunHeader | None = None
    steps: list[MeasuredStep] = []
    sources = []
    for path in map(Path, raw_paths):
        head, points = read_raw(path)
        steps_here = [p for p in points if p.probe == "step"]
        mine = [p for p in steps_here if "flagged" not in p.extra]  # e.g. a graph that failed its check
        sources.append({"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                        "command": head.command, "started": head.started, "step_points": len(mine),
                        "throttled_step_points": sum(p.throttled for p in mine),
                        "flagged_step_points_left_out": len(steps_here) - len(mine)})
        if not mine:
            continue
        if header is None:
            header, header_path = head, path
        for label, a, b in (("device", header.device.get("name"), head.device.get("name")),
                            ("model", (header.model or {}).get("name"), (head.model or {}).get("name"))):
            if a != b:
                raise ValueError(f"{path}: {label} {b!r} differs from {a!r} of {header_path}: "
                                 "fit one device and one model per profile")
        steps += [measured_step(p, f"{path}: point {p.key!r}") for p in mine]
    if header is None:
        raise ValueError(f"no step-probe points (probe == 'step') in {', '.join(map(str, raw_paths))}: "
                         "run the step probe (`phasecal run` or `phasecal probe step`) first")
    return header, steps, sources


def score_families(steps: Sequence[MeasuredStep], k: int = 5,
                   kv_cache_tokens: float | None = None) -> tuple[list[FamilyScore], dict, dict]:
    """Each family's k-fold and extrapolation MAPE, its fit on all steps, and its held-out predictions.

    A family the data cannot support (too few points) is kept in the table with its reason and no score.
    `kv_cache_tokens`: K of the KV spill term (kv_spill.py), None for none.
    """
    feats = [s.features for s in steps]
    y = np.array([s.time_s for s in steps])
    extrap_points = int(extrapolation_split(feats)[1].size)
    scores, fitted, heldout = [], {}, {}
    for name in FAMILIES:
        note = ""
        try:
            fitted[name] = fit_family(name, feats, y, kv_cache_tokens)
            heldout[name] = kfold_predictions(name, feats, y, k=k, kv_cache_tokens=kv_cache_tokens)
            cv = mape(heldout[name], y)
        except ValueError as e:
            fitted.pop(name, None)
            scores.append(FamilyScore(name, None, None, len(y), name in PARAMETRIC, note=str(e)))
            continue
        try:
            extrap = extrapolation_mape(name, feats, y, kv_cache_tokens=kv_cache_tokens)
        except ValueError as e:
            extrap, note = None, f"no extrapolation score: {e}"
        scores.append(FamilyScore(name, cv, extrap, len(y), name in PARAMETRIC, fitted[name].params, note,
                                  extrap_points if extrap is not None else None))
    return scores, fitted, heldout


def mixed_share_heldout(name: str, steps: Sequence[MeasuredStep], kv_cache_tokens: float | None = None) -> dict:
    """Family `name`'s MAPE on the mixed steps of each decode share 0 < r < 1, fitted without that share."""
    groups = [round(s.decode_share, 3) if s.grid == "mixed" and s.decode_share is not None
              and 0 < s.decode_share < 1 else None for s in steps]
    by_share = leave_group_out(name, [s.features for s in steps], np.array([s.time_s for s in steps]), groups,
                               kv_cache_tokens)
    return {"family": name, "by_share": {f"{r:g}": v for r, v in by_share.items()},
            "mean": float(np.mean(list(by_share.values()))) if by_share else None}


def _point_row(s: MeasuredStep, fitted: FittedFamily, held: float | None) -> dict:
    f = s.features
    return {"n_p": f.n_p, "n_d": f.n_d, "s_p": f.s_p, "s_d": f.s_d, "n_seq": f.n_seq, "d_pad": f.d_pad,
            "p_mask": f.p_mask,
            "graph": f.graph, "grid": s.grid, "measured_s": s.time_s, "fitted_s": float(fitted.predict([f])[0])} | (
            {"heldout_s": held} if held is not None else {})


def fit_profile(raw_paths: list[Path], budget: int | None = None, command: str = "", k: int = 5,
                resamples: int = RESAMPLES) -> Profile:
    """Fit a device profile from raw step-probe files (ValueError with the reason if the data cannot give one).

    Eager steps are scored with every family; the best parametric one by k-fold MAPE becomes the step
    model. CUDA-Graph steps get the chosen family fitted on them alone (`graph_step_model`) and their own
    exclusive alpha/beta. `budget` is the engine's token budget B for beta_MB(r) (see `derive.fit_beta_mb`).
    `resamples` bootstrap refits bound every fitted number (`bootstrap.bootstrap_fit`).
    """
    if budget is not None and budget < 1:
        raise ValueError(f"budget must be a positive number of tokens, got {budget}")
    header, steps, sources = read_steps(raw_paths)
    eager = [s for s in steps if not s.features.graph]
    graph = [s for s in steps if s.features.graph]
    if not eager:
        raise ValueError("every step point ran as a CUDA Graph: the step model needs eager steps too")

    model = dict(header.model) if header.model else {"name": "unknown"}
    model.setdefault("name", "unknown")
    dtype = model.get("dtype") or header.settings.get("dtype")
    spill = kv_spill_derivation(header.device, model, dtype)
    kv_tokens = spill["kv_cache_tokens"]
    scores, fitted, heldout = score_families(eager, k, kv_tokens)
    ranked = [s for s in scores if s.parametric and s.cv_mape is not None]
    if not ranked:
        reasons = "; ".join(f"{s.name}: {s.note}" for s in scores if s.parametric)
        raise ValueError(f"no model family could be fitted to {len(eager)} eager steps ({reasons})")
    chosen = min(ranked, key=lambda s: s.cv_mape).name
    step_model = StepModel(chosen, dict(fitted[chosen].params))

    costs, eager_info = exclusive_costs(eager, "eager steps")
    exclusive = {"eager": costs}
    derived = Derived(chosen_family=chosen, family_docs={n: FAMILY_DOCS[n] for n in FAMILIES},
                      feature_docs=dict(FEATURE_DOCS), exclusive_fit={"eager": eager_info}, kv_spill=spill)
    graph_model = graph_fit = None
    if graph:
        g_feats, g_times = [s.features for s in graph], np.array([s.time_s for s in graph])
        try:
            exclusive["graph"], derived.exclusive_fit["graph"] = exclusive_costs(graph, "graph steps", costs)
            graph_fit = fit_family(chosen, g_feats, g_times, kv_tokens)
            graph_model = StepModel(chosen, dict(graph_fit.params))
            derived.graph_fit = {"family": chosen, "points": len(graph),
                                 "cv_mape": mape(kfold_predictions(chosen, g_feats, g_times, k=k,
                                                                   kv_cache_tokens=kv_tokens), g_times)}
        except ValueError as e:
            derived.graph_fit = {"note": f"graph steps not modelled: {e}"}

    mixed, derived.beta_mb_fit = fit_beta_mb(eager, costs, budget, step_model)
    if mixed is not None:
        derived.crossover = crossover_report(mixed, costs, "step slopes")
    derived.marginal_cost = marginal_costs(step_model, eager)
    derived.mixed_heldout = mixed_share_heldout(chosen, eager, kv_tokens)
    derived.uncertainty = bootstrap_fit(eager, step_model, budget, resamples=resamples)
    derived.tensor_parallel = tp_summary(header, [p for path in raw_paths for p in read_raw(path)[1]], chosen, k)
    roofline = fitted["roofline"].params if "roofline" in fitted else None
    derived.ridge_point = ridge_point(header.device, dtype, roofline,
                                      [s.features.n_p + s.features.n_d for s in eager])

    points = [_point_row(s, fitted[chosen], float(h)) for s, h in zip(eager, heldout[chosen], strict=True)]
    if graph_fit is not None:  # graph steps are plotted in-sample: their grid is too small to hold out
        points += [_point_row(s, graph_fit, None) for s in graph]
    device = dict(header.device)
    software = dict(device.get("versions") or {}) | {k: device[k] for k in SOFTWARE_KEYS if k in device}
    return Profile(
        device=device, model=model, exclusive=exclusive, step_model=step_model, mixed=mixed,
        families=scores, derived=derived, software=software, probe_settings=dict(header.settings),
        provenance={"raw_files": sources, "command": command, "fitted_at": _now(), "k_folds": k,
                    "steps": {"eager": len(eager), "graph": len(graph)}},
        graph_step_model=graph_model, points=points,
    )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
