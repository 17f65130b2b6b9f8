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


PROBE_KEYS = {  # what each probe's own summarising functions (ceilings, graph_fit) read
    "bandwidth": (("impl", "op", "working_set_bytes", "cold"), ("gb_s",)),
    "launch": (("impl", "what", "nodes"), ()),
}


def well_formed(records: list[PointRecord], probe: str) -> list[PointRecord]:
    """The records that carry every params/extra key the probe's own summaries read (others are skipped)."""
    params, extra = PROBE_KEYS[probe]
    return [r for r in records if all(k in r.params for k in params) and all(k in r.extra for k in extra)]


def _get(rec: PointRecord, *keys: str, default=None):
    """The first of `keys` found in params, then in extra."""
    for where in (rec.params, rec.extra):
        for k in keys:
            if k in where and where[k] is not None:
                return where[k]
    return default


def bandwidth_points(d: DeviceResults) -> list[BandwidthPoint]:
    """probes.bandwidth: params impl, op, working_set_bytes, dtype, cold; extra bytes_moved, gb_s."""
    out = []
    for rec in d.points("bandwidth"):
        ws = _get(rec, "working_set_bytes")
        moved = _get(rec, "bytes_moved")
        if ws is None or moved is None:
            continue
        out.append(BandwidthPoint(str(_get(rec, "op", default="?")), str(_get(rec, "impl", default="?")), float(ws),
                                  float(moved) / rec.median_s / 1e12, bool(_get(rec, "cold", default=False))))
    return out


def launch_points_from(records: list[PointRecord]) -> list[LaunchPoint]:
    """probes.launch records: params impl, what (call, enqueue, launch_sync, graph), nodes (graph replays)."""
    out = []
    for rec in records:
        what = str(_get(rec, "what", default="?"))
        out.append(LaunchPoint(str(_get(rec, "impl", default="?")), "graph" if what == "graph" else "eager", what,
                               int(_get(rec, "nodes", default=1)), rec.median_s))
    return out


def gemm_points(d: DeviceResults) -> list[GemmPoint]:
    """probes.gemm: params impl, layer, m, n, k, dtype; the rate is 2·m·n·k over the median time."""
    out = []
    for rec in d.points("gemm"):
        m, n, k = (_get(rec, key) for key in ("m", "n", "k"))
        if None in (m, n, k):
            continue
        out.append(GemmPoint(str(_get(rec, "layer", default=f"N={n}, K={k}")), str(_get(rec, "impl", default="?")),
                             str(_get(rec, "dtype", default="")), int(m), 2 * m * n * k / rec.median_s / 1e12))
    return out


def attention_points(d: DeviceResults) -> list[AttentionPoint]:
    """probes.attention: params kind, impl, prefill [[q, c]], decode [ctx, ...], (mixed) decode_share;
    extra decode_kv_gb_s (KV bytes read over time) and prefill_tflops (4·heads·head_dim·s_p over time)."""
    out = []
    for rec in d.points("attention"):
        kind, impl = _get(rec, "kind"), str(_get(rec, "impl", default="?"))
        prefill, decode = rec.params.get("prefill") or [], rec.params.get("decode") or []
        if kind == "decode" and decode and rec.extra.get("decode_kv_gb_s"):
            out.append(AttentionPoint(kind, impl, len(decode), float(decode[0]), rec.extra["decode_kv_gb_s"] / 1e3,
                                      rec.median_s))
        elif kind == "prefill" and prefill and rec.extra.get("prefill_tflops"):
            out.append(AttentionPoint(kind, impl, len(prefill), float(sum(q for q, _ in prefill)),
                                      rec.extra["prefill_tflops"], rec.median_s))
        elif kind == "mixed" and _get(rec, "decode_share") is not None:
            out.append(AttentionPoint(kind, impl, len(decode), float(_get(rec, "decode_share")), None, rec.median_s))
    return out
