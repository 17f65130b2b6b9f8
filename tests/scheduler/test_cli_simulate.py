"""`phasecal simulate`: side-by-side table, files written, bad input -> one line on stderr and exit 2."""

import json

import pytest
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.fitting.profile import save_profile


def test_simulate_prints_policies_and_writes_files(tmp_path, h200_profile):
    prof = save_profile(h200_profile, tmp_path / "p.json")
    res = CliRunner().invoke(app, ["simulate", "-p", str(prof), "-w", "balanced:c=32:n=80", "--policy", "mb,eb",
                                   "--kv-tokens", "60000", "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "throughput (tok/s)" in res.output and "Δ(N = 32)" in res.output.replace("\n", " ")
    doc = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [p["policy"] for p in doc["policies"]] == ["mb", "eb"]
    assert (tmp_path / "out" / "requests_eb.csv").read_text().count("\n") == 81


def test_simulate_bad_input_exit_2(tmp_path, h200_profile):
    prof = save_profile(h200_profile, tmp_path / "p.json")
    runner = CliRunner()
    for args, msg in ((["-w", "nope"], "unknown workload"), (["--policy", "xx"], "unknown policy"),
                      (["-w", "balanced:c=4:n=4", "--kv-tokens", "64"], "KV tokens")):
        res = runner.invoke(app, ["simulate", "-p", str(prof), *args])
        assert res.exit_code == 2, res.output
        assert msg in res.output  # CliRunner mixes stderr into output
    res = runner.invoke(app, ["simulate", "-p", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "no such profile" in res.output


def test_simulate_prints_rho_and_warns_on_overload(tmp_path, h200_profile):
    prof = save_profile(h200_profile, tmp_path / "p.json")
    runner = CliRunner()
    res = runner.invoke(app, ["simulate", "-p", str(prof), "-w", "balanced:load=0.5:n=60", "--policy", "mb"])
    assert res.exit_code == 0, res.output
    assert "ρ 0.50 of MB capacity" in res.output and "warning" not in res.output
    res = runner.invoke(app, ["simulate", "-p", str(prof), "-w", "balanced:load=3:n=60", "--policy", "mb"])
    assert res.exit_code == 0 and "warning:" in res.output and "ρ = 3.00" in res.output
    res = runner.invoke(app, ["simulate", "-p", str(prof), "-w", "azure_conv:rate=0.5"])
    assert res.exit_code == 2 and ":rate= does not apply to a trace" in res.output


def test_requests_csv_has_queueing_and_end_to_end_latency(tmp_path, h200_profile):
    import csv

    prof = save_profile(h200_profile, tmp_path / "p.json")
    res = CliRunner().invoke(app, ["simulate", "-p", str(prof), "-w", "balanced:load=1.5:n=60", "--policy", "eb",
                                   "--seed", "3", "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((tmp_path / "o" / "requests_eb.csv").open()))
    for r in rows:
        q, ttft, e2e = float(r["queueing_delay_s"]), float(r["ttft_s"]), float(r["e2e_latency_s"])
        assert 0 <= q <= ttft <= e2e
        assert e2e == pytest.approx(float(r["finish_s"]) - float(r["arrival_s"]))
    assert max(float(r["queueing_delay_s"]) for r in rows) > 0  # overloaded: some requests waited
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert doc["run"]["seed"] == 3 and doc["workload"]["spec"] == "balanced:load=1.5:n=60"
    assert doc["offered_load"] == pytest.approx(1.5) and doc["run"]["phasecal_version"] and doc["run"]["date"]
    assert "ttft_p50_s" in doc["policies"][0] and "goodput_tok_s" in doc["policies"][0]
