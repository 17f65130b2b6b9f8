"""The parts of benchmarks/fair_executed.py that run without executing a model: the step log and its error
breakdown, the profile points' compositions the drift check re-times, and the discriminating TPOT SLO."""

import random
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import fair_step_log as sl
import pytest
from fair_retime import point_composition, signed_errors
from fair_slo import TARGETS, discriminating_slo
from fair_step_log import (
    StepLog,
    StepRecord,
    breakdown,
    by_decode_kv,
    by_preemption,
    by_time,
    errors,
    like_step_bins,
)

from phasecal.fitting.features import step_features
from phasecal.fitting.profile import load_profile
from phasecal.probes.step import CPU_GRID, compositions
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.workload_spec import workload_from_spec

CPU_PROFILE = Path(__file__).resolve().parents[2] / "results/cpu-intel-r-xeon-r-processor/tiny/profile.json"


def _req(computed: int):
    return SimpleNamespace(num_computed=computed)


def _random_steps(rng: random.Random, n: int) -> list[StepRecord]:
    steps = []
    for _ in range(n):
        prefill = tuple((rng.randint(1, 256), rng.randint(0, 512)) for _ in range(rng.randint(0, 2)))
        decode = tuple(rng.randint(1, 3000) for _ in range(rng.randint(0 if prefill else 1, 12)))
        executed = rng.uniform(0.003, 0.03)
        steps.append(StepRecord(prefill, decode, executed * rng.uniform(0.8, 1.2), executed, executed * 1.5))
    return steps


def test_step_log_pairs_each_step_with_its_plan_and_skips_empty_steps():
    rng = random.Random(1)
    planned = [rng.uniform(0.001, 0.01) for _ in range(3)]
    times = iter([0.004, 0.0, 0.006])
    executor = SimpleNamespace(step=lambda batch, st: next(times))
    log = StepLog(planned)
    log.wrap(executor)
    a, b = _req(rng.randint(1, 99)), _req(rng.randint(100, 999))
    batches = [SimpleNamespace(prefill=[(a, 16)], decode=[b]), SimpleNamespace(prefill=[], decode=[]),
               SimpleNamespace(prefill=[], decode=[a, b])]
    assert [executor.step(x, None) for x in batches] == [0.004, 0.0, 0.006]
    assert [(s.prefill, s.decode, s.planned_s, s.executed_s) for s in log.steps] == [
        (((16, a.num_computed),), (b.num_computed,), planned[0], 0.004),
        ((), (a.num_computed, b.num_computed), planned[2], 0.006)]
    assert [s.kind for s in log.steps] == ["mixed", "decode"] and log.steps[1].s_d == a.num_computed + b.num_computed


def test_errors_by_hand():
    steps = [StepRecord((), (100,), 0.011, 0.010, 0.02), StepRecord((), (100,), 0.008, 0.010, 0.02)]
    e = errors(steps)
    assert e["mape_pct"] == pytest.approx(15.0) and e["signed_median_pct"] == pytest.approx(10.0)
    assert e["mean_planned_ms"] == pytest.approx(9.5) and e["mean_executed_ms"] == pytest.approx(10.0)
    assert errors(steps, "wall_s")["mape_pct"] == pytest.approx((45 + 60) / 2)
    assert errors([]) is None


def test_breakdown_bins_cover_every_step_once():
    steps = _random_steps(random.Random(2), 137)
    b = breakdown(steps)
    assert b["all"]["steps"] == 137
    assert sum(v["steps"] for v in b["by_kind"].values()) == 137
    assert sum(v["steps"] for v in by_time(steps).values()) == 137
    assert list(by_time(steps))[:2] == ["0-9", "10-49"]
    with_decodes = sum(1 for s in steps if s.decode)
    assert sum(v["steps"] for v in by_decode_kv(steps).values()) == with_decodes


def test_like_step_bins_see_a_bias_through_the_scatter_of_single_steps():
    rng = random.Random(5)
    steps = []
    for _ in range(60):  # decodes: each step scatters +-20% around 1.1x its plan, so the plan is 10% short
        plan = rng.uniform(0.004, 0.006)
        steps.append(StepRecord((), (rng.randint(1, 999),), plan, plan * 1.1 * rng.uniform(0.8, 1.2), 0.01))
    steps += [StepRecord(((16, 0),), (), 0.01, 0.01, 0.01)] * 7  # too few prefills for a bin of their own
    b = like_step_bins(steps, per_bin=25)
    assert b["bins"] == 2 and b["steps"] == 60  # 25 + the last bin's 35 decodes; the prefills make none
    assert b["mape_pct"] == pytest.approx(100 / 11, abs=3.0) and b["signed_median_pct"] < -5
    assert errors(steps[:60])["mape_pct"] > b["mape_pct"] + 1  # the per-step error adds each step's scatter
    assert like_step_bins(steps[60:], per_bin=25) is None
    assert breakdown(steps)["like_steps"] == like_step_bins(steps)


def test_by_preemption_splits_by_switch_count():
    rng = random.Random(4)
    steps = [StepRecord((), (rng.randint(1, 999),), 0.01, rng.uniform(0.008, 0.012), 0.02, n)
             for n in (0, 0, 1, 3, 2, None)]
    b = by_preemption(steps)
    assert {k: v["steps"] for k, v in b.items()} == {"0": 2, "1": 1, "2+": 2}
    assert by_preemption([StepRecord((), (5,), 0.01, 0.01, 0.01)]) == {}


def test_step_log_counts_switches_where_the_os_does():
    log = StepLog([0.01])
    executor = SimpleNamespace(step=lambda batch, st: 0.01)
    log.wrap(executor)
    executor.step(SimpleNamespace(prefill=[], decode=[_req(7)]), None)
    if sl.involuntary_switches() is None:
        assert log.steps[0].preempted is None
    else:
        assert log.steps[0].preempted >= 0


def test_executed_level_is_total_executed_over_total_profile_plan():
    from fair_executed import executed_level

    steps = [StepRecord((), (100,), planned_s=0.011, executed_s=0.012, wall_s=0.012, profile_s=0.010),
             StepRecord(((16, 0),), (), planned_s=0.03, executed_s=0.033, wall_s=0.033)]  # no correction: planned
    assert executed_level(steps) == pytest.approx((0.012 + 0.033) / (0.010 + 0.03))


def test_by_time_on_a_short_run():
    steps = _random_steps(random.Random(3), 7)
    assert sum(v["steps"] for v in by_time(steps).values()) == 7


def test_point_composition_inverts_the_grid_features():
    for params in compositions(CPU_GRID):
        f = step_features(params["prefill"], params["decode"])
        comp = point_composition(asdict(f), spread=True)
        assert comp is not None, params
        prefill, decode = comp
        assert step_features(prefill, decode) == f
        assert tuple(decode) == tuple(params["decode"])  # the very contexts the probe measured
        uniform = point_composition(asdict(f), spread=False)  # as a grid of equal contexts laid it out
        assert step_features(*uniform) == replace(f, d_pad=0.0) and len(set(uniform[1])) <= 1


def test_point_composition_refuses_what_the_grid_cannot_have():
    assert point_composition({"n_p": 10, "n_d": 0, "s_p": 10 * 5.25, "s_d": 0, "n_seq": 1}, True) is None  # c = -0.25
    assert point_composition({"n_p": 0, "n_d": 3, "s_p": 0, "s_d": 100, "n_seq": 3}, True) is None  # 100 / 3 decodes


def test_signed_errors():
    e = signed_errors([1.1, 0.9, 1.0], [1.0, 1.0, 1.0])
    assert e["median_pct"] == pytest.approx(0.0) and e["mean_abs_pct"] == pytest.approx(20 / 3)


@pytest.mark.parametrize("target", TARGETS)
def test_discriminating_slo_lands_between_the_loose_and_the_impossible(target):
    profile = load_profile(CPU_PROFILE)
    cfg = EngineConfig(kv_capacity_tokens=65536).resolved(profile)
    choice = discriminating_slo(profile, workload_from_spec("256/64:rate=6:n=30", seed=0), cfg, 1.0, 0.02, target)
    assert abs(choice.simulated_attainment - target) <= 0.15, choice
    assert 1e-3 < choice.slo.tpot_s < 0.02 and choice.slo.ttft_s == 1.0
    assert f"{choice.simulated_attainment:.0%} percentile" in choice.how
