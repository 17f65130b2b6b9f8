"""Attention probe: paged attention of the model's head shape over prefill, decode and mixed batches.

- prefill: one causal chunk over lengths (Triton varlen kernel; torch SDPA's fused causal kernel
  beside it on a GPU);
- decode: batch x context, one query per sequence (Triton split-KV; the unified kernel beside it);
- mixed: a token budget split between decodes (share 0..100%) and one prefill chunk, as ONE
  unified launch and as TWO launches (prefill kernel + split-KV decode kernel).
On the CPU the torch paged path of the synthetic model runs all three (Triton would only be its
interpreter). KV caches are random, every sample starts cold-L2 (in a model step the other layers
have evicted this layer's KV). Rates: decode GB/s of KV read; prefill TFLOP/s of 4*h*d*s_p.
"""

from __future__ import annotations

from collections.abc import Iterator

from phasecal.point_params import AttentionParams, AttentionRates
from phasecal.probes.context import Plan, PlannedPoint, ProbeContext, point_rule, to_record, torch_dtype
from phasecal.records import PointRecord

NAME = "attention"
BLOCK_SIZE = 16
# GPU sizes include the paper's anchors (H200, 32/8 heads of 128: 512 decodes at 2048 in 1.146 ms,
# one 2048-token prefill in 0.174 ms), so the two can be compared.
GPU = {"prefill": (512, 1024, 2048, 4096, 8192, 16384), "batches": (1, 8, 32, 128, 512),
       "contexts": (512, 2048, 8192), "budget": 2048, "mixed_context": 2048}
CPU = {"prefill": (64, 256, 1024), "batches": (1, 8, 32), "contexts": (256, 1024), "budget": 256,
       "mixed_context": 256}
SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


def _sizes(ctx: ProbeContext) -> dict:
    sizes = dict(GPU if ctx.is_cuda else CPU)
    if ctx.quick:
        sizes.update(prefill=sizes["prefill"][::2], batches=sizes["batches"][::2], contexts=sizes["contexts"][::2])
    return sizes


def plan(ctx: ProbeContext) -> Plan:
    result = Plan()
    s = _sizes(ctx)
    dtype = str(ctx.dtype).removeprefix("torch.")
    if ctx.is_cuda:
        impls = {"prefill": ("triton", "torch_sdpa"), "decode": ("triton_split", "triton_unified"),
                 "mixed": ("unified", "two_launch")}
    else:
        impls = {"prefill": ("torch_paged",), "decode": ("torch_paged",), "mixed": ("torch_paged",)}
        result.skipped.append("attention/triton: on the CPU Triton runs in its interpreter, not a measurement; "
                              "unified vs two-launch mixed batches need the GPU kernels")
    comps = [("prefill", [[q, 0]], [], {}) for q in s["prefill"]]
    comps += [("decode", [], [c] * b, {}) for b in s["batches"] for c in s["contexts"]]
    for share in SHARES if not ctx.quick else SHARES[::2]:
        n_d = round(share * s["budget"])
        prefill = [[s["budget"] - n_d, 0]] if n_d < s["budget"] else []
        comps.append(("mixed", prefill, [s["mixed_context"]] * n_d, {"budget": s["budget"], "decode_share": share}))
    for kind, prefill, decode, more in comps:
        for impl in impls[kind]:
            params = AttentionParams(kind, impl, prefill, decode, dtype, **more).to_dict()
            name = ("r{:.2f}".format(more["decode_share"]) if kind == "mixed"
                    else f"{len(decode)}x{decode[0]}" if decode else f"q{prefill[0][0]}")
            result.points.append(PlannedPoint(f"attention/{kind}/{impl}/{name}", params))
    return result


def _blocks(params: dict) -> int:
    lens = [q + c for q, c in params["prefill"]] + [c + 1 for c in params["decode"]]
    return sum(-(-n // BLOCK_SIZE) for n in lens)


class KVPool:
    """One layer's paged K and V caches, random, sized once for the largest point."""

    def __init__(self, ctx: ProbeContext, points: list[PlannedPoint]):
        import torch

        s = ctx.shape
        self.num_blocks = max(_blocks(p.params) for p in points)
        shape = (self.num_blocks, BLOCK_SIZE, s.num_kv_heads, s.head_dim)
        self.k = torch.randn(shape, device=ctx.device, dtype=ctx.dtype)
        self.v = torch.randn(shape, device=ctx.device, dtype=ctx.dtype)


def _batch(ctx: ProbeContext, chunks, dtype):
    """q, query_start_loc, seq_lens and block tables of a list of SeqChunks."""
    import torch

    s, dev = ctx.shape, ctx.device
    qsl = [0]
    for ch in chunks:
        qsl.append(qsl[-1] + ch.num_new)
    width = max(len(ch.block_table) for ch in chunks)
    tables = torch.zeros(len(chunks), width, dtype=torch.int32)
    for i, ch in enumerate(chunks):
        tables[i, : len(ch.block_table)] = torch.tensor(ch.block_table, dtype=torch.int32)
    return {"q": torch.randn(qsl[-1], s.num_heads, s.head_dim, device=dev, dtype=dtype),
            "qsl": torch.tensor(qsl, dtype=torch.int32, device=dev),
            "seq_lens": torch.tensor([ch.seq_len for ch in chunks], dtype=torch.int32, device=dev),
            "tables": tables.to(dev), "chunks": chunks, "max_len": max(ch.seq_len for ch in chunks),
            "host_lengths": (qsl, [ch.seq_len for ch in chunks])}


def _call(ctx: ProbeContext, params: dict, pool: KVPool):
    """The timed call of one point (inputs built here, outside the samples)."""
    import torch

    from phasecal.kernels import attention as att
    from phasecal.kernels.model import probe_chunks

    dtype = torch_dtype(params["dtype"])
    prefill = [tuple(x) for x in params["prefill"]]
    chunks = probe_chunks(prefill, params["decode"], BLOCK_SIZE, pool.num_blocks)
    k, v, impl = pool.k, pool.v, params["impl"]
    b = _batch(ctx, chunks, dtype)
    if impl == "torch_paged":
        return lambda: att.paged_attention_ref(b["q"], k, v, b["qsl"], b["seq_lens"], b["tables"],
                                               host_lengths=b["host_lengths"], upcast=False)
    if impl == "torch_sdpa":  # one contiguous causal sequence, torch's fused (flash) kernel
        (q_len, _), s = prefill[0], ctx.shape
        qs = torch.randn(1, s.num_heads, q_len, s.head_dim, device=ctx.device, dtype=dtype)
        # K/V expanded to all heads up front: not every fused backend takes GQA, and the math
        # fallback would need q_len^2 memory per head
        ks, vs = (torch.randn(1, s.num_kv_heads, q_len, s.head_dim, device=ctx.device, dtype=dtype)
                  .repeat_interleave(s.num_heads // s.num_kv_heads, dim=1) for _ in "kv")
        return lambda: torch.nn.functional.scaled_dot_product_attention(qs, ks, vs, is_causal=True)
    if impl == "triton":
        return lambda: att.prefill_attention(b["q"], k, v, b["qsl"], b["seq_lens"], b["tables"])
    if impl == "unified":
        return lambda: att.unified_attention(b["q"], k, v, b["qsl"], b["seq_lens"], b["tables"],
                                             max_query_len=max(ch.num_new for ch in chunks))
    if impl == "triton_unified":
        return lambda: att.unified_attention(b["q"], k, v, b["qsl"], b["seq_lens"], b["tables"], max_query_len=1)
    if impl == "triton_split":
        return lambda: att.decode_attention(b["q"], k, v, b["seq_lens"], b["tables"], max_seq_len=b["max_len"])
    if impl == "two_launch":
        pre = [ch for ch in chunks if not (ch.num_new == 1 and ch.num_cached > 0)]
        dec = [ch for ch in chunks if ch.num_new == 1 and ch.num_cached > 0]
        bp = _batch(ctx, pre, dtype) if pre else None
        bd = _batch(ctx, dec, dtype) if dec else None

        def two():
            if bp is not None:
                att.prefill_attention(bp["q"], k, v, bp["qsl"], bp["seq_lens"], bp["tables"])
            if bd is not None:
                att.decode_attention(bd["q"], k, v, bd["seq_lens"], bd["tables"], max_seq_len=bd["max_len"])
        return two
    raise ValueError(f"unknown attention implementation {impl!r}")


def measure_point(ctx: ProbeContext, point: PlannedPoint, pool: KVPool) -> PointRecord:
    p, s = point.params, ctx.shape
    timing = ctx.timer.measure(_call(ctx, p, pool), point_rule(ctx), cold=True, hold=ctx.is_cuda)
    t = timing.median_s
    s_p = sum(q * (c + (q + 1) / 2) for q, c in p["prefill"])
    kv_bytes = sum(c + 1 for c in p["decode"]) * 2 * s.num_kv_heads * s.head_dim * pool.k.element_size()
    rates = AttentionRates(prefill_tflops=4 * s.num_heads * s.head_dim * s_p / t / 1e12 if s_p else None,
                           decode_kv_gb_s=kv_bytes / t / 1e9 if kv_bytes else None)
    return to_record(NAME, point, timing, **rates.to_dict())


def run(ctx: ProbeContext, points: list[PlannedPoint]) -> Iterator[PointRecord]:
    if not points:
        return
    pool = KVPool(ctx, points)
    for p in points:
        if ctx.time_left() <= 0:
            return
        yield measure_point(ctx, p, pool)


def ceilings(records: list[PointRecord]) -> dict:
    """Per implementation, the best prefill TFLOP/s and decode KV GB/s of the pure (not mixed) points."""
    best: dict[str, dict] = {}
    for r in records:
        for metric in ("prefill_tflops", "decode_kv_gb_s"):
            val = r.extra.get(metric)
            name = f"{r.params['impl']}/{metric}"
            if val and r.params["kind"] != "mixed" and (name not in best or val > best[name]["value"]):
                best[name] = {"value": round(val, 3), "at": r.key.split("/")[-1]}
    return best


def summarize(records: list[PointRecord]) -> str:
    parts = [f"{len(records)} points"]
    parts += [f"{name} best {b['value']:.2f} ({b['at']})" for name, b in sorted(ceilings(records).items())]
    mixed = sorted((r for r in records if r.params["kind"] == "mixed"), key=lambda r: r.params["decode_share"])
    for impl in sorted({r.params["impl"] for r in mixed}):
        ts = [f"{r.median_s * 1e3:.2f}" for r in mixed if r.params["impl"] == impl]
        parts.append(f"mixed {impl} r=0..1: {'/'.join(ts)} ms")
    return "; ".join(parts)
