"""Step-time probe over tensor-parallel ranks: the step grid of probes/step.py, each step run by every rank
on its shard of the model (kernels/tp_model.py), timed in lockstep (probes/dist.py: a barrier before each
sample, the max over ranks kept, on the suite's clock). Records are `probe="step"` points as on one
device, so fitting, the thresholds and the scheduler read a TP run as any other; `extra.comm_s` adds
rank 0's time inside the step's all-reduces (median over samples, same clock) where the backend makes
it measurable (gloo: the call is the sum; NCCL: host time is only the enqueue, so it is left out there).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator

from phasecal.point_params import StepRates
from phasecal.probes import step
from phasecal.probes.context import PlannedPoint, ProbeContext, to_record
from phasecal.probes.dist import lockstep_measure, rank0_says, world
from phasecal.records import PointRecord

NAME = step.NAME
# Groups of 20 on the CPU, not the step probe's one group: TP's lockstep drift was not studied, and a run
# whose points all land at the end would leave nothing for --resume when a rank hangs or dies mid-run.
CPU_GROUP = 20
plan = step.plan
summarize = step.summarize
PAGE_LAYOUT = step.PAGE_LAYOUT


def sample_order(is_cuda: bool) -> str:
    """How the ranks' samples are ordered (lockstep_measure: slices in rounds, on any device)."""
    return f"interleaved in lockstep, {step.ROUNDS}-round slices"


def build_model(ctx: ProbeContext, points: list[PlannedPoint]):
    """This rank's shard of the synthetic model, warmed up, and its timed all-reduce. Every rank draws the
    full weights from one seed and keeps its part (then drops the rest): the shards are those of one model."""
    from phasecal.kernels.model import SyntheticModel
    from phasecal.kernels.tp_model import TimedAllReduce, shard_model

    rank, n = world()
    reduce = TimedAllReduce(ctx.timer.cpu_clock)
    num_blocks = max(step.blocks_needed(p.params) for p in points) + 1
    full = SyntheticModel(ctx.shape, device=str(ctx.device), dtype=ctx.dtype, num_blocks=num_blocks,
                          block_size=step.BLOCK_SIZE, seed=0, backend=ctx.backend)
    model = shard_model(full, rank, n, reduce)
    del full
    model.warmup()
    return model, reduce


def _with_comm(fn, reduce, comm: list[float]):
    """`fn`, appending the all-reduce time of each call to `comm`."""
    def call():
        reduce.seconds = 0.0
        out = fn()
        comm.append(reduce.seconds)
        return out
    return call


def run(ctx: ProbeContext, points: list[PlannedPoint]) -> Iterator[PointRecord]:
    """Measure `points` in interleaved groups as probes/step.py does (same shuffled order on every rank),
    in lockstep over the ranks; rank 0's records are the ones written."""
    if not points:
        return
    model, reduce = build_model(ctx, points)
    points = list(points)
    random.Random(0).shuffle(points)
    size = step.group_size(ctx) if ctx.is_cuda else CPU_GROUP
    for i in range(0, len(points), size):
        if not rank0_says(ctx.time_left() > 0):
            return
        group = points[i : i + size]
        prepared = [step.prepare_point(ctx, model, p.params) for p in group]
        comms: list[list[float]] = [[] for _ in group]
        fns = [_with_comm(fn, reduce, c) for (fn, _), c in zip(prepared, comms, strict=True)]
        timings = lockstep_measure(fns, ctx.timer.sync, step.ROUNDS, ctx.timer.cpu_clock)
        for p, (_, extra), t, comm in zip(group, prepared, timings, comms, strict=True):
            rates = StepRates(extra["tokens"], extra["tokens"] / t.median_s)
            if reduce.exact and not p.params["graph"]:
                extra = {**extra, "comm_s": statistics.median(comm[-step.ROUNDS:])}
            yield to_record(NAME, p, t, **{**extra, **rates.to_dict()})
        del prepared
