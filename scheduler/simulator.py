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
from .request import Request
from .state import Batch, EngineConfig, SchedulerState
from .workloads import Workload


class SimulatedExecutor:
    """Step time = the profile's step model on the batch's features; can cost decode stretches in bulk."""

    can_fast_forward = True

    def __init__(self, profile: Profile, decode_graph: bool = False):
        self.profile = profile
        self.decode_graph = decode_graph

    def step(self, batch: Batch, st: SchedulerState) -> float:
        # a decode's context is its cached tokens, as the step probe lays decodes out (kernels/model.py)
        f = step_features(prefill=[(q, r.num_computed) for r, q in batch.prefill],
                          decode=[r.num_computed for r in batch.decode],
                          graph=self.decode_graph and not batch.prefill)
        return profile_step_time(self.profile, f)

    def decode_stretch(self, n: int, s_d: float, k_max: int, clock: float, next_arrival: float) -> tuple[int, float]:
        """Run up to `k_max` decode steps of `n` sequences from `s_d` KV tokens (growing by n a step),
        stopping after the step that reaches `next_arrival`: (steps, clock).

        Where the step model is affine in s_d over the stretch (checked at five points, to 1e-12), step j
        costs t₀ + j·slope without calling the model; otherwise every step is costed by the model.
        """
        k = 0
        if k_max >= 8:
            t0, t_last = self.decode_time(n, s_d), self.decode_time(n, s_d + (k_max - 1) * n)
            slope = (t_last - t0) / (k_max - 1)
            if all(abs(self.decode_time(n, s_d + j * n) - (t0 + slope * j)) <= 1e-12 * t0
                   for j in (k_max // 4, k_max // 2, 3 * k_max // 4)):
                while k < k_max:
                    clock += t0 + slope * k
                    k += 1
                    if clock >= next_arrival:
                        break
                return k, clock
        while k < k_max:
            clock += self.decode_time(n, s_d)
            s_d += n
            k += 1
            if clock >= next_arrival:
                break
        return k, clock

    def decode_time(self, n: int, s_d: float) -> float:
        """A pure-decode step of `n` sequences reading `s_d` KV tokens in all."""
        f = StepFeatures(0.0, float(n), 0.0, float(s_d), float(n), self.decode_graph)
        return profile_step_time(self.profile, f)


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
    extra: dict = field(default_factory=dict)


def run_engine(policy, executor, workload: Workload, config: EngineConfig, *, fast_forward: bool = True,
               on_step: Callable[[Batch, SchedulerState], None] | None = None) -> EngineResult:
    """Serve `workload` with `policy` on `executor` under a resolved `config`; the requests come back finished."""
    cap = config.num_blocks * config.block_size  # whole blocks only
    reqs = [Request(i, p, o) for i, (p, o) in enumerate(zip(workload.prompt_lens, workload.output_lens, strict=True))]
    for r in reqs:
        if r.prompt_len + r.output_len > cap:
            raise ValueError(f"request {r.rid} needs {r.prompt_len + r.output_len} KV tokens, more than the "
                             f"cache holds ({cap}); raise kv_capacity_tokens or drop it from the workload")
    st = SchedulerState(config)
    ff = fast_forward and getattr(executor, "can_fast_forward", False)
    arrivals, conc = workload.arrivals, workload.concurrency
    n_total = len(reqs)
    nxt = 0  # next request to issue
    in_flight = 0
    clock = 0.0
    steps = tokens = done = 0
    t_start = time.perf_counter()

    def issue_closed(now: float) -> None:
        nonlocal nxt, in_flight
        while nxt < n_total and in_flight < conc[nxt]:
            reqs[nxt].arrival = now
            st.waiting.append(reqs[nxt])
            nxt += 1
            in_flight += 1

    def finish(r: Request, now: float) -> None:
        r.finish_time = now
        st.kv.release(r)
        policy.on_finish(r, st)

    if conc is not None:
        issue_closed(0.0)
    while done < n_total:
        if arrivals is not None:
            while nxt < n_total and arrivals[nxt] <= clock:
                reqs[nxt].arrival = arrivals[nxt]
                st.waiting.append(reqs[nxt])
                nxt += 1
        if not st.running and not st.waiting:
            clock = max(clock, arrivals[nxt])  # idle: jump to the next arrival (closed loops are never idle)
            continue
        st.now = clock
        batch = policy.schedule(st)
        if not batch:
            raise RuntimeError(f"policy {policy.name} scheduled nothing with {len(st.running)} running, "
                               f"{len(st.waiting)} waiting and {st.kv.num_free} free KV blocks")
        if on_step is not None:
            on_step(batch, st)
        next_arrival = arrivals[nxt] if arrivals is not None and nxt < n_total else math.inf
        k = 1
        if ff and not batch.prefill and not batch.preempted:
            k, clock = _decode_stretch(executor, batch.decode, st, clock, next_arrival)
        else:
            clock += executor.step(batch, st)
        steps += k
        finished = False
        for r, q in batch.prefill:
            r.num_computed += q
            if r.num_computed == r.prompt_len + r.num_generated:  # the chunk completed the known tokens
                tokens += 1
                if r.num_generated == 0:
                    r.first_token_time = clock
                r.num_generated += 1
                if r.num_generated >= r.output_len:
                    finish(r, clock)
                    finished = True
        tokens += k * len(batch.decode)
        for r in batch.decode:  # each decode produced k tokens, the last one now
            r.num_computed += k
            r.num_generated += k
            if r.num_generated >= r.output_len:
                finish(r, clock)
                finished = True
        if finished:
            before = len(st.running)
            st.running = [r for r in st.running if r.finish_time is None]
            done += before - len(st.running)
            if conc is not None:
                in_flight -= before - len(st.running)
                issue_closed(clock)
    first = min(r.arrival for r in reqs)
    return EngineResult(
        policy=policy.name, requests=reqs, steps=steps, preemptions=st.preemptions,
        mode_switches=getattr(policy, "switches", 0), tokens_emitted=tokens, kv_peak_blocks=st.kv.peak_used,
        kv_blocks=st.kv.num_blocks, makespan=max(r.finish_time for r in reqs) - first,
        wall_s=time.perf_counter() - t_start, executed=not getattr(executor, "can_fast_forward", False),
        extra={"decisions": getattr(policy, "decisions", [])},
    )


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
    k, clock = executor.decode_stretch(n, sum(r.num_computed for r in decode), k_max, clock, next_arrival)
    if k > 1:
        for r in decode:
            st.kv.grow(r, r.num_computed + k)
    return k, clock
