"""What a policy sees and returns: engine limits, the queues, the KV cache, and one step's batch."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .kv import BlockManager
from .request import Request


@dataclass
class EngineConfig:
    """Engine limits. `token_budget` None: the profile's MB budget, else 2048. `kv_capacity_tokens`
    None: the profile's `derived.kv_capacity_tokens`, else 2**20 tokens (memory is then not the limit)."""

    max_num_seqs: int = 256
    token_budget: int | None = None
    block_size: int = 16
    kv_capacity_tokens: int | None = None
    decode_graph: bool = False  # cost pure-decode steps with the profile's CUDA-Graph costs, where it has them

    def resolved(self, profile=None) -> EngineConfig:
        """A copy with the defaults filled in from `profile` (a fitting.profile.Profile or None)."""
        budget = self.token_budget
        if budget is None:
            budget = int(profile.mixed.budget) if profile is not None and profile.mixed is not None else 2048
        cap = self.kv_capacity_tokens
        if cap is None:
            cap = (profile.derived.kv_capacity_tokens if profile is not None else None) or 2**20
        if self.max_num_seqs < 1 or budget < 1 or cap < self.block_size:
            raise ValueError(f"engine limits must be positive: max_num_seqs={self.max_num_seqs}, "
                             f"token_budget={budget}, kv_capacity_tokens={cap} (≥ block_size {self.block_size})")
        return EngineConfig(self.max_num_seqs, budget, self.block_size, cap, self.decode_graph)

    @property
    def num_blocks(self) -> int:
        return self.kv_capacity_tokens // self.block_size


@dataclass
class Batch:
    """One step: prefill chunks (request, new tokens) and decodes; `preempted` counts this step's preemptions."""

    prefill: list[tuple[Request, int]] = field(default_factory=list)
    decode: list[Request] = field(default_factory=list)
    preempted: int = 0

    def add(self, req: Request, num_new: int) -> None:
        if req.is_decode:
            self.decode.append(req)
        else:
            self.prefill.append((req, num_new))

    def __bool__(self) -> bool:
        return bool(self.prefill or self.decode)

    @property
    def num_tokens(self) -> int:
        return sum(q for _, q in self.prefill) + len(self.decode)


class SchedulerState:
    """The queues (FCFS waiting, running in admission order) and the KV cache, shared by policy and engine."""

    def __init__(self, config: EngineConfig):
        self.config = config
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.kv = BlockManager(config.num_blocks, config.block_size)
        self.preemptions = 0
        self.now = 0.0  # the engine's clock when it asks the policy for a batch (s); deadline-aware policies read it

    def preempt(self, req: Request) -> None:
        """Recompute preemption: drop its KV, forget computed tokens, put it first in line again."""
        self.kv.release(req)
        req.num_computed = 0
        req.preemptions += 1
        self.preemptions += 1
        self.running.remove(req)
        self.waiting.appendleft(req)

    def grow_or_preempt(self, req: Request, num_new: int, batch: Batch) -> bool:
        """Make room for `num_new` tokens of running `req`, preempting the latest-admitted requests
        (vLLM's recompute policy) until it fits; False if `req` itself had to go."""
        while not self.kv.grow(req, req.num_computed + num_new):
            victim = self.running[-1]
            self.preempt(victim)
            batch.preempted += 1
            if victim is req:
                return False
        return True

    def admit(self, req: Request, budget: int, batch: Batch) -> int:
        """Move the head of the waiting queue to running with a chunk of ≤ `budget` tokens; tokens used (0: no KV)."""
        q = min(req.pending, budget)
        if not self.kv.grow(req, req.num_computed + q):
            return 0
        self.waiting.popleft()
        self.running.append(req)
        if req.admitted_time is None:
            req.admitted_time = self.now
        batch.add(req, q)
        return q

    def admit_waiting(self, budget: int, batch: Batch, max_running: int) -> None:
        """Chunked prefill of waiting requests, in order, while budget, free slots and KV last."""
        while self.waiting and budget > 0 and len(self.running) < max_running:
            used = self.admit(self.waiting[0], budget, batch)
            if used == 0:
                break
            budget -= used
