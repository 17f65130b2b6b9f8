"""`summary.json` beside a raw file: one entry per probe from the run that last measured it, typed.

The suite runner writes it (`SuiteSummary.to_dict`); reports read it (`SuiteSummary.from_dict`). Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from phasecal.schemas import check

KIND = "suite_summary"


@dataclass
class ProbeSummary:
    """What one probe did in the run that last measured it."""

    planned: int  # points in its plan
    skipped: list[str]  # parts it cannot run here, each with the reason
    not_run: list[str]  # planned keys still unmeasured (time budget spent, or the probe failed)
    summary: str  # its one-line summary of every point in the raw file
    elapsed_s: float | None = None  # wall time of this probe in that run (None: not recorded by older phasecal)
    failed: str | None = None  # the error that stopped it, if one did
    measured: dict = field(default_factory=dict)  # its ceilings over every point in the raw file (probe.ceilings)

    @classmethod
    def from_dict(cls, d: object, where: str) -> ProbeSummary:
        if not isinstance(d, dict):
            raise ValueError(f"{where}: a probe summary is an object, got {type(d).__name__}")
        unknown = set(d) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            s = cls(**d)
        except TypeError as e:
            raise ValueError(f"{where}: malformed probe summary ({e})") from None
        ok = (isinstance(s.planned, int) and _strings(s.skipped) and _strings(s.not_run) and isinstance(s.summary, str)
              and (s.elapsed_s is None or isinstance(s.elapsed_s, int | float) and math.isfinite(s.elapsed_s))
              and (s.failed is None or isinstance(s.failed, str)) and isinstance(s.measured, dict))
        if not ok:
            raise ValueError(f"{where}: malformed probe summary {d!r}")
        return s


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


@dataclass
class SuiteSummary:
    """The device, its datasheet entry (probes/peaks.json, None when unknown), and each probe's summary."""

    device: str | None
    datasheet: dict | None
    probes: dict[str, ProbeSummary]

    def to_dict(self) -> dict:
        return {"kind": KIND, **asdict(self)}

    @classmethod
    def from_dict(cls, d: object, where: str = "summary.json") -> SuiteSummary:
        """A summary as `to_dict` wrote it; ValueError naming the file and field otherwise."""
        if not isinstance(d, dict) or not isinstance(d.get("probes"), dict):
            raise ValueError(f"{where}: not a probe-suite summary (no `probes` object)")
        unknown = set(d) - {"kind", "device", "datasheet", "probes"}
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        probes = {name: ProbeSummary.from_dict(p, f"{where}: probes.{name}") for name, p in d["probes"].items()}
        check(d, KIND, where)  # the shipped schema: what the typed reading leaves
        return cls(d.get("device"), d.get("datasheet"), probes)
