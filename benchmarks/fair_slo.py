"""A TPOT SLO at which the executed-against-simulated attainment check can fail: one that fair, simulated under
the profile, meets for 90% of the requests, the attainment goal of DistServe (Zhong et al., "DistServe:
Disaggregating Prefill and Decoding for Goodput-optimized Large Language Model Serving", OSDI 2024, arXiv
2401.09670: "within latency constraints for > 90% of requests").

A loose SLO (every request meets it simulated and executed) agrees whatever the step times are; one at the
middle of the simulated TPOT distribution (50%, also run and shown) puts the bulk of the requests right at the
SLO, where a bias of 1-2% in the step model moves tens of points, a knife edge no calibration on a shared CPU
holds. At 90% the check still fails when executed steps run slower than planned by more than the model's
error, at the attainment level operators set. fair sizes its steps to the SLO it is given, so the SLO is
found by bisection over the SLO itself (on a log scale), each candidate simulated with fair planning for it;
the chosen SLO is then the `attainment`-th percentile of fair's simulated TPOTs at that SLO. Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fair_vs_mb import tpot_attainment

from phasecal.scheduler.fair import FairBatching
from phasecal.scheduler.metrics import SLO
from phasecal.scheduler.simulator import SimulatedExecutor, run_engine

TARGETS = (0.9, 0.5)  # simulated TPOT attainments aimed at: DistServe's goal, then the knife edge shown beside it
BISECTIONS = 12
LOWEST_TPOT_S = 1e-3  # below any step time profiled (CPU tiny steps take 3 ms and more; H200 ones 10 ms)


@dataclass(frozen=True)
class ChosenSLO:
    """The SLO found, fair's simulated TPOT attainment at it, and how it was found."""

    slo: SLO
    simulated_attainment: float
    how: str


def simulated_tpot_attainment(profile, workload, config, slo: SLO) -> float:
    """Share of multi-token requests meeting `slo`'s TPOT when fair, planning for `slo`, serves `workload`
    on the profile's step model."""
    res = run_engine(FairBatching(profile, slo.ttft_s, slo.tpot_s), SimulatedExecutor(profile), workload, config)
    return tpot_attainment(res, slo)


def discriminating_slo(profile, workload, config, ttft_s: float, loose_tpot_s: float,
                       target: float = TARGETS[0]) -> ChosenSLO:
    """The TPOT SLO in [LOWEST_TPOT_S, `loose_tpot_s`] at which fair's simulated attainment is nearest
    `target` (bisection over log SLO, attainment rising with the SLO); the TTFT SLO stays `ttft_s`."""
    lo, hi = math.log(LOWEST_TPOT_S), math.log(loose_tpot_s)
    best: tuple[float, float] | None = None  # (tpot, attainment) nearest the target so far
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        a = simulated_tpot_attainment(profile, workload, config, SLO(ttft_s, math.exp(mid)))
        if best is None or abs(a - target) < abs(best[1] - target):
            best = (math.exp(mid), a)
        if a < target:
            lo = mid
        else:
            hi = mid
    tpot, a = best
    how = (f"bisection over the TPOT SLO ({BISECTIONS} simulated runs of fair, log scale, "
           f"{LOWEST_TPOT_S * 1e3:g}-{loose_tpot_s * 1e3:g} ms) for {target:.0%} simulated TPOT attainment: "
           f"the SLO is the {a:.0%} percentile of fair's simulated TPOTs at that SLO")
    return ChosenSLO(SLO(ttft_s, tpot), a, how)
