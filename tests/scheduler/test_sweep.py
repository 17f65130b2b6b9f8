"""Load sweeps: the capacity bisection agrees with a brute-force sweep; the CLI prints, writes and refuses."""

import csv
import json

import pytest
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.fitting.profile import save_profile
from phasecal.scheduler.metrics import SLO
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.sweep import bisect_capacity, meets_slo, parse_sweep, sweep_loads
from phasecal.scheduler.workloads import synthetic
from phasecal.schemas import check_file

SLO_TIGHT = SLO(ttft_s=0.5, tpot_s=0.05)


def test_parse_sweep():
    assert parse_sweep("load=0.2:1.4:0.1") == pytest.approx([0.2 + 0.1 * i for i in range(13)])
    assert parse_sweep("load=0.5:0.5:0.1") == [0.5]
    for bad in ("rate=1:2:1", "load=1:2", "load=0:1:0.1", "load=1:0.5:0.1", "load=0.1:1:0", "load=a:b:c",
                "load=0.1:inf:0.1", "load=0.001:1000:0.001"):
        with pytest.raises(ValueError, match="--sweep"):
            parse_sweep(bad)


def test_bisection_matches_brute_force_sweep(linear_profile):
    """The capacity the bisection finds is the highest load of a fine brute-force grid that meets the SLO."""
    w = synthetic(256, 64, 150, rate=1.0, seed=4)
    config = EngineConfig(max_num_seqs=32, token_budget=1024)
    fine = [round(0.05 * i, 2) for i in range(2, 41)]  # 0.10 .. 2.00
    brute = sweep_loads(linear_profile, w, ("mb",), fine, config=config, slo=SLO_TIGHT, tol=0.01)
    passed = [meets_slo(s, 0.9) for s in brute.points["mb"]]
    assert passed[0] and not passed[-1], "the grid must bracket the capacity for this test to mean anything"
    highest = max(x for x, ok in zip(fine, passed, strict=True) if ok)
    coarse = sweep_loads(linear_profile, w, ("mb",), [0.1, 0.5, 0.9, 1.3, 1.7, 2.0], config=config, slo=SLO_TIGHT,
                         tol=0.01)
    found = coarse.capacities["mb"].load
    assert abs(found - highest) <= 0.05 + 1e-9  # within one step of the fine grid
    assert coarse.capacities["mb"].tokens_per_s == pytest.approx(found * coarse.capacity.tokens_per_s)


def test_bisect_capacity_on_a_step_function():
    calls = []

    def passes(x):
        calls.append(x)
        return x <= 0.637

    assert bisect_capacity(passes, 0.5, 0.9, 0.001) == pytest.approx(0.637, abs=0.001)
    assert len(calls) == 9  # log2(0.4 / 0.001) rounded up


def test_parallel_sweep_equals_serial(linear_profile):
    w = synthetic(256, 64, 80, rate=1.0, seed=1)
    kw = dict(config=EngineConfig(max_num_seqs=32, token_budget=1024), slo=SLO_TIGHT)
    one = sweep_loads(linear_profile, w, ("mb", "eb"), [0.3, 0.9, 1.5], jobs=1, **kw)
    two = sweep_loads(linear_profile, w, ("mb", "eb"), [0.3, 0.9, 1.5], jobs=2, **kw)
    for p in ("mb", "eb"):
        assert [s.ttft_p99_s for s in one.points[p]] == [s.ttft_p99_s for s in two.points[p]]
        assert one.capacities[p] == two.capacities[p]


def test_sweep_cli_prints_and_writes_table_json_csv(tmp_path, linear_profile):
    prof = save_profile(linear_profile, tmp_path / "p.json")
    res = CliRunner().invoke(app, ["simulate", "-p", str(prof), "-w", "256/64:rate=1:n=60", "--policy", "mb,eb",
                                   "--sweep", "load=0.4:1.6:0.6", "--max-num-seqs", "32", "--token-budget", "1024",
                                   "--slo-ttft", "0.5", "--slo-tpot", "0.05", "-j", "1", "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "Load sweep" in res.output and "capacity under the SLOs" in res.output
    doc = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert doc["workload_spec"] == "256/64:rate=1:n=60" and doc["loads"] == [0.4, 1.0, 1.6]
    assert set(doc["capacity_under_slo"]) == {"mb", "eb"} and doc["phasecal_version"] and "date" in doc
    rows = list(csv.DictReader((tmp_path / "o" / "sweep.csv").open()))
    assert len(rows) == 6 and {"offered_load", "policy", "ttft_p99_s", "goodput_tok_s", "meets_slo"} <= set(rows[0])
    kinds = [check_file(tmp_path / "o" / f).name for f in ("sweep.json", "sweep.csv")]  # the shipped schemas
    assert kinds == ["load_sweep", "load_sweep_row"]


@pytest.mark.parametrize("args, msg", [
    (["-w", "balanced:c=8:n=10", "--sweep", "load=0.5:1:0.5"], "closed loop"),
    (["-w", "azure_conv:load=0.5:n=10", "--sweep", "load=0.5:1:0.5"], "drop :load="),
    (["-w", "azure_conv:n=10", "--sweep", "load=1"], "START:STOP:STEP"),
    (["-w", "azure_conv:n=10", "--sweep", "load=0.5:1:0.5", "--execute"], "simulates only"),
])
def test_sweep_cli_bad_input_exit_2(tmp_path, linear_profile, args, msg):
    prof = save_profile(linear_profile, tmp_path / "p.json")
    res = CliRunner().invoke(app, ["simulate", "-p", str(prof), *args])
    assert res.exit_code == 2 and msg in res.output, res.output
