"""Timing harness: warm-up, then samples until an nvbench-style stopping rule says enough.

On a GPU each sample is bracketed by CUDA events on the current stream; on the CPU by
`time.perf_counter` (wall) or, when torch runs on one thread, optionally by `time.thread_time`:
the CPU time of the thread that does the work, equal to wall time on an idle machine but blind to
the time other processes take the core away (a shared 2-core machine otherwise doubles samples).
Warm-up runs first so compilation, autotuning and lazy loading stay out of the samples.
Optional per sample, outside the timed region:
- a cold-L2 flush: write a buffer larger than the last-level cache (as `triton.testing.do_bench`
  does), then read it, so the cache holds clean lines: a write alone leaves up to a cache of dirty
  lines that the timed kernel would pay to write back;
- a stream hold (a GPU spin kernel, like nvbench's blocking kernel) so that all launches of the
  timed function are queued before the start event fires: the sample is then device time only,
  without the host's launch gaps. Leave it off where host overhead is part of what is measured
  (an eager model step).
Throttling is read from NVML after every sample (`probes.nvml`); flagged samples stay in the
median and are listed, so a reader can drop them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from phasecal.probes.nvml import NoNvml, NvmlSource, summarize_states

MAX_HOLD_S = 0.05  # a longer enqueue than this is host-bound work that no hold should hide


@dataclass
class StopRule:
    """When to stop sampling one point: at least `min_samples`, then at a relative spread
    <= `target_spread`, or at `max_time_s` of sampling wall time, or at `max_samples`."""

    min_samples: int = 10
    max_samples: int = 2000
    target_spread: float = 0.01
    max_time_s: float = 1.0
    warmup_iters: int = 2
    warmup_s: float = 0.02  # keep warming up until both warmup_iters and this much time are done

    def __post_init__(self) -> None:
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ValueError(f"StopRule needs 1 <= min_samples <= max_samples, got {self.min_samples}, "
                             f"{self.max_samples}")
        if self.target_spread < 0 or self.max_time_s <= 0:
            raise ValueError("StopRule needs target_spread >= 0 and max_time_s > 0")


def relative_spread(samples: list[float]) -> float:
    """(p90 - p10) / median: the spread that the raw records keep and the stopping rule tests."""
    a = np.asarray(samples, dtype=float)
    p10, p50, p90 = np.percentile(a, [10, 50, 90])
    return float((p90 - p10) / p50) if p50 > 0 else float("inf")


def stop_reason(samples: list[float], elapsed_s: float, rule: StopRule) -> str | None:
    """Why sampling stops now ('converged', 'time cap', 'sample cap'), or None to go on."""
    n = len(samples)
    if n >= rule.max_samples:
        return "sample cap"
    if n < rule.min_samples:
        return None
    if relative_spread(samples) <= rule.target_spread:
        return "converged"
    if elapsed_s >= rule.max_time_s:
        return "time cap"
    return None


@dataclass
class Timing:
    """The samples of one point and what was seen while taking them."""

    samples_s: list[float]
    median_s: float
    spread: float
    stop: str
    warmup_iters: int
    throttled_samples: list[int] = field(default_factory=list)
    gpu_state: dict = field(default_factory=dict)  # clocks, power, temperature, reasons (NVML)

    @property
    def throttled(self) -> bool:
        return bool(self.throttled_samples)

    def extra(self) -> dict:
        """What a PointRecord keeps in `extra` about how the samples were taken."""
        return {"stop": self.stop, "warmup_iters": self.warmup_iters,
                "throttled_samples": self.throttled_samples, "gpu_state": self.gpu_state}


class Timer:
    """Times callables on one device. Construct once per device and reuse (it calibrates lazily)."""

    def __init__(self, device, nvml: NvmlSource | None = None, flush_bytes: int = 0, cpu_clock: str = "wall"):
        import torch

        if cpu_clock not in ("wall", "thread"):
            raise ValueError(f"cpu_clock must be 'wall' or 'thread', got {cpu_clock!r}")
        if cpu_clock == "thread" and torch.get_num_threads() != 1:
            raise ValueError("cpu_clock='thread' needs torch.set_num_threads(1): other threads' work would be missed")
        self.cpu_clock = time.thread_time if cpu_clock == "thread" else time.perf_counter

        self.device = torch.device(device)
        self.is_cuda = self.device.type == "cuda"
        self.nvml = nvml if nvml is not None else NoNvml("no NVML source given")
        self.flush_bytes = flush_bytes
        self._flush_buf = None
        self._cycles_per_s: float | None = None

    # --- per-sample helpers -------------------------------------------------------------------
    def flush(self):
        """Evict the last-level cache (cold-L2 samples): write a buffer larger than it, then read it
        back so that what stays cached is clean. Returns the read's sum (a 0-d tensor, not synced)."""
        import torch

        if self.flush_bytes <= 0:
            raise ValueError("cold samples need flush_bytes > 0 (about 2x the L2/LLC size)")
        if self._flush_buf is None:
            self._flush_buf = torch.empty(self.flush_bytes, dtype=torch.uint8, device=self.device)
        self._flush_buf.fill_(np.random.randint(1, 255))
        return self._flush_buf.sum(dtype=torch.int64)

    def _spin_cycles_per_s(self) -> float:
        """GPU clock cycles per second of `torch.cuda._sleep`, measured once with events."""
        import torch

        if self._cycles_per_s is None:
            cycles = 2_000_000
            torch.cuda._sleep(cycles)  # warm
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            torch.cuda._sleep(cycles)
            end.record()
            end.synchronize()
            self._cycles_per_s = cycles / (start.elapsed_time(end) / 1e3)
        return self._cycles_per_s

    def sync(self) -> None:
        if self.is_cuda:
            import torch

            torch.cuda.synchronize(self.device)

    # --- the measurement ----------------------------------------------------------------------
    def _check(self, hold: bool, host: bool) -> None:
        if hold and not self.is_cuda:
            raise ValueError("hold=True needs a CUDA device (it queues launches behind a GPU spin kernel)")
        if hold and host:
            raise ValueError("hold and host exclude each other: hold times the device, host the caller")

    def _warm(self, fn, rule: StopRule, setup, hold: bool) -> _Series:
        """Warm-up: at least warmup_iters calls (the first may compile or autotune), then until
        warmup_s has passed unless fn is slow; the last call's host time sizes the hold."""
        t0 = time.perf_counter()
        warm, enqueue_s = 0, 0.0
        while warm < rule.warmup_iters or (time.perf_counter() - t0 < rule.warmup_s
                                           and time.perf_counter() - t0 < rule.max_time_s):
            if setup is not None:
                setup()
            self.sync()
            e0 = time.perf_counter()
            fn()
            enqueue_s = time.perf_counter() - e0
            self.sync()
            warm += 1
        hold_s = min(2 * enqueue_s + 20e-6, MAX_HOLD_S)
        series = _Series(warmup_iters=warm, hold_cycles=int(hold_s * self._spin_cycles_per_s()) if hold else 0)
        if self.nvml.available:
            series.states.append(self.nvml.state())
        return series

    def _sample(self, series: _Series, fn, cold: bool, host: bool, setup) -> None:
        """Take one sample of fn into `series` (and its throttle reasons, when NVML is there)."""
        if setup is not None:
            setup()
        if cold:
            self.flush()
        if host:
            t = time.perf_counter()
            fn()
            series.samples.append(time.perf_counter() - t)
            self.sync()
        elif self.is_cuda:
            import torch

            if series.hold_cycles:
                torch.cuda._sleep(series.hold_cycles)
            self._start.record()
            fn()
            self._end.record()
            self._end.synchronize()
            series.samples.append(self._start.elapsed_time(self._end) / 1e3)
        else:
            t = self.cpu_clock()
            fn()
            series.samples.append(self.cpu_clock() - t)
        if self.nvml.available:
            bits = self.nvml.reasons()
            series.seen_bits |= bits
            if self.nvml.throttling(bits):
                series.throttled.append(len(series.samples) - 1)

    def _events(self) -> None:
        if self.is_cuda and not hasattr(self, "_start"):
            import torch

            self._start, self._end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def _timing(self, series: _Series, reason: str) -> Timing:
        if self.nvml.available:
            series.states.append(self.nvml.state())
        samples = [max(x, 1e-9) for x in series.samples]  # a zero-width timer tick is still a positive time
        return Timing(samples_s=samples, median_s=float(np.median(samples)), spread=relative_spread(samples),
                      stop=reason, warmup_iters=series.warmup_iters, throttled_samples=series.throttled,
                      gpu_state=summarize_states(series.states, self.nvml, series.seen_bits) if series.states else
                      {"nvml": f"unavailable: {self.nvml.reason}"})

    def measure(self, fn: Callable[[], object], rule: StopRule, *, cold: bool = False, hold: bool = False,
                setup: Callable[[], object] | None = None, host: bool = False) -> Timing:
        """Warm `fn` up, then sample it until `rule` stops. `setup` runs before each sample, untimed
        (e.g. rotating inputs). `cold` flushes the cache before each sample; `hold` (GPU only) queues
        the launches behind a spin kernel so the sample is device time without host gaps. `host`
        times the call on the host clock (perf_counter) even on a GPU, then synchronizes untimed:
        what the caller's thread spends, e.g. enqueueing launches."""
        self._check(hold, host)
        self._events()
        series = self._warm(fn, rule, setup, hold)
        start_wall = time.perf_counter()
        while True:
            self._sample(series, fn, cold, host, setup)
            reason = stop_reason(series.samples, time.perf_counter() - start_wall, rule)
            if reason:
                return self._timing(series, reason)

    def measure_interleaved(self, fns: list[Callable[[], object]], rule: StopRule, rounds: int = 5, *,
                            cold: bool = False, hold: bool = False, rotate: bool = False,
                            on_round: Callable[[float], object] | None = None) -> list[Timing]:
        """Sample several callables in rounds, a slice of each per round, so that a slow drift of
        the machine (another process's busy phase) spreads over all of them instead of shifting one
        point's median. Each callable stops by `rule` on its own samples and its own sampling time.
        `rotate`: every slice is one call, so each sample follows a call of another callable (as an
        engine's step follows a step of another shape), and rounds last until every callable stops.
        `on_round` gets, after each round, the fraction of the sampling done (of the time caps)."""
        self._check(hold, False)
        self._events()
        series = [self._warm(fn, rule, None, hold) for fn in fns]
        elapsed = [0.0] * len(fns)
        reasons: list[str | None] = [None] * len(fns)
        per_round = 1 if rotate else max(1, -(-rule.min_samples // rounds))
        slice_s = 0.0 if rotate else rule.max_time_s / rounds
        while any(r is None for r in reasons):
            for i, fn in enumerate(fns):
                if reasons[i] is not None:
                    continue
                t0, taken = time.perf_counter(), 0
                while taken < per_round or time.perf_counter() - t0 < slice_s:
                    self._sample(series[i], fn, cold, False, None)
                    taken += 1
                    if len(series[i].samples) >= rule.max_samples:
                        break
                elapsed[i] += time.perf_counter() - t0
                reasons[i] = stop_reason(series[i].samples, elapsed[i], rule)
            if on_round is not None:
                on_round(sum(1.0 if r else min(e / rule.max_time_s, 1.0) for r, e in zip(reasons, elapsed, strict=True))
                         / len(fns))
        return [self._timing(sr, r) for sr, r in zip(series, reasons, strict=True)]


@dataclass
class _Series:
    """The samples of one callable while they are being taken."""

    warmup_iters: int
    hold_cycles: int
    samples: list[float] = field(default_factory=list)
    throttled: list[int] = field(default_factory=list)
    seen_bits: int = 0
    states: list = field(default_factory=list)


def capture_graph(fn: Callable[[], object], warmup: int = 2):
    """Capture `fn` into a CUDA Graph after `warmup` eager runs on a side stream (as torch requires).
    Returns (graph, output of the captured call); `graph.replay()` reruns the captured work on the
    same memory, so callers change inputs by copying into the tensors `fn` reads."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    torch.cuda.synchronize()
    return graph, out
