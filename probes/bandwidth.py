"""Bandwidth probe: BabelStream kernels over a working-set sweep, hot and cold-L2.

Implementations: the Triton kernels (kernels/bandwidth.py) and CuPy raw CUDA kernels with 16-byte
accesses (kernels/bandwidth_cupy.py) on a GPU, and torch's own ops (copy_, mul, add, sum, fill_)
everywhere, so the Triton/CuPy numbers sit beside what PyTorch gets in the same run. The sweep
goes from far below L2 (the CPU: its last-level cache) to many times it: hot samples reuse the
buffers (cache-resident while they fit: the L2 knee), cold samples flush the cache first. Rates
count bytes as BabelStream does (arrays read + written, each once) in decimal GB/s; never cudaMemcpy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from phasecal.point_params import BandwidthParams, BandwidthRates
from phasecal.probes.context import Plan, PlannedPoint, ProbeContext, point_rule, to_record, torch_dtype
from phasecal.probes.fingerprint import cache_bytes as fingerprint_cache_bytes
from phasecal.records import PointRecord

NAME = "bandwidth"
# arrays read and written per element (BabelStream); the same table as kernels.bandwidth.STREAM_OPS
ARRAYS = {"copy": (1, 1), "scale": (1, 1), "add": (2, 1), "triad": (2, 1), "read": (1, 0), "write": (0, 1)}
MiB = 1024**2


def cache_bytes(ctx: ProbeContext) -> int:
    """The cache the sweep straddles: L2 on a GPU, the last-level cache on a CPU."""
    return fingerprint_cache_bytes(ctx.fingerprint, ctx.is_cuda)


def working_sets(ctx: ProbeContext) -> list[int]:
    """Working-set sizes in bytes around the cache: GPU cache/32 to 32x cache in steps of 2; CPU
    256 KiB to 4x cache in steps of 4 (its samples are slower); steps twice as coarse with --quick."""
    llc = cache_bytes(ctx)
    if ctx.is_cuda:
        lo, hi, factor = max(MiB // 4, llc // 32), 32 * llc, 2
    else:
        lo, hi, factor = MiB // 4, 4 * llc, 4
    factor = factor**2 if ctx.quick else factor
    sizes, s = [], 1 << (lo - 1).bit_length()
    while s <= hi:
        sizes.append(s)
        s *= factor
    return sizes


def plan(ctx: ProbeContext) -> Plan:
    result = Plan()
    impls = ["torch"]
    if ctx.is_cuda:
        impls = ["triton", "cupy", "torch"]
    else:
        result.skipped.append("bandwidth/triton: on the CPU Triton runs in its interpreter, not a measurement")
        result.skipped.append("bandwidth/cupy: CuPy raw kernels need a CUDA GPU")
    ops = ("copy", "triad", "read") if ctx.quick else tuple(ARRAYS)
    dtype = str(ctx.dtype).removeprefix("torch.")
    llc = cache_bytes(ctx)
    cold_limit = 4 * llc if ctx.is_cuda else llc  # CPU flushes are slow (a 2x LLC write per sample)
    for impl in impls:
        for op in ops if impl != "torch" or not ctx.is_cuda else ("copy",):  # torch: the reference copy
            for ws in working_sets(ctx):
                for cold in (False, True):
                    if cold and ws > cold_limit:
                        continue  # far past the cache, hot samples are already cold
                    params = BandwidthParams(impl, op, ws, dtype, cold)
                    key = f"bandwidth/{impl}/{op}/{ws}/{'cold' if cold else 'hot'}"
                    result.points.append(PlannedPoint(key, params.to_dict()))
    return result


def _kernel(impl: str, op: str, a, b, c, out, partial) -> Callable[[], object]:
    """The call that runs `op` of `impl` on preallocated buffers (no allocation inside the timed call)."""
    import torch

    if impl == "torch":
        return {"copy": lambda: out.copy_(a), "scale": lambda: torch.mul(c, 0.4, out=out),
                "add": lambda: torch.add(a, b, out=out), "triad": lambda: torch.add(b, c, alpha=0.4, out=out),
                "read": lambda: torch.sum(a, dim=0, dtype=torch.float32, out=partial),
                "write": lambda: out.fill_(0.25)}[op]
    if impl == "triton":
        from phasecal.kernels import bandwidth as k

        parts = torch.empty(-(-a.numel() // k.DEFAULT_BLOCK), device=a.device, dtype=torch.float32)
        return {"copy": lambda: k.stream_copy(a, out), "scale": lambda: k.stream_scale(c, 0.4, out),
                "add": lambda: k.stream_add(a, b, out), "triad": lambda: k.stream_triad(b, c, 0.4, out),
                "read": lambda: k.stream_read(a, parts), "write": lambda: k.stream_write(out, 0.25)}[op]
    from phasecal.kernels import bandwidth_cupy as k

    return {"copy": lambda: k.stream_copy(a, out), "scale": lambda: k.stream_scale(c, 0.4, out),
            "add": lambda: k.stream_add(a, b, out), "triad": lambda: k.stream_triad(b, c, 0.4, out),
            "read": lambda: k.stream_read(a, partial), "write": lambda: k.stream_write(out, 0.25)}[op]


class BufferPool:
    """Random arrays a, b, c and an output, allocated once at the largest size a run needs; points
    take leading slices (contiguous, 16-byte aligned), so filling random data stays out of the loop."""

    def __init__(self, ctx: ProbeContext, points: list[PlannedPoint]):
        self.ctx, self.buffers, self.largest = ctx, {}, {}
        for p in points:
            d = p.params["dtype"]
            self.largest[d] = max(self.largest.get(d, 0), self.elements(p.params))

    @staticmethod
    def elements(params: dict) -> int:
        import torch

        reads, writes = ARRAYS[params["op"]]
        elem = torch.finfo(torch_dtype(params["dtype"])).bits // 8
        return params["working_set_bytes"] // ((reads + writes) * elem) // 1024 * 1024

    def arrays(self, dtype_name: str, n: int):
        import torch

        if dtype_name not in self.buffers:
            dtype, size = torch_dtype(dtype_name), self.largest[dtype_name]
            # random inputs, never zeros; b and c distinct so add and triad read two streams
            self.buffers[dtype_name] = [torch.empty(size, device=self.ctx.device, dtype=dtype).uniform_(-1, 1)
                                        for _ in range(4)]
        return [t[:n] for t in self.buffers[dtype_name]]


def measure_point(ctx: ProbeContext, point: PlannedPoint, pool: BufferPool) -> PointRecord:
    import torch

    p = point.params
    n = pool.elements(p)
    a, b, c, out = pool.arrays(p["dtype"], n)
    partial = torch.zeros(1 if p["impl"] != "torch" else (), device=ctx.device, dtype=torch.float32)
    fn = _kernel(p["impl"], p["op"], a, b, c, out, partial)
    timing = ctx.timer.measure(fn, point_rule(ctx, 0.25, 0.15), cold=p["cold"], hold=ctx.is_cuda)
    reads, writes = ARRAYS[p["op"]]
    moved = (reads + writes) * n * a.element_size()
    return to_record(NAME, point, timing, **BandwidthRates(n, moved, moved / timing.median_s / 1e9).to_dict())


def run(ctx: ProbeContext, points: list[PlannedPoint]) -> Iterator[PointRecord]:
    pool = BufferPool(ctx, points)
    for p in points:
        if ctx.time_left() <= 0:
            return
        yield measure_point(ctx, p, pool)


def ceilings(records: list[PointRecord]) -> dict:
    """Per implementation and op: the plateau (median GB/s over the largest hot working sets, past
    the cache) and the knee (the smallest hot working set whose rate is within 25% of the plateau)."""
    out: dict = {}
    groups: dict[tuple[str, str], list[PointRecord]] = {}
    for r in records:
        if not r.params["cold"]:
            groups.setdefault((r.params["impl"], r.params["op"]), []).append(r)
    for (impl, op), rs in groups.items():
        rs.sort(key=lambda r: r.params["working_set_bytes"])
        tail = rs[-3:] if len(rs) >= 6 else rs[-1:]
        plateau = float(np.median([r.extra["gb_s"] for r in tail]))
        knee = next((r.params["working_set_bytes"] for r in rs if r.extra["gb_s"] <= 1.25 * plateau), None)
        peak = max(r.extra["gb_s"] for r in rs)
        out[f"{impl}/{op}"] = {"plateau_gb_s": round(plateau, 1), "peak_gb_s": round(peak, 1), "knee_bytes": knee}
    return out


def summarize(records: list[PointRecord]) -> str:
    c = ceilings(records)
    parts = [f"{len(records)} points"]
    for name in sorted(c):
        if name.endswith("/copy") or name.endswith("/triad"):
            v = c[name]
            knee = f", knee {v['knee_bytes'] / MiB:.0f} MiB" if v["knee_bytes"] else ""
            parts.append(f"{name}: plateau {v['plateau_gb_s']:.0f} GB/s, peak {v['peak_gb_s']:.0f}{knee}")
    return "; ".join(parts)
