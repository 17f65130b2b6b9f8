"""Scheduling under load: figures and tables from a tidy load table (synthetic), and a small real sweep."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from phasecal import __version__
from phasecal.reports import load_curves
from phasecal.reports.data import load_results
from phasecal.reports.load_sweep import LoadPoint, LoadSweep, sweep_profiles
from phasecal.reports.provenance import provenance
from phasecal.reports.style import Missing
from phasecal.scheduler.metrics import SLO

PROFILES = ("Fast GPU · tiny", "Slow CPU · tiny")


def synthetic_sweep(tie: bool = False) -> LoadSweep:
    """Two profiles, MB and EB, four loads; EB saturates later on the GPU unless `tie`."""
    points, latencies = [], {}
    rng = np.random.default_rng(0)
    for profile, cap in zip(PROFILES, (10000.0, 500.0), strict=True):
        for policy, knee in (("mb", 0.7), ("eb", 0.7 if tie or cap < 1000 else 0.95)):
            for f in (0.25, 0.5, 0.75, 1.0):
                load = f * cap
                over = max(f - knee, 0) * 40
                ttft, tpot = 0.1 * (1 + over), 0.02 * (1 + over / 4)
                points.append(LoadPoint(profile, policy, load, min(load, cap * 0.9), ttft, 3 * ttft, tpot, 2 * tpot,
                                        1.0 if f <= knee else 0.5, predicted="EB"))
                latencies[(profile, policy, load)] = (rng.exponential(ttft, 200), rng.exponential(tpot, 200))
    return LoadSweep(points, SLO(), "synthetic", latencies)


def test_throughput_latency_curves_one_line_per_policy_and_quantile():
    fig = load_curves.throughput_latency(synthetic_sweep(), ["results/x.json"], provenance([]))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4  # (TTFT, TPOT) per profile
    for ax in axes:
        labels = [line.get_label() for line in ax.get_lines()]
        for name in ("MB p50", "MB p99", "EB p50", "EB p99"):
            assert labels.count(name) == 1
        assert ax.get_xlim()[0] == 0  # throughput from zero
    text = " ".join(t.get_text() for t in fig.texts)
    assert re.search(rf"drawn \d{{4}}-\d\d-\d\d by phasecal {__version__}", text)


def test_capacity_under_slo_and_ties_not_bolded():
    table = load_curves.capacity_markdown(synthetic_sweep())
    gpu = next(line for line in table.splitlines() if line.startswith(f"| {PROFILES[0]}"))
    assert "**EB**" in gpu and "7,500 tok/s" in gpu and "5,000 tok/s" in gpu
    cpu = next(line for line in table.splitlines() if line.startswith(f"| {PROFILES[1]}"))
    assert "MB = EB (tie)" in cpu and "**" not in cpu
    assert "**" not in load_curves.capacity_markdown(synthetic_sweep(tie=True))


def test_latency_cdfs_at_one_load():
    fig = load_curves.latency_cdfs(synthetic_sweep(), 0.5, ["results/x.json"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    for ax in axes:
        curves = [line for line in ax.get_lines() if line.get_label() in ("MB", "EB")]
        assert len(curves) == 2
        y = curves[0].get_ydata()
        assert y[-1] == pytest.approx(1.0) and np.all(np.diff(y) >= 0)
    assert "5,000 tok/s offered" in axes[0].get_title()


def test_validation_table_marks_agreement():
    rows = load_curves.sweep_validation(synthetic_sweep())
    table = load_curves.validation_markdown(rows, "simulated winner")
    assert "| Fast GPU · tiny | 7,500 | EB | EB | ✓ |" in table
    assert "| Fast GPU · tiny | 2,500 | EB | MB = EB | ✓ |" in table  # a tie includes the prediction
    assert "✗" not in table


def test_validation_weighs_only_what_the_crossover_decides():
    """A fair run that beats every other policy leaves the MB/EB crossover's check as it was."""
    sweep = synthetic_sweep()
    sweep.points += [LoadPoint(p.profile, "fair", p.load_tok_s, p.throughput_tok_s * 2, 0.01, 0.02, 0.01, 0.02, 1.0)
                     for p in sweep.points if p.policy == "mb"]
    assert load_curves.sweep_validation(sweep) == load_curves.sweep_validation(synthetic_sweep())


def test_empty_sweep_is_one_line():
    empty = LoadSweep([], SLO(), "none")
    assert isinstance(load_curves.throughput_latency(empty, []), Missing)
    assert isinstance(load_curves.latency_cdfs(empty, 0.5, []), Missing)


def test_small_sweep_on_a_profile(two_devices: Path):
    d = load_results(two_devices).devices[0]
    sweep = sweep_profiles([(d.label, d.profile, False)], policies=("mb", "eb"), requests=60, loads=(0.5, 1.0))
    assert {(p.policy, round(p.load_tok_s / sweep.points[-1].load_tok_s, 2)) for p in sweep.points} == {
        ("mb", 0.5), ("eb", 0.5), ("mb", 1.0), ("eb", 1.0)}
    low = [p for p in sweep.points if p.load_tok_s < sweep.points[-1].load_tok_s]
    assert all(p.throughput_tok_s == pytest.approx(p.load_tok_s, rel=0.35) for p in low)  # below capacity: served
    assert all(len(v[0]) == 60 for v in sweep.latencies.values())


def test_committed_sweeps_and_runs_at_a_load_are_read(two_devices: Path):
    """What `phasecal simulate --sweep … --out` and `phasecal simulate -w …:load=ρ --out` write, read back as
    one sweep: points per policy and load under the device's label, per-request latencies for the CDFs."""
    from typer.testing import CliRunner

    from phasecal.cli import app
    from phasecal.reports.load_files import read_sweeps

    folder = two_devices / "cpu-test" / "tiny"
    base = ["simulate", "-p", str(folder / "profile.json"), "--policy", "mb,eb"]
    r = CliRunner().invoke(app, base + ["-w", "azure_conv:n=60", "--sweep", "load=0.5:1.0:0.5", "-j", "1",
                                        "--out", str(folder / "load" / "sweep")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, base + ["-w", "azure_conv:n=60:load=0.5", "--out", str(folder / "load" / "at")])
    assert r.exit_code == 0, r.output
    results = load_results(two_devices)
    sweep, sources = read_sweeps(results)
    label = next(d.label for d in results.devices if d.slug == "cpu-test")
    assert {(p.profile, p.policy) for p in sweep.points} == {(label, "mb"), (label, "eb")}
    assert len(sweep.points) == 4 and all(p.throughput_tok_s > 0 for p in sweep.points)
    assert {k[:2] for k in sweep.latencies} == {(label, "mb"), (label, "eb")}
    assert all(len(v[0]) == 60 for v in sweep.latencies.values())
    assert any(s.endswith("load/sweep/sweep.json") for s in sources)
    assert set(sweep.searched) == {(label, "mb"), (label, "eb")}  # the bisected capacities
    assert isinstance(load_curves.latency_cdfs(sweep, 0.5, sources), Figure)


def test_executed_validation_is_read(two_devices: Path):
    """validation.json as `phasecal validate` writes it (Validation.to_dict): one row per load point."""
    import json

    from phasecal.reports.load_files import read_validations

    doc = {"profile": "results/cpu-test/tiny/profile.json", "device": "Test CPU", "workload": "256/64", "repeats": 3,
           "points": [{"concurrency": 8, "predicted": "MB", "executed_winner": "MB", "counted": True, "agrees": True},
                      {"concurrency": 64, "predicted": "EB", "executed_winner": "MB", "counted": True,
                       "agrees": False},
                      {"concurrency": 256, "predicted": "too close to call", "executed_winner": "EB",
                       "counted": False, "agrees": None}]}
    (two_devices / "cpu-test" / "tiny" / "validate").mkdir()
    (two_devices / "cpu-test" / "tiny" / "validate" / "validation.json").write_text(json.dumps(doc))
    rows, sources = read_validations(load_results(two_devices))
    table = load_curves.validation_markdown(rows, "executed winner", "load point")
    assert "| Test CPU [cpu-test] · tiny | c = 8 | MB | MB | ✓ |" in table
    assert "| c = 64 | EB | MB | ✗ |" in table
    assert "| c = 256 | too close to call | EB (gap within noise) | — |" in table
    assert sources == [f"{two_devices.name}/cpu-test/tiny/validate/validation.json"]


def test_executed_against_simulated_is_tabled(two_devices: Path):
    """validation.json's per-policy throughput: executed / simulated with their gap, and the file's scores."""
    import json

    from phasecal.reports.load_files import read_validation_throughput

    pol = {"simulated_tok_s": 1000.0, "executed_tok_s": 950.0}
    doc = {"profile": "results/cpu-test/tiny/profile.json", "agreement": 1.0, "simulated_agreement": 0.5,
           "seconds": 300.0, "points": [{"concurrency": 8, "gap": 0.08, "noise": 0.02,
                                         "policies": {"mb": pol, "eb": pol | {"executed_tok_s": 1100.0}}}]}
    (two_devices / "cpu-test" / "tiny" / "validate").mkdir()
    (two_devices / "cpu-test" / "tiny" / "validate" / "validation.json").write_text(json.dumps(doc))
    table = load_curves.validation_throughput_markdown(read_validation_throughput(load_results(two_devices)))
    assert "| 8 | 8.0% | 2.0% | 950 / 1,000 (-5.0%) | 1,100 / 1,000 (+10.0%) |" in table
    assert "verdict names the winner at 100% of counted points; simulation at 50%" in table
    assert load_curves.validation_throughput_markdown([]).startswith("No executed validation")
