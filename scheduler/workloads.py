"""Workloads: who arrives when, with how many prompt and output tokens.

Open loop: each request has an arrival time (Poisson or a trace). Closed loop: `concurrency[i]` is the
number of requests kept in the system when request i is issued, so a new request arrives when one
finishes (fixed concurrency c, or a schedule of c for concurrency shifts).
"""

from __future__ import annotations

import random
import re
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
        if rate <= 0:
            raise ValueError(f"Poisson rate must be positive, got {rate}")
        t, arrivals = 0.0, []
        for _ in range(num_requests):
            arrivals.append(t)
            t += rng.expovariate(rate)
        return Workload(f"{name} rate={rate:g}", prompts, outputs, arrivals=arrivals)
    return Workload(f"{name} c={concurrency}", prompts, outputs, concurrency=[concurrency] * num_requests)


def distribution_shift(phases: list[tuple[float, float, int]], concurrency: int, *, jitter: float = 0.5,
                       seed: int = 0) -> Workload:
    """Closed loop at `concurrency` through phases of (μ_L, μ_O, requests), e.g. 1024/128 → 512/512 → 128/1024."""
    prompts, outputs = [], []
    for i, (mu_l, mu_o, n) in enumerate(phases):
        w = synthetic(mu_l, mu_o, n, concurrency=concurrency, jitter=jitter, seed=seed + i)
        prompts += w.prompt_lens
        outputs += w.output_lens
    label = " → ".join(f"{a:g}/{b:g}" for a, b, _ in phases)
    return Workload(f"shift {label} c={concurrency}", prompts, outputs, concurrency=[concurrency] * len(prompts))


def concurrency_shift(mu_l: float, mu_o: float, phases: list[tuple[int, int]], *, jitter: float = 0.5,
                      seed: int = 0) -> Workload:
    """Closed loop through phases of (concurrency, requests): the paper's c = 32 → 512 → 1024 → 256 → 2048."""
    n = sum(k for _, k in phases)
    w = synthetic(mu_l, mu_o, n, concurrency=1, jitter=jitter, seed=seed)
    conc = [c for c, k in phases for _ in range(k)]
    label = " → ".join(str(c) for c, _ in phases)
    return Workload(f"{mu_l:g}/{mu_o:g} c={label}", w.prompt_lens, w.output_lens, concurrency=conc)


def azure_conv(limit: int | None = None) -> Workload:
    """The Azure LLM inference trace 2023, conversation service (bundled; CC-BY 4.0, Patel et al. ISCA 2024)."""
    arrivals, prompts, outputs = load_trace(bundled_trace_path("azure_conv"))
    if limit is not None:
        arrivals, prompts, outputs = arrivals[:limit], prompts[:limit], outputs[:limit]
    return Workload("azure_conv", prompts, outputs, arrivals=arrivals)


_SPEC_HELP = ("a workload is azure_conv[:n=K], decode_heavy|balanced|prefill_heavy or L/O (e.g. 512/512), "
              "with options :c=CONC or :rate=REQ_PER_S, :n=REQUESTS, :jitter=J; or shift_dist[:c=..] / shift_conc")


def workload_from_spec(spec: str, seed: int = 0) -> Workload:
    """Build a workload from a short spec, e.g. `balanced:c=512:n=4000`, `128/1024:rate=20`, `azure_conv`."""
    head, *opts = spec.strip().split(":")
    kv: dict[str, str] = {}
    for o in opts:
        if "=" not in o:
            raise ValueError(f"workload {spec!r}: option {o!r} is not key=value; {_SPEC_HELP}")
        k, v = o.split("=", 1)
        kv[k.strip()] = v.strip()
    unknown = set(kv) - {"c", "rate", "n", "jitter"}
    if unknown:
        raise ValueError(f"workload {spec!r}: unknown option(s) {', '.join(sorted(unknown))}; {_SPEC_HELP}")
    try:
        n = int(kv["n"]) if "n" in kv else None
        c = int(kv["c"]) if "c" in kv else None
        rate = float(kv["rate"]) if "rate" in kv else None
        jitter = float(kv.get("jitter", 0.5))
    except ValueError as e:
        raise ValueError(f"workload {spec!r}: bad number ({e}); {_SPEC_HELP}") from None
    if head == "azure_conv":
        return azure_conv(limit=n)
    if head == "shift_dist":
        per = n or 2000
        return distribution_shift([(1024, 128, per), (512, 512, per), (128, 1024, per)], c or 512,
                                  jitter=jitter, seed=seed)
    if head == "shift_conc":
        per = n or 1000
        return concurrency_shift(512, 256, [(32, per), (512, per), (1024, per), (256, per), (2048, per)],
                                 jitter=jitter, seed=seed)
    if head in PAPER_WORKLOADS:
        mu_l, mu_o = PAPER_WORKLOADS[head]
    elif re.fullmatch(r"\d+(\.\d+)?/\d+(\.\d+)?", head):
        mu_l, mu_o = (float(x) for x in head.split("/"))
    else:
        raise ValueError(f"unknown workload {head!r}; {_SPEC_HELP}")
    if c is None and rate is None:
        c = 256
    w = synthetic(mu_l, mu_o, n or 2000, concurrency=c, rate=rate, jitter=jitter, seed=seed)
    if head in PAPER_WORKLOADS:
        w.name = f"{head} ({w.name})"
    return w
