"""Fuzzing the raw reader: any JSON in any field of a raw file, or any bytes, is refused with one line
naming the file and line, or read into valid records. Never a traceback or a hang."""

import json
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasecal.records import RawFormatError, heal_raw, read_raw

RAW = Path(__file__).resolve().parents[2] / "results" / "cpu-intel-r-xeon-r-processor" / "tiny" / "raw.jsonl"
LINES = RAW.read_text().splitlines()[:3]

numbers = st.one_of(st.floats(allow_nan=False), st.integers(-10**20, 10**20), st.sampled_from([0, -1, 1e308]))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=6)


def _check(path: Path) -> None:
    try:
        header, points = read_raw(path)
    except RawFormatError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
        return
    assert isinstance(header.device, dict) and isinstance(header.settings, dict)
    for p in points:
        assert isinstance(p.key, str) and isinstance(p.params, dict) and isinstance(p.throttled, bool)
        assert math.isfinite(p.median_s) and p.median_s > 0 and all(s > 0 for s in p.samples_s)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=st.integers(0, 2), data=st.data())
def test_any_value_in_any_field_is_refused_in_one_line_or_read(tmp_path_factory, line, data):
    record = json.loads(LINES[line])
    key = data.draw(st.sampled_from(sorted(record)), label="field")
    inner = record[key]
    if isinstance(inner, dict) and inner and data.draw(st.booleans(), label="nested"):
        inner[data.draw(st.sampled_from(sorted(inner)), label="subfield")] = data.draw(values)
    else:
        record[key] = data.draw(values, label="value")
    lines = list(LINES)
    lines[line] = json.dumps(record)
    path = tmp_path_factory.mktemp("fuzz") / "raw.jsonl"
    path.write_text("\n".join(lines) + "\n")
    _check(path)


@settings(max_examples=100, deadline=None)
@given(tail=st.binary(max_size=60), cut=st.integers(0, 400))
def test_any_bytes_or_tear_is_refused_in_one_line_or_read_and_heals(tmp_path_factory, tail, cut):
    path = tmp_path_factory.mktemp("fuzz") / "raw.jsonl"
    whole = ("\n".join(LINES) + "\n").encode()
    path.write_bytes(whole[: len(whole) - cut] + tail)
    _check(path)
    heal_raw(path)
    assert path.read_bytes() == b"" or path.read_bytes().endswith(b"\n")
