"""Import calibrations measured elsewhere as profiles, so the scheduler can run them beside ours.

The paper (arXiv 2606.00516, github.com/weifang231/eb-vllm, `reproduce/calibration/`) publishes per
model and GPU an exclusive-step calibration (alpha_p, beta_p, alpha_d, beta_d from vLLM engine runs)
and the MB effective marginal cost beta_MB(r) = a + b*r + c*r^2 (fitted to inverse engine throughput).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from phasecal.schemas import check

from .crossover import crossover_report
from .derived_values import Derived
from .profile import ExclusiveCosts, MixedCost, Profile

CALIBRATION_KEYS = ("alpha_p", "beta_p", "alpha_d", "beta_d", "model", "device_name", "dtype",
                    "prefill_r2", "decode_r2")
# vLLM v1's default max_num_batched_tokens for `vllm serve` on GPUs with >= 70 GiB; the paper's files
# do not state the budget their beta_MB was measured at.
PAPER_BUDGET = 8192


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such {what} file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: {what} is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: {what} must be a JSON object")
    return data


def _number(path: Path, key: str, value: object, nonneg: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{path}: key '{key}' must be a finite number, got {value!r}")
    if nonneg and value < 0:
        raise ValueError(f"{path}: key '{key}' is a cost and must not be negative, got {value!r}")
    return float(value)


def _beta_mb_coefficients(path: Path, data: dict) -> tuple[float, float, float]:
    """(a, b, c) from `beta_mb_coefficients`, whose keys read 'a (s/tok)' in the paper's files (or plain 'a')."""
    coeffs = data.get("beta_mb_coefficients")
    if not isinstance(coeffs, dict):
        raise ValueError(f"{path}: key 'beta_mb_coefficients' (an object with a, b, c in s/token) is missing")
    by_letter = {k.split()[0]: v for k, v in coeffs.items()}
    missing = [k for k in "abc" if k not in by_letter]
    if missing:
        raise ValueError(f"{path}: key 'beta_mb_coefficients.{missing[0]}' is missing (have {sorted(coeffs)})")
    return tuple(_number(path, f"beta_mb_coefficients.{k}", by_letter[k], nonneg=False) for k in "abc")


def _source(path: Path) -> dict:
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def import_paper_calibration(calib_json: str | Path, beta_mb_json: str | Path,
                             budget: int = PAPER_BUDGET) -> Profile:
    """A profile from the paper's calibration JSON and its beta_MB JSON (ValueError naming a missing/bad key).

    It carries exclusive eager costs and beta_MB(r), no step model: the scheduler then prices steps with
    the paper's phase-affine form. `budget` labels beta_MB (the paper's files do not state it).
    """
    calib_json, beta_mb_json = Path(calib_json), Path(beta_mb_json)
    calib = _read_json(calib_json, "calibration")
    for key in CALIBRATION_KEYS:
        if key not in calib:
            raise ValueError(f"{calib_json}: key '{key}' is missing (a paper calibration has "
                             f"{', '.join(CALIBRATION_KEYS)})")
    costs = ExclusiveCosts(*(_number(calib_json, k, calib[k]) for k in ("alpha_p", "beta_p", "alpha_d", "beta_d")))
    beta = _read_json(beta_mb_json, "beta_MB")
    for key in ("model", "device_name"):
        if key in beta and beta[key] != calib[key]:
            raise ValueError(f"{beta_mb_json}: {key} {beta[key]!r} differs from {calib[key]!r} in {calib_json}: "
                             "pair the calibration and beta_MB of the same model and GPU")
    a, b, c = _beta_mb_coefficients(beta_mb_json, beta)
    check(calib, "paper_pd_calibration", str(calib_json))  # the shipped schemas: what the checks above leave
    check(beta, "paper_beta_mb", str(beta_mb_json))
    mixed = MixedCost(budget=budget, a=a, b=b, c=c)
    return Profile(
        device={"name": calib["device_name"], "kind": "cuda", "source": "paper calibration (vLLM engine runs)"},
        model={"name": calib["model"], "dtype": calib["dtype"]},
        exclusive={"eager": costs},
        mixed=mixed,
        derived=Derived(
            exclusive_fit={"eager": {"prefill_r2": _number(calib_json, "prefill_r2", calib["prefill_r2"]),
                                     "decode_r2": _number(calib_json, "decode_r2", calib["decode_r2"]),
                                     "prefill_sizes": calib.get("prefill_sizes"),
                                     "decode_counts": calib.get("decode_counts")}},
            beta_mb_fit={"method": beta.get("fit_method", "as published"), "scenarios": beta.get("scenarios")},
            marginal_cost={"prefill_s_per_token": costs.beta_p, "decode_s_per_token": costs.beta_d},
            crossover=crossover_report(mixed, costs, "engine throughput"),
        ),
        provenance={
            "imported_from": [_source(calib_json), _source(beta_mb_json)],
            "citation": "arXiv 2606.00516, github.com/weifang231/eb-vllm reproduce/calibration/",
            "measured": calib.get("timestamp"),
            "budget_note": f"beta_MB budget {budget} assumed (vLLM v1 serve default); not stated by the source",
        },
    )
