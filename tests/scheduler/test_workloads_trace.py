"""Workload builders, the spec parser, and the trace loader (bad rows name file, line and column)."""

import pytest

from phasecal.scheduler.trace import bundled_trace_path, load_trace
from phasecal.scheduler.workloads import (
    Workload,
    azure_conv,
    concurrency_shift,
    distribution_shift,
    synthetic,
    workload_from_spec,
)


def test_synthetic_jitter_and_modes():
    w = synthetic(512, 128, 5000, concurrency=64, seed=1)
    assert all(256 <= p <= 768 for p in w.prompt_lens) and all(64 <= o <= 192 for o in w.output_lens)
    assert w.mean_prompt == pytest.approx(512, rel=0.02) and w.mean_output == pytest.approx(128, rel=0.02)
    assert w.concurrency == [64] * 5000 and w.arrivals is None
    p = synthetic(100, 100, 4000, rate=50.0, seed=1)
    gaps = [b - a for a, b in zip(p.arrivals, p.arrivals[1:], strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 50, rel=0.05)
    assert synthetic(512, 128, 50, concurrency=8, seed=3).prompt_lens == synthetic(512, 128, 50, concurrency=8,
                                                                                    seed=3).prompt_lens
    with pytest.raises(ValueError, match="exactly one"):
        synthetic(1, 1, 1)


def test_shifts():
    d = distribution_shift([(1024, 128, 100), (128, 1024, 100)], 32)
    assert sum(d.prompt_lens[:100]) / 100 > 700 and sum(d.prompt_lens[100:]) / 100 < 200
    c = concurrency_shift(512, 256, [(32, 10), (512, 20)])
    assert c.concurrency == [32] * 10 + [512] * 20


def test_spec_parser():
    assert workload_from_spec("balanced:c=512:n=100").concurrency == [512] * 100
    w = workload_from_spec("128/1024:rate=20:n=50")
    assert len(w) == 50 and w.arrivals is not None
    assert len(workload_from_spec("azure_conv:n=30")) == 30
    for bad, msg in (("nonsense", "unknown workload"), ("balanced:x=1", "unknown option"),
                     ("balanced:c=abc", "bad number"), ("balanced:c", "key=value")):
        with pytest.raises(ValueError, match=msg):
            workload_from_spec(bad)


def test_workload_validation():
    with pytest.raises(ValueError, match="exactly one"):
        Workload("w", [1], [1])
    with pytest.raises(ValueError, match="≥ 1"):
        Workload("w", [0], [1], concurrency=[1])


def test_bundled_azure_trace():
    w = azure_conv()
    assert len(w) == 19366
    assert w.arrivals[0] == 0.0 and w.arrivals == sorted(w.arrivals)
    assert 3400 < w.arrivals[-1] < 3600  # about an hour of traffic
    assert w.prompt_lens[:3] == [374, 396, 879] and w.output_lens[:3] == [44, 109, 55]
    assert bundled_trace_path("azure_conv").with_name("README.md").read_text().count("CC-BY 4.0") == 1


@pytest.mark.parametrize("row, col", [
    ("not-a-date,10,10", "TIMESTAMP"), ("2023-11-16 18:15:46.1,ten,10", "ContextTokens"),
    ("2023-11-16 18:15:46.1,10,-3", "GeneratedTokens"), ("2023-11-16 18:15:46.1,10", "expected 3 columns"),
])
def test_trace_bad_rows_name_file_line_column(tmp_path, row, col):
    f = tmp_path / "t.csv"
    f.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,5,5\n" + row + "\n")
    with pytest.raises(ValueError, match=rf"t\.csv:3: .*{col}"):
        load_trace(f)


def test_trace_bad_header_and_missing(tmp_path):
    f = tmp_path / "h.csv"
    f.write_text("time,prompt,output\n")
    with pytest.raises(ValueError, match=r"h\.csv:1: header"):
        load_trace(f)
    with pytest.raises(ValueError, match="no such trace"):
        load_trace(tmp_path / "missing.csv")
