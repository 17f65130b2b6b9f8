"""What every probe gets from the suite runner, and what it gives back: planned points and records."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from phasecal.kernels.catalog import ModelShape
from phasecal.probes.nvml import NvmlSource
from phasecal.probes.timing import StopRule, Timer


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

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def time_left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()
