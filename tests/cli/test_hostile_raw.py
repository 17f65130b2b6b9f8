"""Raw files and flags that used to give tracebacks or lose data: one line and exit 2, or a correct result."""

import json
import os
import stat

import pytest
from hostile import CPU_PROFILE, assert_refused, phasecal

RAW = CPU_PROFILE.with_name("raw.jsonl")


def _raw_with_header(tmp_path, **changes):
    lines = RAW.read_text().splitlines()
    header = json.loads(lines[0]) | changes
    path = tmp_path / "raw.jsonl"
    path.write_text("\n".join([json.dumps(header), *lines[1:4]]) + "\n")
    return path


def _deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize("changes,field", [
    ({"device": "a string"}, "'device'"),
    ({"settings": [1, 2]}, "'settings'"),
    ({"model": 3}, "'model'"),
    ({"command": {"x": 1}}, "'command'"),
    ({"device": {"name": ["x"]}}, "device.name"),
])
def test_fit_refuses_a_malformed_header(tmp_path, changes, field):
    raw = _raw_with_header(tmp_path, **changes)
    assert_refused(phasecal("fit", raw, "-o", tmp_path / "p.json"), "raw.jsonl:1", field)
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("change,field", [
    ({"throttled": "yes"}, "throttled"), ({"key": 5}, "key"), ({"samples_s": 3}, "samples_s"),
    ({"spread": "wide"}, "spread"), ({"extra": []}, "extra"),
])
def test_fit_refuses_a_malformed_point(tmp_path, change, field):
    raw = _raw_with_header(tmp_path)
    lines = raw.read_text().splitlines()
    lines[1] = json.dumps(json.loads(lines[1]) | change)
    raw.write_text("\n".join(lines) + "\n")
    assert_refused(phasecal("fit", raw, "-o", tmp_path / "p.json"), "raw.jsonl:2", field)


def test_fit_refuses_deep_nesting_and_binary(tmp_path):
    raw = _raw_with_header(tmp_path)
    raw.write_text(raw.read_text() + _deep(100_000) + "\n")
    assert_refused(phasecal("fit", raw, "-o", tmp_path / "p.json"), "raw.jsonl:5", "nested too deeply")
    raw.write_bytes(b"\xff\xfe\x00garbage\n")
    assert_refused(phasecal("fit", raw, "-o", tmp_path / "p.json"), "raw.jsonl", "not a text file")


def test_fit_refuses_to_overwrite_its_input(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(RAW.read_bytes())
    before = raw.read_bytes()
    assert_refused(phasecal("fit", raw, "-o", raw), "one of the raw input files")
    (tmp_path / "link.json").symlink_to(raw)
    assert_refused(phasecal("fit", raw, "-o", tmp_path / "link.json"), "one of the raw input files")
    assert raw.read_bytes() == before


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_probe_refuses_a_budget_that_is_not_a_positive_number(tmp_path, value):
    res = phasecal("probe", "--suite", "step", "--device", "cpu", "--budget-minutes", value, "--out", tmp_path)
    assert_refused(res, "--budget-minutes")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spec,words", [
    ("512/512:rate=nan", ["rate=nan", "finite"]), ("512/512:rate=inf", ["rate=inf"]),
    ("512/512:rate=-2", ["rate=-2", "out of range"]), ("512/512:n=0", ["n=0", "out of range"]),
    ("512/512:n=100000000", ["n=100000000", "out of range"]), ("512/512:c=0", ["c=0"]),
    ("512/512:jitter=nan", ["jitter=nan"]), ("512/512:jitter=1", ["jitter=1"]), ("512/512:n=1.5", ["n='1.5'"]),
    ("0/512:c=1", ["lengths"]), ("512/512:c=4:rate=2", ["not several"]), ("512/512:load=nan", ["load=nan"]),
    ("azure_conv:n=-3", ["n=-3"]),
])
def test_simulate_refuses_bad_workload_numbers(tmp_path, spec, words):
    assert_refused(phasecal("simulate", "-p", CPU_PROFILE, "-w", spec), *words)


def test_simulate_refuses_a_kv_cache_beyond_memory(tmp_path):
    assert_refused(phasecal("simulate", "-p", CPU_PROFILE, "-w", "64/16:c=2:n=4", "--kv-tokens", 10**12),
                   "KV block table", "--kv-tokens")


def test_simulate_with_a_small_valid_workload_writes_files_with_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        res = phasecal("simulate", "-p", CPU_PROFILE, "-w", "64/16:rate=5:n=20", "--out", tmp_path)
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert {p.name for p in tmp_path.iterdir()} >= {"summary.json", "requests_mb.csv"}
    assert not list(tmp_path.glob(".*tmp"))
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o644}  # CSVs as the JSON
