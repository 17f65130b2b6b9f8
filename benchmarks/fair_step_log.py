"""Per-step record of an executed fair run (the batch composition, the step time fair planned for it, what the
step took), and the planned-against-executed error broken down by step kind, decode KV and time.

Torch-free: fair_executed.py wraps the executor's `step` with `StepLog.wrap`; the tests feed it plain records.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from dataclasses import dataclass

# Decode KV bins (tokens read by the step's decodes, s_d): the LLC-spill term of the step model starts at the
# profile's kv_cache_tokens (4096 on the 2-core EPYC VM), so the bins straddle it.
S_D_EDGES = (1, 1024, 2048, 4096, 8192, 16384)
FIRST_STEPS = (10, 50)  # the run's first steps (warm-up) as bins of their own, then its quarters
LIKE_STEPS = 25  # steps per bin of like steps (same kind, neighbouring planned times)


@dataclass(frozen=True)
class StepRecord:
    """One executed step: its composition, fair's planned seconds, the executor's and the wall clock's."""

    prefill: tuple[tuple[int, int], ...]  # (new tokens, cached tokens) per chunk
    decode: tuple[int, ...]  # cached tokens (context) per decode
    planned_s: float
    executed_s: float  # the executor's clock (the probe's: thread CPU time on the CPU)
    wall_s: float
    preempted: int | None = None  # involuntary context switches of the stepping thread during the step
    profile_s: float | None = None  # the plan without fair's online correction (the profile's step model alone)

    @property
    def kind(self) -> str:
        return "mixed" if self.prefill and self.decode else "prefill" if self.prefill else "decode"

    @property
    def s_d(self) -> int:
        return sum(self.decode)


class StepLog:
    """Records every step an executor runs, paired with the prediction fair logged for that batch."""

    def __init__(self, planned: list[float], scales: list[float] | None = None):
        self.planned = planned  # fair's predicted_s: one entry per scheduling decision, in step order
        self.scales = scales  # fair's plan_scale beside it: the online correction (log) of each plan
        self.steps: list[StepRecord] = []

    def wrap(self, executor) -> None:
        """Replace `executor.step` by one that records each step; the composition is read after the step
        (it is unchanged until the engine applies the step) so that the record's own work stays cheap."""
        run_step = executor.step
        calls = 0

        def step(batch, st) -> float:
            nonlocal calls
            switches = involuntary_switches()
            w0 = time.perf_counter()
            dt = run_step(batch, st)
            wall = time.perf_counter() - w0
            if switches is not None:
                switches = involuntary_switches() - switches
            calls += 1
            if batch.prefill or batch.decode:  # an empty step (nothing fits) plans and runs nothing to compare
                plan = self.planned[calls - 1]
                alone = plan * math.exp(-self.scales[calls - 1]) if self.scales is not None else None
                self.steps.append(StepRecord(tuple((q, r.num_computed) for r, q in batch.prefill),
                                             tuple(r.num_computed for r in batch.decode),
                                             plan, dt, wall, switches, alone))
            return dt

        executor.step = step


def involuntary_switches() -> int | None:
    """The calling thread's involuntary context switches so far (None where the OS does not count them per
    thread): each is another process taking the core, after which the step refills the caches it evicted."""
    who = getattr(resource, "RUSAGE_THREAD", None)
    return None if who is None else resource.getrusage(who).ru_nivcsw


def errors(steps: list[StepRecord], clock: str = "executed_s", plan: str = "planned_s") -> dict | None:
    """|planned − executed| / executed over `steps`: mean (MAPE), median, 90th percentile, and the median
    signed error (planned − executed) / executed, in percent; the mean planned and executed ms. None if empty
    (or, for `plan` = "profile_s", where the log has no uncorrected plans)."""
    if not steps or any(getattr(s, plan) is None for s in steps):
        return None
    measured = [getattr(s, clock) for s in steps]
    planned = [getattr(s, plan) for s in steps]
    signed = sorted((p - m) / m * 100 for p, m in zip(planned, measured, strict=True))
    absolute = sorted(abs(e) for e in signed)
    n = len(steps)
    return {"steps": n, "mape_pct": sum(absolute) / n, "median_pct": absolute[n // 2],
            "p90_pct": absolute[min(n - 1, int(0.9 * n))], "signed_median_pct": signed[n // 2],
            "mean_planned_ms": sum(planned) / n * 1e3, "mean_executed_ms": sum(measured) / n * 1e3}


def by_kind(steps: list[StepRecord]) -> dict:
    """`errors` per step kind (prefill, decode, mixed); kinds without steps are left out."""
    out = {k: errors([s for s in steps if s.kind == k]) for k in ("prefill", "decode", "mixed")}
    return {k: v for k, v in out.items() if v}


def by_decode_kv(steps: list[StepRecord], edges: tuple[int, ...] = S_D_EDGES) -> dict:
    """`errors` of the steps with decodes, per bin of decode KV tokens s_d ('lo-hi', the last 'lo+')."""
    out = {}
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        name = f"{lo}-{hi - 1}" if hi else f"{lo}+"
        e = errors([s for s in steps if s.decode and lo <= s.s_d and (hi is None or s.s_d < hi)])
        if e:
            out[name] = e
    return out


def by_time(steps: list[StepRecord], first: tuple[int, ...] = FIRST_STEPS) -> dict:
    """`errors` over the run's first steps ('0-9', '10-49') and then over the quarters of the rest."""
    bounds = [0, *[f for f in first if f < len(steps)]]
    rest = len(steps) - bounds[-1]
    bounds += [bounds[-1] + rest * q // 4 for q in range(1, 5)]
    out = {}
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        if hi > lo:
            out[f"{lo}-{hi - 1}"] = errors(steps[lo:hi])
    return out


def by_preemption(steps: list[StepRecord]) -> dict:
    """`errors` of the steps no other process interrupted ('0'), interrupted once ('1'), and more ('2+');
    empty where the switches were not counted."""
    out = {}
    for name, keep in (("0", lambda n: n == 0), ("1", lambda n: n == 1), ("2+", lambda n: n >= 2)):
        e = errors([s for s in steps if s.preempted is not None and keep(s.preempted)])
        if e:
            out[name] = e
    return out


def like_step_bins(steps: list[StepRecord], per_bin: int = LIKE_STEPS) -> dict | None:
    """Planned against executed over bins of like steps, median against median: per kind, the steps sorted by
    planned time and cut into bins of `per_bin` (the last bin takes the remainder), each bin's median
    executed time against its median planned time. This is what the profile's held-out error scores (a
    composition's median over many samples against the model), where the per-step error also holds each
    single step's own scatter. The steps-weighted mean |error| and the bins' signed median, in percent;
    None where no kind has `per_bin` steps."""
    rows = []  # (steps in the bin, signed error %)
    for kind in ("prefill", "decode", "mixed"):
        mine = sorted((s for s in steps if s.kind == kind), key=lambda s: s.planned_s)
        cuts = list(range(0, len(mine) - per_bin + 1, per_bin))
        for i, lo in enumerate(cuts):
            part = mine[lo:] if i == len(cuts) - 1 else mine[lo:lo + per_bin]
            planned, executed = statistics.median(s.planned_s for s in part), statistics.median(
                s.executed_s for s in part)
            rows.append((len(part), (planned - executed) / executed * 100))
    if not rows:
        return None
    n = sum(k for k, _ in rows)
    return {"bins": len(rows), "steps": n, "per_bin": per_bin, "mape_pct": sum(k * abs(e) for k, e in rows) / n,
            "signed_median_pct": statistics.median(e for _, e in rows)}


def breakdown(steps: list[StepRecord]) -> dict:
    """The planned-against-executed error overall, per kind, per decode KV bin, over time and by how often
    another process took the core during the step, on the executor's clock; overall also on the wall clock
    (which other processes' time on the core inflates) and for the profile's plan without fair's online
    correction; and over bins of like steps, median against median."""
    return {"all": errors(steps), "like_steps": like_step_bins(steps), "wall_clock": errors(steps, "wall_s"),
            "profile_alone": errors(steps, plan="profile_s"), "by_kind": by_kind(steps),
            "by_decode_kv": by_decode_kv(steps), "by_time": by_time(steps), "by_preemption": by_preemption(steps)}
