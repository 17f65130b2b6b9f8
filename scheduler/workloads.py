"""Workloads: who arrives when, with how many prompt and output tokens.

Open loop: each request has an arrival time (Poisson or a trace). Closed loop: `concurrency[i]` is the
number of requests kept in the system when request i is issued, so a new request arrives when one
finishes (fixed concurrency c, or a schedule of c for concurrency shifts).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .trace import bundled_trace_path, load_trace

# The paper's synthetic workloads (μ_L, μ_O).
PAPER_WORKLOADS = {"decode_heavy": (128, 1024), "balanced": (512, 512), "prefill_heavy": (1024, 128)}


@dataclass
class Workload:
    """Prompt and output lengths per request, plus either `arrivals` (open) or `concurrency` (closed)."""

    name: str
    prompt_lens: list[int]
    output_lens: list[int]
    arrivals: list[float] | None = None
    concurrency: list[int] | None = None
    load: float | None = None  # offered load ρ asked for (`:load=`); the runner, which knows capacity, applies it
    family: str | None = None  # what results group it under across concurrencies (None: its name)

    @property
    def fixed_concurrency(self) -> int | None:
        """The concurrency of a closed loop that keeps one (None: open loop, or a concurrency that shifts)."""
        if self.concurrency is None or len(set(self.concurrency)) != 1:
            return None
        return self.concurrency[0]

    def __post_init__(self):
        n = len(self.prompt_lens)
        if n == 0 or len(self.output_lens) != n:
            raise ValueError(f"workload {self.name!r}: need ≥ 1 request and as many output as prompt lengths")
        if (self.arrivals is None) == (self.concurrency is None):
            raise ValueError(f"workload {self.name!r}: give exactly one of arrivals (open) or concurrency (closed)")
        per = self.arrivals if self.arrivals is not None else self.concurrency
        if len(per) != n:
            raise ValueError(f"workload {self.name!r}: {len(per)} arrivals/concurrency values for {n} requests")
        if min(self.prompt_lens) < 1 or min(self.output_lens) < 1:
            raise ValueError(f"workload {self.name!r}: prompt and output lengths must be ≥ 1")
        if self.concurrency is not None and min(self.concurrency) < 1:
            raise ValueError(f"workload {self.name!r}: concurrency must be ≥ 1")
        if self.arrivals is not None and not all(math.isfinite(t) and t >= 0 for t in self.arrivals):
            # a NaN arrival would stall the engine clock forever
            raise ValueError(f"workload {self.name!r}: arrival times must be finite and ≥ 0 seconds")

    def __len__(self) -> int:
        return len(self.prompt_lens)

    @property
    def mean_prompt(self) -> float:
        return sum(self.prompt_lens) / len(self)

    @property
    def mean_output(self) -> float:
        return sum(self.output_lens) / len(self)


def _jittered(rng: random.Random, mean: float, jitter: float) -> int:
    return max(1, round(rng.uniform(mean * (1 - jitter), mean * (1 + jitter))))


def synthetic(mu_l: float, mu_o: float, num_requests: int, *, concurrency: int | None = None,
              rate: float | None = None, jitter: float = 0.5, seed: int = 0) -> Workload:
    """μ_L/μ_O with uniform ±`jitter` (the paper's ±50%), at fixed concurrency c or a Poisson `rate` (req/s)."""
    if (concurrency is None) == (rate is None):
        raise ValueError("synthetic workload: give exactly one of concurrency or rate")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    rng = random.Random(seed)
    prompts = [_jittered(rng, mu_l, jitter) for _ in range(num_requests)]
    outputs = [_jittered(rng, mu_o, jitter) for _ in range(num_requests)]
    name = f"{mu_l:g}/{mu_o:g}"
    if rate is not None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"Poisson rate must be positive, got {rate}")
        t, arrivals = 0.0, []
        for _ in range(num_requests):
            arrivals.append(t)
            t += rng.expovariate(rate)
        return Workload(f"{name} rate={rate:g}", prompts, outputs, arrivals=arrivals, family=f"{name} rate={rate:g}")
    return Workload(f"{name} c={concurrency}", prompts, outputs, concurrency=[concurrency] * num_requests, family=name)


def distribution_shift(phases: list[tuple[float, float, int]], concurrency: int, *, jitter: float = 0.5,
                       seed: int = 0) -> Workload:
    """Closed loop at `concurrency` through phases of (μ_L, μ_O, requests), e.g. 1024/128 → 512/512 → 128/1024."""
    prompts, outputs = [], []
    for i, (mu_l, mu_o, n) in enumerate(phases):
        w = synthetic(mu_l, mu_o, n, concurrency=concurrency, jitter=jitter, seed=seed + i)
        prompts += w.prompt_lens
        outputs += w.output_lens
    label = " → ".join(f"{a:g}/{b:g}" for a, b, _ in phases)
    return Workload(f"shift {label} c={concurrency}", prompts, outputs, concurrency=[concurrency] * len(prompts),
                    family=f"shift {label}")


def concurrency_shift(mu_l: float, mu_o: float, phases: list[tuple[int, int]], *, jitter: float = 0.5,
                      seed: int = 0) -> Workload:
    """Closed loop through phases of (concurrency, requests): the paper's c = 32 → 512 → 1024 → 256 → 2048."""
    n = sum(k for _, k in phases)
    w = synthetic(mu_l, mu_o, n, concurrency=1, jitter=jitter, seed=seed)
    conc = [c for c, k in phases for _ in range(k)]
    label = " → ".join(str(c) for c, _ in phases)
    return Workload(f"{mu_l:g}/{mu_o:g} c={label}", w.prompt_lens, w.output_lens, concurrency=conc,
                    family=f"{mu_l:g}/{mu_o:g} c={label}")


def azure_conv(limit: int | None = None) -> Workload:
    """The Azure LLM inference trace 2023, conversation service (bundled; CC-BY 4.0, Patel et al. ISCA 2024)."""
    arrivals, prompts, outputs = load_trace(bundled_trace_path("azure_conv"))
    if limit is not None:
        arrivals, prompts, outputs = arrivals[:limit], prompts[:limit], outputs[:limit]
    return Workload("azure_conv", prompts, outputs, arrivals=arrivals)
