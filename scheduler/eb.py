"""EB: exclusive batching, the paper's phase machine; steps are all-prefill or all-decode, never mixed."""

from __future__ import annotations

from .mb import decode_all
from .protocols import OneMode
from .state import Batch, SchedulerState


class ExclusiveBatching(OneMode):
    """Decode all N slots until `min(q, N−n)/n ≥ θ/(1−θ)` (n decoding, q queued), then refill with
    chunked prefill under the budget B until N slots are full, the queue is empty or KV is short;
    then decode again. `theta` and `n_slots` come from `fitting.thresholds.derive_thresholds`."""

    name = "eb"

    def __init__(self, theta: float, n_slots: int):
        self.set_thresholds(theta, n_slots)
        self.phase = "fill"

    def set_thresholds(self, theta: float, n_slots: int) -> None:
        if not 0 < theta < 1 or n_slots < 1:
            raise ValueError(f"EB needs 0 < θ < 1 and N ≥ 1, got θ={theta}, N={n_slots}")
        self.theta = theta
        self.n_slots = n_slots
        self.ratio = theta / (1 - theta)

    def enter(self, st: SchedulerState) -> None:
        """Take over a running engine (EB+ switching in): finish any half-done prefill first."""
        self.phase = "fill" if any(not r.is_decode for r in st.running) else "decode"

    def schedule(self, st: SchedulerState) -> Batch:
        if self.phase == "decode":
            n, q = len(st.running), len(st.waiting)
            if q and n < self.n_slots and (n == 0 or min(q, self.n_slots - n) / n >= self.ratio):
                self.phase = "fill"
        if self.phase == "fill":
            batch = self._refill(st)
            if batch:
                return batch
            self.phase = "decode"
        return decode_all(st, Batch())

    def _refill(self, st: SchedulerState) -> Batch:
        """One prefill-only step: unfinished prefill chunks first, then new requests into free slots."""
        budget = st.config.token_budget
        batch = Batch()
        running = st.running
        # unfinished prefills, found in one pass (inlined Request.is_decode: this is EB's hot path); the loop
        # below only preempts from the tail of `running`, so the indices before it stay valid
        todo = [i for i, r in enumerate(running)
                if not (r.num_generated and r.num_computed == r.prompt_len + r.num_generated - 1)]
        for i in todo:
            if budget <= 0 or i >= len(running):
                break
            req = running[i]
            q = min(req.pending, budget)
            if not st.grow_or_preempt(req, q, batch):
                break
            batch.prefill.append((req, q))
            budget -= q
        if batch.preempted:
            return batch
        st.admit_waiting(budget, batch, self.n_slots)
        return batch
