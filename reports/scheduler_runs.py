"""Scheduler results under results/, as one flat list of policy runs for the scheduling figures.

Every schedule document (`phasecal.scheduler.schedule_doc.ScheduleDoc`) anywhere under the results folder
is read: `phasecal run`'s `schedule_<workload>.json`, `phasecal simulate --out`'s `summary.json`, and the
scheduler benchmark's runs on the paper's calibration (`results/derived/scheduler_paper_H200/`). A run is
attributed to the device folder `<device>/<model>/` it lies in, else to the profile its document names; runs
on a profile under `results/reference/` are labelled as published calibrations.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from phasecal.scheduler.metrics import PolicySummary
from phasecal.scheduler.schedule_doc import KIND, ScheduleDoc

from .data import REFERENCE_DIR, Results, _relative

NAN = float("nan")


@dataclass(frozen=True)
class PolicyResult:
    """What the figures show of one policy's run (seconds; NaN where the document does not say)."""

    policy: str
    executed: bool
    throughput_tok_s: float
    ttft_p50_s: float
    tpot_p50_s: float
    ttft_p90_s: float = NAN
    tpot_p90_s: float = NAN


@dataclass(frozen=True)
class SchedulerRun:
    """One policy on one workload for one device profile."""

    profile: str  # device (and model) the run was simulated or executed for
    reference: bool  # simulated on a published calibration
    workload: str  # workload family, concurrency removed
    concurrency: int | None
    result: PolicyResult
    source: str
    predicted: str | None = None  # Δ(N)'s verdict for this workload ("MB", "EB" or "too close to call")
    load: float | None = None  # offered load ρ of an open-loop run (None: closed loop, or not recorded)

    @property
    def policy(self) -> str:
        return self.result.policy

    @property
    def case(self) -> str:
        """The workload with its concurrency or its offered load, as an axis label."""
        if self.concurrency is not None:
            return f"{self.workload}\nc={self.concurrency}"
        return self.workload if self.load is None else f"{self.workload}\nρ={self.load:.2f}"


def _result(s: PolicySummary) -> PolicyResult:
    return PolicyResult(s.policy, s.executed, s.throughput_tok_s, s.ttft_p50_s, s.tpot_p50_s, s.ttft_p90_s,
                        s.tpot_p90_s)


def _label(doc: ScheduleDoc, root: Path, path: Path, results: Results) -> tuple[str, bool]:
    """(profile label, is a published calibration) of a document found in results folder `root`."""
    return profile_label(doc.profile, root, path, results)


def profile_label(named: str | None, root: Path, path: Path, results: Results) -> tuple[str, bool]:
    """(profile label, is a published calibration) of a file in results folder `root` that names the profile
    it ran under: the device folder it lies in, else the profile it names, else its own name."""
    parts = path.relative_to(root).parts
    for d in results.devices:
        if len(parts) >= 3 and (d.slug, d.model) == parts[:2] and d.root == root:
            return d.label, False
    for ref in results.references:
        if isinstance(named, str) and Path(named).as_posix().endswith(ref.path.relative_to(ref.root).as_posix()):
            return f"{ref.label} (published calibration)", True
    for d in results.devices:
        if (isinstance(named, str) and d.profile_path is not None
                and Path(named).as_posix().endswith(d.profile_path.relative_to(d.root).as_posix())):
            return d.label, False
    reference = parts[0] == REFERENCE_DIR
    return f"{path.stem}" + (" (published calibration)" if reference else ""), reference


def _runs(doc: ScheduleDoc, label: str, reference: bool, source: str) -> list[SchedulerRun]:
    w = doc.workload
    runs = [SchedulerRun(label, reference, w.family, w.concurrency, _result(s), source, doc.decision,
                         doc.offered_load) for s in doc.policies]
    runs += [SchedulerRun(label + " · executed on the device", reference, w.family, w.concurrency, _result(s), source,
                          doc.decision, doc.offered_load) for s in doc.executed]
    return runs


def load_scheduler_runs(results: Results) -> list[SchedulerRun]:
    """Every scheduler run under the results folder; documents that cannot be read go to `results.problems`."""
    runs: list[SchedulerRun] = []
    for root, path in results.files("*.json"):
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
        if not isinstance(data, dict) or data.get("kind") != KIND:
            continue  # profiles, suite summaries, benchmark records: not scheduler runs
        source = _relative(path, root)
        try:
            doc = ScheduleDoc.from_dict(data, source)
        except ValueError as e:
            results.problems.append(str(e))
            continue
        runs += _runs(doc, *_label(doc, root, path, results), source)
    return [r for r in runs if math.isfinite(r.result.throughput_tok_s)]
