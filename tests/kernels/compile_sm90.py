"""Compile every Triton kernel as the wrappers launch it on a GPU, for sm_90, on a machine without one.

Run as a script in a process WITHOUT TRITON_INTERPRET (so @triton.jit builds real JIT functions). The
wrappers are called on small CPU tensors with the launch intercepted: each recorded launch is compiled
through Triton's full pipeline (TTIR -> PTX -> cubin with the bundled ptxas) instead of run. This
checks the compiled path the interpreter cannot (constexpr globals, libdevice, dtype rules).
Prints one line per kernel; exits non-zero on the first failure.
"""

from __future__ import annotations

import sys
import time

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.autotuner import Autotuner
from triton.runtime.jit import JITFunction

_PTR = {torch.bfloat16: "*bf16", torch.float16: "*fp16", torch.float32: "*fp32", torch.int32: "*i32",
        torch.int64: "*i64"}
_launches: list[tuple[JITFunction, tuple, dict]] = []


def _record(self, *args, grid, warmup, **kwargs):
    _launches.append((self, args, kwargs))


def _record_autotuned(self, *args, **kwargs):
    """Every configuration the autotuner would time for this call, after its prune filter."""
    kwargs.pop("grid", None)
    configs = self.configs
    if self.early_config_prune:
        configs = self.early_config_prune(configs, dict(zip(self.arg_names, args, strict=False)), **kwargs)
    for config in configs:
        cfg = dict(config.all_kwargs())
        _launches.append((self.fn, args, {**kwargs, **cfg}))


def _signature(fn: JITFunction, args: tuple, kwargs: dict):
    values = dict(zip(fn.arg_names, args, strict=False)) | {k: v for k, v in kwargs.items() if k in fn.arg_names}
    constexpr_names = {fn.arg_names[p.num] for p in fn.params if p.is_constexpr}
    signature, constexprs = {}, {}
    for name in fn.arg_names:
        value = values[name]
        if name in constexpr_names:
            signature[name], constexprs[name] = "constexpr", value
        elif isinstance(value, torch.Tensor):
            signature[name] = _PTR[value.dtype]
        elif isinstance(value, bool):
            signature[name] = "i1"
        elif isinstance(value, int):
            signature[name] = "i32" if -(2**31) <= value < 2**31 else "i64"
        else:
            signature[name] = "fp32"
    options = {k: kwargs[k] for k in ("num_warps", "num_stages") if k in kwargs}
    return signature, constexprs, options


def exercise_wrappers() -> None:
    """Call every public wrapper once on bf16 CPU tensors (launches are recorded, not run)."""
    from phasecal.kernels import attention, bandwidth, launch, matmul, step_ops

    bf16 = dict(dtype=torch.bfloat16)
    q = torch.randn(8, 8, 128, **bf16)
    cache = torch.randn(16, 16, 2, 128, **bf16)
    qsl = torch.tensor([0, 5, 8], dtype=torch.int32)
    lens = torch.tensor([20, 3], dtype=torch.int32)
    tables = torch.arange(16, dtype=torch.int32).view(2, 8)  # room for 128 keys: two 64-key splits
    attention.unified_attention(q, cache, cache, qsl, lens, tables)
    attention.prefill_attention(q, cache, cache, qsl, lens, tables)
    attention.unified_attention(q[:2], cache, cache, torch.tensor([0, 1, 2], dtype=torch.int32), lens, tables,
                                max_query_len=1)
    attention.decode_attention(q[:2], cache, cache, lens, tables, num_splits=1)
    attention.decode_attention(q[:2], cache, cache, lens, tables, num_splits=2)
    x = torch.randn(4, 4096, **bf16)
    step_ops.rms_norm(x, x[0], 1e-6, x)
    step_ops.rms_norm(x, x[0], 1e-6)
    step_ops.rotary_embedding(torch.arange(4), q[:4].reshape(4, -1), q[:4, :2], 128, 1e6)
    step_ops.silu_and_mul(x)
    step_ops.write_kv_cache(q[:3, :2], q[:3, :2], cache, cache, torch.tensor([0, 5, 40]))
    for fn, fargs in ((bandwidth.stream_copy, (x,)), (bandwidth.stream_scale, (x, 0.5)),
                      (bandwidth.stream_add, (x, x)), (bandwidth.stream_triad, (x, x, 0.5)),
                      (bandwidth.stream_read, (x,)), (bandwidth.stream_write, (x, 1.0))):
        fn(*fargs)
    launch.launch_empty_triton()
    launch.launch_count_triton(torch.zeros(1))
    matmul.matmul(x[:, :256], torch.randn(256, 512, **bf16))  # M = 4: the decode tiles
    matmul.matmul(torch.randn(64, 256, **bf16), torch.randn(256, 512, **bf16))


def main() -> int:
    JITFunction.run = _record
    Autotuner.run = _record_autotuned
    exercise_wrappers()
    target = GPUTarget("cuda", 90, 32)
    seen = set()
    for fn, args, kwargs in _launches:
        signature, constexprs, options = _signature(fn, args, kwargs)
        key = (fn.__name__, tuple(sorted(signature.items())), tuple(sorted(map(str, constexprs.items()))),
               tuple(sorted(options.items())))
        if key in seen:
            continue
        seen.add(key)
        start = time.perf_counter()
        triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs), target=target, options=options)
        print(f"sm_90 {fn.__name__:28s} {time.perf_counter() - start:5.1f}s  {constexprs} {options}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
