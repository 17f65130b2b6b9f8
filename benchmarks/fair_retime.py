"""Re-time step compositions as the step probe times them, right after an executed fair run, to split the
planned-against-executed error into its parts:

- replay: a sample of the executed steps' own compositions, laid out as the profile's step probe laid out
  its points (scattered pages where its settings name a page layout, else contiguous ones), sampled
  interleaved to a median under the profile's stop rule. planned (the profile's, without fair's online correction) vs
  replayed is the step model's error at the
  compositions fair formed, on the machine as it is now; executed vs replayed is what running them inside the
  engine adds (one sample per step, the scheduler's page layout, host work between steps).
- drift: the profile's own points in the executed steps' range, re-timed the same way, against the medians
  the profile was fitted to: how much faster or slower the machine is now than when it was profiled (on a
  shared CPU, other processes' use of the cache and memory changes a thread's CPU time too).
"""

from __future__ import annotations

import random

from fair_step_log import StepRecord

from phasecal.kernels.model import probe_chunks
from phasecal.probes.step import CPU_GROUP, PAGE_SCATTER_SEED, rounds, spread_contexts
from phasecal.probes.timing import StopRule, Timer

REPLAY_STEPS = 40  # executed steps re-timed per case (a random sample, seed 0)


def point_composition(p: dict, spread: bool) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]] | None:
    """The batch of a profile point (its fitted features) as the step grid lays it out: equal prefill chunks
    and decodes at their mean context, spread around it (`spread_contexts`) if `spread`. None where the
    features do not give whole numbers."""
    n_p, n_d, s_p, s_d, n_seq = (p[k] for k in ("n_p", "n_d", "s_p", "s_d", "n_seq"))
    chunks, prefill, decode = int(n_seq - n_d), (), ()
    if n_p:
        if chunks < 1 or n_p % chunks:
            return None
        q = n_p // chunks
        cached = s_p / n_p - (q + 1) / 2  # s_p = q (c + (q + 1) / 2) per chunk
        if cached < 0 or cached != int(cached):
            return None
        prefill = ((int(q), int(cached)),) * chunks
    if n_d:
        if s_d % n_d:
            return None
        decode = spread_contexts(int(s_d // n_d), int(n_d)) if spread else (int(s_d // n_d),) * int(n_d)
    return prefill, decode


def retime(model, comps: list[tuple[tuple, tuple]], settings: dict) -> list[float]:
    """Median seconds of each composition on `model`, timed as the step probe does (its clock and stop rule,
    interleaved in groups)."""
    timer = Timer(model.device, cpu_clock=settings.get("clock", "wall"))
    rule = StopRule(**settings["stop_rule"]) if settings.get("stop_rule") else StopRule()
    seed = PAGE_SCATTER_SEED if settings.get("page_layout") else None
    fns = []
    for prefill, decode in comps:
        chunks = probe_chunks(list(prefill), list(decode), model.block_size, model.num_blocks, seed)
        fns.append(lambda chunks=chunks: model.forward(chunks).tolist())
    per_group = rounds(False, bool(settings.get("quick")))  # the CPU step probe's rounds for the profile's grid
    rotate = str(settings.get("sample_order", "")).startswith("rotated")  # as the profile's probe ordered them
    medians: list[float] = []
    for i in range(0, len(fns), CPU_GROUP):
        medians += [t.median_s for t in timer.measure_interleaved(fns[i:i + CPU_GROUP], rule, rounds=per_group,
                                                                  rotate=rotate)]
    return medians


def signed_errors(estimate: list[float], reference: list[float]) -> dict:
    """Median and mean of (estimate − reference) / reference, and the mean of its magnitude, in percent."""
    e = sorted((a - b) / b * 100 for a, b in zip(estimate, reference, strict=True))
    return {"median_pct": e[len(e) // 2], "mean_pct": sum(e) / len(e), "mean_abs_pct": sum(map(abs, e)) / len(e)}


def replay(model, steps: list[StepRecord], settings: dict, k: int = REPLAY_STEPS) -> dict:
    """Re-time `k` of the executed steps (random, seed 0): the profile's plan (without fair's online correction)
    and the executed time against the re-timed medians."""
    sample = [steps[i] for i in sorted(random.Random(0).sample(range(len(steps)), min(k, len(steps))))]
    again = retime(model, [(s.prefill, s.decode) for s in sample], settings)
    profile = [s.planned_s if s.profile_s is None else s.profile_s for s in sample]  # the step model alone
    return {"steps": len(sample), "planned_vs_replayed": signed_errors(profile, again),
            "executed_vs_replayed": signed_errors([s.executed_s for s in sample], again)}


def drift(model, points: list[dict], steps: list[StepRecord], settings: dict) -> dict | None:
    """Re-time the profile's points within the executed steps' range (prefill tokens, decodes, decode KV)
    against their fitted medians; None where the profile has no such point."""
    n_p = max(sum(q for q, _ in s.prefill) for s in steps)
    n_d = max(len(s.decode) for s in steps)
    s_d = max(s.s_d for s in steps)
    spread = "spread" in str(settings.get("page_layout", ""))
    chosen = [(p, c) for p in points if not p.get("graph") and p["n_p"] <= n_p and p["n_d"] <= n_d
              and p["s_d"] <= s_d and (c := point_composition(p, spread)) is not None]
    if not chosen:
        return None
    again = retime(model, [c for _, c in chosen], settings)
    return {"points": len(chosen), "now_vs_profiled": signed_errors(again, [p["measured_s"] for p, _ in chosen])}
