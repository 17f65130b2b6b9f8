"""Policies under load: a tidy table of (profile, policy, load) → throughput and TTFT/TPOT percentiles, plus
the per-request latencies the CDFs need.

`sweep_trace` builds it with the simulator: the bundled Azure conversation trace (its first `requests`
requests) at offered loads ρ, the workload spec's `:load=` (arrivals time-scaled to ρ × MB's capacity on
that profile, `phasecal.scheduler.capacity`). Any other source (`phasecal simulate --sweep`, a CSV) only
has to produce `LoadPoint`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from phasecal.fitting.profile import Profile
from phasecal.scheduler.metrics import SLO
from phasecal.scheduler.run import simulate

LOADS = (0.25, 0.5, 0.75, 0.9, 1.0, 1.2)  # offered load ρ: fractions of MB's capacity on the profile


@dataclass(frozen=True)
class LoadPoint:
    """One policy at one offered load on one profile (latencies in seconds, throughput input + output tok/s)."""

    profile: str
    policy: str
    load_tok_s: float  # offered: the workload's tokens per second of arrivals
    throughput_tok_s: float
    ttft_p50_s: float
    ttft_p99_s: float
    tpot_p50_s: float
    tpot_p99_s: float
    slo_attainment: float  # share of requests meeting both SLOs
    reference: bool = False  # simulated on a published calibration
    predicted: str | None = None  # Δ(N)'s verdict for this workload: "MB", "EB" or "too close to call"


@dataclass
class LoadSweep:
    """A load sweep: its points, the per-request (TTFT, TPOT) of each (profile, policy, load), and the SLO."""

    points: list[LoadPoint]
    slo: SLO
    workload: str
    latencies: dict[tuple[str, str, float], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # (profile, policy) → capacity under the SLOs (tok/s) found by bisection between swept loads, where the
    # sweep's source searched for it (`phasecal simulate --sweep`); None: below the lowest load
    searched: dict[tuple[str, str], float | None] = field(default_factory=dict)

    def merged_all(self, others: list[LoadSweep]) -> LoadSweep:
        """All sweeps' points, latencies and searched capacities (the SLO and workload of this one)."""
        points, latencies, searched = list(self.points), dict(self.latencies), dict(self.searched)
        for other in others:
            points += other.points
            latencies |= other.latencies
            searched |= other.searched
        return LoadSweep(points, self.slo, self.workload, latencies, searched)


def _latencies(result) -> tuple[np.ndarray, np.ndarray]:
    reqs = result.requests
    ttft = np.array([r.first_token_time - r.arrival for r in reqs])
    tpot = np.array([(r.finish_time - r.first_token_time) / (r.output_len - 1) for r in reqs if r.output_len > 1])
    return ttft, tpot


def sweep_trace(profile: Profile, label: str, *, policies=("mb", "eb", "ebplus"), requests: int = 1000,
                loads=LOADS, slo: SLO | None = None, reference: bool = False) -> LoadSweep:
    """Simulate `policies` on the Azure conversation trace's first `requests` requests at each offered load
    ρ in `loads`; about 0.1–0.3 s per policy and load at 1,000 requests on one core."""
    slo = slo or SLO()
    sweep = LoadSweep([], slo, f"azure_conv (first {requests:,} requests)")
    for rho in loads:
        report = simulate(profile, f"azure_conv:n={requests}:load={rho}", policies, slo=slo)
        offered = rho * report.capacity.tokens_per_s
        for name, run in report.runs.items():
            s = run.simulated
            sweep.points.append(LoadPoint(label, name, offered, s.throughput_tok_s, s.ttft_p50_s, s.ttft_p99_s,
                                          s.tpot_p50_s, s.tpot_p99_s, s.slo_attainment, reference,
                                          report.decision.verdict))
            sweep.latencies[(label, name, offered)] = _latencies(run.simulated_result)
    return sweep


def sweep_profiles(profiles: list[tuple[str, Profile, bool]], **kwargs) -> LoadSweep:
    """`sweep_trace` on each (label, profile, is a published reference), merged into one sweep."""
    sweeps = [sweep_trace(profile, label, reference=ref, **kwargs) for label, profile, ref in profiles]
    if not sweeps:
        return LoadSweep([], kwargs.get("slo") or SLO(), "azure_conv")
    return sweeps[0] if len(sweeps) == 1 else sweeps[0].merged_all(sweeps[1:])
