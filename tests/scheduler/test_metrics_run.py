"""Metrics by hand on a run small enough to follow, the CSV/JSON writers, and the public run API."""

import csv
import json

import pytest

from phasecal.scheduler.mb import MixedBatching
from phasecal.scheduler.metrics import SLO, summarize, write_requests_csv
from phasecal.scheduler.run import compare_policies, parse_policies, simulate
from phasecal.scheduler.schedule_doc import ScheduleDoc, WorkloadInfo, read_schedule_doc, write_schedule_doc
from phasecal.scheduler.simulator import SimulatedExecutor, run_engine
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.workload_spec import workload_from_spec
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
    assert s.tpot_mean_s == pytest.approx(t_d) and s.ttft_p99_s == pytest.approx(t_p)
    assert s.slo_attainment == 1.0
    assert summarize(res, "one", SLO(ttft_s=t_p / 2)).slo_attainment == 0.0


def test_writers(tmp_path, h200_profile):
    rep = simulate(h200_profile, "balanced:c=16:n=40", ["mb", "eb"], config=EngineConfig(kv_capacity_tokens=50_000))
    res = rep.runs["mb"].simulated_result
    rows = list(csv.DictReader(write_requests_csv(res, tmp_path / "r.csv").open()))
    assert len(rows) == 40 and float(rows[0]["ttft_s"]) > 0
    doc = read_schedule_doc(write_schedule_doc(ScheduleDoc.from_report(rep, "h200.json"), tmp_path / "s.json"))
    assert [p.policy for p in doc.policies] == ["mb", "eb"] and doc.policies == rep.summaries()
    assert (doc.workload.name, doc.workload.family, doc.workload.concurrency) == (rep.workload, "balanced", 16)
    assert doc.workload.spec == "balanced:c=16:n=40" and doc.config == rep.config and doc.profile == "h200.json"


@pytest.mark.parametrize(("spec", "family", "concurrency"), [
    ("azure_conv:n=50", "azure_conv", None), ("512/64:c=8:n=20", "512/64", 8),
    ("128/64:rate=5:n=20", "128/64 rate=5", None),
    ("shift_conc:n=5", "512/256 c=32 → 512 → 1024 → 256 → 2048", None)])
def test_workload_info_names_family_and_concurrency(spec, family, concurrency):
    info = WorkloadInfo.of(workload_from_spec(spec), spec)
    assert (info.family, info.concurrency) == (family, concurrency)


def test_malformed_schedule_doc_names_the_file(tmp_path, h200_profile):
    rep = simulate(h200_profile, "balanced:c=4:n=8", ["mb"], config=EngineConfig(kv_capacity_tokens=50_000))
    d = ScheduleDoc.from_report(rep, None).to_dict()
    d["policies"][0].pop("steps")
    path = tmp_path / "s.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"s.json: malformed schedule document"):
        read_schedule_doc(path)


def test_compare_policies_and_parse(h200_profile):
    out = compare_policies(h200_profile, "azure_conv:n=500", policies=("mb", "eb"))
    assert [s.policy for s in out] == ["mb", "eb"] and all(s.num_requests == 500 for s in out)
    assert parse_policies("all") == ("mb", "pf", "eb", "ebplus", "fair") and parse_policies("mb,eb") == ("mb", "eb")
    with pytest.raises(ValueError, match="unknown policy"):
        parse_policies("mb,xx")
