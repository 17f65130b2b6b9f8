"""The JSON Schemas phasecal ships (the profile, a raw record, a schedule document) describe every committed
result and what the writers produce; validated with the `jsonschema` package where it is installed (nothing
needs it at run time: the GPU machines have no jsonschema)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from phasecal.fitting.profile import ExclusiveCosts, Profile, save_profile

jsonschema = pytest.importorskip("jsonschema")

RESULTS = Path(__file__).resolve().parents[2] / "results"
DOCS = {p: json.loads(p.read_text()) for p in sorted(RESULTS.rglob("*.json"))}
PROFILES = [p for p, d in DOCS.items() if isinstance(d, dict) and "exclusive" in d and "schema_version" in d]
SCHEDULES = [p for p, d in DOCS.items() if isinstance(d, dict) and d.get("kind") == "schedule"]
RAW = sorted(RESULTS.rglob("raw.jsonl"))


def _schema(package: str, name: str) -> dict:
    schema = json.loads(resources.files(package).joinpath(name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


PROFILE_SCHEMA = _schema("phasecal.fitting", "profile.schema.json")
RAW_SCHEMA = _schema("phasecal", "raw_record.schema.json")
SCHEDULE_SCHEMA = _schema("phasecal.scheduler", "schedule.schema.json")


def _ids(paths):
    return [str(p.relative_to(RESULTS)) for p in paths]


@pytest.mark.parametrize("path", PROFILES, ids=_ids(PROFILES))
def test_committed_profiles_validate(path):
    jsonschema.validate(json.loads(path.read_text()), PROFILE_SCHEMA)


def test_profiles_found_by_content():
    assert len(PROFILES) >= 3 and len(SCHEDULES) >= 3  # CPU, the paper's H200, fair_vs_mb's quick profile


@pytest.mark.parametrize("path", SCHEDULES, ids=_ids(SCHEDULES))
def test_committed_schedule_documents_validate(path):
    jsonschema.validate(DOCS[path], SCHEDULE_SCHEMA)


@pytest.mark.parametrize("path", RAW, ids=_ids(RAW))
def test_committed_raw_records_validate(path):
    lines = path.read_text().splitlines()
    validator = jsonschema.Draft202012Validator(RAW_SCHEMA)
    for i, line in enumerate(lines, 1):
        errors = list(validator.iter_errors(json.loads(line)))
        assert not errors, f"{path.name}:{i}: {errors[0].message}"
    assert json.loads(lines[0])["kind"] == "header" and len(lines) > 1


def test_written_profile_validates_and_schema_refuses_a_broken_one(tmp_path):
    p = Profile(device={"name": "d"}, model={"name": "m"}, exclusive={"eager": ExclusiveCosts(1e-3, 2e-5, 8e-3, 4e-5)})
    doc = json.loads(save_profile(p, tmp_path / "p.json").read_text())
    jsonschema.validate(doc, PROFILE_SCHEMA)
    for broken in ({**doc, "exclusive": {"eager": {"alpha_p": 1e-3}}}, {k: v for k, v in doc.items() if k != "model"},
                   {**doc, "exclusive": {"eager": {**doc["exclusive"]["eager"], "beta_d": -1.0}}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, PROFILE_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"kind": "point", "probe": "step", "key": "k", "params": {}, "median_s": 1e-3,
                             "spread": 0.1, "samples_s": []}, RAW_SCHEMA)
