"""MB: mixed batching in the style of vLLM v1 and Sarathi-Serve, and PF: prefill-first as vLLM v0."""

from __future__ import annotations

from .protocols import OneMode
from .state import Batch, SchedulerState


class MixedBatching(OneMode):
    """Token budget B, at most N sequences; running requests first (decodes and unfinished prefill
    chunks), then chunked prefill of waiting ones; recompute preemption of the latest-admitted
    request when KV runs out, and no new admissions in a step that preempted."""

    name = "mb"

    def schedule(self, st: SchedulerState) -> Batch:
        cfg = st.config
        budget = cfg.token_budget
        batch = Batch()
        i = 0
        running, kv = st.running, st.kv
        tables, bs = kv.tables, kv.block_size
        while i < len(running) and budget > 0:
            req = running[i]
            pending = req.prompt_len + req.num_generated - req.num_computed
            q = pending if pending < budget else budget
            table = tables.get(req.rid)  # most steps need no new block: check before calling the allocator
            if (table is None or req.num_computed + q > len(table) * bs) and not (
                    kv.grow(req, req.num_computed + q) or st.grow_or_preempt(req, q, batch)):
                break
            if pending == 1 and req.num_generated:  # a decode (inlined Batch.add: this loop is the hot path)
                batch.decode.append(req)
            else:
                batch.prefill.append((req, q))
            budget -= q
            i += 1
        if batch.preempted:
            return batch
        st.admit_waiting(budget, batch, cfg.max_num_seqs)
        return batch

class PrefillFirst(OneMode):
    """vLLM v0: whole prefills whenever one fits (tokens ≤ B, seqs ≤ N, KV for the prompt), else a
    decode step of every running request. A prompt longer than B is prefilled alone."""

    name = "pf"

    def schedule(self, st: SchedulerState) -> Batch:
        cfg = st.config
        batch = Batch()
        tokens = 0
        while st.waiting and len(st.running) < cfg.max_num_seqs:
            req = st.waiting[0]
            if tokens and tokens + req.pending > cfg.token_budget:
                break
            used = st.admit(req, req.pending, batch)
            if used == 0:
                break
            tokens += used
        if batch:
            return batch
        return decode_all(st, batch)

def decode_all(st: SchedulerState, batch: Batch) -> Batch:
    """A pure decode step over the running requests, preempting from the back when KV runs out."""
    i = 0
    running, kv = st.running, st.kv
    tables, bs = kv.tables, kv.block_size
    while i < len(running):
        req = running[i]
        table = tables.get(req.rid)
        if (table is None or req.num_computed + 1 > len(table) * bs) and not (
                kv.grow(req, req.num_computed + 1) or st.grow_or_preempt(req, 1, batch)):
            break
        batch.decode.append(req)
        i += 1
    return batch
