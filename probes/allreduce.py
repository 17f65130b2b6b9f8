"""All-reduce probe: latency and bus bandwidth of torch.distributed's all-reduce over message sizes.

Reported as nccl-tests reports them, so the numbers compare with that anchor: a point is `reps`
back-to-back in-place sums of one message, its median_s the time per all-reduce (max over ranks),
algbw = bytes / time and busbw = algbw * 2(n-1)/n. NCCL on GPUs (eager and, as engines capture
decode steps, inside a CUDA Graph), gloo on the CPU (eager; sizes capped so the probe stays short).
It is timed on the suite's clock as the TP steps are (probes/dist.py), so that the steps' comm term
and this probe compare. Needs a process group of >= 2 ranks (`phasecal probe --tp N`); without one
it plans nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from phasecal.point_params import AllreduceParams, AllreduceRates
from phasecal.probes.context import Plan, PlannedPoint, ProbeContext, to_record
from phasecal.probes.dist import lockstep_measure, rank0_says, world
from phasecal.records import PointRecord

NAME = "allreduce"
GPU_SIZES = tuple(8 * 1024 * 4**i for i in range(9))  # 8 KiB .. 512 MiB
CPU_SIZES = tuple(4 * 1024 * 4**i for i in range(7))  # 4 KiB .. 16 MiB
CPU_QUICK_SIZES = (4 * 1024, 64 * 1024, 1024**2, 8 * 1024**2)
GPU_QUICK_SIZES = (8 * 1024, 1024**2, 64 * 1024**2, 256 * 1024**2)
ROUNDS = 10
SAMPLE_BYTES = 64 * 1024**2  # reps per sample: enough back-to-back small messages to time, one big one


def sizes(is_cuda: bool, quick: bool) -> tuple[int, ...]:
    """Message sizes in bytes: a few KiB to hundreds of MiB on a GPU, to 16 MiB on the CPU."""
    if is_cuda:
        return GPU_QUICK_SIZES if quick else GPU_SIZES
    return CPU_QUICK_SIZES if quick else CPU_SIZES


def plan(ctx: ProbeContext) -> Plan:
    """One eager point per size and, on a GPU, one CUDA-Graph point per size."""
    _, n = world()
    result = Plan()
    if n < 2:
        result.skipped.append("all-reduce: needs >= 2 tensor-parallel ranks (run with --tp N)")
        return result
    backend = "nccl" if ctx.is_cuda else "gloo"
    dtype = str(ctx.dtype).removeprefix("torch.")
    modes = (False, True) if ctx.is_cuda else (False,)
    if not ctx.is_cuda:
        result.skipped.append("all-reduce graph replays: CUDA Graphs need a CUDA device (this run is on the CPU)")
    for graph in modes:
        for nbytes in sizes(ctx.is_cuda, ctx.quick):
            p = AllreduceParams(nbytes, dtype, n, backend, graph, max(1, min(20, SAMPLE_BYTES // nbytes)))
            result.points.append(PlannedPoint(f"allreduce/{nbytes}B/{'graph' if graph else 'eager'}", p.to_dict()))
    return result


def _timed_call(ctx: ProbeContext, p: AllreduceParams):
    """The sample's call: `reps` all-reduces of a fresh random message (eager, or one graph replay)."""
    import torch
    import torch.distributed as dist

    itemsize = torch.finfo(ctx.dtype).bits // 8
    buf = torch.randn(p.bytes // itemsize, device=ctx.device, dtype=torch.float32).to(ctx.dtype)

    def reps() -> None:
        for _ in range(p.reps):
            dist.all_reduce(buf)

    if not p.graph:
        return reps
    from phasecal.probes.timing import capture_graph

    graph, _ = capture_graph(reps)
    return graph.replay


def run(ctx: ProbeContext, points: list[PlannedPoint]) -> Iterator[PointRecord]:
    """Measure each point on every rank in lockstep; rank 0's records are the ones written."""
    for point in points:
        if not rank0_says(ctx.time_left() > 0):
            return
        p = AllreduceParams.from_dict(point.params)
        call = _timed_call(ctx, p)
        (t,) = lockstep_measure([call], ctx.timer.sync, ROUNDS, ctx.timer.cpu_clock)
        per_op = [s / p.reps for s in t.samples_s]
        t.samples_s, t.median_s = per_op, t.median_s / p.reps
        yield to_record(NAME, point, t, **AllreduceRates.of(p.bytes, p.world, t.median_s).to_dict())


def latency_and_bandwidth(records: list[PointRecord]) -> tuple[float, float]:
    """Eager points fitted as t = latency + bytes / bw: (latency s, bw in bytes/s of that fit's slope)."""
    eager = [r for r in records if not r.params["graph"]]
    x = np.array([r.params["bytes"] for r in eager], dtype=float)
    y = np.array([r.median_s for r in eager])
    slope, icpt = np.polyfit(x, y, 1)
    return max(float(icpt), 0.0), (1 / slope if slope > 0 else float("inf"))


def summarize(records: list[PointRecord]) -> str:
    """One line: smallest-message latency and the largest message's algbw/busbw, per mode."""
    parts = [f"{len(records)} points"]
    for graph in (False, True):
        rs = sorted((r for r in records if r.params["graph"] == graph), key=lambda r: r.params["bytes"])
        if rs:
            lo, hi = rs[0], rs[-1]
            parts.append(f"{'graph' if graph else 'eager'}: {lo.params['bytes'] // 1024} KiB in "
                         f"{lo.median_s * 1e6:.0f} us, {hi.params['bytes'] / 1024**2:.0f} MiB at algbw "
                         f"{hi.extra['algbw_gb_s']:.2f} GB/s, busbw {hi.extra['busbw_gb_s']:.2f} GB/s")
    return "; ".join(parts)
