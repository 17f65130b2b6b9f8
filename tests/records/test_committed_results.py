"""Every committed result under results/ re-loads through the typed records: raw points (params and rates),
profiles, and scheduler summaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phasecal.fitting.profile import load_profile
from phasecal.point_params import PARAMS, params_from_dict, rates_from_dict
from phasecal.probes.suite_summary import SuiteSummary
from phasecal.records import read_raw
from phasecal.scheduler.schedule_doc import KIND, read_schedule_doc

RESULTS = Path(__file__).resolve().parents[2] / "results"
RAW = sorted(RESULTS.rglob("raw.jsonl"))
PROFILES = sorted(RESULTS.rglob("*profile.json"))
SUITE_SUMMARIES = sorted(p for p in RESULTS.glob("*/*/summary.json") if (p.parent / "raw.jsonl").exists())
SCHEDULES = sorted(p for p in RESULTS.rglob("*.json") if json.loads(p.read_text()).get("kind") == KIND)
PUBLISHED = RESULTS / "reference"  # copied unchanged from their authors, cited in its README
BENCH_RECORDS = sorted(RESULTS.glob("derived/*/bench.json"))  # benchmark speed records, read by no stage
SWEEPS = sorted(RESULTS.rglob("sweep.json"))  # `phasecal simulate --sweep --out`, read by reports/load_files.py
FAIR_STUDY = sorted(RESULTS.glob("fair_vs_mb/*.json"))  # benchmarks/fair_vs_mb.py and fair_executed.py
VALIDATIONS = sorted(RESULTS.rglob("validation.json"))  # `phasecal validate`, read by reports/load_files.py


def _ids(paths):
    return [str(p.relative_to(RESULTS)) for p in paths]


def test_there_are_committed_results():
    assert RAW and PROFILES and SUITE_SUMMARIES and SCHEDULES


def test_every_committed_json_has_a_typed_reader():
    typed = (set(PROFILES) | set(SUITE_SUMMARIES) | set(SCHEDULES) | set(BENCH_RECORDS) | set(SWEEPS)
             | set(FAIR_STUDY) | set(VALIDATIONS))
    untyped = [p for p in RESULTS.rglob("*.json") if p not in typed and PUBLISHED not in p.parents]
    assert not untyped, f"results without a typed reader: {untyped}"


def test_validations_load():
    from phasecal.reports.data import load_results
    from phasecal.reports.load_files import read_validation_throughput, read_validations

    results = load_results(RESULTS)
    rows, sources = read_validations(results)
    assert not [p for p in results.problems if "validation" in p]
    assert {f"results/{p.relative_to(RESULTS)}" for p in VALIDATIONS} <= set(sources)
    per_point = [r for r in read_validation_throughput(results) if r[1] != "all"]
    assert len(per_point) == len(rows) and all(r[4] for r in per_point)


def test_load_sweeps_load():
    from phasecal.reports.data import load_results
    from phasecal.reports.load_files import read_sweeps

    results = load_results(RESULTS)
    sweep, sources = read_sweeps(results)
    assert not [p for p in results.problems if "sweep" in p]
    assert {f"results/{p.relative_to(RESULTS)}" for p in SWEEPS} <= set(sources)
    assert len({p.profile for p in sweep.points}) == len(SWEEPS)


@pytest.mark.parametrize("path", SCHEDULES, ids=_ids(SCHEDULES))
def test_schedule_documents_load(path):
    doc = read_schedule_doc(path)
    assert doc.policies and all(s.workload == doc.workload.name for s in doc.policies + doc.executed)


@pytest.mark.parametrize("path", RAW, ids=_ids(RAW))
def test_raw_points_load_typed(path):
    _, points = read_raw(path)
    assert {p.probe for p in points} <= set(PARAMS)
    for p in points:
        params = params_from_dict(p.probe, p.params)
        assert params.to_dict() == p.params  # nothing in the file that the record does not hold
        rates_from_dict(p.probe, p.extra)


@pytest.mark.parametrize("path", PROFILES, ids=_ids(PROFILES))
def test_profiles_load(path):
    profile = load_profile(path)
    assert json.loads(path.read_text())["model"] == profile.model


@pytest.mark.parametrize("path", SUITE_SUMMARIES, ids=_ids(SUITE_SUMMARIES))
def test_suite_summaries_load(path):
    summary = SuiteSummary.from_dict(json.loads(path.read_text()), str(path))
    assert summary.probes and set(summary.probes) == set(json.loads(path.read_text())["probes"])


@pytest.mark.parametrize("path", FAIR_STUDY, ids=_ids(FAIR_STUDY))
def test_fair_study_records_load(path):
    from phasecal.reports.fair_study import load_executed, load_study

    if path.name.startswith("this_vm_"):  # the calibrations of the machine the executed check ran on
        assert load_profile(path).step_model is not None
        return
    reader = {"fair_vs_mb.json": load_study, "executed_cpu.json": load_executed}[path.name]
    doc = reader(path)
    assert doc.get("rows") or doc.get("runs")
