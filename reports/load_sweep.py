"""Policies under load: a tidy table of (profile, policy, load) → throughput and TTFT/TPOT percentiles, plus
the per-request latencies the CDFs need.

`sweep_trace` builds it with the simulator: the bundled Azure conversation trace (its first `requests`
requests) with its arrival times compressed or stretched so the offered load spans a range of fractions of
the profile's own capacity (measured by one run with every request arriving at once). Any other source
(`phasecal simulate --sweep`, a CSV) only has to produce `LoadPoint`s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from phasecal.fitting.profile import Profile
from phasecal.scheduler.metrics import SLO
from phasecal.scheduler.run import simulate
from phasecal.scheduler.workloads import Workload, azure_conv

LOAD_FRACTIONS = (0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.2)  # offered load as fractions of the profile's capacity


@dataclass(frozen=True)
class LoadPoint:
    """One policy at one offered load on one profile (latencies in seconds, throughput input + output tok/s)."""

    profile: str
    policy: str
    load_tok_s: float  # offered: the workload's tokens over its arrival span
    throughput_tok_s: float
    ttft_p50: float
    ttft_p99: float
    tpot_p50: float
    tpot_p99: float
    slo_attainment: float  # share of requests meeting both SLOs
    reference: bool = False  # simulated on a published calibration
    predicted: str | None = None  # the MB/EB crossover's decision for this workload


@dataclass
class LoadSweep:
    """A load sweep: its points, the per-request (TTFT, TPOT) of each (profile, policy, load), and the SLO."""

    points: list[LoadPoint]
    slo: SLO
    workload: str
    latencies: dict[tuple[str, str, float], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def merged_all(self, others: list[LoadSweep]) -> LoadSweep:
        """All sweeps' points and latencies (the SLO and workload of this one)."""
        points, latencies = list(self.points), dict(self.latencies)
        for other in others:
            points += other.points
            latencies |= other.latencies
        return LoadSweep(points, self.slo, self.workload, latencies)


def offered_tok_s(w: Workload) -> float:
    """Tokens per second the workload offers: all its tokens over its arrival span."""
    span = max(w.arrivals) - min(w.arrivals)
    return (sum(w.prompt_lens) + sum(w.output_lens)) / span if span > 0 else math.inf


def at_load(w: Workload, tok_s: float) -> Workload:
    """The same requests with arrival times scaled so the workload offers `tok_s` tokens per second."""
    scale = offered_tok_s(w) / tok_s
    return Workload(f"{w.name} at {tok_s:,.0f} tok/s", w.prompt_lens, w.output_lens,
                    arrivals=[a * scale for a in w.arrivals])


def capacity_tok_s(profile: Profile, w: Workload) -> float:
    """The profile's throughput on the workload's requests all arriving at once (MB): its capacity."""
    burst = Workload(f"{w.name} burst", w.prompt_lens, w.output_lens, arrivals=[0.0] * len(w))
    return simulate(profile, burst, ("mb",)).runs["mb"].simulated.throughput_tok_s


def _latencies(result) -> tuple[np.ndarray, np.ndarray]:
    reqs = result.requests
    ttft = np.array([r.first_token_time - r.arrival for r in reqs])
    tpot = np.array([(r.finish_time - r.first_token_time) / (r.output_len - 1) for r in reqs if r.output_len > 1])
    return ttft, tpot


def sweep_trace(profile: Profile, label: str, *, policies=("mb", "eb", "ebplus"), requests: int = 2000,
                fractions=LOAD_FRACTIONS, slo: SLO | None = None, reference: bool = False) -> LoadSweep:
    """Simulate `policies` on the Azure conversation trace's first `requests` requests at each offered load
    `fractions` × the profile's capacity; ~0.1–0.3 s per policy and load at 2,000 requests on one core."""
    slo = slo or SLO()
    base = azure_conv(limit=requests)
    cap = capacity_tok_s(profile, base)
    sweep = LoadSweep([], slo, f"azure_conv (first {len(base):,} requests)")
    for f in fractions:
        report = simulate(profile, at_load(base, f * cap), policies, slo=slo)
        for name, run in report.runs.items():
            s = run.simulated
            sweep.points.append(LoadPoint(label, name, f * cap, s.throughput_tok_s, s.ttft_p50, s.ttft_p99,
                                          s.tpot_p50, s.tpot_p99, s.slo_attainment, reference,
                                          report.thresholds.decision))
            sweep.latencies[(label, name, f * cap)] = _latencies(run.simulated_result)
    return sweep


def sweep_profiles(profiles: list[tuple[str, Profile, bool]], **kwargs) -> LoadSweep:
    """`sweep_trace` on each (label, profile, is a published reference), merged into one sweep."""
    sweeps = [sweep_trace(profile, label, reference=ref, **kwargs) for label, profile, ref in profiles]
    if not sweeps:
        return LoadSweep([], kwargs.get("slo") or SLO(), "azure_conv")
    return sweeps[0] if len(sweeps) == 1 else sweeps[0].merged_all(sweeps[1:])
