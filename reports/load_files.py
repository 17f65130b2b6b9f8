"""Load sweeps found under results/: `phasecal simulate --sweep … --out DIR` writes DIR/sweep.json (every policy
at every offered load ρ, and each policy's capacity under the SLOs); `phasecal simulate -w …:load=ρ --out DIR`
writes a schedule document and requests_<policy>.csv, the per-request latencies the CDFs draw.

A file belongs to the device folder it lies in, else to the profile it names (a published calibration's
runs lie under results/derived/). The MB/EB crossover's prediction for the workload comes from a schedule
document of the same profile and workload family, where one exists.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from phasecal.scheduler.metrics import SLO
from phasecal.scheduler.schedule_doc import KIND, ScheduleDoc
from phasecal.schemas import check

from .data import Results, _relative
from .load_sweep import LoadPoint, LoadSweep
from .scheduler_runs import load_scheduler_runs, profile_label


def _point(row: dict, label: str, reference: bool, predicted: str | None) -> LoadPoint:
    return LoadPoint(label, str(row["policy"]), float(row["offered_tok_s"]), float(row["throughput_tok_s"]),
                     float(row["ttft_p50_s"]), float(row["ttft_p99_s"]), float(row["tpot_p50_s"]),
                     float(row["tpot_p99_s"]), float(row["slo_attainment"]), reference, predicted)


def _predictions(results: Results) -> dict[tuple[str, str], str]:
    """(profile label, workload family) → the crossover's decision, from the schedule documents."""
    return {(r.profile, r.workload): r.predicted for r in load_scheduler_runs(results) if r.predicted}


def _read_json(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def read_sweeps(results: Results) -> tuple[LoadSweep, list[str]]:
    """Every sweep.json under the results folders as one LoadSweep (with the per-request latencies of the runs
    at one load beside them), and the files read. Unreadable files go to `results.problems`."""
    predictions = _predictions(results)
    sweep, sources = LoadSweep([], SLO(), "azure_conv"), []
    for root, path in results.files("sweep.json"):
        doc, source = _read_json(path), _relative(path, root)
        try:
            check(doc, "load_sweep", source)
            label, reference = profile_label(doc.get("profile"), root, path, results)
            label = label.removesuffix(" (published calibration)")
            family = str(doc.get("workload_spec", "azure_conv")).split(":")[0]
            sweep.points += [_point(r, label, reference, predictions.get((_sched_label(label, reference), family)))
                             for r in doc["points"]]
            sweep.searched |= {(label, policy): c["tokens_per_s"] for policy, c in doc["capacity_under_slo"].items()}
            sweep.slo, sweep.workload = SLO(**doc["slo"]), str(doc.get("workload_spec", sweep.workload))
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            results.problems.append(f"{source}: not a load sweep as `phasecal simulate --sweep` writes it ({e})")
            continue
        sources.append(source)
    sources += _read_latencies(results, sweep)
    return sweep, sources


def _sched_label(label: str, reference: bool) -> str:
    return f"{label} (published calibration)" if reference else label


def _read_latencies(results: Results, sweep: LoadSweep) -> list[str]:
    """Per-request TTFT and TPOT of every schedule document at a known offered load with requests_<policy>.csv
    beside it, keyed as the sweep's points are (profile label, policy, offered tok/s); the files read."""
    sources = []
    for root, path in results.files("*.json"):
        data = _read_json(path)
        if data is None or data.get("kind") != KIND or not list(path.parent.glob("requests_*.csv")):
            continue
        try:
            doc = ScheduleDoc.from_dict(data, _relative(path, root))
        except ValueError:
            continue  # load_scheduler_runs reports it
        if doc.offered_load is None or doc.capacity is None:
            continue
        label = profile_label(doc.profile, root, path, results)[0].removesuffix(" (published calibration)")
        offered = doc.offered_load * doc.capacity.tokens_per_s
        for s in doc.policies:
            csv_path = path.parent / f"requests_{s.policy}.csv"
            if csv_path.is_file():
                sweep.latencies[(label, s.policy, offered)] = _request_latencies(csv_path)
                sources.append(_relative(csv_path, root))
    return sources


def _request_latencies(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(TTFT, TPOT) per request from a requests CSV; requests of one output token have no TPOT."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    ttft = np.array([float(r["ttft_s"]) for r in rows])
    tpot = np.array([float(r["tpot_s"]) for r in rows if r.get("tpot_s") not in ("", None)])
    return ttft, tpot[np.isfinite(tpot)] if tpot.size else tpot



def read_validations(results: Results) -> tuple[list[tuple], list[str]]:
    """Rows for `load_curves.validation_markdown` from every validation.json (`phasecal validate`): per load
    point (concurrency), Δ(N)'s verdict against the executed winner of MB and EB; a point whose executed gap
    is within the repeats' noise is not counted (agrees None). Also the files read."""
    rows, sources = [], []
    for root, path in results.files("validation.json"):
        doc, source = _read_json(path), _relative(path, root)
        try:
            label = profile_label(doc.get("profile"), root, path, results)[0]
            for p in doc["points"]:
                counted = bool(p["counted"])
                observed = str(p["executed_winner"]) + ("" if counted else " (same schedule)" if p.get("same_schedule")
                                                        else " (gap within noise)")
                rows.append((label, f"c = {p['concurrency']}", str(p["predicted"]), observed,
                             p.get("agrees") if counted else None))
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            results.problems.append(f"{source}: not a validation as `phasecal validate` writes it ({e})")
            continue
        sources.append(source)
    return rows, sources


def read_validation_throughput(results: Results) -> list[tuple]:
    """Per load point of every validation.json: (profile, c, MB/EB gap, noise, {policy: (simulated, executed
    tok/s)}) and, last in each file, (profile, "all", agreement, simulated agreement, seconds); a malformed
    file is left to `read_validations` to report."""
    rows = []
    for root, path in results.files("validation.json"):
        doc = _read_json(path)
        try:
            label = profile_label(doc.get("profile"), root, path, results)[0]
            rows += [(label, int(p["concurrency"]), float(p["gap"]), float(p["noise"]),
                      {n: (float(r["simulated_tok_s"]), float(r["executed_tok_s"])) for n, r in p["policies"].items()})
                     for p in doc["points"]]
            rows.append((label, "all", doc.get("agreement"), doc.get("simulated_agreement"), doc.get("seconds")))
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    return rows
