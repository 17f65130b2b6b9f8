"""One tensor-parallel rank of a suite run: what the launcher (phasecal/commands/tp_launch.py) starts.

Each rank joins the process group torchrun's launcher set up (env://: RANK, WORLD_SIZE, MASTER_ADDR and
PORT), takes its GPU (LOCAL_RANK) or a share of the CPU cores, and runs the suite. Rank 0 plans, writes
the raw file point by point and tells the others which points to run (`follow`); the others run them in
lockstep and write nothing. A collective that waits longer than the group's timeout raises, so a rank
that hangs stops the run rather than stalling it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
from pathlib import Path
from types import ModuleType


def interconnect(device) -> str:
    """What carries the all-reduces: gloo over the host, or NCCL between GPUs (with or without peer access)."""
    import torch

    if device.type != "cuda":
        return "gloo over shared memory/loopback on one host (CPU)"
    peer = torch.cuda.device_count() > 1 and torch.cuda.can_device_access_peer(0, 1)
    return f"nccl between {torch.cuda.get_device_name(device)} GPUs ({'peer access' if peer else 'no peer access'})"


def follow(modules: list[ModuleType], ctx) -> None:
    """A follower's part of the suite: for each probe, run the points rank 0 broadcast (none: skip it)."""
    from phasecal.probes.dist import broadcast_from_rank0

    for mod in modules:
        todo = broadcast_from_rank0(None)
        if todo:
            for _ in mod.run(ctx, todo):
                pass  # rank 0 writes the records


def worker(config, device_type: str, timeout_s: float, errors: str) -> str:
    """Run `config` (a SuiteConfig) as this process's rank; rank 0 returns the raw file's path. An error is
    written in one line to `errors`/rank<R> and the process exits 1 (no traceback: the launcher reports it)."""
    try:
        return _run_rank(config, device_type, timeout_s)
    except BaseException as e:  # noqa: BLE001 (Ctrl-C and errors alike end the rank with their line)
        from phasecal.errors import one_line

        name = "ValueError" if isinstance(e, ValueError) else "OSError" if isinstance(e, OSError) else type(e).__name__
        Path(errors, f"rank{os.environ.get('RANK', '0')}").write_text(f"{name}: {one_line(e)}")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def _run_rank(config, device_type: str, timeout_s: float) -> str:
    import torch
    import torch.distributed as dist

    from phasecal.probes.suite import run_suite

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        config = dataclasses.replace(config, device=f"cuda:{local}")
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo", timeout=dt.timedelta(seconds=timeout_s))
    try:
        return str(run_suite(config))
    finally:
        dist.destroy_process_group()
