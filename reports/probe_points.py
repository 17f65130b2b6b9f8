"""The probes' raw records as plot-ready points: one small dataclass per probe, rates in plot units.

Records are read through the probes' typed params and rates (`phasecal.point_params`); the figure
modules only see these points. A record without the rates a figure needs (written by other tools) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from phasecal.point_params import ParamsError, params_from_dict, rates_from_dict
from phasecal.records import PointRecord

from .data import DeviceResults


@dataclass(frozen=True)
class BandwidthPoint:
    kernel: str  # BabelStream op: copy, scale, add, triad, read, write
    impl: str
    working_set: float  # bytes
    tb_s: float
    cold: bool  # cache flushed before each sample


@dataclass(frozen=True)
class LaunchPoint:
    impl: str
    mode: str  # "eager" or "graph"
    measure: str  # what the time is: call (CPU), enqueue, launch_sync, graph (a replay of `nodes` launches)
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
    kind: str  # "prefill", "decode" or "mixed"
    impl: str
    batch: int  # decode: sequences; prefill: chunks
    x: float  # decode: KV context per sequence; prefill: prompt tokens; mixed: decode share
    rate: float | None  # decode: KV-read TB/s; prefill: TFLOP/s; mixed: None
    median_s: float


def _typed(records: list[PointRecord], rates: bool = True) -> list[tuple[PointRecord, object, object]]:
    """(record, params, rates) of each record; the params were checked when the raw file was read, the rates
    are skipped (None) when a record does not carry them (raw files written by other tools)."""
    out = []
    for rec in records:
        params = params_from_dict(rec.probe, rec.params)
        try:
            derived = rates_from_dict(rec.probe, rec.extra) if rates else None
        except ParamsError:
            derived = None
        out.append((rec, params, derived))
    return out


def with_rates(records: list[PointRecord]) -> list[PointRecord]:
    """The records that carry their probe's rates (what the probes' own summaries, such as ceilings, read)."""
    return [rec for rec, _, r in _typed(records) if r is not None]


def bandwidth_points(d: DeviceResults) -> list[BandwidthPoint]:
    """probes.bandwidth (`BandwidthParams`); the rate is the bytes moved (`BandwidthRates`) over the median time."""
    return [BandwidthPoint(p.op, p.impl, float(p.working_set_bytes), r.bytes_moved / rec.median_s / 1e12, p.cold)
            for rec, p, r in _typed(d.points("bandwidth")) if r is not None]


def launch_points_from(records: list[PointRecord]) -> list[LaunchPoint]:
    """probes.launch records (`LaunchParams`): call, enqueue, launch_sync, or a graph replay of `nodes` launches."""
    return [LaunchPoint(p.impl, "graph" if p.what == "graph" else "eager", p.what, p.nodes, rec.median_s)
            for rec, p, _ in _typed(records, rates=False)]


def gemm_points(d: DeviceResults) -> list[GemmPoint]:
    """probes.gemm (`GemmParams`); the rate is 2·m·n·k over the median time."""
    return [GemmPoint(p.layer, p.impl, p.dtype, p.m, p.flops / rec.median_s / 1e12)
            for rec, p, _ in _typed(d.points("gemm"), rates=False)]


def attention_points(d: DeviceResults) -> list[AttentionPoint]:
    """probes.attention (`AttentionParams`, `AttentionRates`): decode as KV-read TB/s against context, prefill as
    TFLOP/s (4·heads·head_dim·s_p over time) against prompt tokens, mixed as time against decode share."""
    out = []
    for rec, p, r in _typed(d.points("attention")):
        if p.kind == "mixed":
            out.append(AttentionPoint(p.kind, p.impl, len(p.decode), p.decode_share, None, rec.median_s))
        elif r is None:
            continue
        elif p.kind == "decode" and p.decode and r.decode_kv_gb_s:
            out.append(AttentionPoint(p.kind, p.impl, len(p.decode), float(p.decode[0]), r.decode_kv_gb_s / 1e3,
                                      rec.median_s))
        elif p.kind == "prefill" and p.prefill and r.prefill_tflops:
            out.append(AttentionPoint(p.kind, p.impl, len(p.prefill), float(sum(q for q, _ in p.prefill)),
                                      r.prefill_tflops, rec.median_s))
    return out
