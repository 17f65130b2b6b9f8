"""Metrics by hand on a run small enough to follow, the CSV/JSON writers, and the public run API."""

import csv
import json

import pytest

from phasecal.scheduler.mb import MixedBatching
from phasecal.scheduler.metrics import SLO, summarize, write_requests_csv, write_summary_json
from phasecal.scheduler.run import compare_policies, parse_policies, simulate
from phasecal.scheduler.simulator import SimulatedExecutor, run_engine
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.workloads import Workload


def test_one_request_by_hand(h200_profile):
    # One request, prompt 100, 5 outputs: one prefill step then 4 decode steps, phase-affine costs.
    c = h200_profile.exclusive["eager"]
    w = Workload("one", [100], [5], arrivals=[0.0])
    cfg = EngineConfig(max_num_seqs=4, token_budget=512, kv_capacity_tokens=4096).resolved(h200_profile)
    res = run_engine(MixedBatching(), SimulatedExecutor(h200_profile), w, cfg)
    t_p = c.alpha_p + c.beta_p * 100
    t_d = c.alpha_d + c.beta_d * 1
    r = res.requests[0]
    assert r.first_token_time == pytest.approx(t_p)
    assert r.finish_time == pytest.approx(t_p + 4 * t_d)
    assert res.steps == 5
    s = summarize(res, "one", SLO(ttft_s=1.0, tpot_s=t_d * 1.01))
    assert s.throughput_tok_s == pytest.approx(105 / (t_p + 4 * t_d))
    assert s.tpot_mean == pytest.approx(t_d) and s.ttft_p99 == pytest.approx(t_p)
    assert s.slo_attainment == 1.0
    assert summarize(res, "one", SLO(ttft_s=t_p / 2)).slo_attainment == 0.0


def test_writers(tmp_path, h200_profile):
    rep = simulate(h200_profile, "balanced:c=16:n=40", ["mb", "eb"], config=EngineConfig(kv_capacity_tokens=50_000))
    res = rep.runs["mb"].simulated_result
    rows = list(csv.DictReader(write_requests_csv(res, tmp_path / "r.csv").open()))
    assert len(rows) == 40 and float(rows[0]["ttft_s"]) > 0
    doc = json.loads(write_summary_json(rep.summaries(), tmp_path / "s.json", {"workload": rep.workload}).read_text())
    assert [p["policy"] for p in doc["policies"]] == ["mb", "eb"] and doc["workload"] == rep.workload


def test_compare_policies_and_parse(h200_profile):
    out = compare_policies(h200_profile, "azure_conv:n=500", policies=("mb", "eb"))
    assert [s.policy for s in out] == ["mb", "eb"] and all(s.num_requests == 500 for s in out)
    assert parse_policies("all") == ("mb", "pf", "eb", "ebplus", "fair") and parse_policies("mb,eb") == ("mb", "eb")
    with pytest.raises(ValueError, match="unknown policy"):
        parse_policies("mb,xx")
