"""Every committed result under results/ re-loads through the typed records: raw points (params and rates),
profiles, and scheduler summaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phasecal.fitting.profile import load_profile
from phasecal.point_params import PARAMS, params_from_dict, rates_from_dict
from phasecal.records import read_raw

RESULTS = Path(__file__).resolve().parents[2] / "results"
RAW = sorted(RESULTS.rglob("raw.jsonl"))
PROFILES = sorted(RESULTS.rglob("profile.json"))


def _ids(paths):
    return [str(p.relative_to(RESULTS)) for p in paths]


def test_there_are_committed_results():
    assert RAW and PROFILES


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
