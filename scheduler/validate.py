"""Close the loop: execute MB, EB and EB+ for real over a sweep of load and check the profile's prediction.

At each load point (a closed loop of c requests on an L/O workload) every policy is simulated under the
profile and executed on the device `repeats` times (`run.simulate(..., execute=True)`); each repeat runs
the policies back to back, so MB and EB of one repeat meet the same load from other processes. The
executed winner is the policy, of MB and EB, with the higher executed throughput, which is what Δ(N)
predicts: the mean over the repeats of each repeat's paired gap (EB − MB over their mean). The point
counts only where that mean exceeds the noise, the spread (max − min) of the paired gaps, and where MB
and EB simulate different steps (at c = 1 both run the same schedule: there is no decision to check and any
gap is noise); there a "too close to call" verdict counts as not naming the winner. Reported: the
share of counted points where the prediction names that winner, the executed crossover load against the
predicted one, and executed against simulated throughput. Torch is imported only by the executed path.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from ..fitting.profile import Profile
from .metrics import SLO, PolicySummary
from .run import simulate
from .state import EngineConfig
from .workloads import synthetic

POLICIES = ("mb", "eb", "ebplus")
# light to saturated on a 2-core CPU with the tiny model: on 256/64 MB's executed throughput grows 2.1x
# from c = 4 to 32 and 8% from 32 to 48; the simulated MB/EB gap is under 1% to c = 16 and 5-7% from 32.
# Every point meets the default SLOs (TTFT 2 s, TPOT 100 ms) there: a closed loop with a slot for every
# request overloads them only near c = 256, which would not fit the 10-minute budget on this CPU.
CONCURRENCIES = (1, 4, 8, 16, 32, 48, 64)


@dataclass
class PolicyResult:
    """One policy at one load point: simulated, and every executed repeat."""

    simulated: PolicySummary
    executed: list[PolicySummary]

    @property
    def executed_tok_s(self) -> float:
        return statistics.mean(s.throughput_tok_s for s in self.executed)

    @property
    def noise(self) -> float:
        """Relative spread (max − min)/mean of the executed throughput over the repeats."""
        values = [s.throughput_tok_s for s in self.executed]
        return (max(values) - min(values)) / statistics.mean(values) if len(values) > 1 else 0.0

    @property
    def sim_gap(self) -> float:
        """(executed − simulated)/simulated throughput."""
        return self.executed_tok_s / self.simulated.throughput_tok_s - 1


@dataclass
class LoadPoint:
    """One concurrency: the prediction, each policy's results, and the verdict on the prediction."""

    concurrency: int
    requests: int
    predicted: str  # Δ(N)'s verdict: "MB", "EB" or "too close to call"
    point_decision: str  # the side of Δ's point estimate, "MB" or "EB"
    delta: float | None
    delta_interval: tuple[float, float] | None
    policies: dict[str, PolicyResult]
    executed_winner: str = ""
    simulated_winner: str = ""
    paired_gaps: list[float] = field(default_factory=list)  # per repeat, (EB − MB) over their mean
    gap: float = 0.0  # |mean of the paired gaps|
    noise: float = 0.0  # their spread, max − min
    same_schedule: bool = False  # MB and EB simulate the same steps: nothing to decide
    counted: bool = False  # different schedules, and the executed gap exceeds the noise
    agrees: bool | None = None  # the verdict names the executed winner ("too close to call" never does)
    point_agrees: bool | None = None  # the point estimate's side names it

    def judge(self) -> None:
        """Executed and simulated winners of MB against EB, the gap against the noise, agreement."""
        mb, eb = self.policies["mb"], self.policies["eb"]
        self.paired_gaps = [(e.throughput_tok_s - m.throughput_tok_s) / statistics.mean([e.throughput_tok_s,
                                                                                      m.throughput_tok_s])
                            for m, e in zip(mb.executed, eb.executed, strict=True)]
        mean = statistics.mean(self.paired_gaps)
        self.executed_winner = "EB" if mean > 0 else "MB"
        self.simulated_winner = "EB" if eb.simulated.throughput_tok_s > mb.simulated.throughput_tok_s else "MB"
        self.gap, self.noise = abs(mean), max(self.paired_gaps) - min(self.paired_gaps)
        self.same_schedule = (mb.simulated.steps == eb.simulated.steps
                              and mb.simulated.throughput_tok_s == eb.simulated.throughput_tok_s)
        self.counted = not self.same_schedule and self.gap > self.noise
        self.agrees = (self.predicted == self.executed_winner) if self.counted else None
        self.point_agrees = (self.point_decision == self.executed_winner) if self.counted else None


@dataclass
class Validation:
    """The whole sweep and its scores."""

    profile: str
    device: str
    workload: str
    repeats: int
    points: list[LoadPoint]
    seconds: float = 0.0
    load_average: dict[str, list[float]] = field(default_factory=dict)  # os.getloadavg before and after

    @property
    def counted(self) -> list[LoadPoint]:
        return [p for p in self.points if p.counted]

    @property
    def agreement(self) -> float | None:
        """Share of counted points where the verdict names the executed winner ("too close to call" does not)."""
        return sum(p.agrees for p in self.counted) / len(self.counted) if self.counted else None

    @property
    def point_agreement(self) -> float | None:
        """The same for the side of Δ's point estimate, interval ignored."""
        return sum(p.point_agrees for p in self.counted) / len(self.counted) if self.counted else None

    @property
    def simulated_agreement(self) -> float | None:
        """Share of counted points where the simulation under the profile names the executed winner."""
        return (sum(p.simulated_winner == p.executed_winner for p in self.counted) / len(self.counted)
                if self.counted else None)

    @property
    def sim_gaps(self) -> dict[str, float]:
        """Mean |executed − simulated|/simulated throughput per policy over the points."""
        names = self.points[0].policies if self.points else {}
        return {n: statistics.mean(abs(p.policies[n].sim_gap) for p in self.points) for n in names}

    def crossover(self, which: str) -> int | None:
        """Smallest concurrency from which EB wins to the end of the sweep: executed (counted points) or predicted."""
        wins = [(p.executed_winner == "EB" or not p.counted) if which == "executed" else p.predicted == "EB"
                for p in self.points]
        for i, p in enumerate(self.points):
            if all(wins[i:]) and (which != "executed" or any(q.counted for q in self.points[i:])):
                return p.concurrency
        return None

    def to_dict(self) -> dict:
        doc = {k: v for k, v in asdict(self).items() if k != "points"}
        doc["points"] = [{k: v for k, v in asdict(p).items() if k != "policies"} | {
            "policies": {n: {"simulated_tok_s": r.simulated.throughput_tok_s, "executed_tok_s": r.executed_tok_s,
                             "noise": r.noise, "sim_gap": r.sim_gap,
                             "executed_ttft_p50": statistics.mean(s.ttft_p50_s for s in r.executed),
                             "executed_tpot_p50": statistics.mean(s.tpot_p50_s for s in r.executed),
                             "executed_slo_attainment": statistics.mean(s.slo_attainment for s in r.executed),
                             "simulated": r.simulated.to_dict(), "executed": [s.to_dict() for s in r.executed]}
                         for n, r in p.policies.items()}} for p in self.points]
        doc |= {"agreement": self.agreement, "point_agreement": self.point_agreement,
                "simulated_agreement": self.simulated_agreement,
                "counted_points": len(self.counted), "sim_gaps": self.sim_gaps,
                "executed_crossover_concurrency": self.crossover("executed"),
                "predicted_crossover_concurrency": self.crossover("predicted")}
        return doc


def run_point(profile: Profile, mu_l: float, mu_o: float, concurrency: int, requests: int, repeats: int,
              config: EngineConfig, slo: SLO, device: str | None) -> LoadPoint:
    """Simulate and execute MB, EB and EB+ at one concurrency, `repeats` executed runs each."""
    workload = synthetic(mu_l, mu_o, requests, concurrency=concurrency, seed=concurrency)
    reports = [simulate(profile, workload, POLICIES, execute=True, config=config, slo=slo, device=device)
               for _ in range(repeats)]
    first = reports[0]
    policies = {n: PolicyResult(first.runs[n].simulated, [r.runs[n].executed for r in reports]) for n in POLICIES}
    iv = first.decision.intervals.get("crossover_delta")
    point = LoadPoint(concurrency, requests, first.decision.verdict, first.thresholds.decision,
                      first.thresholds.crossover_delta, iv, policies)
    point.judge()
    return point


def validate(profile: Profile, profile_path: str, *, mu_l: float = 256, mu_o: float = 64,
             concurrencies: Sequence[int] = CONCURRENCIES, repeats: int = 3, slo: SLO | None = None,
             config: EngineConfig | None = None, device: str | None = None,
             progress: Callable[[LoadPoint], None] | None = None) -> Validation:
    """Run the sweep (requests per point: max(16, 2c)); `progress` is called after each point."""
    if len(concurrencies) < 1 or min(concurrencies) < 1:
        raise ValueError(f"concurrencies must be positive integers, got {list(concurrencies)}")
    if repeats < 2:
        raise ValueError(f"repeats must be at least 2 (the noise is their spread), got {repeats}")
    started, before = time.monotonic(), list(os.getloadavg())
    config = config or EngineConfig(max_num_seqs=max(concurrencies), kv_capacity_tokens=65536)
    points = []
    for c in sorted(set(concurrencies)):
        points.append(run_point(profile, mu_l, mu_o, c, max(16, 2 * c), repeats, config, slo or SLO(), device))
        if progress is not None:
            progress(points[-1])
    return Validation(profile_path, str(profile.device.get("name")), f"{mu_l:g}/{mu_o:g}", repeats, points,
                      time.monotonic() - started, {"before": before, "after": list(os.getloadavg())})
