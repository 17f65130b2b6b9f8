"""The JSON Schemas phasecal ships (phasecal/schemas): every file under results/ matches its kind's schema, each
schema refuses a broken document of its kind, and a loader given a file its schema refuses exits 2 with one
line naming the file, the JSON path and what is wrong."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.fitting.profile import ExclusiveCosts, Profile, ProfileError, load_profile, save_profile
from phasecal.schemas import KINDS, SchemaError, check, check_file, kind_of, row_schema, schema_files

RESULTS = Path(__file__).resolve().parents[2] / "results"
FILES = sorted(p for p in RESULTS.rglob("*") if p.is_file() and not p.name.startswith("."))  # not a run's lock file
def write_json(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _ids(paths):
    return [str(p.relative_to(RESULTS)) for p in paths]


def _example_file(kind: str) -> Path | None:
    return next((p for p in FILES if kind_of(p, _json_or_none(p)).name == kind), None)


def _json_or_none(path: Path):
    return json.loads(path.read_text()) if path.suffix == ".json" else None


def test_the_shipped_schemas_are_valid_and_every_kind_resolves():
    for name, schema in schema_files().items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith("/" + name)
    for kind in KINDS:
        if kind.schema is not None:
            assert isinstance(row_schema(kind.name), dict)


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_every_result_file_matches_its_schema(path):
    check_file(path)


def test_results_cover_the_main_kinds():
    found = {kind_of(p, _json_or_none(p)).name for p in FILES}
    assert {"profile", "schedule", "suite_summary", "raw", "load_sweep", "load_sweep_row", "requests",
            "scheduler_bench", "fair_vs_mb", "fair_vs_mb_row", "paper_pd_calibration", "markdown"} <= found


def _broken_json(doc: dict, kind: str) -> list[dict]:
    """The document less its first required key, and with that key's value of the wrong type."""
    required = row_schema(kind)["required"][0]
    wrong = 12345 if isinstance(doc[required], str) else "not a number" if isinstance(doc[required], int | float) \
        else "not an object"
    return [{k: v for k, v in doc.items() if k != required}, {**copy.deepcopy(doc), required: wrong}]


def _validation_doc() -> dict:
    """validation.json as `phasecal validate` writes it (Validation.to_dict), the executed runs stood in for
    by the simulated ones (executing needs torch and minutes)."""
    from phasecal.scheduler.run import simulate
    from phasecal.scheduler.validate import LoadPoint, PolicyResult, Validation

    path = _example_file("profile")
    report = simulate(load_profile(path), "64/16:c=4:n=8", ("mb", "eb", "ebplus"))
    policies = {n: PolicyResult(r.simulated, [r.simulated, r.simulated]) for n, r in report.runs.items()}
    point = LoadPoint(4, 8, report.decision.verdict, report.thresholds.decision, report.thresholds.crossover_delta,
                      report.decision.intervals.get("crossover_delta"), policies)
    point.judge()
    return json.loads(json.dumps(Validation(str(path), "CPU", "64/16", 2, [point]).to_dict()))


def test_what_validate_writes_matches_its_schema():
    check(_validation_doc(), "validation", "validation.json")


@pytest.mark.parametrize("kind", [k.name for k in KINDS if k.form == "json"])
def test_each_json_schema_refuses_a_broken_document(kind):
    path = _example_file(kind)  # a committed file of the kind; for one that has none yet, what its writer makes
    doc = json.loads(path.read_text()) if path else {"validation": _validation_doc}[kind]()
    check(doc, kind, "doc")
    for broken in _broken_json(doc, kind):
        with pytest.raises(SchemaError, match=r"^doc: \$"):
            check(broken, kind, "doc")


@pytest.mark.parametrize("kind", [k.name for k in KINDS if k.form == "csv"])
def test_each_csv_schema_refuses_a_bad_header_and_a_bad_cell(kind, tmp_path):
    header, *rows = list(csv.reader(_example_file(kind).read_text().splitlines()))
    numeric = next(i for i, c in enumerate(header) if "number" in str(row_schema(kind)["properties"][c].get("type")))
    bad_cell = [*rows[0][:numeric], "fast", *rows[0][numeric + 1:]]
    cases = {"unknown": [header + ["extra"], *(r + ["1"] for r in rows[:2])],
             "missing": [header[1:], *(r[1:] for r in rows[:2])],
             "cell": [header, bad_cell]}
    for name, table in cases.items():
        buf = io.StringIO()
        csv.writer(buf).writerows(table)
        path = write_json(tmp_path / f"{name}.csv", buf.getvalue())
        with pytest.raises(SchemaError) as e:
            check_file(path, kind)
        assert str(path) in str(e.value) and "\n" not in str(e.value)
    assert f"cell.csv:2: $.{header[numeric]}: 'fast' is not of type" in str(e.value)


def test_raw_and_markdown_refuse_broken_files(tmp_path):
    raw = _example_file("raw").read_text().splitlines()
    point = json.loads(raw[1])
    del point["median_s"]
    path = write_json(tmp_path / "raw.jsonl", "\n".join([raw[0], json.dumps(point)]) + "\n")
    with pytest.raises(SchemaError, match=r"raw.jsonl:2: \$: 'median_s' is a required property"):
        check_file(path)
    with pytest.raises(SchemaError, match="empty"):
        check_file(write_json(tmp_path / "README.md", "\n"))
    with pytest.raises(SchemaError, match="no schema for a file of this name"):
        check_file(write_json(tmp_path / "notes.txt", "x"))


def test_written_profile_matches_and_schema_refuses_broken_costs(tmp_path):
    p = Profile(device={"name": "d"}, model={"name": "m"}, exclusive={"eager": ExclusiveCosts(1e-3, 2e-5, 8e-3, 4e-5)})
    path = save_profile(p, tmp_path / "profile.json")
    assert check_file(path).name == "profile"
    doc = json.loads(path.read_text())
    with pytest.raises(SchemaError, match=r"\$\.exclusive\.eager: Additional properties"):
        check({**doc, "exclusive": {"eager": {**doc["exclusive"]["eager"], "gamma": 1.0}}}, "profile", "p")


def test_profile_loader_names_file_and_path_in_one_line(tmp_path):
    doc = json.loads(_example_file("profile").read_text())
    doc["model"]["hidden_size"] = "big"  # the typed checks let it pass; the schema does not
    path = write_json(tmp_path / "profile.json", doc)
    with pytest.raises(ProfileError, match=r"profile.json: \$\.model\.hidden_size: 'big' is not of type 'integer'"):
        load_profile(path)
    res = CliRunner().invoke(app, ["show", str(path)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.stderr.strip() == f"phasecal show: error: {path}: $.model.hidden_size: 'big' is not of type 'integer' " \
                                 "(schema: profile)"


def test_raw_reader_names_line_and_path(tmp_path):
    from phasecal.records import RawFormatError, read_raw

    raw = _example_file("raw").read_text().splitlines()
    point = json.loads(raw[1])
    point["spread"] = -1.0  # the typed checks let it pass; the schema does not
    path = write_json(tmp_path / "raw.jsonl", "\n".join([raw[0], json.dumps(point)]) + "\n")
    with pytest.raises(RawFormatError, match=r"raw.jsonl:2: \$\.spread: -1.0 is less than the minimum of 0"):
        read_raw(path)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)


@settings(max_examples=60, deadline=None)
@given(doc=JSON, kind=st.sampled_from([k.name for k in KINDS if k.schema is not None]))
def test_hostile_documents_pass_or_fail_on_one_line(doc, kind):
    try:
        check(doc, kind, "f.json")
    except SchemaError as e:
        text = str(e)
        assert text.startswith("f.json: $") and "\n" not in text and "\r" not in text


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("0123456789.,-e\"\n\r\x85 abrid_stpokn"), max_size=120),
       kind=st.sampled_from([k.name for k in KINDS if k.form == "csv"]))
def test_hostile_csv_passes_or_fails_on_one_line(tmp_path_factory, text, kind):
    path = tmp_path_factory.mktemp("csv") / "hostile.csv"
    path.write_text(text, newline="")
    try:
        check_file(path, kind)
    except SchemaError as e:
        assert str(e).startswith(str(path)) and len(str(e).splitlines()) == 1


def test_a_suite_summary_as_written_carries_its_kind():
    from phasecal.probes.suite_summary import ProbeSummary, SuiteSummary

    doc = SuiteSummary("CPU", None, {"launch": ProbeSummary(3, [], [], "3 points", 1.5)}).to_dict()
    assert kind_of("summary.json", doc).name == "suite_summary"
    check(doc, "suite_summary", "summary.json")
    assert SuiteSummary.from_dict(doc).probes["launch"].planned == 3
    with pytest.raises(ValueError, match=r"\$\.probes\.launch\.planned: -1 is less than the minimum of 0"):
        SuiteSummary.from_dict({**doc, "probes": {"launch": {**doc["probes"]["launch"], "planned": -1}}})


def test_the_paper_import_checks_its_files_against_their_schemas(tmp_path):
    from phasecal.fitting.external import import_paper_calibration

    calib = json.loads(_example_file("paper_pd_calibration").read_text())
    beta = _example_file("paper_beta_mb")
    assert import_paper_calibration(write_json(tmp_path / "c.json", calib), beta).exclusive["eager"].beta_p > 0
    bad = write_json(tmp_path / "bad.json", {**calib, "prefill_sizes": ["256"]})
    with pytest.raises(ValueError, match=r"bad.json: \$\.prefill_sizes\[0\]: '256' is not of type 'integer'"):
        import_paper_calibration(bad, beta)
