"""fair: steps planned within the decodes' deadlines, the slack spent on prefill, the token cap and the
prefill floor held, and the SLO trade against MB in the two directions the module docstring predicts."""

import math
import random
import statistics

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine import StepChecker, check_result

from phasecal.scheduler.fair import FairBatching, held_out_error
from phasecal.scheduler.mb import MixedBatching
from phasecal.scheduler.metrics import SLO, summarize
from phasecal.scheduler.simulator import SimulatedExecutor, run_engine
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.workloads import Workload, synthetic


class DeadlineChecker:
    """After each mixed step whose budget is the decodes' slack (not widened for prefills): did it end by the
    tightest deadline of its decodes? And does every step with more than the floor chunk fit its budget?"""

    def __init__(self, policy, executor):
        self.policy, self.executor = policy, executor
        self.met = self.missed = self.over_budget = 0

    def __call__(self, batch, st):
        if not batch.decode or not batch.prefill:
            return
        t = self.executor.step(batch, st)
        floor_only = sum(q for _, q in batch.prefill) <= st.config.block_size
        self.over_budget += t > self.policy.budget_s * (1 + 1e-12) and not floor_only
        due = min(self.policy.deadline(r) for r in batch.decode)
        if self.policy.budget_s <= due - st.now and not floor_only:
            self.met += st.now + t <= due
            self.missed += st.now + t > due


def test_planned_steps_fit_their_budget_and_meet_the_decode_deadlines(h200_profile):
    """With the exact model (simulated), a step planned within the decodes' slack ends by their deadline."""
    w = synthetic(3000, 200, 200, rate=1.5, seed=4)
    cfg = EngineConfig(max_num_seqs=64, token_budget=8192, kv_capacity_tokens=2**20).resolved(h200_profile)
    fair = FairBatching(h200_profile, 5.0, 0.05)
    ex = SimulatedExecutor(h200_profile)
    check = DeadlineChecker(fair, ex)
    res = run_engine(fair, ex, w, cfg, on_step=check)
    check_result(res, w)
    assert check.met > 100 and check.missed == 0 and check.over_budget == 0


def test_fair_holds_tpot_where_mbs_big_budget_breaks_it(h200_profile):
    """H200 costs, B = 8192: MB prefills 8192 tokens in a ~0.2 s step and decodes miss a 30 ms TPOT; fair
    sizes chunks to the decodes' deadlines."""
    w = synthetic(3000, 200, 300, rate=8.0, seed=4)
    cfg = EngineConfig(max_num_seqs=64, token_budget=8192, kv_capacity_tokens=2**20).resolved(h200_profile)
    slo = SLO(ttft_s=5.0, tpot_s=0.03)
    mb = summarize(run_engine(MixedBatching(), SimulatedExecutor(h200_profile), w, cfg), "w", slo)
    fair = summarize(run_engine(FairBatching(h200_profile, slo.ttft_s, slo.tpot_s), SimulatedExecutor(h200_profile),
                                w, cfg), "w", slo)
    assert mb.tpot_p99_s > slo.tpot_s * 1.2 and fair.tpot_p99_s < slo.tpot_s * 1.01
    assert fair.slo_attainment > mb.slo_attainment


def test_fair_spends_decode_slack_where_mbs_small_budget_queues_prefills(linear_profile):
    """A small B (256) and a lax TPOT: MB queues prefills behind its budget, fair takes bigger chunks."""
    w = synthetic(2000, 100, 300, rate=6.0, seed=2)
    cfg = EngineConfig(max_num_seqs=64, token_budget=256, kv_capacity_tokens=2**20).resolved(linear_profile)
    slo = SLO(ttft_s=2.0, tpot_s=0.2)
    mb = summarize(run_engine(MixedBatching(), SimulatedExecutor(linear_profile), w, cfg), "w", slo)
    fair = summarize(run_engine(FairBatching(linear_profile, slo.ttft_s, slo.tpot_s),
                                SimulatedExecutor(linear_profile), w, cfg), "w", slo)
    assert fair.ttft_p99_s < mb.ttft_p99_s / 2
    assert fair.tpot_p99_s <= slo.tpot_s


def test_prefill_never_starves_and_load_grows_with_the_queue(h200_profile):
    """Decodes behind their deadline (TPOT 1 ms, far below one step) still leave each step a prefill chunk."""
    w = Workload("w", [400] * 30, [50] * 30, concurrency=[30] * 30)
    cfg = EngineConfig(max_num_seqs=8, token_budget=8192, kv_capacity_tokens=2**20).resolved(h200_profile)
    fair = FairBatching(h200_profile, 1.0, 0.001)
    loads, starved = [], []

    def check(batch, st):
        loads.append((len(st.waiting), fair.estimate_load(st)))
        if st.waiting and len(st.running) - len(batch.prefill) < cfg.max_num_seqs and not batch.prefill:
            starved.append(batch)

    check_result(run_engine(fair, SimulatedExecutor(h200_profile), w, cfg, on_step=check, fast_forward=False), w)
    assert not starved
    assert all(load > 0 for _, load in loads)
    queued = [load for q, load in loads if q >= 10]
    idle = [load for q, load in loads if q == 0]
    assert min(queued) > max(idle)


@given(st.lists(st.tuples(st.integers(1, 300), st.integers(1, 40)), min_size=1, max_size=30),
       st.integers(2, 10), st.integers(1, 96), st.integers(4, 40), st.booleans(),
       st.floats(0.0005, 0.2), st.floats(0.01, 3.0))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_property_token_cap_and_invariants(linear_profile, reqs, slots, cap, kv_blocks, closed, tpot, ttft):
    prompts, outputs = [p for p, _ in reqs], [o for _, o in reqs]
    block = 8
    kv = max(kv_blocks, -(-max(p + o for p, o in reqs) // block)) * block
    w = (Workload("p", prompts, outputs, concurrency=[4] * len(reqs)) if closed else
         Workload("p", prompts, outputs, arrivals=[0.02 * i for i in range(len(reqs))]))
    cfg = EngineConfig(max_num_seqs=slots, token_budget=64, block_size=block, kv_capacity_tokens=kv)
    cfg = cfg.resolved(linear_profile)
    fair = FairBatching(linear_profile, ttft, tpot, max_tokens=cap)
    invariants = StepChecker(cfg, policy=fair)

    executor = SimulatedExecutor(linear_profile)

    def check(batch, st):
        invariants(batch, st)
        assert batch.num_tokens <= cap, f"{batch.num_tokens} tokens in a step capped at {cap}"
        # fair plans with the simulator's own features, the decodes' padding (d_pad) included
        assert fair.predicted_s[-1] == pytest.approx(executor.step(batch, st), rel=1e-9)

    res = run_engine(fair, executor, w, cfg, on_step=check)
    check_result(res, w)
    assert len(fair.predicted_s) >= 1 and all(t > 0 and math.isfinite(t) for t in fair.predicted_s)


def test_bad_settings_and_margin(h200_profile, linear_profile):
    with pytest.raises(ValueError, match="positive SLOs"):
        FairBatching(h200_profile, 1.0, 0.0)
    with pytest.raises(ValueError, match="token cap"):
        FairBatching(h200_profile, max_tokens=0)
    assert held_out_error(h200_profile) is None and FairBatching(h200_profile).margin == 0.05
    assert FairBatching(linear_profile, margin=0.1).margin == 0.1


class SlowerMachine(SimulatedExecutor):
    """The profile's steps, `factor` times as long, each scattered by a random ±`spread` (seeded)."""

    def __init__(self, profile, factor: float, spread: float, seed: int = 0):
        super().__init__(profile)
        self.factor, self.spread, self.rng = factor, spread, random.Random(seed)

    def step(self, batch, st) -> float:
        return super().step(batch, st) * self.factor * (1 + self.rng.uniform(-self.spread, self.spread))


def test_simulated_steps_leave_the_online_correction_at_zero(h200_profile):
    w = synthetic(1000, 200, 100, rate=4.0, seed=2)
    cfg = EngineConfig(max_num_seqs=64, token_budget=8192, kv_capacity_tokens=2**20).resolved(h200_profile)
    fair = FairBatching(h200_profile, 2.0, 0.05)
    on = run_engine(fair, SimulatedExecutor(h200_profile), w, cfg, fast_forward=False)
    off = run_engine(FairBatching(h200_profile, 2.0, 0.05, correct=False), SimulatedExecutor(h200_profile), w, cfg,
                     fast_forward=False)
    assert fair.log_scale == 0.0 and set(fair.plan_scale) == {0.0}
    assert [r.finish_time for r in on.requests] == [r.finish_time for r in off.requests]


@pytest.mark.parametrize("factor", [0.85, 1.2])
def test_the_online_correction_tracks_a_machine_slower_or_faster_than_profiled(h200_profile, factor):
    """Steps 1.2x (0.85x) the profile's, each scattered by ±30%: the correction settles at the median ratio,
    and the plans of the last steps match what they took in the median."""
    w = synthetic(1500, 200, 200, rate=3.0, seed=3)
    cfg = EngineConfig(max_num_seqs=64, token_budget=8192, kv_capacity_tokens=2**20).resolved(h200_profile)
    fair = FairBatching(h200_profile, 5.0, 0.05)
    took = []
    ex = SlowerMachine(h200_profile, factor, spread=0.3, seed=int(factor * 100))
    step = ex.step
    ex.step = lambda batch, st: took.append(step(batch, st)) or took[-1]
    res = run_engine(fair, ex, w, cfg, fast_forward=False)
    check_result(res, w)
    assert math.exp(fair.log_scale) == pytest.approx(factor, rel=0.03)
    late = [t / p for t, p in zip(took[-300:], fair.predicted_s[-300:], strict=True)]
    assert statistics.median(late) == pytest.approx(1.0, abs=0.04)
    off = FairBatching(h200_profile, 5.0, 0.05, correct=False)
    run_engine(off, SlowerMachine(h200_profile, factor, 0.3), w, cfg, fast_forward=False)
    assert off.log_scale == 0.0
