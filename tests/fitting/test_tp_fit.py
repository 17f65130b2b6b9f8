"""The TP block of a profile (fitting/tp.py): the comm term fitted from steps' measured all-reduce time
recovers a known coefficient, beside the all-reduce probe's own fit; one-device runs get none."""

from __future__ import annotations

import numpy as np
import pytest

from phasecal.fitting.tp import tp_line, tp_summary
from phasecal.point_params import AllreduceParams, AllreduceRates, StepParams
from phasecal.records import PointRecord, RunHeader

LAYERS, HIDDEN, WORLD = 4, 256, 2
LAT, S_PER_BYTE = 40e-6, 2e-10  # per all-reduce: latency, seconds per byte


def _header(tp: int = WORLD) -> RunHeader:
    return RunHeader(device={"name": "cpu"}, settings={"dtype": "float32", "tp": tp, "interconnect": "test"},
                     model={"name": "tiny", "num_layers": LAYERS, "hidden_size": HIDDEN})


def _point(probe: str, params, t: float, **extra) -> PointRecord:
    return PointRecord(probe, f"{probe}/{t}", params.to_dict(), t, 0.01, [t], extra=extra)


def _points(rng: np.random.Generator) -> list[PointRecord]:
    out = []
    for nbytes in (4096, 65536, 1 << 20, 8 << 20):
        t = (LAT + nbytes * S_PER_BYTE) * rng.uniform(0.98, 1.02)
        out.append(_point("allreduce", AllreduceParams(nbytes, "float32", WORLD, "gloo", False, 4), t,
                          **AllreduceRates.of(nbytes, WORLD, t).to_dict()))
    for q in (16, 32, 64, 128, 256, 512):  # 18 steps: each k-fold training set above the 13 extended_linear needs
        for b in (1, 8, 32):
            tokens = q + b
            comm = 2 * LAYERS * (LAT + tokens * HIDDEN * 4 * S_PER_BYTE) * rng.uniform(0.97, 1.03)
            compute = 1e-3 + 2e-5 * q + 1e-4 * b
            out.append(_point("step", StepParams(((q, 0),), (128,) * b, False, "mixed", tokens, b / tokens),
                              compute + comm, comm_s=comm))
    return out


def test_comm_term_recovers_the_coefficient_beside_the_probe():
    tp = tp_summary(_header(), _points(np.random.default_rng(3)), "extended_linear")
    assert tp["degree"] == WORLD and tp["allreduces_per_step"] == 2 * LAYERS
    assert tp["comm_term"]["s_per_byte"] == pytest.approx(S_PER_BYTE, rel=0.1)
    assert tp["allreduce_probe"]["s_per_byte"] == pytest.approx(S_PER_BYTE, rel=0.1)
    assert tp["allreduce_probe"]["busbw_gb_s_of_slope"] == pytest.approx(1 / S_PER_BYTE / 1e9, rel=0.1)
    assert tp["composed"]["cv_mape"] < 5
    assert 0 < tp["comm_term"]["share_of_step_median"] < 1


def test_one_device_run_has_no_tp_block():
    assert tp_summary(_header(tp=1), _points(np.random.default_rng(0)), "extended_linear") is None


def test_steps_without_comm_time_say_so():
    points = [p for p in _points(np.random.default_rng(1)) if p.probe == "allreduce"]
    assert "not split" in tp_summary(_header(), points, "extended_linear")["comm_term"]["note"]


def test_show_line_puts_the_comm_term_beside_the_probe():
    line = tp_line(tp_summary(_header(), _points(np.random.default_rng(3)), "extended_linear"))
    assert line.startswith("2 ranks, test; comm term in steps: ") and "all-reduce probe: " in line
    assert "ps/byte per all-reduce" in line and "k-fold MAPE" in line
