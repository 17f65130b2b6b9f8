"""GEMM probe: the model's linear layers (kernels/catalog.py) at M = tokens in a step, 1 to 16k.

torch (`x @ w.T`, cuBLAS on a GPU: what engines use) and, on a GPU, the Triton matmul of
kernels/matmul.py (autotuned in its warm-up, outside the samples). Weights are random and stored
[N, K] like torch Linear; every sample starts cold-L2, as in a model step where the other layers'
weights have evicted this one. TFLOP/s counts 2*M*N*K; GB/s counts A, W and C once each.
"""

from __future__ import annotations

from collections.abc import Iterator

from phasecal.point_params import GemmParams, GemmRates
from phasecal.probes.context import Plan, PlannedPoint, ProbeContext, point_rule, to_record, torch_dtype
from phasecal.records import PointRecord

NAME = "gemm"
GPU_M = (1, 16, 64, 256, 1024, 4096, 16384)
CPU_M = (1, 16, 64, 256, 1024)


def m_values(ctx: ProbeContext) -> tuple[int, ...]:
    ms = GPU_M if ctx.is_cuda else CPU_M
    return ms[::2] if ctx.quick else ms


def plan(ctx: ProbeContext) -> Plan:
    result = Plan()
    impls = ["torch", "triton"] if ctx.is_cuda else ["torch"]
    if not ctx.is_cuda:
        result.skipped.append("gemm/triton: on the CPU Triton runs in its interpreter, not a measurement")
    dtype = str(ctx.dtype).removeprefix("torch.")
    for layer, (k, n) in ctx.shape.linear_shapes().items():
        for m in m_values(ctx):
            for impl in impls:
                params = GemmParams(impl, layer, m, n, k, dtype)
                result.points.append(PlannedPoint(f"gemm/{impl}/{layer}/m{m}", params.to_dict()))
    return result


def measure_point(ctx: ProbeContext, point: PlannedPoint) -> PointRecord:
    import torch

    p = point.params
    dtype = torch_dtype(p["dtype"])
    m, n, k = p["m"], p["n"], p["k"]
    x = torch.randn(m, k, device=ctx.device, dtype=dtype)
    w = torch.randn(n, k, device=ctx.device, dtype=dtype) * k**-0.5
    if p["impl"] == "triton":
        from phasecal.kernels.matmul import matmul

        fn = lambda: matmul(x, w.t())
    else:
        fn = lambda: x @ w.t()
    timing = ctx.timer.measure(fn, point_rule(ctx), cold=True, hold=ctx.is_cuda)
    t = timing.median_s
    nbytes = (m * k + n * k + m * n) * x.element_size()
    flops = 2 * m * n * k
    return to_record(NAME, point, timing, **GemmRates(flops, flops / t / 1e12, nbytes / t / 1e9).to_dict())


def run(ctx: ProbeContext, points: list[PlannedPoint]) -> Iterator[PointRecord]:
    for p in points:
        if ctx.time_left() <= 0:
            return
        yield measure_point(ctx, p)


def ceilings(records: list[PointRecord]) -> dict:
    """Best TFLOP/s per implementation, and where (layer, M)."""
    best: dict = {}
    for r in records:
        impl = r.params["impl"]
        if impl not in best or r.extra["tflops"] > best[impl]["tflops"]:
            best[impl] = {"tflops": round(r.extra["tflops"], 2), "layer": r.params["layer"], "m": r.params["m"]}
    return best


def summarize(records: list[PointRecord]) -> str:
    parts = [f"{len(records)} points"]
    for impl, b in sorted(ceilings(records).items()):
        parts.append(f"{impl}: best {b['tflops']:.2f} TFLOP/s ({b['layer']}, M={b['m']})")
    return "; ".join(parts)
