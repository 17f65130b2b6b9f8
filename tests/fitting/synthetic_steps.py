"""Synthetic step-probe raw files: a grid shaped like the step probe's, timed by a known model plus noise."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from phasecal.fitting.features import step_features
from phasecal.fitting.predict import predict_step_time
from phasecal.fitting.profile import StepModel
from phasecal.records import PointRecord, RunHeader, append_record

# A CPU-like tiny model: overheads of a few hundred microseconds, microseconds per token.
TRUE_LINEAR = {"intercept": 2e-4, "has_p": 3e-4, "has_d": 5e-4, "n_p": 2e-6, "n_d": 4e-6,
               "s_p": 1e-9, "s_d": 2e-9, "n_seq": 1e-5, "d_pad": 5e-8,
               "p_mask": 5e-10}
SHARES = (0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)


def grid(budgets=(256, 512, 1024, 2048), graph: bool = True, shares=SHARES) -> list[tuple[list, list, dict]]:
    """(prefill chunks, decode contexts, tags) of every step: prefill, decode, mixed and graph-decode grids."""
    steps = []
    for q in (16, 32, 64, 128, 256, 512, 1024, 2048):
        for c in (0, 512, 2048):
            steps.append(([[q, c]], [], {"grid": "prefill"}))
        for n in (2, 8, 32):  # several prompts in one step: per-sequence costs show apart from per-token ones
            if q >= 2 * n:
                steps.append(([[q // n, 0]] * (n - 1) + [[q // n, 256]], [], {"grid": "prefill"}))
    for n in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        for ctx in (128, 512, 2048):
            steps.append(([], [ctx] * n, {"grid": "decode"}))
            if graph:
                steps.append(([], [ctx] * n, {"grid": "decode", "graph": True}))
            if 2 <= n <= 64:  # contexts spread ±25% (same sum): padded decode groups (d_pad) show apart from s_d
                spread = [ctx + round(ctx * 0.25 * (2 * i - (n - 1)) / (n - 1)) for i in range(n)]
                steps.append(([], spread, {"grid": "decode"}))
    for b in budgets:
        for r in shares:
            n_d = round(r * b)
            prefill = [[b - n_d, 0]] if n_d < b else []
            steps.append((prefill, [512] * n_d, {"grid": "mixed", "budget": b, "decode_share": r}))
    return steps


def write_raw(path: Path, model: StepModel | Callable, noise: float = 0.01, seed: int = 0,
              graph_scale: float = 0.6, steps=None, device: dict | None = None) -> Path:
    """Write a raw file of `steps` (default: `grid()`) timed by `model` times 1+N(0, noise) per sample.

    `model` is a StepModel (graph steps then take `graph_scale` of its time) or a function
    (prefill, decode, tags) -> seconds.
    """
    rng = random.Random(seed)
    append_record(path, RunHeader(device=device or {"name": "synthetic-cpu", "kind": "cpu", "versions": {"torch": "x"}},
                                  settings={"dtype": "float32"}, model={"name": "tiny"}, command="synthetic"))
    for i, (prefill, decode, tags) in enumerate(steps if steps is not None else grid()):
        graph = tags.get("graph", False)
        if isinstance(model, StepModel):
            t = predict_step_time(model, step_features(prefill, decode, graph)) * (graph_scale if graph else 1.0)
        else:
            t = model(prefill, decode, tags)
        samples = sorted(t * (1 + rng.gauss(0, noise)) for _ in range(11))
        params = {"prefill": prefill, "decode": decode, "graph": graph} | {k: v for k, v in tags.items()
                                                                            if k != "graph"}
        append_record(path, PointRecord(probe="step", key=f"step-{i}", params=params, median_s=samples[5],
                                        spread=(samples[9] - samples[1]) / samples[5], samples_s=samples))
    return path
