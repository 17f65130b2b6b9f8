"""Step-time probe: whole forward steps of the synthetic model over a grid of batch compositions.

Three grids, as the cost model needs them (fitting/features.py):
- prefill: one or more chunks of q new tokens on c cached ones (c > 0: a chunk on a cached prefix);
- decode: batch x context (one new token per sequence), eager and, on a GPU, as a CUDA Graph
  replay (what engines capture);
- mixed: a token budget B split between decodes (share r of the tokens) and one prefill chunk.
Each point is one `PointRecord(probe="step")` whose params are a `phasecal.point_params.StepParams`;
median_s is the step time.
An eager step is timed from before the host builds its inputs to the end of its last kernel (an
engine pays both); a graph step is timed around `graph.replay()` over inputs prepared once.
Points are sampled in groups, interleaved, so that a busy phase of another process on a shared
machine spreads over a group's points instead of shifting one of them.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from phasecal.point_params import StepParams, StepRates
from phasecal.probes.context import Plan, PlannedPoint, ProbeContext, to_record
from phasecal.probes.timing import capture_graph
from phasecal.records import PointRecord

NAME = "step"
BLOCK_SIZE = 16
# Points sampled interleaved with each other, in groups: on a GPU of GPU_GROUP (at most that many
# graphs alive); on a CPU of CPU_GROUP, which holds the whole default CPU grid: a shared CPU drifts by
# 10-20% over tens of seconds, and with groups of 20 each group's fit residuals sat 3-8% off the others'
# under load (2-core AMD EPYC VM), a drift that interleaving within one group turns into a common
# scale. The price: Ctrl-C loses the unfinished group's points (a default CPU run's 140 s).
GPU_GROUP = 10
CPU_GROUP = 65  # the default CPU grid's points (a test holds them equal)
# Sampling rounds per group. A default CPU run's 2 s per point (suite.stop_rule) go in slices of 1/8 s, so
# that a 10-20 s busy phase of another process lands on a few slices of each point, not half of one.
ROUNDS = 8
CPU_ROUNDS = 16
# On a CPU each slice is one call (Timer.measure_interleaved(rotate=True)), in the group's shuffled order: a
# sample then follows a step of another shape, as an engine's step does. On the 2-core Intel Xeon VM (tiny
# model) 30 engine-like steps took a median 2-6% longer rotated than repeated back to back. fair's executed
# steps (benchmarks/fair_executed.py) ran 1.4-9.3% slower than a back-to-back profile planned (runs 12-13),
# 3.3% slower to 11.5% faster than a rotated one (runs 14, 16-18; in total over each case's steps), 2.6-6.4%
# faster when the rotation went in order of size (run 15). On a GPU (asynchronous launches) slices stay; not
# measured there.
# A step's pages and contexts as an engine has them, not as a fresh cache would: an engine's running decodes
# sit at different contexts, on pages its allocator handed out as requests came and went. On the 2-core EPYC
# VM (tiny model, torch attention) 2-32 decodes around context 288 took 6-21% longer on scattered pages than
# on contiguous ones, and a profile measured on contiguous pages under-predicted them by up to 11% (18% where
# their contexts also differed). The torch attention pads decodes of similar context into one call; the step
# model prices that padding (d_pad, fitting/features.py), which it can learn only from spread contexts.
DECODE_SPREAD = 0.25  # a decode point's contexts spread evenly over ±25% of its nominal context, same total
PAGE_SCATTER_SEED = 0  # pages drawn in a seeded random order from the whole cache (probe_chunks)
PAGE_LAYOUT = f"pages scattered (seed {PAGE_SCATTER_SEED}), decode contexts spread ±{DECODE_SPREAD:.0%}"


@dataclass(frozen=True)
class StepGrid:
    """The batch compositions of a step probe run."""

    prefill_tokens: tuple[int, ...]  # one chunk, nothing cached
    prefill_cached: tuple[tuple[int, int], ...]  # one chunk: (q new, c cached)
    prefill_multi: tuple[tuple[int, int, int], ...]  # (chunks, q, c): several equal chunks in one step
    decode_batches: tuple[int, ...]
    decode_contexts: tuple[int, ...]
    mixed_budgets: tuple[int, ...]
    mixed_shares: tuple[float, ...]  # decode tokens / budget
    mixed_context: int  # KV context of each decode in a mixed step
    mixed_cached: int  # cached prefix under the prefill chunk of a mixed step
    max_decode_kv: int | None = None  # bound on the KV tokens a step's decodes read (None: memory decides)


# CPU (tiny model, fp32): sized for <= 150 s default / <= 45 s quick on 2 cores. Measured on this
# project's 2-core machine (one torch thread, glibc keeping freed memory): decode step time stays
# linear in the KV read up to 64 x 2048 (8k KV tokens 22 ms, 16k 38-40 ms, 65k 122-124 ms, 131k 227 ms).
CPU_GRID = StepGrid(
    prefill_tokens=(16, 32, 64, 128, 192, 256, 384, 512),
    prefill_cached=((64, 512), (128, 256), (256, 512), (128, 1024)),
    prefill_multi=((4, 64, 0), (4, 32, 128), (2, 128, 256)),
    decode_batches=(1, 2, 4, 8, 16, 32, 64),
    decode_contexts=(128, 256, 512, 1024, 2048),
    mixed_budgets=(32, 128, 256),
    mixed_shares=(0.0, 0.25, 0.5, 0.75, 1.0),
    mixed_context=128,
    mixed_cached=128,
)
CPU_QUICK_GRID = StepGrid(
    prefill_tokens=(16, 64, 256, 512),
    prefill_cached=((128, 256), (256, 512)),
    prefill_multi=((4, 64, 0),),
    decode_batches=(1, 8, 32),
    decode_contexts=(128, 512, 2048),
    mixed_budgets=(128, 256),
    mixed_shares=(0.0, 0.5, 1.0),
    mixed_context=128,
    mixed_cached=128,
)
# GPU (an 8B model in bf16): engine-sized steps; decodes up to 512 x 4k as far as KV memory allows.
GPU_GRID = StepGrid(
    prefill_tokens=(128, 256, 512, 1024, 2048, 4096, 8192, 16384),
    prefill_cached=((512, 2048), (1024, 4096), (2048, 8192), (4096, 4096)),
    prefill_multi=((4, 512, 0), (8, 256, 1024), (16, 128, 2048)),
    decode_batches=(1, 8, 32, 64, 128, 256, 512),
    decode_contexts=(256, 1024, 4096),
    mixed_budgets=(512, 2048),
    mixed_shares=(0.0, 0.25, 0.5, 0.75, 1.0),
    mixed_context=256,
    mixed_cached=1024,
)
GPU_QUICK_GRID = StepGrid(
    prefill_tokens=(256, 1024, 4096, 8192),
    prefill_cached=((1024, 4096),),
    prefill_multi=((4, 512, 0),),
    decode_batches=(1, 32, 256),
    decode_contexts=(256, 1024),
    mixed_budgets=(512, 2048),
    mixed_shares=(0.0, 0.5, 1.0),
    mixed_context=256,
    mixed_cached=1024,
)


def step_grid(device_type: str, quick: bool) -> StepGrid:
    if device_type == "cuda":
        return GPU_QUICK_GRID if quick else GPU_GRID
    return CPU_QUICK_GRID if quick else CPU_GRID


def spread_contexts(context: int, n: int, spread: float = DECODE_SPREAD) -> tuple[int, ...]:
    """`n` decode contexts evenly spaced over `context` ± `spread`·`context`, summing to n·context exactly
    (the offsets are rounded in mirrored pairs)."""
    if n == 1:
        return (context,)
    return tuple(context + round(context * spread * (2 * i - (n - 1)) / (n - 1)) for i in range(n))


def mean_context(decode) -> int:
    """The nominal context of a grid point's decodes (their mean, rounded)."""
    return round(sum(decode) / len(decode))


def step_key(params: dict) -> str:
    """A readable key naming the composition, e.g. 'step/decode/32x512/eager'."""
    mode = "graph" if params["graph"] else "eager"
    if params["grid"] == "mixed":
        where = (f"d{mean_context(params['decode'])}" if params["decode"] else "") + \
            (f"c{params['prefill'][0][1]}" if params["prefill"] else "")  # decode context, cached prefix
        return f"step/mixed/B{params['budget']}/r{params['decode_share']:.2f}/{where}/{mode}"
    if params["grid"] == "decode":
        return f"step/decode/{len(params['decode'])}x{mean_context(params['decode'])}/{mode}"
    chunks = "+".join(f"q{q}c{c}" for q, c in params["prefill"])
    return f"step/prefill/{chunks}/{mode}"


def compositions(grid: StepGrid) -> list[dict]:
    """The grid's step compositions as `StepParams.to_dict()` (graph=False), in measuring order."""
    out = [StepParams(((q, 0),), (), False, "prefill") for q in grid.prefill_tokens]
    out += [StepParams(((q, c),), (), False, "prefill") for q, c in grid.prefill_cached]
    out += [StepParams(((q, c),) * n, (), False, "prefill") for n, q, c in grid.prefill_multi]
    for b in grid.decode_batches:
        for ctx in grid.decode_contexts:
            out.append(StepParams((), spread_contexts(ctx, b), False, "decode"))
    for budget in grid.mixed_budgets:
        for share in grid.mixed_shares:
            n_d = round(share * budget)
            prefill = ((budget - n_d, grid.mixed_cached),) if budget > n_d else ()
            out.append(StepParams(prefill, spread_contexts(grid.mixed_context, n_d) if n_d else (), False, "mixed",
                                  budget, share))
    return [p.to_dict() for p in out]


def blocks_needed(params: dict) -> int:
    """KV pages of BLOCK_SIZE tokens the composition occupies (what probe_chunks lays out)."""
    lens = [q + c for q, c in params["prefill"]] + [ctx + 1 for ctx in params["decode"]]
    return sum(-(-n // BLOCK_SIZE) for n in lens)


def kv_block_budget(ctx: ProbeContext, max_tokens: int) -> int | None:
    """KV pages that fit in the GPU's free memory beside the weights and activations (None on CPU)."""
    if not ctx.is_cuda:
        return None
    import torch

    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(ctx.device)
    s, nbytes = ctx.shape, torch.finfo(ctx.dtype).bits // 8
    weights = s.num_params() * nbytes
    activations = 4 * max_tokens * (2 * s.intermediate_size + s.q_size + 2 * s.kv_size + 2 * s.hidden_size) * nbytes
    spare = free - weights - activations - 2 * 1024**3  # 2 GiB for the allocator, graphs, the LM head output
    return max(0, spare // (BLOCK_SIZE * s.kv_bytes_per_token(nbytes)))


def plan(ctx: ProbeContext) -> Plan:
    """The step points of this run: the device's grid, within its decode KV bound and memory."""
    grid = step_grid(ctx.device.type, ctx.quick)
    comps = compositions(grid)
    max_tokens = max(sum(q for q, _ in p["prefill"]) + len(p["decode"]) for p in comps)
    budget = kv_block_budget(ctx, max_tokens)
    kv_bound = grid.max_decode_kv
    result = Plan()
    if not ctx.is_cuda:
        result.skipped.append("step graph replays: CUDA Graphs need a CUDA device (this run is on the CPU)")
    beyond = [step_key(p) for p in comps if kv_bound is not None and sum(p["decode"]) > kv_bound]
    if beyond:
        result.skipped.append(f"{len(beyond)} compositions read more than the grid's bound of {kv_bound} decode "
                              f"KV tokens per step: {', '.join(beyond)}")
    for p in comps:
        if step_key(p) in beyond:
            continue
        if budget is not None and blocks_needed(p) > budget:
            result.skipped.append(f"{step_key(p)}: needs {blocks_needed(p)} KV pages, {budget} fit in free memory")
            continue
        result.points.append(PlannedPoint(step_key(p), p))
        if ctx.is_cuda and p["grid"] == "decode":
            g = {**p, "graph": True}
            result.points.append(PlannedPoint(step_key(g), g))
    return result


def compare_replay(before, replayed, eager) -> dict:
    """Whether a graph's replay holds the step: on new inputs its tokens match an eager run on >= 99%
    (bf16 argmax ties may flip a few) and, for a batch of several, differ from the capture's tokens."""
    match = float((replayed == eager).float().mean())
    changed = bool((replayed != before).any())
    return {"ok": match >= 0.99 and (len(before) <= 1 or changed), "matches_eager": match,
            "changed_with_inputs": changed}


def _check_graph(ctx: ProbeContext, model, inputs, graph, out) -> dict:
    """Replay the graph after new input ids and compare it with an eager run (`compare_replay`)."""
    import torch

    before = out.clone()
    gen = torch.Generator(device=inputs.input_ids.device).manual_seed(1)
    inputs.input_ids.copy_(torch.randint(0, model.shape.vocab_size, inputs.input_ids.shape,
                                         device=inputs.input_ids.device, generator=gen))
    graph.replay()
    ctx.timer.sync()
    return compare_replay(before, out.clone(), model.forward_prepared(inputs))


def build_model(ctx: ProbeContext, points: list[PlannedPoint]):
    """The synthetic model with just enough KV pages for the largest point."""
    from phasecal.kernels.model import SyntheticModel

    num_blocks = max(blocks_needed(p.params) for p in points) + 1
    model = SyntheticModel(ctx.shape, device=str(ctx.device), dtype=ctx.dtype, num_blocks=num_blocks,
                           block_size=BLOCK_SIZE, seed=0, backend=ctx.backend)
    model.warmup()  # every kernel variant compiled (and autotuned) before any point is timed
    return model


def prepare_point(ctx: ProbeContext, model, params: dict) -> tuple[Callable[[], object], dict]:
    """The timed call of one composition on `model` and what to record beside it: the eager step
    (host input building included), or the replay of a CUDA Graph captured and checked here."""
    from phasecal.kernels.model import probe_chunks

    prefill = [tuple(x) for x in params["prefill"]]
    chunks = probe_chunks(prefill, params["decode"], model.block_size, model.num_blocks, PAGE_SCATTER_SEED)
    n_tokens = sum(q for q, _ in prefill) + len(params["decode"])
    if not params["graph"]:
        return (lambda: model.forward(chunks)), {"tokens": n_tokens}
    inputs = model.prepare(chunks)
    graph, out = capture_graph(lambda: model.forward_prepared(inputs))
    check = _check_graph(ctx, model, inputs, graph, out)
    extra = {"tokens": n_tokens, "graph_check": check}
    if not check["ok"]:  # kept as a flagged point (the fit leaves it out) so the other points still run
        extra["flagged"] = (f"CUDA Graph check failed: replay matches eager on {check['matches_eager']:.1%} of "
                            f"tokens, output changed with inputs: {check['changed_with_inputs']}; the captured "
                            "graph does not hold the step")
    return graph.replay, extra


def group_size(ctx: ProbeContext) -> int:
    return GPU_GROUP if ctx.is_cuda else CPU_GROUP


def rounds(is_cuda: bool, quick: bool) -> int:
    """Sampling rounds of a group: CPU_ROUNDS for a default CPU run, else ROUNDS."""
    return ROUNDS if is_cuda or quick else CPU_ROUNDS


def sample_order(is_cuda: bool) -> str:
    """How the probe's samples are ordered (recorded in the raw header: a resume must not mix two orders)."""
    return f"interleaved in {ROUNDS}-round slices" if is_cuda else "rotated: one call of each point per round"


def _report_share(ctx: ProbeContext, size: int, done: float) -> None:
    ctx.report_partial(done * size)


def run(ctx: ProbeContext, points: list[PlannedPoint]) -> Iterator[PointRecord]:
    """Measure `points` in groups, interleaved within a group (Timer.measure_interleaved); each
    group's records come out together, so an interruption loses at most one group. The order is
    shuffled (fixed seed) so that a slow phase of the machine lands on a mix of grids, as noise,
    rather than on one grid as a bias."""
    if not points:
        return
    model = build_model(ctx, points)
    points = list(points)
    random.Random(0).shuffle(points)
    size = group_size(ctx)
    for i in range(0, len(points), size):
        if ctx.time_left() <= 0:
            return
        group = points[i : i + size]
        prepared = [prepare_point(ctx, model, p.params) for p in group]
        timings = ctx.timer.measure_interleaved([fn for fn, _ in prepared], ctx.rule,
                                                rounds=rounds(ctx.is_cuda, ctx.quick), rotate=not ctx.is_cuda,
                                                on_round=functools.partial(_report_share, ctx, len(group)))
        for p, (_, extra), t in zip(group, prepared, timings, strict=True):
            rates = StepRates(extra["tokens"], extra["tokens"] / t.median_s)
            yield to_record(NAME, p, t, **{**extra, **rates.to_dict()})
        del prepared  # frees the group's graphs and their memory pools


def summarize(records: list[PointRecord]) -> str:
    """One line: points per grid, and the marginal cost of a prefill and of a decode token."""
    by_grid: dict[str, list[PointRecord]] = {}
    for r in records:
        by_grid.setdefault(r.params["grid"] + ("/graph" if r.params["graph"] else ""), []).append(r)
    parts = [f"{len(records)} points"]
    pre = [r for r in by_grid.get("prefill", []) if len(r.params["prefill"]) == 1 and r.params["prefill"][0][1] == 0]
    if len(pre) >= 2:
        q = [r.params["prefill"][0][0] for r in pre]
        slope, icpt = np.polyfit(q, [r.median_s for r in pre], 1)
        parts.append(f"prefill {min(q)}-{max(q)} tok: {icpt * 1e3:.2f} ms + {slope * 1e6:.1f} us/tok")
    dec = by_grid.get("decode", [])
    if dec:
        ctx0 = min(mean_context(r.params["decode"]) for r in dec)
        row = [r for r in dec if mean_context(r.params["decode"]) == ctx0]
        if len(row) >= 2:
            b = [len(r.params["decode"]) for r in row]
            slope, icpt = np.polyfit(b, [r.median_s for r in row], 1)
            parts.append(f"decode at ctx {ctx0}: {icpt * 1e3:.2f} ms + {slope * 1e6:.1f} us/seq")
    for name in ("decode/graph", "mixed"):
        if by_grid.get(name):
            t = [r.median_s for r in by_grid[name]]
            parts.append(f"{name} {min(t) * 1e3:.2f}-{max(t) * 1e3:.2f} ms")
    throttled = sum(r.throttled for r in records)
    if throttled:
        parts.append(f"{throttled} throttled")
    flagged = sum("flagged" in r.extra for r in records)
    if flagged:
        parts.append(f"{flagged} FLAGGED (graph check failed; left out of the fit)")
    return "; ".join(parts)
