"""GPU benchmark of phasecal's kernels beside the ceilings measured in the same run.

Per kernel: median device time (the probes' `Timer`: cold L2 and launches held behind a spin kernel,
so the sample is device time without host gaps) and the attained TB/s or TFLOP/s, next to torch's
own op for each bandwidth kernel (copy_, mul, add, a sum for read, fill_ for write), cuBLAS via
torch.matmul (GEMM) and torch SDPA flash (prefill attention). Checks the issue-3 targets and writes
everything to a JSON file:

    python benchmarks/bench_kernels.py results/bench_kernels_<device>.json [--quick] [--model Qwen3-8B]

Needs a CUDA GPU (exits with code 2 without one). Nothing here runs at import time.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import cache
from pathlib import Path

import torch

from phasecal.atomic import write_atomic

TARGETS = {  # issue 3 acceptance, as ratios to the ceiling measured in the same run
    "bandwidth_vs_torch_op": 0.97,
    "decode_vs_copy_bandwidth": 0.80,
    "prefill_vs_sdpa_flash": 0.70,
    "matmul_vs_cublas": 0.80,
}
RULE_KWARGS = dict(min_samples=20, max_samples=500, target_spread=0.02, max_time_s=0.3, warmup_iters=3)


def make_timer(device: str = "cuda"):
    """The probes' Timer with a flush of twice the device's last-level cache."""
    from phasecal.probes.fingerprint import UNKNOWN_CACHE_BYTES
    from phasecal.probes.timing import Timer

    dev = torch.device(device)
    llc = torch.cuda.get_device_properties(dev).L2_cache_size if dev.type == "cuda" else UNKNOWN_CACHE_BYTES
    return Timer(dev, flush_bytes=2 * llc)


@cache
def _gpu_timer():
    return make_timer("cuda")


def bench_ms(fn, timer=None) -> float:
    """Median milliseconds of fn: cold cache, and on a GPU device time with the launches held."""
    from phasecal.probes.timing import StopRule

    timer = timer or _gpu_timer()
    timing = timer.measure(fn, StopRule(**RULE_KWARGS), cold=True, hold=timer.is_cuda)
    return timing.median_s * 1e3


def torch_stream_ops(a, b, c, out, scalar: float = 0.4) -> dict:
    """torch's own op for each BabelStream kernel, moving the same bytes: the ceiling it is judged by."""
    return {
        "copy": lambda: out.copy_(a),
        "scale": lambda: torch.mul(c, scalar, out=out),
        "add": lambda: torch.add(a, b, out=out),
        "triad": lambda: torch.add(b, c, alpha=scalar, out=out),
        "read": lambda: a.sum(dtype=torch.float32),
        "write": lambda: out.fill_(1.5),
    }


class Report:
    """Collects rows, prints each as it is measured."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.ceilings: dict[str, float] = {}
        self.checks: list[dict] = []

    def add(self, group: str, name: str, ms: float, unit: str, amount: float, ceiling: str | None = None, **shape):
        rate = amount / (ms * 1e-3) / 1e12  # TB/s or TFLOP/s
        row = dict(group=group, name=name, ms=ms, unit=unit, rate=rate, shape=shape)
        if ceiling is not None and ceiling in self.ceilings:
            row["ceiling"] = ceiling
            row["fraction_of_ceiling"] = rate / self.ceilings[ceiling]
        self.rows.append(row)
        frac = f"  {row['fraction_of_ceiling']:.3f} x {ceiling}" if "fraction_of_ceiling" in row else ""
        print(f"{group:10s} {name:44s} {ms * 1e3:10.1f} us  {rate:8.3f} {unit}{frac}", flush=True)
        return row

    def check(self, target: str, measured: float, what: str) -> None:
        ok = measured >= TARGETS[target]
        self.checks.append(dict(target=target, what=what, measured=measured, required=TARGETS[target], ok=ok))
        print(f"TARGET {target:28s} {what:40s} {measured:.3f} >= {TARGETS[target]}: {'ok' if ok else 'MISSED'}")


def bench_bandwidth(rep: Report, n: int) -> None:
    from phasecal.kernels import bandwidth, bandwidth_cupy

    a, b, c = (torch.randn(n, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    out = torch.empty_like(a)
    for op, fn in torch_stream_ops(a, b, c, out).items():
        nbytes = bandwidth.STREAM_OPS[op].bytes_moved(n, 2)
        ms = bench_ms(fn)
        rep.ceilings[f"torch_{op}_TBps"] = nbytes / (ms * 1e-3) / 1e12
        rep.add("ceiling", f"torch {op}", ms, "TB/s", nbytes, elements=n, dtype="bf16")
    partials = torch.empty(n // bandwidth.DEFAULT_BLOCK + 1, device="cuda")
    total = torch.zeros(1, device="cuda")
    impls = (("triton", bandwidth, dict(partials=partials)), ("cupy", bandwidth_cupy, dict(total=total)))
    for impl, mod, extra in impls:
        calls = {
            "copy": lambda mod=mod: mod.stream_copy(a, out=out),
            "scale": lambda mod=mod: mod.stream_scale(c, 0.4, out=out),
            "add": lambda mod=mod: mod.stream_add(a, b, out=out),
            "triad": lambda mod=mod: mod.stream_triad(b, c, 0.4, out=out),
            "read": lambda mod=mod, extra=extra: mod.stream_read(a, **extra),
            "write": lambda mod=mod: mod.stream_write(out, 1.5),
        }
        for op, fn in calls.items():
            nbytes = bandwidth.STREAM_OPS[op].bytes_moved(n, 2)
            row = rep.add("bandwidth", f"{impl} {op}", bench_ms(fn), "TB/s", nbytes, f"torch_{op}_TBps", elements=n)
            rep.check("bandwidth_vs_torch_op", row["fraction_of_ceiling"], f"{impl} {op}")


def bench_launch(rep: Report) -> None:
    from phasecal.kernels.launch import launch_empty_cupy, launch_empty_triton
    from phasecal.probes.timing import StopRule

    timer, rule = _gpu_timer(), StopRule(**RULE_KWARGS)
    x = torch.zeros(1, device="cuda")
    for name, fn in (("triton empty", launch_empty_triton), ("cupy empty", launch_empty_cupy),
                     ("torch add_ (1 elem)", lambda: x.add_(1))):
        enqueue_us = timer.measure(fn, rule, host=True).median_s * 1e6
        sync_us = timer.measure(lambda fn=fn: (fn(), timer.sync()), rule, host=True).median_s * 1e6
        rep.rows.append(dict(group="launch", name=name, host_enqueue_us=enqueue_us, launch_sync_us=sync_us))
        print(f"launch     {name:44s} enqueue {enqueue_us:7.2f} us   launch+sync {sync_us:7.2f} us")


def _paged(num_seqs, max_len, heads, kv_heads, head_dim, block_size=16):
    pages = -(-max_len // block_size)
    shape = (num_seqs * pages, block_size, kv_heads, head_dim)
    k_cache = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    v_cache = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    tables = torch.randperm(num_seqs * pages, device="cuda", dtype=torch.int32).view(num_seqs, pages)
    return k_cache, v_cache, tables


def _varlen(chunks, heads, head_dim):
    """q, query_start_loc, seq_lens for (cached, new) chunks."""
    new = torch.tensor([n for _, n in chunks], dtype=torch.int32)
    qsl = torch.zeros(len(chunks) + 1, dtype=torch.int32)
    qsl[1:] = new.cumsum(0)
    seq_lens = torch.tensor([c + n for c, n in chunks], dtype=torch.int32)
    q = torch.randn(int(new.sum()), heads, head_dim, device="cuda", dtype=torch.bfloat16)
    return q, qsl.cuda(), seq_lens.cuda()


def bench_attention(rep: Report, heads: int, kv_heads: int, head_dim: int, quick: bool) -> None:
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from phasecal.kernels.attention import decode_attention, prefill_attention, unified_attention

    kv_bytes_per_token = 2 * kv_heads * head_dim * 2  # K and V, bf16
    for num_seqs, ctx in ((512, 2048), (64, 8192), (8, 32768), (1, 32768)):
        k_cache, v_cache, tables = _paged(num_seqs, ctx, heads, kv_heads, head_dim)
        q, _, seq_lens = _varlen([(ctx - 1, 1)] * num_seqs, heads, head_dim)
        ms = bench_ms(lambda: decode_attention(q, k_cache, v_cache, seq_lens, tables))  # noqa: B023
        row = rep.add("decode", f"split-KV decode {num_seqs} x ctx {ctx}", ms, "TB/s",
                      num_seqs * ctx * kv_bytes_per_token, "torch_copy_TBps", seqs=num_seqs, ctx=ctx)
        if (num_seqs, ctx) == (512, 2048):
            rep.check("decode_vs_copy_bandwidth", row["fraction_of_ceiling"], "decode 512 x 2048")

    for tokens in (2048, 4096) if quick else (2048, 4096, 8192, 16384):
        flops = 4 * heads * head_dim * tokens * (tokens + 1) / 2  # causal QK^T and PV
        qd = torch.randn(1, heads, tokens, head_dim, device="cuda", dtype=torch.bfloat16)
        kd = torch.randn(1, heads, tokens, head_dim, device="cuda", dtype=torch.bfloat16)
        vd = torch.randn_like(kd)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            ms = bench_ms(lambda: F.scaled_dot_product_attention(qd, kd, vd, is_causal=True))  # noqa: B023
        rep.ceilings[f"sdpa_flash_{tokens}_TFLOPs"] = flops / (ms * 1e-3) / 1e12
        rep.add("ceiling", f"torch SDPA flash causal {tokens}", ms, "TFLOP/s", flops, tokens=tokens)
        k_cache, v_cache, tables = _paged(1, tokens, heads, kv_heads, head_dim)
        q, qsl, seq_lens = _varlen([(0, tokens)], heads, head_dim)
        for name, fn in (("prefill", prefill_attention), ("unified", unified_attention)):
            ms = bench_ms(lambda fn=fn: fn(q, k_cache, v_cache, qsl, seq_lens, tables))  # noqa: B023
            row = rep.add("prefill", f"paged {name} causal {tokens}", ms, "TFLOP/s", flops,
                          f"sdpa_flash_{tokens}_TFLOPs", tokens=tokens)
            if name == "prefill" and tokens >= 4096:
                rep.check("prefill_vs_sdpa_flash", row["fraction_of_ceiling"], f"prefill {tokens}")

    # Mixed: one chunk of `chunk` new tokens on a cached prefix plus decode tokens, one launch vs two.
    for chunk, decodes, ctx in ((2048, 256, 2048), (512, 64, 4096)):
        chunks = [(1024, chunk)] + [(ctx - 1, 1)] * decodes
        k_cache, v_cache, tables = _paged(len(chunks), max(1024 + chunk, ctx), heads, kv_heads, head_dim)
        q, qsl, seq_lens = _varlen(chunks, heads, head_dim)
        p_qsl, p_lens = qsl[:2].clone(), seq_lens[:1].clone()
        q_dec = q[chunk:]
        one = bench_ms(lambda: unified_attention(q, k_cache, v_cache, qsl, seq_lens, tables))  # noqa: B023
        q_pre, dec_lens, dec_tables = q[:chunk], seq_lens[1:], tables[1:]

        def two_launches():
            prefill_attention(q_pre, k_cache, v_cache, p_qsl, p_lens, tables[:1])  # noqa: B023
            decode_attention(q_dec, k_cache, v_cache, dec_lens, dec_tables)  # noqa: B023

        two = bench_ms(two_launches)
        for name, ms in (("unified (1 launch)", one), ("prefill + decode (2 launches)", two)):
            rep.rows.append(dict(group="mixed", name=name, ms=ms, chunk=chunk, decodes=decodes, ctx=ctx))
            print(f"mixed      {name:44s} {ms * 1e3:10.1f} us  chunk {chunk} + {decodes} decodes at ctx {ctx}")


def bench_matmul(rep: Report, model: str, quick: bool) -> None:
    from phasecal.kernels.catalog import get_model_shape
    from phasecal.kernels.matmul import matmul

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ms = bench_ms(lambda: torch.matmul(a, b))
    rep.ceilings["cublas_8192_TFLOPs"] = 2 * 8192**3 / (ms * 1e-3) / 1e12
    rep.add("ceiling", "cuBLAS bf16 8192^3", ms, "TFLOP/s", 2 * 8192**3)
    for layer, (K, N) in get_model_shape(model).linear_shapes().items():
        w = torch.randn(N, K, device="cuda", dtype=torch.bfloat16)
        for M in (16, 512, 4096) if quick else (1, 16, 128, 512, 2048, 8192):
            if layer == "lm_head" and M > 512:
                continue  # logits are computed for a few tokens per step
            x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
            flops = 2 * M * N * K
            key = f"cublas_{layer}_{M}_TFLOPs"
            ms = bench_ms(lambda: torch.matmul(x, w.t()))  # noqa: B023
            rep.ceilings[key] = flops / (ms * 1e-3) / 1e12
            rep.add("ceiling", f"cuBLAS {layer} M={M}", ms, "TFLOP/s", flops, M=M, K=K, N=N)
            row = rep.add("matmul", f"triton {layer} M={M}", bench_ms(lambda: matmul(x, w.t())),  # noqa: B023
                          "TFLOP/s", flops, key, M=M, K=K, N=N)
            rep.check("matmul_vs_cublas", row["fraction_of_ceiling"], f"{layer} M={M}")


def bench_step_ops(rep: Report, model: str) -> None:
    from phasecal.kernels.catalog import get_model_shape
    from phasecal.kernels.step_ops import rms_norm, rotary_embedding, silu_and_mul, write_kv_cache

    m = get_model_shape(model)
    for tokens in (16, 512, 8192):
        x, res = (torch.randn(tokens, m.hidden_size, device="cuda", dtype=torch.bfloat16) for _ in range(2))
        w = torch.randn(m.hidden_size, device="cuda", dtype=torch.bfloat16)
        rep.add("step", f"rms_norm+residual T={tokens}", bench_ms(lambda: rms_norm(x, w, 1e-6, res)),  # noqa: B023
                "TB/s", 4 * x.numel() * 2, "torch_copy_TBps", tokens=tokens)
        qkv = torch.randn(tokens, m.q_size + 2 * m.kv_size, device="cuda", dtype=torch.bfloat16)
        q, k = qkv[:, : m.q_size], qkv[:, m.q_size : m.q_size + m.kv_size]
        pos = torch.arange(tokens, device="cuda")
        rep.add("step", f"rotary neox T={tokens}",
                bench_ms(lambda: rotary_embedding(pos, q, k, m.head_dim, m.rope_theta)),  # noqa: B023
                "TB/s", 2 * (q.numel() + k.numel()) * 2, "torch_copy_TBps", tokens=tokens)
        g = torch.randn(tokens, 2 * m.intermediate_size, device="cuda", dtype=torch.bfloat16)
        rep.add("step", f"silu_and_mul T={tokens}", bench_ms(lambda: silu_and_mul(g)),  # noqa: B023
                "TB/s", 3 * g.numel() // 2 * 2, "torch_copy_TBps", tokens=tokens)
        kv = torch.randn(2, tokens, m.num_kv_heads, m.head_dim, device="cuda", dtype=torch.bfloat16)
        k_cache, v_cache, _ = _paged(1, tokens + 16, m.num_heads, m.num_kv_heads, m.head_dim)
        slots = torch.randperm(k_cache.shape[0] * 16, device="cuda")[:tokens]
        rep.add("step", f"write_kv_cache T={tokens}",
                bench_ms(lambda: write_kv_cache(kv[0], kv[1], k_cache, v_cache, slots)),  # noqa: B023
                "TB/s", 2 * kv.numel() * 2, "torch_copy_TBps", tokens=tokens)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON file to write")
    parser.add_argument("--model", default="Qwen3-8B", help="catalog model for GEMM, attention and step shapes")
    parser.add_argument("--quick", action="store_true", help="fewer sizes (about a minute)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_kernels needs a CUDA GPU; none is visible to torch here", file=sys.stderr)
        return 2
    import triton

    from phasecal.kernels.catalog import get_model_shape

    try:
        shape = get_model_shape(args.model)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    rep = Report()
    props = torch.cuda.get_device_properties(0)
    bench_bandwidth(rep, n=(1 << 26) if args.quick else (1 << 28))
    bench_launch(rep)
    bench_attention(rep, shape.num_heads, shape.num_kv_heads, shape.head_dim, args.quick)
    bench_matmul(rep, args.model, args.quick)
    bench_step_ops(rep, args.model)
    payload = dict(
        device=dict(name=props.name, sm_count=props.multi_processor_count, memory_bytes=props.total_memory,
                    capability=f"{props.major}.{props.minor}"),
        versions=dict(torch=torch.__version__, triton=triton.__version__), model=args.model, quick=args.quick,
        timing="phasecal Timer median: L2 flushed (write, then read) before each sample, launches held behind "
               "a spin kernel (device time)", ceilings=rep.ceilings,
        rows=rep.rows, targets=rep.checks,
    )
    write_atomic(args.out, json.dumps(payload, indent=1) + "\n")
    missed = [c for c in rep.checks if not c["ok"]]
    print(f"wrote {args.out}; {len(rep.checks) - len(missed)}/{len(rep.checks)} target checks met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
