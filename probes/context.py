"""What every probe gets from the suite runner, and what it gives back: planned points and records."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from phasecal.kernels.catalog import ModelShape
from phasecal.probes.nvml import NvmlSource
from phasecal.probes.timing import StopRule, Timer, Timing
from phasecal.records import PointRecord


@dataclass
class PlannedPoint:
    """One point a probe will measure: `key` is unique in the raw file (what a resume skips)."""

    key: str
    params: dict


@dataclass
class Plan:
    """A probe's points for this run, and the parts it cannot run here, each with the reason."""

    points: list[PlannedPoint] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class ProbeContext:
    """The device, timer and settings shared by the probes of one suite run."""

    device: object  # torch.device
    timer: Timer
    rule: StopRule
    shape: ModelShape
    nvml: NvmlSource
    fingerprint: dict
    quick: bool = False
    dtype: object = None  # torch dtype of activations and weights: bf16 on GPU, fp32 on CPU
    deadline: float | None = None  # time.monotonic() after which no new point starts
    backend: str = "torch"  # the synthetic model's glue kernels: "triton" (GPU default) or "torch" (CPU)
    # told how many points' worth of the group being sampled is done, so a long group moves the progress bar
    partial_progress: Callable[[float], None] | None = None

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def time_left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def report_partial(self, points: float) -> None:
        """Say that `points` points' worth of the group now sampled is done (no-op without a listener)."""
        if self.partial_progress is not None:
            self.partial_progress(points)


def to_record(probe: str, point: PlannedPoint, timing: Timing, **extra) -> PointRecord:
    """The raw record of a measured point: the timing's samples plus derived rates in `extra`."""
    return PointRecord(probe=probe, key=point.key, params=point.params, median_s=timing.median_s,
                       spread=timing.spread, samples_s=timing.samples_s, throttled=timing.throttled,
                       extra={**timing.extra(), **extra})


def torch_dtype(name: str):
    """torch dtype from its short name ('bfloat16', 'float32')."""
    import torch

    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}")
    return dtype


def point_rule(ctx: ProbeContext, gpu_share: float = 1.0, cpu_share: float = 0.5) -> StopRule:
    """The suite's stopping rule with its time cap scaled for a probe with many points (the CPU's
    cold samples each rewrite twice its last-level cache, so its kernel probes sample for less)."""
    from dataclasses import replace

    return replace(ctx.rule, max_time_s=ctx.rule.max_time_s * (gpu_share if ctx.is_cuda else cpu_share))
