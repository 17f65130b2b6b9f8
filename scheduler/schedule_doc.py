"""A scheduler run document: one workload under one profile, each policy's summary, and what EB was given.

`phasecal run` (`schedule_<workload>.json`), `phasecal simulate --out` (`summary.json`) and the scheduler
benchmark write it (`write_schedule_doc`); the reports read it (`ScheduleDoc.from_dict`). Torch-free. The
workload's family and concurrency are fields, so no reader parses them out of the workload's name.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import write_atomic
from ..schemas import check
from .capacity import Capacity
from .metrics import ErrorBand, PolicySummary, run_info
from .state import EngineConfig
from .workloads import Workload

if TYPE_CHECKING:
    from .run import SimulationReport

KIND = "schedule"


@dataclass(frozen=True)
class WorkloadInfo:
    """What a run served: its name, what results group it under, and the concurrency it kept."""

    name: str  # e.g. "balanced (512/512 c=256)", "azure_conv"
    family: str  # the workload without its concurrency, e.g. "balanced", "256/64", "azure_conv"
    concurrency: int | None  # closed loop at one fixed concurrency (None: open loop, or a concurrency that shifts)
    requests: int
    spec: str | None = None  # the `-w` spec it was built from, where one was given

    @classmethod
    def of(cls, workload: Workload, spec: str | None = None) -> WorkloadInfo:
        return cls(workload.name, workload.family or workload.name, workload.fixed_concurrency, len(workload), spec)


@dataclass
class ScheduleDoc:
    """Every policy's summary on one workload under one profile (and, where executed, the real runs)."""

    workload: WorkloadInfo
    profile: str | None  # the profile file the policies ran under (None: built in memory)
    config: EngineConfig  # the resolved engine limits
    thresholds: dict  # fitting.thresholds.Thresholds.to_dict(): what EB was given (for reading, not parsed here)
    decision: str  # Δ(N)'s verdict for this workload: "MB", "EB" or "too close to call" (WorkloadDecision)
    policies: list[PolicySummary]
    executed: list[PolicySummary] = field(default_factory=list)  # the same policies run on the device
    capacity: Capacity | None = None  # MB's capacity on the workload (None: not computed by older phasecal)
    offered_load: float | None = None  # ρ against that capacity (None: a closed loop, or not computed)
    run: dict = field(default_factory=dict)  # metrics.run_info: date, phasecal version, git commit, seed
    error_band: ErrorBand | None = None  # the policies with every step slower/faster by the held-out error

    @classmethod
    def from_report(cls, report: SimulationReport, profile: str | os.PathLike | None,
                    spec: str | None = None, seed: int | None = None) -> ScheduleDoc:
        """The document of a `scheduler.run.simulate` report (`spec`: the `-w` spec, when the report's
        workload was built from one before the call; `seed`: the run's seed)."""
        info = report.workload_info if spec is None else replace(report.workload_info, spec=spec)
        return cls(info, None if profile is None else str(profile), report.config,
                   report.thresholds.to_dict(),
                   report.decision.verdict, report.summaries(),
                   [r.executed for r in report.runs.values() if r.executed is not None],
                   report.capacity, report.offered_load, run_info(seed=seed), report.error_band)

    def to_dict(self) -> dict:
        return {"kind": KIND, **asdict(self)}

    @classmethod
    def from_dict(cls, d: object, where: str = "schedule") -> ScheduleDoc:
        """A document as `to_dict` wrote it; ValueError naming the file and the part that is malformed."""
        if not isinstance(d, dict) or d.get("kind") != KIND:
            raise ValueError(f"{where}: not a phasecal schedule document (kind {KIND!r})")
        known = {f.name for f in fields(cls)} | {"kind"}
        if set(d) - known:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(set(d) - known))}")
        try:
            policies = [_summary(p, f"{where}: policies[{i}]") for i, p in enumerate(d["policies"])]
            executed = [_summary(p, f"{where}: executed[{i}]") for i, p in enumerate(d.get("executed", []))]
            doc = cls(WorkloadInfo(**d["workload"]), d["profile"], EngineConfig(**d["config"]), dict(d["thresholds"]),
                      str(d["decision"]), policies, executed,
                      Capacity(**d["capacity"]) if d.get("capacity") else None, d.get("offered_load"),
                      dict(d.get("run", {})), _band(d.get("error_band"), f"{where}: error_band"))
        except (KeyError, TypeError) as e:
            raise ValueError(f"{where}: malformed schedule document ({type(e).__name__}: {e})") from None
        check(d, "schedule", where)  # the shipped schema: what the typed reading leaves
        return doc


# summaries written before their keys carried units (`ttft_p50` for `ttft_p50_s`) and before goodput
LEGACY_KEYS = {f"{m}_{q}": f"{m}_{q}_s" for m in ("ttft", "tpot") for q in ("mean", "p50", "p90", "p99")}


def _summary(d: object, where: str) -> PolicySummary:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: a policy summary is an object, got {type(d).__name__}")
    d = {LEGACY_KEYS.get(k, k): v for k, v in d.items()}
    d.setdefault("goodput_tok_s", float("nan"))  # not computable from an older summary
    s = PolicySummary(**d)
    if not isinstance(s.policy, str) or not all(isinstance(getattr(s, f.name), int | float)
                                                for f in fields(PolicySummary) if f.type in ("float", "int")):
        raise ValueError(f"{where}: malformed policy summary")
    return s


def _band(d: object, where: str) -> ErrorBand | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise ValueError(f"{where}: an object with error, slower and faster, got {type(d).__name__}")
    err = d["error"]
    if not isinstance(err, int | float) or isinstance(err, bool) or not 0 < err < 1:
        raise ValueError(f"{where}: error is the held-out error as a fraction in (0, 1), got {err!r}")
    return ErrorBand(float(err), [_summary(p, f"{where}.slower[{i}]") for i, p in enumerate(d["slower"])],
                     [_summary(p, f"{where}.faster[{i}]") for i, p in enumerate(d["faster"])])


def write_schedule_doc(doc: ScheduleDoc, path: str | os.PathLike) -> Path:
    """Write the document as JSON (atomic)."""
    return write_atomic(path, json.dumps(doc.to_dict(), indent=2) + "\n")


def read_schedule_doc(path: str | os.PathLike) -> ScheduleDoc:
    """Read a schedule document; ValueError naming the file if it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not readable as JSON ({e})") from None
    return ScheduleDoc.from_dict(data, str(path))
