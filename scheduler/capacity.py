"""How much load a device carries: MB's saturated throughput under a profile, and a workload's offered load ρ.

Capacity is estimated in closed form, without simulating. A saturated MB engine (requests always waiting)
fills every step to its token budget B or its N sequences, and in steady state it admits as many
requests per step (λ) as it retires. Per request the engine prefills P̄ prompt tokens (attention work
S̄_p = mean L(L+1)/2, whatever the chunking) and runs D̄ = mean(O − 1) decode steps reading
S̄_d = mean[(O−1)·L + (O−1)(O−2)/2] KV tokens in all. So one step holds n_p = λP̄ prefill and
n_d = λD̄ decode tokens, s_d = λS̄_d KV tokens in use, and λ is the largest value with n_p + n_d ≤ B,
n_d ≤ N and s_d ≤ C (KV capacity). Capacity = λ·(P̄ + Ō)/T(step) tokens/s (input + output, as the
throughput metric counts them).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fitting.features import StepFeatures
from ..fitting.predict import profile_step_time
from ..fitting.profile import Profile
from .state import EngineConfig
from .workloads import Workload


@dataclass(frozen=True)
class Capacity:
    """MB's saturated steady state for a workload: the step it runs and the throughput it gives."""

    tokens_per_s: float  # input + output tokens per second
    requests_per_s: float
    step_s: float  # time of the steady-state step
    prefill_tokens: float  # per step
    decode_tokens: float  # per step
    limit: str  # what bounds the step: "token budget B", "N sequences" or "KV capacity"

    def describe(self, rho: float | None) -> str:
        """One line for a table title: the offered load against this capacity."""
        load = "closed loop" if rho is None else f"ρ {rho:.2f}"
        return f"{load} of MB capacity {self.tokens_per_s:,.0f} tok/s"

    def to_dict(self) -> dict:
        return {"tokens_per_s": self.tokens_per_s, "requests_per_s": self.requests_per_s, "step_s": self.step_s,
                "prefill_tokens_per_step": self.prefill_tokens, "decode_tokens_per_step": self.decode_tokens,
                "limit": self.limit}


def mb_capacity(profile: Profile, workload: Workload, config: EngineConfig) -> Capacity:
    """MB's saturated throughput on `workload`'s length mix under `profile`, at the resolved `config`'s N, B, C."""
    n = len(workload)
    p_bar = workload.mean_prompt
    o_bar = workload.mean_output
    d_bar = sum(o - 1 for o in workload.output_lens) / n
    sp_bar = sum(p * (p + 1) / 2 for p in workload.prompt_lens) / n
    pm_bar = sum(p * (p - 1) / 2 for p in workload.prompt_lens) / n  # p_mask of a whole prompt in one chunk
    sd_bar = sum((o - 1) * p + (o - 1) * (o - 2) / 2
                 for p, o in zip(workload.prompt_lens, workload.output_lens, strict=True)) / n
    bounds = {"token budget B": config.token_budget / (p_bar + d_bar)}
    if d_bar > 0:
        bounds["N sequences"] = config.max_num_seqs / d_bar
    if sd_bar > 0:
        bounds["KV capacity"] = config.kv_capacity_tokens / sd_bar
    limit = min(bounds, key=bounds.get)
    lam = bounds[limit]
    # one prefill chunk per admitted request on average: λ chunks (at least one while prefilling at all)
    f = StepFeatures(n_p=lam * p_bar, n_d=lam * d_bar, s_p=lam * sp_bar, s_d=lam * sd_bar,
                     n_seq=lam * d_bar + max(lam, 1.0), p_mask=lam * pm_bar)
    step = profile_step_time(profile, f)
    if not step > 0:
        raise ValueError(f"profile predicts a non-positive step time ({step:g} s) at MB's saturated step; "
                         "its step model cannot estimate a capacity")
    return Capacity(tokens_per_s=lam * (p_bar + o_bar) / step, requests_per_s=lam / step, step_s=step,
                    prefill_tokens=f.n_p, decode_tokens=f.n_d, limit=limit)


def offered_tokens_per_s(workload: Workload) -> float | None:
    """Input + output tokens per second the arrivals offer (None for a closed loop, which offers no rate).

    Over n arrivals spanning t seconds the request rate is (n − 1)/t, the estimate that is unbiased for a
    Poisson process; a workload whose requests all arrive at once offers an unbounded load (inf).
    """
    if workload.arrivals is None:
        return None
    span = workload.arrivals[-1] - workload.arrivals[0]
    if len(workload) < 2 or span <= 0:
        return float("inf")
    return (len(workload) - 1) / span * (workload.mean_prompt + workload.mean_output)


def offered_load(workload: Workload, capacity: Capacity) -> float | None:
    """ρ = offered tokens/s ÷ capacity tokens/s; None for a closed loop."""
    offered = offered_tokens_per_s(workload)
    return None if offered is None else offered / capacity.tokens_per_s


def at_load(workload: Workload, load: float, capacity: Capacity) -> Workload:
    """A copy of the open-loop `workload` with its arrivals time-scaled so that it offers ρ = `load`."""
    if workload.arrivals is None:
        raise ValueError(f"workload {workload.name!r} is a closed loop (fixed concurrency): :load= applies only "
                         "to a trace or a Poisson rate")
    if not load > 0:
        raise ValueError(f"load must be positive, got {load}")
    rho = offered_load(workload, capacity)
    if rho == float("inf"):
        raise ValueError(f"workload {workload.name!r}: all requests arrive at once, so it cannot be time-scaled "
                         "to a load")
    scale = rho / load
    t0 = workload.arrivals[0]
    arrivals = [t0 + (t - t0) * scale for t in workload.arrivals]
    return Workload(workload.name, list(workload.prompt_lens), list(workload.output_lens), arrivals=arrivals,
                    family=workload.family)
