"""Tensor-parallel ranks of one suite run: who they are, and timing in lockstep.

Every rank runs the same points in the same order; rank 0 alone writes. A sample is taken on every
rank after a barrier (all start together), timed on the host around the call and a device sync, and
the sample kept is the max over ranks (one all-reduce per point, after its samples): a TP step or an
all-reduce is done when the slowest rank is. The clock is the suite's (`Timer.cpu_clock`): wall time
on a GPU; on the CPU with one torch thread per rank, the thread's CPU time, as a one-device CPU run
times, because on a shared machine a rank that another process preempts makes the other wait, and wall
time then measures the machine's load (measured on this project's loaded 2-core VM: a 256-token
prefill over 2 ranks 70 ms wall with a 45% spread, 22 ms thread time with 5%). That clock counts each
rank's compute and its own part of gloo's all-reduce (sends, sums, copies), not time spent waiting
for the other rank. Rank 0 decides whether a group starts (the time budget), so that no rank waits
in a collective the others never enter.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from phasecal.probes.timing import Timing, relative_spread


def clock_name(clock: Callable[[], float]) -> str:
    """How a lockstep sample is timed, for the raw header."""
    return f"{'thread CPU time' if clock is time.thread_time else 'wall'}, max over ranks after a barrier"


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) when torch.distributed is not initialized."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def rank0_says(flag: bool) -> bool:
    """Rank 0's `flag`, on every rank."""
    import torch.distributed as dist

    box = [flag]
    dist.broadcast_object_list(box, src=0)
    return bool(box[0])


def broadcast_from_rank0(obj: object) -> object:
    """Rank 0's `obj` (any picklable), on every rank."""
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def lockstep_measure(fns: list[Callable[[], object]], sync: Callable[[], None], rounds: int,
                     clock: Callable[[], float] = time.perf_counter, warmup: int = 1) -> list[Timing]:
    """`rounds` samples of each of `fns`, interleaved, on every rank in lockstep; each sample is the max over
    ranks. The same fixed count on every rank (an adaptive stop could differ between ranks and leave one in
    a collective alone)."""
    import torch
    import torch.distributed as dist

    for fn in fns:
        for _ in range(warmup):
            fn()
    sync()
    times = torch.zeros(len(fns), rounds, dtype=torch.float64)
    for r in range(rounds):
        for i, fn in enumerate(fns):
            dist.barrier()
            t0 = clock()
            fn()
            sync()
            times[i, r] = clock() - t0
    if dist.get_backend() == "nccl":
        times = times.cuda()
    dist.all_reduce(times, op=dist.ReduceOp.MAX)
    out = []
    for row in times.cpu().tolist():
        out.append(Timing(samples_s=row, median_s=statistics.median(row), spread=relative_spread(row),
                          stop=f"{rounds} samples in lockstep", warmup_iters=warmup))
    return out
