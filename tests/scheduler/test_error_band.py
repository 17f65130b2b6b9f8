"""`simulate(error_band=True)` / `phasecal simulate --error-band`: each policy again with every step slower and
faster by the step model's held-out error, in the report, the table and summary.json."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.fitting.profile import load_profile, save_profile
from phasecal.scheduler.fair import held_out_error
from phasecal.scheduler.run import simulate
from phasecal.scheduler.schedule_doc import ScheduleDoc, read_schedule_doc, write_schedule_doc
from phasecal.scheduler.state import EngineConfig

CPU_PROFILE = Path(__file__).resolve().parents[2] / "results" / "cpu-intel-r-xeon-r-processor" / "tiny" / "profile.json"
CFG = EngineConfig(kv_capacity_tokens=50_000)


def test_band_scales_a_closed_loop_mb_run_by_the_error():
    prof = load_profile(CPU_PROFILE)
    e = held_out_error(prof)
    rep = simulate(prof, "balanced:c=8:n=40", ["mb", "fair"], config=CFG, error_band=True)
    band = rep.error_band
    assert band.error == e and 0 < e < 0.2
    assert [s.policy for s in band.slower] == [s.policy for s in band.faster] == ["mb", "fair"]
    mb, slower, faster = rep.runs["mb"].simulated, band.slower[0], band.faster[0]
    # MB's batches do not depend on time, and in a closed loop neither do its arrivals: every time just scales
    assert slower.steps == mb.steps == faster.steps
    assert slower.makespan_s == pytest.approx(mb.makespan_s * (1 + e))
    assert faster.tpot_p99_s == pytest.approx(mb.tpot_p99_s * (1 - e))
    assert slower.ttft_p99_s > mb.ttft_p99_s > faster.ttft_p99_s


def test_no_band_unless_asked_and_none_without_a_usable_held_out_error(h200_profile):
    assert simulate(h200_profile, "balanced:c=4:n=8", ["mb"], config=CFG).error_band is None
    prof = load_profile(CPU_PROFILE)
    chosen = prof.step_model.family
    for bad in (150.0, float("nan")):  # a step of 1 - 1.5 = -0.5 times its time has no meaning
        prof.families = [replace(f, cv_mape=bad) if f.name == chosen else f for f in prof.families]
        for p in (h200_profile, prof):
            with pytest.raises(ValueError, match="no held-out error"):
                simulate(p, "balanced:c=4:n=8", ["mb"], config=CFG, error_band=True)


def test_schedule_doc_keeps_the_band_and_names_a_bad_one(tmp_path):
    rep = simulate(load_profile(CPU_PROFILE), "balanced:c=4:n=8", ["mb", "eb"], config=CFG, error_band=True)
    path = write_schedule_doc(ScheduleDoc.from_report(rep, "p.json"), tmp_path / "s.json")
    assert read_schedule_doc(path).error_band == rep.error_band
    for bad in (0, 1.5, "x", None, True):
        d = json.loads(path.read_text())
        d["error_band"]["error"] = bad
        path.write_text(json.dumps(d))
        with pytest.raises(ValueError, match=r"s.json: error_band: error is the held-out error"):
            read_schedule_doc(path)
    d["error_band"] = [1]
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"error_band: an object"):
        read_schedule_doc(path)


def test_cli_prints_the_band_rows_and_refuses_it_where_it_cannot_run(tmp_path, h200_profile):
    runner = CliRunner()
    res = runner.invoke(app, ["simulate", "-p", str(CPU_PROFILE), "-w", "balanced:c=4:n=20", "--policy", "mb,fair",
                              "--kv-tokens", "50000", "--error-band", "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    e = held_out_error(load_profile(CPU_PROFILE))
    assert f"SLO attainment, steps ±{e:.1%}" in res.output and f"TPOT p99 (ms), steps ±{e:.1%}" in res.output
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert doc["error_band"]["error"] == e and [p["policy"] for p in doc["error_band"]["slower"]] == ["mb", "fair"]
    prof = save_profile(h200_profile, tmp_path / "h200.json")
    for args, words in ((["-p", str(prof), "--error-band"], "no held-out error"),
                        (["-p", str(CPU_PROFILE), "--error-band", "--sweep", "load=0.5:0.6:0.1"], "--error-band")):
        res = runner.invoke(app, ["simulate", "-w", "balanced:c=4:n=8", *args])
        assert res.exit_code == 2 and words in res.output, res.output
