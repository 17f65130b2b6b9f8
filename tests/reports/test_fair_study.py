"""The fair-vs-MB table: rendered from the benchmark's JSON, a note when absent, a problem when corrupt."""

import json

from phasecal.reports.data import load_results
from phasecal.reports.fair_study import fair_vs_mb_markdown


def _policy(ttft, att):
    return {"ttft_p99_s": ttft, "tpot_attainment": att}


def test_table_rows_and_executed_lines(tmp_path):
    row = {"profile": "H200", "workload": "balanced", "slo_ttft_s": 1.0, "slo_tpot_s": 0.03,
           "capacity_load": {"mb": 20.0, "fair": 22.0},
           "at_mb_capacity": {"mb": _policy(0.26, 0.905), "fair": _policy(0.55, 1.0)},
           "at_half_mb_capacity": {"mb": _policy(0.12, 1.0), "fair": _policy(0.17, 1.0)}}
    err = {"steps": 10, "mape_pct": 12.5, "signed_median_pct": -11.0, "mean_planned_ms": 8.0, "mean_executed_ms": 9.0}
    case = {"workload": "256/64 rate=3", "slo": {"ttft_s": 2.0, "tpot_s": 0.1}, "slo_choice": None,
            "planned_vs_executed_steps": {"all": err, "by_kind": {"decode": {**err, "mape_pct": 14.0}},
                                          "like_steps": {"bins": 3, "steps": 10, "mape_pct": 4.5},
                                          "by_preemption": {"0": {**err, "mape_pct": 6.0, "steps": 4}}},
            "retimed": {"replay": {"planned_vs_replayed": {"median_pct": -9.0},
                                   "executed_vs_replayed": {"median_pct": 2.0}},
                        "drift": {"now_vs_profiled": {"median_pct": 7.5}}},
            "tpot_attainment": {"simulated": 0.97, "executed": 1.0}, "loadavg_1_5_15": {"before": [7.5, 7, 7]}}
    tight = {**case, "slo": {"ttft_s": 1.0, "tpot_s": 0.00635}, "retimed": {"replay": None, "drift": None},
             "slo_choice": {"how": "bisection for 50%", "simulated_attainment": 0.5},
             "tpot_attainment": {"simulated": 0.5, "executed": 0.05, "simulated_at_executed_level": 0.07,
                                 "simulated_at_rechecked_level": 0.4, "simulated_within_held_out_error": [0.31, 0.64]},
             "executed_level": 1.0712, "rechecked_level": 1.02, "online_correction_pct": 9.26,
             "planned_vs_executed_steps": {**case["planned_vs_executed_steps"],
                                           "profile_alone": {**err, "mape_pct": 14.5, "signed_median_pct": -12.25}}}
    (tmp_path / "fair_vs_mb").mkdir()
    (tmp_path / "fair_vs_mb" / "fair_vs_mb.json").write_text(json.dumps({"rows": [row]}))
    run = {"profile": "p.json", "profile_device": "AMD EPYC", "held_out_mape_pct": 3.8, "held_out_family": "roofline",
           "cases": [case, tight]}
    on_xeon = {**run, "machine": {"processor": "Intel Xeon", "cpu_count": 2}}  # a run keeps its own machine
    (tmp_path / "fair_vs_mb" / "executed_cpu.json").write_text(json.dumps(
        {"machine": {"processor": "AMD EPYC", "cpu_count": 2}, "runs": [run, on_xeon]}))
    md = fair_vs_mb_markdown(load_results(tmp_path))
    assert "Executed on the CPU (AMD EPYC, 2 cores" in md and "Executed on the CPU (Intel Xeon, 2 cores" in md
    assert "| H200 | balanced | 1 s, 30 ms | 20 → 22 (+10%) | 0.26 → 0.55 s | 90.5% → 100.0% | 0.12 → 0.17 s |" in md
    assert "held-out k-fold MAPE of its step model (roofline) 3.8%" in md
    assert ("| 256/64 rate=3 | 2 s, 100 ms | 10 | 12.5% (-11.0%) | 4.5% (3) | – | – | – / 14.0% / – | 6.0% (4) | "
            "-9.0% | +2.0% | +7.5% | 97.0% → 100.0% | 7.5 |") in md
    assert "| 1 s, 6.35 ms (discriminating: 50% simulated) |" in md
    assert "50.0% → 5.0% (re-checked ×1.020: 40.0%; executed ×1.071: 7.0%; ±3.8%: 31%–64%) |" in md
    assert "Discriminating SLOs: bisection for 50%." in md
    assert "| 4.5% (3) | 14.5% (-12.2%) | +9.3% |" in md  # the profile alone, then the correction at the end


def test_absent_and_corrupt(tmp_path):
    assert "No fair-vs-MB study" in fair_vs_mb_markdown(load_results(tmp_path))
    (tmp_path / "fair_vs_mb").mkdir()
    (tmp_path / "fair_vs_mb" / "fair_vs_mb.json").write_text("{torn")
    results = load_results(tmp_path)
    assert "No fair-vs-MB study" in fair_vs_mb_markdown(results)
    assert any("fair_vs_mb.json" in p for p in results.problems)
    (tmp_path / "fair_vs_mb" / "fair_vs_mb.json").write_text(json.dumps({"rows": [{"profile": "x"}]}))
    results = load_results(tmp_path)
    assert "No fair-vs-MB study" in fair_vs_mb_markdown(results)
    assert any("rows[0] lacks workload" in p for p in results.problems)
