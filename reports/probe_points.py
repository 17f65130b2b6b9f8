"""The probes' raw records as plot-ready points: one small dataclass per probe, rates in plot units.

This is the one place that knows each probe's `params` and `extra` keys (see `phasecal.probes.*`);
the figure modules only see these points. Records missing a key a figure needs are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from phasecal.records import PointRecord

from .data import DeviceResults


@dataclass(frozen=True)
class BandwidthPoint:
    kernel: str
    impl: str
    working_set: float  # bytes
    tb_s: float


@dataclass(frozen=True)
class LaunchPoint:
    impl: str
    mode: str  # "eager" or "graph"
    measure: str  # what the time is (enqueue, launch+sync, replay)
    nodes: int
    median_s: float


@dataclass(frozen=True)
class GemmPoint:
    shape: str
    impl: str
    dtype: str
    m: int
    tflops: float


@dataclass(frozen=True)
class AttentionPoint:
    kind: str  # "prefill" or "decode"
    impl: str
    batch: int
    x: float  # decode: KV context per sequence; prefill: prompt tokens
    rate: float  # decode: KV-read TB/s; prefill: TFLOP/s


def _get(rec: PointRecord, *keys: str, default=None):
    """The first of `keys` found in params, then in extra."""
    for where in (rec.params, rec.extra):
        for k in keys:
            if k in where and where[k] is not None:
                return where[k]
    return default


def bandwidth_points(d: DeviceResults) -> list[BandwidthPoint]:
    out = []
    for rec in d.points("bandwidth"):
        ws = _get(rec, "working_set_bytes", "ws_bytes", "size_bytes")
        moved = _get(rec, "bytes_moved", "bytes")
        if ws is None or moved is None:
            continue
        out.append(BandwidthPoint(str(_get(rec, "kernel", "op", default="?")), str(_get(rec, "impl", default="?")),
                                  float(ws), float(moved) / rec.median_s / 1e12))
    return out


def launch_points(d: DeviceResults) -> list[LaunchPoint]:
    out = []
    for rec in d.points("launch"):
        mode = str(_get(rec, "mode", default="eager"))
        out.append(LaunchPoint(str(_get(rec, "impl", default="?")), mode,
                               str(_get(rec, "measure", "what", default="replay" if mode == "graph" else "launch")),
                               int(_get(rec, "nodes", default=1)), rec.median_s))
    return out


def gemm_points(d: DeviceResults) -> list[GemmPoint]:
    out = []
    for rec in d.points("gemm"):
        m, n, k = (_get(rec, key, key.lower()) for key in ("M", "N", "K"))
        if None in (m, n, k):
            continue
        out.append(GemmPoint(str(_get(rec, "shape", "name", "layer", default=f"N={n}, K={k}")),
                             str(_get(rec, "impl", default="?")), str(_get(rec, "dtype", default="")), int(m),
                             2 * m * n * k / rec.median_s / 1e12))
    return out


def attention_points(d: DeviceResults) -> list[AttentionPoint]:
    out = []
    for rec in d.points("attention"):
        kind = _get(rec, "kind")
        if kind == "decode":
            moved = _get(rec, "bytes", "kv_bytes", "bytes_moved")
            x = _get(rec, "context", "context_len")
            if moved is None or x is None:
                continue
            rate = float(moved) / rec.median_s / 1e12
        elif kind == "prefill":
            flops = _get(rec, "flops")
            x = _get(rec, "tokens", "seq_len", "context")
            if flops is None or x is None:
                continue
            rate = float(flops) / rec.median_s / 1e12
        else:
            continue
        out.append(AttentionPoint(kind, str(_get(rec, "impl", default="?")), int(_get(rec, "batch", default=1)),
                                  float(x), rate))
    return out
