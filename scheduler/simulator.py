"""The engine loop shared by simulated and executed runs, and the simulated executor (step time from a profile).

Each step: admit arrivals, ask the policy for a batch, have the executor run (or cost) it, advance the
clock, hand out the tokens the batch produced, retire finished requests. A pure-decode step repeats
unchanged until a request finishes, a request arrives or KV runs short (every policy here decides a
pure-decode step from the queues and the KV cache alone, which only those events change; `fair` reads the
clock only for steps with prefill), so the simulated executor costs
such a stretch step by step without touching the requests, then applies all its tokens at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..fitting.features import StepFeatures, step_features
from ..fitting.predict import profile_step_time
from ..fitting.profile import Profile
from ..kernels.decode_grouping import decode_padding
from .protocols import Executor, ModeDecision, Policy
from .request import Request
from .state import Batch, EngineConfig, SchedulerState
from .workloads import Workload


class SimulatedExecutor:
    """Step time = the profile's step model on the batch's features, times `level` (1: the device as
    profiled; 1.07: a device running 7% slower than its profile); can cost decode stretches in bulk."""

    executed = False

    def __init__(self, profile: Profile, decode_graph: bool = False, level: float = 1.0):
        if not (math.isfinite(level) and level > 0):
            raise ValueError(f"level must be a positive number (1 = the device as profiled), got {level}")
        self.profile = profile
        self.decode_graph = decode_graph
        self.level = level

    def step(self, batch: Batch, st: SchedulerState) -> float:
        # a decode's context is its cached tokens, as the step probe lays decodes out (kernels/model.py)
        f = step_features(prefill=[(q, r.num_computed) for r, q in batch.prefill],
                          decode=[r.num_computed for r in batch.decode],
                          graph=self.decode_graph and not batch.prefill)
        return self.level * profile_step_time(self.profile, f)

    def decode_stretch(self, n: int, s_d: float, k_max: int, clock: float, next_arrival: float,
                       d_pad: float = 0.0) -> tuple[int, float]:
        """Run up to `k_max` decode steps of `n` sequences from `s_d` KV tokens (growing by n a step; the
        padding `d_pad` stays, as every context grows alike), stopping after the step that reaches
        `next_arrival`: (steps, clock).

        Where the step model is affine in s_d over the stretch (checked at five points, to 1e-12), step j
        costs t₀ + j·slope without calling the model; otherwise every step is costed by the model.
        """
        k = 0
        if k_max >= 8:
            t0, t_last = self.decode_time(n, s_d, d_pad), self.decode_time(n, s_d + (k_max - 1) * n, d_pad)
            slope = (t_last - t0) / (k_max - 1)
            if all(abs(self.decode_time(n, s_d + j * n, d_pad) - (t0 + slope * j)) <= 1e-12 * t0
                   for j in (k_max // 4, k_max // 2, 3 * k_max // 4)):
                while k < k_max:
                    clock += t0 + slope * k
                    k += 1
                    if clock >= next_arrival:
                        break
                return k, clock
        while k < k_max:
            clock += self.decode_time(n, s_d, d_pad)
            s_d += n
            k += 1
            if clock >= next_arrival:
                break
        return k, clock

    def decode_time(self, n: int, s_d: float, d_pad: float = 0.0) -> float:
        """A pure-decode step of `n` sequences reading `s_d` KV tokens in all (and `d_pad` padding keys)."""
        f = StepFeatures(0.0, float(n), 0.0, float(s_d), float(n), float(d_pad), graph=self.decode_graph)
        return self.level * profile_step_time(self.profile, f)


@dataclass
class EngineResult:
    """What one run produced: the requests (with their times), counters and the run's own cost."""

    policy: str
    requests: list[Request]
    steps: int
    preemptions: int
    mode_switches: int
    tokens_emitted: int
    kv_peak_blocks: int
    kv_blocks: int
    makespan: float
    wall_s: float
    executed: bool = False
    decisions: list[ModeDecision] = field(default_factory=list)


def _requests(workload: Workload, config: EngineConfig) -> list[Request]:
    """The workload's requests, each checked to fit the KV cache on its own."""
    cap = config.num_blocks * config.block_size  # whole blocks only
    reqs = [Request(i, p, o) for i, (p, o) in enumerate(zip(workload.prompt_lens, workload.output_lens, strict=True))]
    for r in reqs:
        if r.prompt_len + r.output_len > cap:
            raise ValueError(f"request {r.rid} needs {r.prompt_len + r.output_len} KV tokens, more than the "
                             f"cache holds ({cap}); raise kv_capacity_tokens or drop it from the workload")
    return reqs


class _Run:
    """One engine run in progress: the requests, the queues and KV cache, the clock and the counters."""

    def __init__(self, policy: Policy, workload: Workload, config: EngineConfig):
        self.policy = policy
        self.reqs = _requests(workload, config)
        self.st = SchedulerState(config)
        self.arrivals, self.conc = workload.arrivals, workload.concurrency
        self.nxt = 0  # next request to issue
        self.in_flight = 0
        self.clock = 0.0
        self.steps = self.tokens = self.done = 0

    @property
    def finished(self) -> bool:
        return self.done == len(self.reqs)

    def issue_closed(self) -> None:
        """Closed loop: issue requests until the system holds the concurrency the next one is issued at."""
        reqs, conc = self.reqs, self.conc
        while self.nxt < len(reqs) and self.in_flight < conc[self.nxt]:
            reqs[self.nxt].arrival = self.clock
            self.st.waiting.append(reqs[self.nxt])
            self.nxt += 1
            self.in_flight += 1

    def admit_arrivals(self) -> bool:
        """Open loop: queue the arrivals up to the clock. False when the engine is idle (then the clock
        jumps to the next arrival; closed loops are never idle)."""
        arrivals, reqs = self.arrivals, self.reqs
        if arrivals is not None:
            while self.nxt < len(reqs) and arrivals[self.nxt] <= self.clock:
                reqs[self.nxt].arrival = arrivals[self.nxt]
                self.st.waiting.append(reqs[self.nxt])
                self.nxt += 1
        if not self.st.running and not self.st.waiting:
            self.clock = max(self.clock, arrivals[self.nxt])
            return False
        return True

    def next_arrival(self) -> float:
        arrivals = self.arrivals
        return arrivals[self.nxt] if arrivals is not None and self.nxt < len(self.reqs) else math.inf

    def schedule(self) -> Batch:
        st = self.st
        st.now = self.clock
        batch = self.policy.schedule(st)
        if not batch:
            raise RuntimeError(f"policy {self.policy.name} scheduled nothing with {len(st.running)} running, "
                               f"{len(st.waiting)} waiting and {st.kv.num_free} free KV blocks")
        return batch

    def apply(self, batch: Batch, k: int) -> None:
        """Hand out the tokens of `k` repeats of `batch` ending now; retire the requests that finished."""
        clock, finished = self.clock, False
        self.steps += k
        for r, q in batch.prefill:
            r.num_computed += q
            if r.num_computed == r.prompt_len + r.num_generated:  # the chunk completed the known tokens
                self.tokens += 1
                if r.num_generated == 0:
                    r.first_token_time = clock
                r.num_generated += 1
                if r.num_generated >= r.output_len:
                    finished = self._finish(r)
        self.tokens += k * len(batch.decode)
        for r in batch.decode:  # each decode produced k tokens, the last one now
            r.num_computed += k
            r.num_generated += k
            if r.num_generated >= r.output_len:
                finished = self._finish(r)
        if finished:
            self._retire()

    def _finish(self, r: Request) -> bool:
        r.finish_time = self.clock
        self.st.kv.release(r)
        self.policy.on_finish(r, self.st)
        return True

    def _retire(self) -> None:
        """Drop finished requests from the running list; a closed loop issues new ones in their place."""
        st = self.st
        before = len(st.running)
        st.running = [r for r in st.running if r.finish_time is None]
        self.done += before - len(st.running)
        if self.conc is not None:
            self.in_flight -= before - len(st.running)
            self.issue_closed()

    def result(self, executed: bool, wall_s: float) -> EngineResult:
        reqs, st, policy = self.reqs, self.st, self.policy
        first = min(r.arrival for r in reqs)
        return EngineResult(
            policy=policy.name, requests=reqs, steps=self.steps, preemptions=st.preemptions,
            mode_switches=policy.switches, tokens_emitted=self.tokens, kv_peak_blocks=st.kv.peak_used,
            kv_blocks=st.kv.num_blocks, makespan=max(r.finish_time for r in reqs) - first, wall_s=wall_s,
            executed=executed, decisions=list(policy.decisions))


def run_engine(policy: Policy, executor: Executor, workload: Workload, config: EngineConfig, *,
               fast_forward: bool = True, on_step: Callable[[Batch, SchedulerState], None] | None = None
               ) -> EngineResult:
    """Serve `workload` with `policy` on `executor` under a resolved `config`; the requests come back finished.

    Each step: admit arrivals, ask the policy for a batch, have the executor run (or cost) it, advance the
    clock, hand out the tokens, retire finished requests. With `fast_forward`, a simulated executor costs a
    repeating pure-decode stretch in one go (`_decode_stretch`).
    """
    run = _Run(policy, workload, config)
    ff = fast_forward and isinstance(executor, SimulatedExecutor)
    t_start = time.perf_counter()
    if run.conc is not None:
        run.issue_closed()
    while not run.finished:
        if not run.admit_arrivals():
            continue
        batch = run.schedule()
        if on_step is not None:
            on_step(batch, run.st)
        if ff and not batch.prefill and not batch.preempted:
            k, run.clock = _decode_stretch(executor, batch.decode, run.st, run.clock, run.next_arrival())
        else:
            k = 1
            seconds = executor.step(batch, run.st)
            policy.on_step_time(batch, seconds)
            run.clock += seconds
        run.apply(batch, k)
    return run.result(executor.executed, time.perf_counter() - t_start)


def _decode_stretch(executor: SimulatedExecutor, decode: list[Request], st: SchedulerState, clock: float,
                    next_arrival: float) -> tuple[int, float]:
    """Cost up to the first finish of a repeating decode step; stop early at an arrival. (steps, clock).

    The policy has allocated KV for the first step; the others are allocated here only if all of them
    fit, else the stretch is one step and the policy decides again (and may preempt).
    """
    n = len(decode)
    k_max = min(r.output_len - r.num_generated for r in decode)
    if k_max > 1:
        kv = st.kv
        bs, tables = kv.block_size, kv.tables
        extra = sum((r.num_computed + k_max + bs - 1) // bs - len(tables[r.rid]) for r in decode)
        if extra > kv.num_free:
            k_max = 1
    contexts = [r.num_computed for r in decode]
    k, clock = executor.decode_stretch(n, sum(contexts), k_max, clock, next_arrival, decode_padding(contexts))
    if k > 1:
        for r in decode:
            st.kv.grow(r, r.num_computed + k)
    return k, clock
