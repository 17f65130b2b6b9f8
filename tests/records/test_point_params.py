"""The probes' typed params and rates: what the probes write reads back equal, and malformed objects are refused
with the field named."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasecal.point_params import (
    AllreduceParams,
    AllreduceRates,
    AttentionParams,
    AttentionRates,
    BandwidthParams,
    GemmParams,
    LaunchParams,
    ParamsError,
    StepParams,
    params_from_dict,
    rates_from_dict,
)
from phasecal.records import PointRecord, RawFormatError, RunHeader, append_record, read_raw

EXAMPLES = {
    "step": StepParams(((64, 128), (32, 0)), (512, 513), False, "mixed", 256, 0.5),
    "bandwidth": BandwidthParams("triton", "triad", 1 << 20, "bfloat16", True),
    "gemm": GemmParams("torch", "qkv_proj", 16, 512, 256, "float32"),
    "attention": AttentionParams("decode", "triton_split", (), (2048,) * 3, "bfloat16"),
    "launch": LaunchParams("cupy", "graph", 64),
    "allreduce": AllreduceParams(1 << 20, "bfloat16", 4, "nccl", True, 8),
}


@pytest.mark.parametrize("probe", EXAMPLES)
def test_round_trip_through_json(probe):
    params = EXAMPLES[probe]
    assert params_from_dict(probe, json.loads(json.dumps(params.to_dict()))) == params


@given(prefill=st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**6)), max_size=4),
       decode=st.lists(st.integers(1, 10**6), max_size=8), graph=st.booleans())
def test_step_params_round_trip(prefill, decode, graph):
    if not prefill and not decode:
        with pytest.raises(ParamsError, match="empty step"):
            StepParams.from_dict({"prefill": prefill, "decode": decode, "graph": graph})
        return
    p = StepParams(tuple(prefill), tuple(decode), graph)
    assert StepParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert p.num_tokens == sum(q for q, _ in prefill) + len(decode)


@pytest.mark.parametrize(("probe", "change", "message"), [
    ("step", {"prefill": [[0, 5]]}, r"params.prefill entries must be \[q >= 1"),
    ("step", {"decode": [True]}, "params.decode must list decode contexts"),
    ("step", {"grid": "other"}, "params.grid must be one of prefill, decode, mixed"),
    ("step", {"decode_share": 1.5}, r"params.decode_share must be a number in \[0, 1\]"),
    ("bandwidth", {"op": "memcpy"}, "params.op must be one of copy"),
    ("bandwidth", {"cold": "yes"}, "params.cold must be a bool"),
    ("gemm", {"m": -1}, "params.m must be a non-negative integer"),
    ("gemm", {"layer": None}, "params.layer is missing"),
    ("attention", {"kind": "mixed", "decode_share": None}, "params.decode_share is missing"),
    ("launch", {"nodes": 0}, "params.nodes must be >= 1"),
    ("allreduce", {"world": 1}, "an all-reduce needs bytes >= 1, world >= 2"),
    ("allreduce", {"backend": "mpi"}, "params.backend must be one of nccl, gloo"),
])
def test_malformed_params_name_the_field(probe, change, message):
    d = EXAMPLES[probe].to_dict() | change
    with pytest.raises(ParamsError, match=message):
        params_from_dict(probe, d)


def test_unknown_probe_is_refused():
    with pytest.raises(ParamsError, match="unknown probe 'warp'"):
        params_from_dict("warp", {})


def test_rates_ignore_the_timing_keys_and_need_their_own():
    extra = {"stop": "time cap", "warmup_iters": 3, "prefill_tflops": None, "decode_kv_gb_s": 812.5}
    assert rates_from_dict("attention", extra) == AttentionRates(None, 812.5)
    with pytest.raises(ParamsError, match="extra.gb_s is missing"):
        rates_from_dict("bandwidth", {"bytes_moved": 10, "elements": 1})


def test_read_raw_refuses_malformed_params(tmp_path):
    path = tmp_path / "raw.jsonl"
    append_record(path, RunHeader(device={"name": "x"}, settings={}))
    append_record(path, PointRecord("gemm", "g", {"impl": "torch", "layer": "up", "m": 1, "n": 2, "k": "3",
                                                  "dtype": "float32"}, 1e-3, 0.0, [1e-3]))
    with pytest.raises(RawFormatError, match=r"raw.jsonl:2: params.k must be a non-negative integer, got '3'"):
        read_raw(path)


def test_allreduce_rates_as_nccl_tests_reports_them():
    r = AllreduceRates.of(8_000_000, 4, 0.001)  # 8 MB in 1 ms over 4 ranks
    assert r.algbw_gb_s == 8.0 and r.busbw_gb_s == 8.0 * 2 * 3 / 4
