"""Engine invariants for every policy: nothing lost or duplicated, KV within capacity, each output token
once, EB never mixing phases, determinism, and the decode fast path equal to stepping one by one."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasecal.fitting.thresholds import derive_thresholds
from phasecal.scheduler.eb import ExclusiveBatching
from phasecal.scheduler.ebplus import EBPlus, SelectorSettings
from phasecal.scheduler.mb import MixedBatching, PrefillFirst
from phasecal.scheduler.run import POLICIES, make_policy, simulate, workload_stats
from phasecal.scheduler.simulator import SimulatedExecutor, run_engine
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.workloads import Workload, synthetic


def build_policy(name, profile, workload, config, selector=None):
    return make_policy(name, profile, derive_thresholds(profile, workload_stats(workload, config)), selector)


class StepChecker:
    """Checks after every scheduled step: KV accounting, budgets, phase purity, no duplicate request."""

    def __init__(self, config, exclusive=False, policy=None):
        self.config = config
        self.exclusive = exclusive
        self.policy = policy
        self.mixed_steps = 0

    def __call__(self, batch, st):
        st.kv.check()
        assert st.kv.num_used <= st.kv.num_blocks
        reqs = [r for r, _ in batch.prefill] + batch.decode
        assert len({r.rid for r in reqs}) == len(reqs), "a request scheduled twice in one step"
        assert all(r in st.running for r in reqs), "scheduled a request that is not running"
        assert len(st.running) <= self.config.max_num_seqs
        running_ids = {r.rid for r in st.running}
        assert not running_ids & {r.rid for r in st.waiting}, "a request both running and waiting"
        for r, q in batch.prefill:
            assert 1 <= q <= r.pending
            assert r.num_computed + q <= len(st.kv.table(r)) * st.kv.block_size
        for r in batch.decode:
            assert r.is_decode and r.num_generated < r.output_len
            assert r.num_computed + 1 <= len(st.kv.table(r)) * st.kv.block_size
        if batch.prefill and batch.decode:
            self.mixed_steps += 1
            in_eb = self.exclusive or (isinstance(self.policy, EBPlus) and self.policy.mode == "eb")
            assert not in_eb, "an EB step mixed prefill and decode"


def check_result(res, workload):
    n = len(workload)
    assert len(res.requests) == n and len({r.rid for r in res.requests}) == n
    for r, p, o in zip(res.requests, workload.prompt_lens, workload.output_lens, strict=True):
        assert (r.prompt_len, r.output_len) == (p, o)
        assert r.num_generated == o, f"request {r.rid} produced {r.num_generated} of {o} tokens"
        assert r.arrival <= r.first_token_time <= r.finish_time
    assert res.tokens_emitted == sum(workload.output_lens)
    assert res.kv_peak_blocks <= res.kv_blocks


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("closed", [True, False])
def test_invariants_each_policy(policy, closed, h200_profile):
    w = (synthetic(300, 200, 300, concurrency=64, seed=3) if closed else synthetic(300, 200, 300, rate=40.0, seed=3))
    cfg = EngineConfig(max_num_seqs=48, token_budget=1024, kv_capacity_tokens=16 * 1500).resolved(h200_profile)
    pol = build_policy(policy, h200_profile, w, cfg, SelectorSettings(every=20, window=60, cooldown=20,
                                                                         min_occupancy=2))
    checker = StepChecker(cfg, exclusive=policy == "eb", policy=pol)
    res = run_engine(pol, SimulatedExecutor(h200_profile), w, cfg, on_step=checker)
    check_result(res, w)
    if policy in ("eb", "pf"):
        assert checker.mixed_steps == 0
    if policy == "mb":
        assert checker.mixed_steps > 0  # MB does mix: the check above is not vacuous


def test_tight_kv_preempts_and_still_serves_everything(h200_profile):
    w = synthetic(200, 400, 120, concurrency=64, seed=5)
    for policy in ("mb", "pf", "eb"):
        cfg = EngineConfig(max_num_seqs=64, token_budget=512, block_size=16, kv_capacity_tokens=16 * 300)
        cfg = cfg.resolved(h200_profile)
        pol = MixedBatching() if policy == "mb" else PrefillFirst() if policy == "pf" else ExclusiveBatching(0.1, 64)
        res = run_engine(pol, SimulatedExecutor(h200_profile), w, cfg, on_step=StepChecker(cfg, policy == "eb"))
        check_result(res, w)
        assert res.preemptions > 0, f"{policy}: KV for ~5 requests but 64 slots should force preemptions"
        assert sum(r.preemptions for r in res.requests) == res.preemptions


def test_level_scales_every_simulated_step(linear_profile):
    """A device `level` times slower than its profile: MB's steps are the same batches, each `level` times as
    long, bulk-costed decode stretches included; a level that is no positive number is refused."""
    w = synthetic(150, 40, 60, rate=5.0, seed=3)
    cfg = EngineConfig(max_num_seqs=16, token_budget=256).resolved(linear_profile)
    base = run_engine(build_policy("mb", linear_profile, w, cfg), SimulatedExecutor(linear_profile), w, cfg)
    slow = run_engine(build_policy("mb", linear_profile, w, cfg), SimulatedExecutor(linear_profile, level=1.25),
                      w, cfg)
    assert slow.makespan > base.makespan
    closed = synthetic(150, 40, 20, concurrency=8, seed=3)  # closed loop: the same batches at any speed
    runs = [run_engine(build_policy("mb", linear_profile, closed, cfg), SimulatedExecutor(linear_profile, level=x),
                       closed, cfg) for x in (1.0, 1.25)]
    assert runs[0].steps == runs[1].steps
    assert runs[1].makespan == pytest.approx(1.25 * runs[0].makespan, rel=1e-9)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="level"):
            SimulatedExecutor(linear_profile, level=bad)


@pytest.mark.parametrize("policy", POLICIES)
def test_fast_path_equals_step_by_step(policy, linear_profile):
    w = synthetic(200, 150, 200, rate=30.0, seed=7)
    cfg = EngineConfig(max_num_seqs=32, token_budget=512, kv_capacity_tokens=16 * 800).resolved(linear_profile)
    sel = SelectorSettings(every=20, window=60, cooldown=20, min_occupancy=2)
    fast = run_engine(build_policy(policy, linear_profile, w, cfg, sel), SimulatedExecutor(linear_profile), w, cfg)
    slow = run_engine(build_policy(policy, linear_profile, w, cfg, sel), SimulatedExecutor(linear_profile), w, cfg,
                      fast_forward=False)
    assert fast.steps == slow.steps and fast.preemptions == slow.preemptions
    for a, b in zip(fast.requests, slow.requests, strict=True):
        assert a.first_token_time == pytest.approx(b.first_token_time, rel=1e-12, abs=1e-12)
        assert a.finish_time == pytest.approx(b.finish_time, rel=1e-12, abs=1e-12)


def test_same_seed_same_result(h200_profile):
    cfg = EngineConfig(max_num_seqs=64, kv_capacity_tokens=50_000)
    a = simulate(h200_profile, "balanced:c=64:n=300", "all", config=cfg, seed=11)
    b = simulate(h200_profile, "balanced:c=64:n=300", "all", config=cfg, seed=11)
    c = simulate(h200_profile, "balanced:c=64:n=300", ["mb"], config=cfg, seed=12)
    for name in a.runs:
        ra, rb = a.runs[name].simulated_result, b.runs[name].simulated_result
        assert [r.finish_time for r in ra.requests] == [r.finish_time for r in rb.requests]
    assert [r.finish_time for r in c.runs["mb"].simulated_result.requests] != \
           [r.finish_time for r in a.runs["mb"].simulated_result.requests]


def test_mb_respects_budget_and_runs_running_first(h200_profile):
    w = synthetic(900, 50, 60, concurrency=40, seed=2)
    cfg = EngineConfig(max_num_seqs=16, token_budget=256, kv_capacity_tokens=100_000).resolved(h200_profile)
    seen = []

    def check(batch, st):
        assert batch.num_tokens <= 256
        # every running request that is not scheduled must come after all scheduled ones (running first)
        scheduled = {r.rid for r, _ in batch.prefill} | {r.rid for r in batch.decode}
        flags = [r.rid in scheduled for r in st.running]
        assert flags == sorted(flags, reverse=True)
        seen.append(len(batch.prefill))

    check_result(run_engine(MixedBatching(), SimulatedExecutor(h200_profile), w, cfg, on_step=check), w)
    assert max(seen) >= 1


def test_eb_refills_when_threshold_met(h200_profile):
    """With θ/(1−θ) = 1/3, EB leaves decode once a quarter of N slots has emptied and requests queue."""
    w = Workload("t", [64] * 40, [10, 20, 30, 40] * 10, concurrency=[40] * 40)
    cfg = EngineConfig(max_num_seqs=16, token_budget=4096, kv_capacity_tokens=100_000).resolved(h200_profile)
    eb = ExclusiveBatching(0.25, 16)
    log = []  # (prefill step?, requests running before the step's admissions, queued before them)

    def record(b, s):
        admitted = len(b.prefill)  # each refill chunk here is a whole new prompt (64 ≤ budget)
        log.append((bool(b.prefill), len(s.running) - admitted, len(s.waiting) + admitted))

    run_engine(eb, SimulatedExecutor(h200_profile), w, cfg, fast_forward=False, on_step=record)
    refills = [i for i, (p, _, _) in enumerate(log) if p and i > 0]
    assert refills
    for i in refills:
        _, n, q = log[i]
        assert min(q, 16 - n) / n >= 1 / 3  # refilled only once the threshold was met
        prev_prefill, n_prev, q_prev = log[i - 1]
        assert not prev_prefill and min(q_prev, 16 - n_prev) / n_prev < 1 / 3  # ... and not a step later


def test_ebplus_low_occupancy_takes_no_decision(h200_profile):
    w = synthetic(512, 128, 400, concurrency=4, seed=1)
    cfg = EngineConfig(max_num_seqs=256, kv_capacity_tokens=100_000).resolved(h200_profile)
    pol = EBPlus(h200_profile, SelectorSettings(every=20, window=60, min_occupancy=16))
    res = run_engine(pol, SimulatedExecutor(h200_profile), w, cfg)
    assert pol.decisions == [] and res.mode_switches == 0


def test_ebplus_hysteresis_and_cooldown(h200_profile):
    w = synthetic(512, 512, 3000, concurrency=512, seed=1)
    cfg = EngineConfig(max_num_seqs=1024, kv_capacity_tokens=700_000).resolved(h200_profile)
    sel = SelectorSettings(every=100, window=500, cooldown=300)
    pol = EBPlus(h200_profile, sel)
    run_engine(pol, SimulatedExecutor(h200_profile), w, cfg)
    assert pol.switches >= 1 and pol.decisions[0].mode == "eb"  # H200 β_MB fit: the crossover says EB at N=512
    switch_at = [d.completions for prev, d in zip(pol.decisions, pol.decisions[1:], strict=False)
                 if d.mode != prev.mode]
    assert all(b - a >= sel.cooldown for a, b in zip(switch_at, switch_at[1:], strict=False))
    delta_eb = [d.delta for d in pol.decisions if d.mode == "mb" and d is not pol.decisions[0]]
    assert all(d < 0 for d in delta_eb)  # back to MB only on the far side of the hysteresis band


lengths = st.lists(st.tuples(st.integers(1, 120), st.integers(1, 60)), min_size=1, max_size=40)


@given(lengths, st.sampled_from(POLICIES), st.integers(2, 12), st.integers(8, 64), st.integers(4, 30),
       st.booleans(), st.integers(0, 3))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_property_random_workloads(h200_profile, reqs, policy, slots, budget, kv_blocks, closed, seed):
    prompts, outputs = [p for p, _ in reqs], [o for _, o in reqs]
    block = 8
    cap = max(kv_blocks, -(-max(p + o for p, o in reqs) // block)) * block
    if closed:
        w = Workload("p", prompts, outputs, concurrency=[3] * len(reqs))
    else:
        w = Workload("p", prompts, outputs, arrivals=sorted(0.01 * i * (seed + 1) for i in range(len(reqs))))
    cfg = EngineConfig(max_num_seqs=slots, token_budget=budget, block_size=block,
                       kv_capacity_tokens=cap).resolved(h200_profile)
    pol = build_policy(policy, h200_profile, w, cfg, SelectorSettings(every=3, window=10, cooldown=3,
                                                                         min_occupancy=1))
    res = run_engine(pol, SimulatedExecutor(h200_profile), w, cfg, on_step=StepChecker(cfg, policy == "eb", pol))
    check_result(res, w)


def test_request_larger_than_kv_is_rejected(h200_profile):
    w = Workload("big", [5000], [10], concurrency=[1])
    cfg = EngineConfig(kv_capacity_tokens=4096).resolved(h200_profile)
    with pytest.raises(ValueError, match="request 0 needs 5010 KV tokens"):
        run_engine(MixedBatching(), SimulatedExecutor(h200_profile), w, cfg)


@pytest.mark.parametrize("curved", [False, True])
def test_decode_stretch_matches_stepwise_costing(curved, linear_profile):
    """The affine shortcut is taken only where the step model is affine in s_d; either way it equals
    costing every step with the model."""

    class Curved(SimulatedExecutor):
        def decode_time(self, n, s_d, d_pad=0.0):
            return super().decode_time(n, s_d, d_pad) + 1e-9 * s_d**1.5

    ex = Curved(linear_profile) if curved else SimulatedExecutor(linear_profile)
    n, s_d, k_max = 7, 700.0, 50
    expect, clock = [], 0.0
    for j in range(k_max):
        clock += ex.decode_time(n, s_d + j * n)
        expect.append(clock)
    k, end = ex.decode_stretch(n, s_d, k_max, 0.0, float("inf"))
    assert k == k_max and end == pytest.approx(expect[-1], rel=1e-12)
    k, end = ex.decode_stretch(n, s_d, k_max, 0.0, expect[9] - 1e-12)  # an arrival during step 10
    assert k == 10 and end == pytest.approx(expect[9], rel=1e-12)
