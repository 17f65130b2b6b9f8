"""`phasecal validate`: winners, noise gating, agreement and crossover loads, and one small executed sweep."""

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.fitting.profile import ExclusiveCosts, MixedCost, Profile, save_profile
from phasecal.scheduler.metrics import PolicySummary
from phasecal.scheduler.validate import LoadPoint, PolicyResult, Validation, validate

SUMMARY = PolicySummary(**{f.name: 0.1 for f in dataclasses.fields(PolicySummary)} | {
    "policy": "mb", "workload": "w", "executed": False, "num_requests": 10, "slo": {}, "preemptions": 0,
    "mode_switches": 0, "steps": 10, "kv_peak_blocks": 1, "kv_blocks": 1})


def _result(sim: float, *executed: float, steps: int = 10) -> PolicyResult:
    return PolicyResult(dataclasses.replace(SUMMARY, throughput_tok_s=sim, steps=steps),
                        [dataclasses.replace(SUMMARY, executed=True, throughput_tok_s=t) for t in executed])


def _point(c: int, predicted: str, mb: tuple, eb: tuple, eb_steps: int = 12) -> LoadPoint:
    """MB's and EB's (simulated, *executed) throughputs; EB simulates `eb_steps` steps to MB's 10."""
    p = LoadPoint(c, 16, predicted, predicted if predicted != "too close to call" else "MB", -1e-6, None,
                  {"mb": _result(*mb), "eb": _result(*eb, steps=eb_steps), "ebplus": _result(*mb)})
    p.judge()
    return p


def test_winner_counts_only_above_the_noise():
    clear = _point(8, "EB", (1000, 900, 910), (1000, 1000, 1010))
    assert clear.executed_winner == "EB" and clear.counted and clear.agrees
    assert clear.paired_gaps == pytest.approx([100 / 950, 100 / 960])  # each repeat's EB against its MB
    assert clear.noise == pytest.approx(100 / 950 - 100 / 960)
    assert clear.gap == pytest.approx((100 / 950 + 100 / 960) / 2)
    noisy = _point(8, "EB", (1000, 900, 1000), (1000, 960, 960))  # paired gaps +6.5% and −4.1%: spread > mean
    assert not noisy.counted and noisy.agrees is None
    unsure = _point(8, "too close to call", (1000, 900, 905), (1000, 1000, 1005))
    assert unsure.counted and unsure.agrees is False and unsure.point_agrees is False  # point estimate said MB


def test_paired_gaps_cancel_load_shared_by_a_repeat():
    # the second repeat ran 20% slower for both policies (other processes): EB's 5% lead holds in each repeat
    shared = _point(16, "EB", (1000, 1000, 800), (1000, 1050, 840))
    assert shared.counted and shared.executed_winner == "EB" and shared.noise == pytest.approx(0)
    assert shared.policies["mb"].noise > shared.gap  # each policy's own spread would have hidden it


def test_same_schedule_is_never_counted():
    # c = 1: MB and EB simulate the same steps, so an executed gap however clear is noise, not a decision
    same = _point(1, "MB", (1000, 900, 901), (1000, 1000, 1001), eb_steps=10)
    assert same.same_schedule and not same.counted and same.agrees is None and same.gap > same.noise
    for differs in (_point(1, "MB", (1000, 900, 901), (999, 1000, 1001), eb_steps=10),
                    _point(1, "MB", (1000, 900, 901), (1000, 1000, 1001))):
        assert not differs.same_schedule and differs.counted


def test_agreement_crossover_and_sim_gap():
    points = [_point(1, "MB", (1000, 1000, 1001), (1000, 900, 901)), _point(2, "MB", (1000, 1000, 1001),
                                                                                (1000, 1000, 1001)),
              _point(4, "EB", (1000, 900, 901), (1000, 1000, 1001)), _point(8, "EB", (1000, 900, 901),
                                                                              (1000, 1100, 1101))]
    v = Validation("p.json", "cpu", "16/4", 2, points)
    assert [p.counted for p in points] == [True, False, True, True]
    assert v.agreement == 1.0 and len(v.counted) == 3
    assert v.crossover("executed") == 2 and v.crossover("predicted") == 4  # c = 2 is a tie: not counted
    assert v.sim_gaps["mb"] == pytest.approx((0.0005 + 0.0005 + 0.0995 + 0.0995) / 4)
    doc = v.to_dict()
    assert doc["agreement"] == 1.0 and doc["points"][0]["policies"]["eb"]["executed_tok_s"] == 900.5


@pytest.mark.parametrize("args, message", [
    (["--concurrency", "1,x"], "--concurrency must be"), (["--concurrency", "0,2"], "--concurrency must be"),
    (["-w", "256"], "--workload must be L/O"), (["-w", "0/5"], "--workload lengths"),
    (["--repeats", "1"], "repeats")])
def test_bad_options_exit_2_with_one_line(tmp_path, args, message):
    prof = save_profile(Profile(device={"name": "cpu"}, model={"name": "tiny"},
                                exclusive={"eager": ExclusiveCosts(1e-3, 2e-5, 1e-3, 2e-5)}), tmp_path / "p.json")
    res = CliRunner().invoke(app, ["validate", "-p", str(prof), *args])
    assert res.exit_code == 2 and message in res.output


@pytest.mark.slow
def test_small_executed_sweep_writes_validation(tmp_path, device):
    profile = Profile(device={"name": "cpu"}, model={"name": "tiny"},
                      exclusive={"eager": ExclusiveCosts(1e-3, 2e-5, 1e-3, 2e-5)},
                      mixed=MixedCost(budget=64, a=2e-5, b=1e-5, c=0.0),
                      probe_settings={"threads": 1, "clock": "thread"})  # as CPU profiles measure
    v = validate(profile, "p.json", mu_l=8, mu_o=3, concurrencies=(2,), repeats=2, device=device)
    assert [p.concurrency for p in v.points] == [2] and v.seconds > 0
    for p in v.points:
        assert p.predicted in ("MB", "EB", "too close to call")
        assert all(len(r.executed) == 2 and r.executed_tok_s > 0 for r in p.policies.values())
    json.dumps(v.to_dict())


def test_cli_default_concurrency_is_the_sweeps():
    from phasecal.commands.validate import DEFAULT_CONCURRENCY
    from phasecal.scheduler.validate import CONCURRENCIES

    assert DEFAULT_CONCURRENCY == ",".join(map(str, CONCURRENCIES)) and len(CONCURRENCIES) >= 6


def test_simulated_agreement_counts_only_counted_points():
    # c = 1: executed EB clearly, simulated MB; c = 2: within noise; c = 4: executed and simulated MB
    points = [_point(1, "MB", (1000, 900, 901), (900, 1000, 1001)), _point(2, "MB", (1000, 1000, 1001),
                                                                              (1000, 1000, 1001)),
              _point(4, "MB", (1000, 1000, 1001), (900, 900, 901))]
    v = Validation("p.json", "cpu", "16/4", 2, points)
    assert [p.simulated_winner for p in points] == ["MB", "MB", "MB"]
    assert v.simulated_agreement == 0.5 and v.to_dict()["simulated_agreement"] == 0.5
    assert Validation("p.json", "cpu", "16/4", 2, points[1:2]).simulated_agreement is None
