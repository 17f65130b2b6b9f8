"""Load sweeps and capacity under SLO: each policy at a range of offered loads ρ, and the highest ρ at which it
still meets the SLOs, found by bisection (Vidur's capacity search; DistServe's goodput criterion of a
target share of requests meeting both TTFT and TPOT SLOs).

Every load is the same workload time-scaled (capacity.at_load), so the loads differ only in arrival rate.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from ..fitting.profile import Profile
from .capacity import Capacity, at_load, mb_capacity
from .metrics import SLO, PolicySummary
from .run import simulate
from .state import EngineConfig
from .workloads import Workload

MAX_SWEEP_POINTS = 200


def parse_sweep(spec: str) -> list[float]:
    """`load=START:STOP:STEP` (STOP included) → the loads; ValueError naming the problem."""
    key, _, rng = spec.partition("=")
    if key.strip() != "load" or not rng:
        raise ValueError(f"--sweep {spec!r}: expected load=START:STOP:STEP, e.g. load=0.2:1.4:0.1")
    try:
        start, stop, step = (float(x) for x in rng.split(":"))
    except ValueError:
        raise ValueError(f"--sweep {spec!r}: expected three numbers START:STOP:STEP, e.g. load=0.2:1.4:0.1") from None
    if not all(math.isfinite(x) for x in (start, stop, step)) or start <= 0 or step <= 0 or stop < start:
        raise ValueError(f"--sweep {spec!r}: need 0 < START ≤ STOP and STEP > 0, all finite")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_SWEEP_POINTS:
        raise ValueError(f"--sweep {spec!r}: {count} loads; at most {MAX_SWEEP_POINTS} (raise STEP)")
    return [round(start + i * step, 10) for i in range(count)]


def meets_slo(summary: PolicySummary, target: float) -> bool:
    """The run meets the SLOs when at least `target` of its requests met both TTFT and TPOT SLOs."""
    return summary.slo_attainment >= target


def bisect_capacity(passes: Callable[[float], bool], lo: float, hi: float, tol: float) -> float:
    """Largest load in [lo, hi] that passes, to within `tol`, given that `lo` passes and `hi` fails
    (attainment falls with load: a monotone search, as Vidur's)."""
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if passes(mid):
            lo = mid
        else:
            hi = mid
    return lo


@dataclass
class PolicyCapacity:
    """The highest offered load at which a policy meets the SLOs; `bound` says when it lies outside the
    swept range ("below" the lowest load or "at least" the highest)."""

    policy: str
    load: float | None
    tokens_per_s: float | None
    bound: str = ""

    def describe(self) -> str:
        if self.load is None:
            return f"misses the SLOs at every swept load (below ρ {self.bound})"
        prefix = "≥ " if self.bound == "at least" else ""
        return f"ρ {prefix}{self.load:.3f} ({self.tokens_per_s:,.0f} tok/s)"


@dataclass
class SweepReport:
    """Every (policy, load) summary, each policy's capacity under the SLOs, and MB's capacity estimate."""

    workload: str
    config: EngineConfig
    capacity: Capacity
    slo: SLO
    slo_target: float
    loads: list[float]
    points: dict[str, list[PolicySummary]] = field(default_factory=dict)  # policy -> one summary per load
    capacities: dict[str, PolicyCapacity] = field(default_factory=dict)


# what each worker process simulates with, set once per process (the workload is ~20k requests: not per task)
_JOB: dict = {}


def _init_worker(profile: Profile, workload: Workload, capacity: Capacity, config: EngineConfig, slo: SLO,
                 seed: int, worker: bool = True) -> None:
    if worker:  # Ctrl-C is the parent's to handle (one line, then it stops the pool), not a traceback per worker
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _JOB.update(profile=profile, workload=workload, capacity=capacity, config=config, slo=slo, seed=seed)


def _run_point(policy: str, load: float) -> PolicySummary:
    """One policy at one load, in whichever process holds _JOB."""
    j = _JOB
    w = at_load(j["workload"], load, j["capacity"])
    return simulate(j["profile"], w, (policy,), config=j["config"], seed=j["seed"], slo=j["slo"]).summaries()[0]


def _search_capacity(policy: str, loads: list[float], passed: list[bool], target: float, tol: float) -> float | None:
    """The bisection of one policy between its last passing and first failing swept load (None: no bracket)."""
    if not passed[0] or all(passed):
        return None
    first_fail = passed.index(False)
    return bisect_capacity(lambda x: meets_slo(_run_point(policy, x), target), loads[first_fail - 1],
                           loads[first_fail], tol)


def _map(pool: ProcessPoolExecutor | None, fn: Callable, calls: list[tuple]) -> list:
    """fn(*call) for every call, in order: in the worker processes of `pool`, or here when it is None."""
    if pool is None:
        return [fn(*c) for c in calls]
    return list(pool.map(fn, *zip(*calls, strict=True)))


def sweep_loads(profile: Profile, workload: Workload, policies: tuple[str, ...], loads: list[float], *,
                config: EngineConfig, slo: SLO, slo_target: float = 0.9, tol: float = 0.01, seed: int = 0,
                jobs: int = 1) -> SweepReport:
    """Simulate each policy at each load, then bisect between each policy's last passing and first failing
    load. With `jobs` > 1 the runs go to that many worker processes (the results are the same: every run
    is deterministic)."""
    if workload.arrivals is None:
        raise ValueError(f"workload {workload.name!r} is a closed loop: a load sweep needs arrivals "
                         "(a trace, or a synthetic workload with :load= or :rate=)")
    if not 0 < slo_target <= 1:
        raise ValueError(f"SLO target must be in (0, 1], got {slo_target}")
    if not tol > 0:
        raise ValueError(f"capacity tolerance must be positive, got {tol}")
    config = config.resolved(profile)
    capacity = mb_capacity(profile, workload, config)
    report = SweepReport(workload.name, config, capacity, slo, slo_target, list(loads))
    args = (profile, workload, capacity, config, slo, seed)
    _init_worker(*args, worker=False)
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=args) if jobs > 1 else None
    try:
        sums = _map(pool, _run_point, [(p, x) for p in policies for x in loads])
        for i, policy in enumerate(policies):
            report.points[policy] = sums[i * len(loads):(i + 1) * len(loads)]
        passed = {p: [meets_slo(s, slo_target) for s in report.points[p]] for p in policies}
        found = _map(pool, _search_capacity, [(p, loads, passed[p], slo_target, tol) for p in policies])
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    for p, load in zip(policies, found, strict=True):
        report.capacities[p] = _capacity(p, loads, passed[p], load, capacity)
    return report


def _capacity(policy: str, loads: list[float], passed: list[bool], found: float | None,
              capacity: Capacity) -> PolicyCapacity:
    if not passed[0]:
        return PolicyCapacity(policy, None, None, bound=f"{loads[0]:g}")
    if all(passed):
        return PolicyCapacity(policy, loads[-1], loads[-1] * capacity.tokens_per_s, bound="at least")
    return PolicyCapacity(policy, found, found * capacity.tokens_per_s)
