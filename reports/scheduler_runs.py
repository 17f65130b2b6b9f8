"""Scheduler results under results/, as one flat list of policy runs for the scheduling figures.

Two documents hold them, both found by content anywhere under the results folder:
- run summaries, as `phasecal.scheduler.metrics.write_summary_json` writes them (`phasecal run`'s
  `schedule_<workload>.json`, `phasecal simulate`'s `summary.json`): `{..context.., "policies":
  [PolicySummary, ...]}`, optionally `"executed": [...]` and `"thresholds"` with the crossover decision;
- the scheduler benchmark's study on a published calibration (`benchmarks/bench_simulator.py` writes
  `results/reference/scheduler_paper_H200.json`): `"paper_workloads"` with per-policy medians and the
  crossover's prediction, and an `"azure_trace"` run.
A run is attributed to the device folder `<device>/<model>/` it lies in, else to the profile its
document names; runs on a profile under `results/reference/` are labelled as published calibrations.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path

from phasecal.scheduler.metrics import PolicySummary

from .data import REFERENCE_DIR, Results, _relative

CONCURRENCY = re.compile(r"(?:^|[\s:])c=(\d+)")
NAN = float("nan")


@dataclass(frozen=True)
class PolicyResult:
    """What the figures show of one policy's run (seconds; NaN where the document does not say)."""

    policy: str
    executed: bool
    throughput_tok_s: float
    ttft_p50: float
    tpot_p50: float
    ttft_p90: float = NAN
    tpot_p90: float = NAN


@dataclass(frozen=True)
class SchedulerRun:
    """One policy on one workload for one device profile."""

    profile: str  # device (and model) the run was simulated or executed for
    reference: bool  # simulated on a published calibration
    workload: str  # workload family, concurrency removed
    concurrency: int | None
    result: PolicyResult
    source: str
    predicted: str | None = None  # the MB/EB crossover's prediction for this workload ("MB" or "EB")

    @property
    def policy(self) -> str:
        return self.result.policy

    @property
    def case(self) -> str:
        """The workload with its concurrency, as an axis label."""
        return self.workload if self.concurrency is None else f"{self.workload}\nc={self.concurrency}"


def _from_summary(entry: dict) -> PolicyResult:
    """A PolicySummary dict (validated by constructing it) as a PolicyResult."""
    known = {f.name for f in fields(PolicySummary)}
    s = PolicySummary(**{k: v for k, v in entry.items() if k in known})
    return PolicyResult(s.policy, s.executed, s.throughput_tok_s, s.ttft_p50, s.tpot_p50, s.ttft_p90, s.tpot_p90)


def _from_bench(entry: dict) -> PolicyResult:
    """A policy entry of the scheduler benchmark (medians only: ttft_p50_s in s, tpot_p50_ms in ms)."""
    return PolicyResult(str(entry["policy"]), bool(entry.get("executed", False)), float(entry["throughput_tok_s"]),
                        float(entry["ttft_p50_s"]), float(entry["tpot_p50_ms"]) / 1e3)


def _split_workload(name: str, concurrency: object) -> tuple[str, int | None]:
    m = CONCURRENCY.search(name)
    conc = int(m.group(1)) if m else concurrency if isinstance(concurrency, int) else None
    family = CONCURRENCY.sub("", name).strip(" :") or name
    return family, conc


def _label(doc: dict, root: Path, path: Path, results: Results) -> tuple[str, bool]:
    """(profile label, is a published calibration) of a document found in results folder `root`."""
    parts = path.relative_to(root).parts
    for d in results.devices:
        if len(parts) >= 3 and (d.slug, d.model) == parts[:2] and d.root == root:
            return d.label, False
    named = doc.get("profile_source") or doc.get("profile")
    for ref in results.references:
        if isinstance(named, str) and Path(named).as_posix().endswith(ref.path.relative_to(ref.root).as_posix()):
            return f"{ref.label} (published calibration)", True
    for d in results.devices:
        if (isinstance(named, str) and d.profile_path is not None
                and Path(named).as_posix().endswith(d.profile_path.relative_to(d.root).as_posix())):
            return d.label, False
    reference = parts[0] == REFERENCE_DIR
    return f"{path.stem}" + (" (published calibration)" if reference else ""), reference


def _summary_runs(doc: dict, label: str, reference: bool, source: str, problems: list[str]) -> list[SchedulerRun]:
    thresholds = doc.get("thresholds") if isinstance(doc.get("thresholds"), dict) else {}
    runs = []
    for key, suffix in (("policies", ""), ("executed", " · executed on the device")):
        for i, entry in enumerate(doc.get(key) or []):
            try:
                result = _from_summary(entry)
            except (TypeError, ValueError, AttributeError) as e:
                problems.append(f"{source}: {key}[{i}] is not a scheduler summary ({e})")
                continue
            family, conc = _split_workload(str(entry.get("workload", doc.get("workload", "?"))),
                                           thresholds.get("concurrency"))
            runs.append(SchedulerRun(label + suffix, reference, family, conc, result, source,
                                     thresholds.get("decision")))
    return runs


def _bench_runs(doc: dict, label: str, reference: bool, source: str, problems: list[str]) -> list[SchedulerRun]:
    runs = []
    try:
        trace = doc.get("azure_trace") or {}
        for entry in trace.get("policies", []):
            if str(entry.get("policy", "")).endswith("-slow"):
                continue  # the same policy without the simulator's fast path: a speed check, not a policy
            runs.append(SchedulerRun(label, reference, "azure_conv", None, _from_bench(entry), source))
        for w in doc.get("paper_workloads", []):
            family, conc = _split_workload(str(w["workload"]), w.get("concurrency"))
            for entry in w["simulated"].values():
                runs.append(SchedulerRun(label, reference, family, conc, _from_bench(entry), source,
                                         w.get("predicted")))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        problems.append(f"{source}: not a scheduler benchmark document as expected ({type(e).__name__}: {e})")
    return runs


def load_scheduler_runs(results: Results) -> list[SchedulerRun]:
    """Every scheduler run under the results folder; documents that cannot be read go to `results.problems`."""
    runs: list[SchedulerRun] = []
    for root, path in results.files("*.json"):
        if path.name == "profile.json":
            continue
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
        if not isinstance(doc, dict):
            continue
        source = _relative(path, root)
        if isinstance(doc.get("policies"), list):
            runs += _summary_runs(doc, *_label(doc, root, path, results), source, results.problems)
        elif isinstance(doc.get("paper_workloads"), list) or isinstance(doc.get("azure_trace"), dict):
            runs += _bench_runs(doc, *_label(doc, root, path, results), source, results.problems)
    return [r for r in runs if math.isfinite(r.result.throughput_tok_s)]
