"""Launch-overhead probe: an empty kernel through Triton's launcher, a CuPy RawKernel, and a torch op.

Per implementation: the host's enqueue cost (host clock, one launch, queue empty), the launch+sync
round trip (host clock), and CUDA Graph replay of n launches (device time, n = 1..256) to fit
replay = a + b*nodes. The graph check: a captured chain of n torch adds really runs n times on new
inputs (y == n*x after replay); n launches of a counting kernel through Triton's launcher leave n
in the counter; and the fitted b must be positive (replay grows with nodes). CuPy's graphs are not
checked: their fit reports `holds_work: None` (unchecked), never a default pass.
On the CPU only the torch op's call cost is meaningful (Triton would be its interpreter; CuPy and
CUDA Graphs need a GPU): the other parts are skipped with that reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np

from phasecal.point_params import LaunchParams
from phasecal.probes.context import Plan, PlannedPoint, ProbeContext, to_record
from phasecal.probes.timing import capture_graph
from phasecal.records import PointRecord

NAME = "launch"
NODES = (1, 4, 16, 64, 256)


def plan(ctx: ProbeContext) -> Plan:
    result = Plan()
    if not ctx.is_cuda:
        result.skipped.append("launch/triton: on the CPU Triton runs in its interpreter, not a launch")
        result.skipped.append("launch/cupy and graph replays: CuPy and CUDA Graphs need a CUDA GPU")
        result.points.append(PlannedPoint("launch/torch/call", LaunchParams("torch", "call").to_dict()))
        return result
    nodes = NODES[::2] if ctx.quick else NODES
    for impl in ("triton", "cupy", "torch"):
        for what in ("enqueue", "launch_sync"):
            result.points.append(PlannedPoint(f"launch/{impl}/{what}", LaunchParams(impl, what).to_dict()))
        for n in nodes:
            result.points.append(PlannedPoint(f"launch/{impl}/graph/{n}", LaunchParams(impl, "graph", n).to_dict()))
    return result


def _launcher(ctx: ProbeContext, impl: str) -> tuple[Callable[[], None], Callable]:
    """(one launch, the context it must run in): CuPy launches on torch's current stream."""
    import torch

    if impl == "triton":
        from phasecal.kernels.launch import launch_empty_triton

        return (lambda: launch_empty_triton(1)), contextlib.nullcontext
    if impl == "cupy":
        from phasecal.kernels._common import cupy_on_torch_stream
        from phasecal.kernels.launch import empty_cupy_kernel

        kernel = empty_cupy_kernel()
        return (lambda: kernel((1,), (1,), ())), lambda: cupy_on_torch_stream(ctx.device)
    x = torch.ones(1, device=ctx.device)
    return (lambda: x.add_(1.0)), contextlib.nullcontext


def check_graph_holds_work(ctx: ProbeContext, nodes: int) -> bool:
    """Capture `nodes` adds of x into y, change x, replay: y must equal nodes * x."""
    import torch

    x = torch.zeros(1024, device=ctx.device)
    y = torch.zeros(1024, device=ctx.device)

    def chain():
        for _ in range(nodes):
            y.add_(x)

    graph, _ = capture_graph(chain, warmup=1)
    x.copy_(torch.randint(1, 9, (1024,), device=ctx.device, dtype=torch.float32))
    y.zero_()
    graph.replay()
    torch.cuda.synchronize()
    return bool(torch.equal(y, nodes * x))


def check_triton_graph_holds_work(ctx: ProbeContext, nodes: int) -> bool:
    """Capture `nodes` launches of a counting kernel through Triton's launcher (the empty kernel's
    path), zero the counter, replay: it must read `nodes`."""
    import torch

    from phasecal.kernels.launch import launch_count_triton

    counter = torch.zeros(1, device=ctx.device)

    def chain():
        for _ in range(nodes):
            launch_count_triton(counter)

    graph, _ = capture_graph(chain, warmup=1)
    counter.zero_()
    graph.replay()
    torch.cuda.synchronize()
    return counter.item() == nodes


def measure_point(ctx: ProbeContext, point: PlannedPoint) -> PointRecord:
    p = point.params
    launch, scope = _launcher(ctx, p["impl"])
    extra: dict = {}
    with scope():
        if p["what"] in ("call", "enqueue"):
            timing = ctx.timer.measure(launch, ctx.rule, host=True)
        elif p["what"] == "launch_sync":
            timing = ctx.timer.measure(lambda: (launch(), ctx.timer.sync()), ctx.rule, host=True)
        else:
            n = p["nodes"]

            def captured():
                with scope():  # inside capture torch's current stream is the capture stream
                    for _ in range(n):
                        launch()

            graph, _ = capture_graph(captured, warmup=1)
            timing = ctx.timer.measure(graph.replay, ctx.rule, hold=True)
            checks = {"torch": check_graph_holds_work, "triton": check_triton_graph_holds_work}
            if p["impl"] in checks:  # CuPy: unchecked (its empty kernel leaves nothing to count)
                extra["graph_holds_work"] = checks[p["impl"]](ctx, n)
            del graph
    return to_record(NAME, point, timing, **extra)


def run(ctx: ProbeContext, points: list[PlannedPoint]) -> Iterator[PointRecord]:
    for p in points:
        if ctx.time_left() <= 0:
            return
        yield measure_point(ctx, p)


def graph_fit(records: list[PointRecord]) -> dict:
    """Per implementation: replay = a + b*nodes by least squares, and whether b > 0."""
    out = {}
    for impl in sorted({r.params["impl"] for r in records if r.params["what"] == "graph"}):
        rs = [r for r in records if r.params["what"] == "graph" and r.params["impl"] == impl]
        if len(rs) < 2:
            continue
        b, a = np.polyfit([r.params["nodes"] for r in rs], [r.median_s for r in rs], 1)
        checked = [r.extra["graph_holds_work"] for r in rs if "graph_holds_work" in r.extra]
        out[impl] = {"a_us": a * 1e6, "b_us_per_node": b * 1e6, "grows_with_nodes": bool(b > 0),
                     "holds_work": all(checked) if checked else None}  # None: not checked (CuPy)
    return out


def ceilings(records: list[PointRecord]) -> dict:
    """Launch costs in microseconds per implementation, and the graph replay fit."""
    costs = {f"{r.params['impl']}/{r.params['what']}_us": round(r.median_s * 1e6, 2)
             for r in records if r.params["what"] != "graph"}
    return {**costs, "graph_replay": graph_fit(records)}


def summarize(records: list[PointRecord]) -> str:
    parts = [f"{len(records)} points"]
    for r in records:
        if r.params["what"] != "graph":
            parts.append(f"{r.params['impl']} {r.params['what']} {r.median_s * 1e6:.1f} us")
    for impl, f in graph_fit(records).items():
        if not f["grows_with_nodes"] or f["holds_work"] is False:
            ok = " (CHECK FAILED: graph may not hold the work)"
        else:
            ok = " (holds work: unchecked)" if f["holds_work"] is None else ""
        parts.append(f"{impl} graph {f['a_us']:.1f} us + {f['b_us_per_node']:.2f} us/node{ok}")
    return "; ".join(parts)
