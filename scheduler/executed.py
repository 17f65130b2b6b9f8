"""The executed executor: each scheduled step really runs the synthetic model (kernels/model.py) on the
local GPU or CPU, over a paged KV cache indexed by the scheduler's own block tables, and the clock
advances by the measured time of the step, the engine's host work since the previous step included.
Torch is imported here only, so the simulated path stays torch-free."""

from __future__ import annotations

import time

from ..fitting.profile import Profile
from .state import Batch, EngineConfig, SchedulerState


class ExecutedExecutor:
    """Runs batches on `SyntheticModel(shape of the profile's model)`; `step` returns measured seconds.

    On the CPU it measures as the profile's probes did (`probe_settings` threads and clock; it sets
    torch's thread count for the process): with one torch thread and the "thread" clock, a step costs
    its own thread's CPU time, so other processes sharing the cores inflate it less; `threads`/`clock`
    override. On a GPU the clock is wall time.
    """

    executed = True

    def __init__(self, profile: Profile, config: EngineConfig, device: str | None = None, dtype=None,
                 seed: int = 0, warmup: bool = True, threads: int | None = None, clock: str | None = None):
        import torch

        from ..kernels._common import keep_freed_memory
        from ..kernels.catalog import shape_from_record
        from ..kernels.model import SeqChunk, SyntheticModel

        self._torch, self._chunk = torch, SeqChunk
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        settings = profile.probe_settings or {}
        on_cpu = not self.device.startswith("cuda")
        threads = threads if threads is not None else settings.get("threads") if on_cpu else None
        if threads:
            torch.set_num_threads(int(threads))
        if on_cpu:
            keep_freed_memory()  # as the probes do: otherwise every eager step pays thousands of page faults
        self.clock_name = (clock or settings.get("clock", "wall")) if on_cpu else "wall"
        if self.clock_name not in ("wall", "thread"):
            raise ValueError(f"clock must be 'wall' or 'thread', got {self.clock_name!r}")
        if self.clock_name == "thread" and torch.get_num_threads() != 1:
            raise ValueError("the thread clock needs one torch thread (threads=1): other threads' work would be missed")
        self._clock = time.thread_time if self.clock_name == "thread" else time.perf_counter
        if dtype is None:
            name = settings.get("dtype")
            dtype = getattr(torch, name) if isinstance(name, str) and hasattr(torch, name) else (
                torch.float32 if on_cpu else torch.bfloat16)
        if torch.device(self.device).index is not None:  # cuda:N: launches and syncs go to GPU N, not GPU 0
            torch.cuda.set_device(torch.device(self.device))
        self.model = SyntheticModel(shape_from_record(profile.model), device=self.device, dtype=dtype,
                                    num_blocks=config.num_blocks, block_size=config.block_size, seed=seed,
                                    backend=settings.get("backend"))  # what measured the profile's points
        self.step_times: list[float] = []  # each step's seconds, host work since the previous step included
        self.forward_times: list[float] = []  # the step's inputs and forward alone
        self._last_end: float | None = None
        if warmup:  # every kernel variant compiled (and autotuned) before the first measured step
            self.model.warmup()

    def step(self, batch: Batch, st: SchedulerState) -> float:
        """Run `batch`; its seconds run from the end of the previous step, so the engine's host work
        between steps (scheduling, handing out tokens, retiring) is charged as an engine pays it."""
        t0 = self._clock()
        start = t0 if self._last_end is None else self._last_end
        chunks = [self._chunk(r.num_computed, q, st.kv.table(r)) for r, q in batch.prefill]
        chunks += [self._chunk(r.num_computed, 1, st.kv.table(r)) for r in batch.decode]
        self.model.forward(chunks).tolist()  # .tolist() waits for the device: the step is done
        self._last_end = self._clock()
        self.forward_times.append(self._last_end - t0)
        self.step_times.append(self._last_end - start)
        return self.step_times[-1]
