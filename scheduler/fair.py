"""Fair: an SLO-aware policy that spends the profile's step model every step, after FairBatching.

FairBatching (Lyu, Liu, Wu, Chen, "FairBatching: Fairness-Aware Batch Formation for LLM Inference",
arXiv 2510.14392, 2025) argues that stall-free batching (Sarathi, vLLM v1's MB) favours decodes too much:
a fixed token budget leaves decode slack unused while prefills queue, and when a prefill surge meets a
decode burst the decodes keep every step. It proposes (1) monotonic per-token deadlines instead of
time-between-tokens, (2) an adaptive batch capacity: each step's compute budget is the time the
tightest scheduled deadline allows, predicted with a cost model, (3) fair batch formation that lets
prefills reclaim that slack and shares the step by deadline slack in a conflict, and (4) a load estimate
for an upper-level router. What this module follows, and what it simplifies:

- Deadlines (followed, anchored differently). The paper's envelope is arrival + TTFT SLO + j·TPOT SLO
  for token j. phasecal scores TPOT per request from its first token ((finish − first) / (outputs − 1),
  scheduler/metrics.py), so a decode's next token j is due at first_token + j·TPOT SLO; meeting every
  such deadline meets the TPOT SLO. A prefill's first token is due at arrival + TTFT SLO.
- Adaptive batch capacity (followed). With decodes in the step, its time budget is the tightest decode
  deadline minus now, shrunk by the profile's held-out error (the chosen family's k-fold MAPE; 5% where
  the profile has none), so a step that runs as slow as the model's typical miss still makes it. The
  largest prefill chunk that fits is found by bisection on the step model, evaluated as plain floats
  (`fitting.predict.StepCoefficients`): no allocation per evaluation. Without decodes the step has no
  TPOT deadline and only the token cap binds. The token cap (default max(B, 8192), vLLM v1's serve
  default on large GPUs) stands in for the engine's activation-memory limit; the paper has its own.
- Fair batch formation (simplified). Every running decode stays in the step (no decode is deferred to
  a later step: deferring one costs a whole extra step's overhead on the devices profiled here). The
  step is the longer of the decodes' slack and the decodes' own time plus the prefills' share φ of one
  TPOT SLO (capped at what the prefills in line need). φ shares by deadline slack: u_d = decode slack
  over the TPOT SLO, u_p = the prefills' least TTFT slack over the TTFT SLO (EDF over the first
  URGENCY_WINDOW prefills in line, each charged the prefill time of those before it), φ = u_d/(u_d+u_p):
  decodes ahead of their envelope hand prefills most of a TPOT, decodes at their deadline keep it.
  When the decodes miss their next deadline even alone, starving prefills would not save them: φ = ½.
  Prefills go earliest deadline first; with one TTFT SLO for all requests that is arrival order (FCFS),
  the queue's order already. The first prefill of a step always gets at least one KV block of tokens.
- Load estimate (simplified). `utilization` is each step's predicted time over its budget (the paper's
  per-step capacity use); `estimate_load(st)` prices all queued work as one step, in TPOT SLOs, for a
  router to compare instances. No cluster-level router is built here.
- Online correction (phasecal's addition). A profile is measured once; the machine it serves on drifts
  (re-timing a profile's own points 5-40 min later on the shared 2-core AMD EPYC VM gave -2 to +16%), and
  inside an engine steps run with other steps' data around them rather than replayed back to back. After
  each step fair ran on its own, the log of executed over planned time moves a streaming median estimate
  m by CORRECTION_STEP toward itself (stochastic approximation: m rises by a step when the ratio is above
  it, falls when below), so single slow steps do not pull it, and fair plans with the step model scaled
  by e^m. Simulated steps take what the model predicts, so there m stays 0 and nothing changes.
- Not followed: the paper's own profiler and engine integration (phasecal's profile and reference
  engine stand in), and any preemption other than MB's recompute policy.

Pure-decode steps (nothing to prefill, or no KV, slot or token room for it) are MB's, so the engine's
decode fast path stays exact: such a step is decided by the queues and the KV cache alone.
"""

from __future__ import annotations

import math

from ..fitting.features import step_features
from ..fitting.predict import StepCoefficients, step_coefficients
from ..fitting.profile import Profile
from ..kernels.decode_grouping import decode_padding
from .mb import decode_all
from .protocols import OneMode
from .request import Request
from .state import Batch, SchedulerState

DEFAULT_MAX_TOKENS = 8192  # vLLM v1's max_num_batched_tokens for `vllm serve` on GPUs with ≥ 70 GiB
DEFAULT_MARGIN = 0.05  # plan steps this much short of their deadline where the profile has no held-out error
URGENCY_WINDOW = 8  # prefills in line whose TTFT deadlines a step weighs (bounded: the queue may be long)
CORRECTION_STEP = 0.002  # per executed step, in log time: a 10% drift is tracked within about 50 steps
RESCALE_AT = 0.005  # the planning coefficients are rebuilt when m has moved this far (log) from them


def held_out_error(profile: Profile) -> float | None:
    """The chosen step-model family's k-fold MAPE as a fraction, or None where the profile has none."""
    if profile.step_model is None:
        return None
    for fam in profile.families:
        if fam.name == profile.step_model.family and fam.cv_mape is not None:
            return fam.cv_mape / 100
    return None


class FairBatching(OneMode):
    """Each step: all running decodes, then prefill chunks sized so the predicted step meets the tightest
    decode deadline (see the module docstring). `predicted_s` logs every step's predicted time (one entry
    per scheduling decision, with the online correction); `utilization` the last step's predicted time over
    its budget; `correct=False` plans with the profile as it is."""

    name = "fair"

    def __init__(self, profile: Profile, ttft_slo: float = 2.0, tpot_slo: float = 0.1, *,
                 max_tokens: int | None = None, margin: float | None = None, decode_graph: bool = False,
                 correct: bool = True):
        if ttft_slo <= 0 or tpot_slo <= 0:
            raise ValueError(f"fair needs positive SLOs, got TTFT {ttft_slo} s and TPOT {tpot_slo} s")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"fair's token cap must be ≥ 1, got {max_tokens}")
        self._profiled = (step_coefficients(profile), step_coefficients(profile, graph=decode_graph))
        self.coeffs, self.decode_coeffs = self._profiled
        self.correct = correct
        self.log_scale = 0.0  # m: the streaming median of log(executed / predicted by the profile)
        self._applied = 0.0  # the m the planning coefficients are scaled by
        self.ttft, self.tpot = ttft_slo, tpot_slo
        self.max_tokens = max_tokens
        err = held_out_error(profile)
        self.margin = margin if margin is not None else err if err is not None else DEFAULT_MARGIN
        self.predicted_s: list[float] = []
        self.plan_scale: list[float] = []  # the online correction (log) each prediction was scaled by
        self.budget_s = math.inf  # the last step's time budget
        self.utilization = 0.0

    def deadline(self, req: Request) -> float:
        """When `req`'s next token is due: arrival + TTFT SLO for the first, first + j·TPOT SLO for token j."""
        if req.num_generated == 0:
            return req.arrival + self.ttft
        return req.first_token_time + self.tpot * req.num_generated

    def schedule(self, st: SchedulerState) -> Batch:
        cfg = st.config
        running = st.running
        contexts = []
        d_min = math.inf
        partial = False
        for r in running:  # read-only pass: this step's decodes and their tightest deadline
            if r.num_generated and r.num_computed == r.prompt_len + r.num_generated - 1:  # is_decode, inlined
                contexts.append(r.num_computed)
                d = r.first_token_time + self.tpot * r.num_generated
                if d < d_min:
                    d_min = d
            else:
                partial = True
        if not partial and not (st.waiting and len(running) < cfg.max_num_seqs):
            return self._record(decode_all(st, Batch()), self.decode_coeffs, math.inf)
        decodes = (len(contexts), sum(contexts), decode_padding(contexts))  # n_d, s_d, d_pad
        budget = self._time_budget(st, decodes, d_min)
        return self._record(self._form(st, budget, decodes), self.coeffs, budget, decodes)

    def _time_budget(self, st: SchedulerState, decodes: tuple[int, int, int], d_min: float) -> float:
        """The step's time budget: the decodes' slack, or the decodes' step plus the prefills' share φ of one
        TPOT (of what they need), whichever is longer; φ = u_d/(u_d + u_p), the two sides' slack over their
        SLOs, and ½ when the decodes miss their next deadline even alone."""
        n_d, s_d, d_pad = decodes
        if n_d == 0:
            return math.inf
        slack = d_min - st.now
        budget = slack * (1 - self.margin)
        t_dec = self.coeffs.time(0.0, n_d, 0.0, s_d, n_d, d_pad)
        need, urgency = self._prefill_urgency(st)
        if budget <= t_dec:  # starving prefills would not save these decodes' next token
            phi = 0.5
        else:  # each side's slack as a share of its SLO decides its share of one TPOT
            u_d, u_p = slack / self.tpot, max(urgency / self.ttft, 0.0)
            phi = u_d / (u_d + u_p) if u_d + u_p > 0 else 0.5
        return max(budget, t_dec + phi * min(need, self.tpot))

    def _prefill_urgency(self, st: SchedulerState) -> tuple[float, float]:
        """EDF over the first URGENCY_WINDOW prefills in line (running ones, then the queue): the least slack
        any of them keeps once it and those before it are prefilled (their marginal cost on the step model),
        and the prefill time up to that one. (need s, slack s)."""
        c = self.coeffs
        now, seen, cum = st.now, 0, c.has_p
        worst, need = math.inf, 0.0
        for reqs in (st.running, st.waiting):
            for r in reqs:
                q = r.prompt_len + r.num_generated - r.num_computed
                if q == 1 and r.num_generated:  # a decode
                    continue
                cum += c.n_p * q + c.s_p * q * (r.num_computed + (q + 1) / 2) + c.p_mask * q * (q - 1) / 2 + c.n_seq
                left = self.deadline(r) - now - cum
                if left < worst:
                    worst, need = left, cum
                seen += 1
                if seen == URGENCY_WINDOW:
                    return need, worst
        return need, worst

    def _form(self, st: SchedulerState, budget: float, decodes: tuple[int, int, int]) -> Batch:
        """Running requests in order (decodes, then chunks of unfinished prefills), then admissions;
        `decodes`: the running decodes' (n_d, s_d, d_pad)."""
        cfg = st.config
        cap = self.max_tokens or max(cfg.token_budget, DEFAULT_MAX_TOKENS)
        floor = cfg.block_size
        batch = Batch()
        tokens = n_p = 0
        s_p = p_mask = 0.0
        n_seq = decodes[0]
        running, kv = st.running, st.kv
        tables, bs = kv.tables, kv.block_size
        i = 0
        while i < len(running) and tokens < cap:
            req = running[i]
            pending = req.prompt_len + req.num_generated - req.num_computed
            if pending == 1 and req.num_generated:  # a decode
                q = 1
            else:
                q = self._chunk(budget, n_p, s_p, p_mask, n_seq, decodes, req.num_computed,
                                min(pending, cap - tokens), floor if not batch.prefill else 0)
                if q == 0:
                    i += 1
                    continue
            table = tables.get(req.rid)
            if (table is None or req.num_computed + q > len(table) * bs) and not (
                    kv.grow(req, req.num_computed + q) or st.grow_or_preempt(req, q, batch)):
                break
            if q == 1 and pending == 1 and req.num_generated:
                batch.decode.append(req)
            else:
                batch.prefill.append((req, q))
                n_p += q
                s_p += q * (req.num_computed + (q + 1) / 2)
                p_mask += q * (q - 1) / 2
                n_seq += 1
            tokens += q
            i += 1
        if batch.preempted:
            return batch
        waiting = st.waiting
        while waiting and len(running) < cfg.max_num_seqs and tokens < cap:
            req = waiting[0]
            q = self._chunk(budget, n_p, s_p, p_mask, n_seq, decodes, req.num_computed,
                            min(req.pending, cap - tokens), floor if not batch.prefill else 0)
            if q == 0 or st.admit(req, q, batch) == 0:
                break
            n_p += q
            s_p += q * (req.num_computed + (q + 1) / 2)
            p_mask += q * (q - 1) / 2
            n_seq += 1
            tokens += q
        return batch

    def _chunk(self, budget: float, n_p: int, s_p: float, p_mask: float, n_seq: int, decodes: tuple[int, int, int],
               cached: int, q_max: int, floor: int) -> int:
        """The largest chunk q ≤ q_max on top of `cached` tokens whose step the model predicts within
        `budget`, given the step's features so far; at least min(floor, q_max)."""
        if q_max <= 0:
            return 0
        time = self.coeffs.time
        n_d, s_d, d_pad = decodes
        if time(n_p + q_max, n_d, s_p + q_max * (cached + (q_max + 1) / 2), s_d, n_seq + 1, d_pad,
                p_mask + q_max * (q_max - 1) / 2) <= budget:
            return q_max
        lo, hi = 0, q_max  # time(lo) fits (lo = 0: no chunk), time(hi) does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if time(n_p + mid, n_d, s_p + mid * (cached + (mid + 1) / 2), s_d, n_seq + 1, d_pad,
                    p_mask + mid * (mid - 1) / 2) <= budget:
                lo = mid
            else:
                hi = mid
        return max(lo, min(floor, q_max))

    def _record(self, batch: Batch, coeffs: StepCoefficients, budget: float,
                decodes: tuple[int, int, int] | None = None) -> Batch:
        """Log the step's predicted time and its share of the budget (a router's per-step load signal).
        `decodes`: the running decodes' (n_d, s_d, d_pad) where the caller has them; the batch's decodes are
        a subset of those, the same ones when as many (else the token cap or a preemption left some out)."""
        n_p = s_p = p_mask = 0.0
        for r, q in batch.prefill:
            n_p += q
            s_p += q * (r.num_computed + (q + 1) / 2)
            p_mask += q * (q - 1) / 2
        if decodes is None or decodes[0] != len(batch.decode):
            contexts = [r.num_computed for r in batch.decode]
            decodes = (len(contexts), sum(contexts), decode_padding(contexts))
        n_d, s_d, d_pad = decodes
        t = coeffs.time(n_p, n_d, s_p, s_d, len(batch.prefill) + n_d, d_pad, p_mask)
        self.predicted_s.append(t)
        self.plan_scale.append(self._applied)
        self.budget_s = budget
        self.utilization = t / budget
        return batch

    def on_step_time(self, batch: Batch, seconds: float) -> None:
        """Move the online correction toward this step's executed/planned log ratio (module docstring)."""
        planned = self.predicted_s[-1] if self.predicted_s else 0.0
        if not self.correct or planned <= 0 or seconds <= 0:
            return
        error = math.log(seconds / planned) + self._applied - self.log_scale
        if abs(error) > 1e-9:  # a simulated step is the plan itself, up to rounding
            self.log_scale += CORRECTION_STEP if error > 0 else -CORRECTION_STEP
        if abs(self.log_scale - self._applied) >= RESCALE_AT:
            self._applied = self.log_scale
            factor = math.exp(self._applied)
            self.coeffs, self.decode_coeffs = (c.scaled(factor) for c in self._profiled)

    def estimate_load(self, st: SchedulerState) -> float:
        """All queued work (every pending prefill token and one token per decode) priced as one step, in
        units of the TPOT SLO: a router sends new requests to the instance with the least."""
        prefill, contexts = [], []
        for r in (*st.running, *st.waiting):
            if r.is_decode:
                contexts.append(r.num_computed)
            else:
                prefill.append((r.pending, r.num_computed))
        # not per step: the shared features (StepFeatures.vector() is time()'s argument order)
        return self.coeffs.time(*step_features(prefill, contexts).vector()) / self.tpot
