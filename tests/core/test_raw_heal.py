"""A raw file torn mid-append heals on resume: cut back to the last whole record, never corrupted for good."""

import pytest

from phasecal.point_params import StepParams
from phasecal.records import PointRecord, RunHeader, append_record, heal_raw, read_raw


def _point(i: int) -> PointRecord:
    params = StepParams(((i + 1, 0),), (), False, "prefill").to_dict()
    return PointRecord(probe="step", key=f"step/{i}", params=params,
                       median_s=1e-3 * (i + 1), spread=0.01, samples_s=[1e-3 * (i + 1)] * 3)


def _raw(tmp_path, n: int = 3):
    path = tmp_path / "raw.jsonl"
    append_record(path, RunHeader(device={"name": "cpu"}, settings={"quick": True}, model={"name": "tiny"}))
    for i in range(n):
        append_record(path, _point(i))
    return path


def test_every_tear_of_the_last_record_heals_and_keeps_every_whole_point(tmp_path):
    path = _raw(tmp_path)
    whole = path.read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start + 1, len(whole)):  # every byte offset inside the last record
        path.write_bytes(whole[:cut])
        assert heal_raw(path) == cut - last_start
        append_record(path, _point(9))  # what a resume appends next
        _, points = read_raw(path)
        assert [p.key for p in points] == ["step/0", "step/1", "step/9"], cut


def test_a_whole_file_is_left_alone(tmp_path):
    path = _raw(tmp_path)
    before = path.read_bytes()
    assert heal_raw(path) == 0 and path.read_bytes() == before


@pytest.mark.parametrize("keep", [1, 20])
def test_a_torn_header_heals_to_empty(tmp_path, keep):
    path = _raw(tmp_path, n=0)
    path.write_bytes(path.read_bytes()[:keep])
    assert heal_raw(path) == keep and path.read_bytes() == b""
