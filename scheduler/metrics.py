"""Per-request and per-run metrics: throughput, TTFT/TPOT percentiles, SLO attainment; per-request CSV out
(the run document is `schedule_doc.ScheduleDoc`)."""

from __future__ import annotations

import csv
import datetime
import functools
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from phasecal.atomic import atomic_file

from .simulator import EngineResult


@dataclass
class SLO:
    """A request meets the SLO when its TTFT and its TPOT are both at most these (seconds)."""

    ttft_s: float = 2.0
    tpot_s: float = 0.1


@dataclass
class PolicySummary:
    """One policy on one workload. Throughput counts input + output tokens over the makespan."""

    policy: str
    workload: str
    executed: bool
    num_requests: int
    makespan_s: float
    throughput_tok_s: float
    output_tok_s: float
    ttft_mean_s: float
    ttft_p50_s: float
    ttft_p90_s: float
    ttft_p99_s: float
    tpot_mean_s: float
    tpot_p50_s: float
    tpot_p90_s: float
    tpot_p99_s: float
    slo_attainment: float  # share of requests meeting both the TTFT and the TPOT SLO
    goodput_tok_s: float  # input + output tokens of the requests that met the SLO, over the makespan
    slo: dict
    preemptions: int
    mode_switches: int
    steps: int
    kv_peak_blocks: int
    kv_blocks: int
    wall_s: float
    steps_per_s: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ErrorBand:
    """Each policy simulated again with every step slower, then faster, by `error` (a fraction: the step
    model's held-out error): how far the profile's own error can move each summary."""

    error: float
    slower: list[PolicySummary]
    faster: list[PolicySummary]


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if x.size else float("nan")


def summarize(result: EngineResult, workload_name: str, slo: SLO | None = None) -> PolicySummary:
    """Summary of a finished run."""
    slo = slo or SLO()
    reqs = result.requests
    ttft = np.array([r.first_token_time - r.arrival for r in reqs])
    tpot_all = np.array([(r.finish_time - r.first_token_time) / (r.output_len - 1) if r.output_len > 1 else 0.0
                         for r in reqs])
    tpot = np.array([t for t, r in zip(tpot_all, reqs, strict=True) if r.output_len > 1])
    tokens = sum(r.prompt_len + r.output_len for r in reqs)
    out = sum(r.output_len for r in reqs)
    span = result.makespan
    ok = (ttft <= slo.ttft_s) & (tpot_all <= slo.tpot_s)
    good = sum(r.prompt_len + r.output_len for r, m in zip(reqs, ok, strict=True) if m)
    return PolicySummary(
        policy=result.policy, workload=workload_name, executed=result.executed, num_requests=len(reqs),
        makespan_s=span, throughput_tok_s=tokens / span, output_tok_s=out / span,
        ttft_mean_s=float(ttft.mean()), ttft_p50_s=_pct(ttft, 50), ttft_p90_s=_pct(ttft, 90),
        ttft_p99_s=_pct(ttft, 99), tpot_mean_s=float(tpot.mean()) if tpot.size else float("nan"),
        tpot_p50_s=_pct(tpot, 50), tpot_p90_s=_pct(tpot, 90), tpot_p99_s=_pct(tpot, 99),
        slo_attainment=float(ok.mean()), goodput_tok_s=good / span, slo=asdict(slo),
        preemptions=result.preemptions, mode_switches=result.mode_switches, steps=result.steps,
        kv_peak_blocks=result.kv_peak_blocks, kv_blocks=result.kv_blocks, wall_s=result.wall_s,
        steps_per_s=result.steps / result.wall_s if result.wall_s > 0 else float("inf"),
    )


REQUEST_COLUMNS = ("rid", "arrival_s", "prompt_tokens", "output_tokens", "admitted_s", "first_token_s", "finish_s",
                   "queueing_delay_s", "ttft_s", "tpot_s", "e2e_latency_s", "preemptions")


def write_requests_csv(result: EngineResult, path: str | os.PathLike) -> Path:
    """One row per request (atomic write). Queueing delay runs from arrival to the step that scheduled the
    request's first prefill chunk; end-to-end latency from arrival to its last token."""
    rows = []
    for r in result.requests:
        tpot = (r.finish_time - r.first_token_time) / (r.output_len - 1) if r.output_len > 1 else ""
        rows.append((r.rid, r.arrival, r.prompt_len, r.output_len, r.admitted_time, r.first_token_time,
                     r.finish_time, r.admitted_time - r.arrival, r.first_token_time - r.arrival, tpot,
                     r.finish_time - r.arrival, r.preemptions))
    with atomic_file(path) as f:
        writer = csv.writer(f)
        writer.writerow(REQUEST_COLUMNS)
        writer.writerows(rows)
    return Path(path)


def run_info(**context) -> dict:
    """What a document says about the run that wrote it: UTC date, phasecal version, the git commit of the
    phasecal source where it is a git checkout (None otherwise), and `context` (seed, workload spec, ...)."""
    from phasecal import __version__

    return {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "phasecal_version": __version__,
            "git_commit": _git_commit(), **context}


@functools.cache
def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None
