"""Workload builders, the spec parser, and the trace loader (bad rows name file, line and column)."""

import pytest

from phasecal.scheduler.trace import bundled_trace_path, load_trace
from phasecal.scheduler.workload_spec import workload_from_spec
from phasecal.scheduler.workloads import (
    Workload,
    azure_conv,
    concurrency_shift,
    distribution_shift,
    synthetic,
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
    for bad, msg in (("nonsense", "unknown workload"), ("balanced:x=1", "x= does not apply"),
                     ("balanced:c=abc", "not an integer"), ("balanced:c", "key=value"),
                     ("balanced:c=4:load=0.5", "one of c="), ("balanced:n=1:n=2", "given twice")):
        with pytest.raises(ValueError, match=msg):
            workload_from_spec(bad)


@pytest.mark.parametrize("spec, wrong, takes", [
    ("azure_conv:rate=0.5", ":rate=", ":load="), ("azure_conv:c=4", ":c=", ":n="),
    ("shift_conc:c=4", ":c=", ":jitter="), ("shift_dist:load=0.5", ":load=", ":c="),
])
def test_spec_option_that_does_not_apply_is_named(spec, wrong, takes):
    with pytest.raises(ValueError, match=rf"{wrong} does not apply.*it takes.*{takes}"):
        workload_from_spec(spec)


def test_spec_load_is_recorded_for_the_runner():
    w = workload_from_spec("balanced:load=0.7:n=40")
    assert w.load == 0.7 and w.arrivals is not None and len(w) == 40 and "load=0.7" in w.name
    assert workload_from_spec("azure_conv:n=10:load=2").load == 2.0
    assert workload_from_spec("balanced:c=4:n=4").load is None


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


def test_trace_file_in_either_schema(tmp_path):
    azure = tmp_path / "az.csv"
    azure.write_text("ContextTokens,TIMESTAMP,GeneratedTokens\n7,2023-11-16 18:15:47.5,3\n"
                     "5,2023-11-16 18:15:46.0,2\n")
    plain = tmp_path / "plain.csv"
    plain.write_text("arrival_s,prompt_tokens,output_tokens\n10.5,7,3\n9.0,5,2\n\n")
    for f in (azure, plain):
        assert load_trace(f) == ([0.0, 1.5], [5, 7], [2, 3])
        w = workload_from_spec(f"{f}:n=1")
        assert w.name == f.name and w.prompt_lens == [5] and w.arrivals == [0.0]


@pytest.mark.parametrize("text, msg", [
    ("arrival_s,prompt_tokens\n1,2\n", "header must be TIMESTAMP,ContextTokens,GeneratedTokens"),
    ("arrival_s,prompt_tokens,output_tokens,extra\n1,2,3,4\n", "arrival_s,prompt_tokens,output_tokens"),
    ("arrival_s,prompt_tokens,output_tokens\nnan,2,3\n", r"p\.csv:2: column arrival_s"),
    ("arrival_s,prompt_tokens,output_tokens\n1,2,3\n-1,2,3\n", r"p\.csv:3: column arrival_s"),
    ("arrival_s,prompt_tokens,output_tokens\n1,2.5,3\n", r"p\.csv:2: column prompt_tokens"),
    ("arrival_s,prompt_tokens,output_tokens\n1,2,3,4\n", r"p\.csv:2: expected 3 columns"),
    ("arrival_s,prompt_tokens,output_tokens\n", "no requests"),
])
def test_plain_trace_errors_name_row_or_columns(tmp_path, text, msg):
    f = tmp_path / "p.csv"
    f.write_text(text)
    with pytest.raises(ValueError, match=msg):
        workload_from_spec(str(f))
