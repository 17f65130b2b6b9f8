"""Triton matmul (the Triton tutorial's grouped-tile kernel) for the linear layers of a step, to set
beside torch/cuBLAS: C = A @ B with fp32 accumulation, output in A's dtype.

On a GPU the wrapper autotunes over a few tile configurations (keyed on N, K and M rounded up to a
power of two, so a step's token count does not retune every call; `prune_for_m` keeps the tiles that
fit M, narrow-N ones for decode-sized M <= 16); under the interpreter it runs one
small fixed configuration in fp32 (the interpreter cannot time configurations and is wrong on bf16).
Order as the Triton tutorials: kernel, thin wrapper, torch reference.
"""

from __future__ import annotations

from functools import cache

import torch
import triton
import triton.language as tl

from ._common import dot_precision, interpreting, next_pow2, require


@triton.jit
def _matmul_kernel(
    a_ptr, b_ptr, c_ptr, M, N, K, M_BUCKET,
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
    COMPUTE_FP32: tl.constexpr, DOT_PRECISION: tl.constexpr,
):
    """One program per [BLOCK_M, BLOCK_N] tile of C, visited in groups of GROUP_M rows for L2 reuse.

    M_BUCKET is unused by the math: it is the autotuning key that stands for M.
    """
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    group = GROUP_M * num_pid_n
    first_m = (pid // group) * GROUP_M
    group_m = min(num_pid_m - first_m, GROUP_M)
    pid_m = first_m + (pid % group) % group_m
    pid_n = (pid % group) // group_m

    # Rows/columns wrap modulo M/N so loads need no mask there; the store is masked.
    offs_am = ((pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M).to(tl.int64)
    offs_bn = ((pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N).to(tl.int64)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=offs_k[None, :] < k_left, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < k_left, other=0.0)
        if COMPUTE_FP32:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + offs_cm[:, None].to(tl.int64) * stride_cm + offs_cn[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N))


# (BLOCK_M, BLOCK_N, BLOCK_K, num_stages, num_warps): the Triton tutorial's CUDA set plus small-M tiles
# for prefill chunks of a few dozen tokens.
_TILES = [
    (128, 256, 64, 3, 8), (128, 128, 64, 4, 8), (64, 256, 32, 4, 4), (128, 128, 32, 4, 4),
    (128, 64, 32, 4, 4), (64, 128, 32, 4, 4), (64, 64, 64, 4, 4), (32, 64, 128, 4, 4),
]
# Decode steps (M <= 16 tokens) read the whole weight for a 16-row tile: the work is the weight's bytes,
# so what counts is how many SMs read it. Narrow N tiles give 4096-wide layers 128-256 programs for
# 132 SMs (a 128-wide tile gives 32), with deep pipelines and long K tiles to keep loads in flight.
_DECODE_TILES = [
    (16, 128, 128, 4, 4), (16, 64, 128, 5, 4), (16, 64, 256, 4, 4), (16, 32, 256, 4, 4), (16, 32, 128, 6, 2),
    (16, 16, 256, 5, 2),
]


def prune_for_m(configs, named_args, **kwargs):
    """Autotune prune filter: for M <= 16 only the 16-row decode tiles, above it the tiles no taller
    than M (rounded up to a power of two): a taller tile computes rows that do not exist."""
    m = named_args["M_BUCKET"]
    if m <= 16:
        kept = [c for c in configs if c.kwargs["BLOCK_M"] == 16]
    else:
        kept = [c for c in configs if 16 < c.kwargs["BLOCK_M"] <= m]
    return kept or configs


@cache
def _autotuned_kernel():
    """Built on first GPU use: the autotuner wants the GPU driver, which a CPU machine lacks."""
    configs = [
        triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8}, num_stages=s, num_warps=w)
        for bm, bn, bk, s, w in _TILES + _DECODE_TILES
    ]
    return triton.autotune(configs=configs, key=["M_BUCKET", "N", "K"],
                           prune_configs_by={"early_config_prune": prune_for_m})(_matmul_kernel)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """C = A @ B for 2-D A [M, K] and B [K, N] (any strides: pass `weight.t()` for a linear layer).

    fp32 accumulation, output [M, N] in A's dtype (fp16, bf16 or fp32).
    """
    require(a.dim() == 2 and b.dim() == 2 and a.shape[1] == b.shape[0],
            f"matmul needs A [M, K] and B [K, N], got {tuple(a.shape)} and {tuple(b.shape)}")
    require(a.dtype == b.dtype and a.dtype in (torch.float16, torch.bfloat16, torch.float32),
            f"A and B must share a float dtype (fp16, bf16, fp32), got {a.dtype} and {b.dtype}")
    (M, K), N = a.shape, b.shape[1]
    if M == 0 or N == 0 or K == 0:
        return torch.zeros(M, N, device=a.device, dtype=a.dtype)
    c = torch.empty(M, N, device=a.device, dtype=a.dtype)
    args = (a, b, c, M, N, K, next_pow2(M), *a.stride(), *b.stride(), *c.stride())
    if interpreting():
        grid = (triton.cdiv(M, 32) * triton.cdiv(N, 32),)
        _matmul_kernel[grid](*args, BLOCK_M=32, BLOCK_N=32, BLOCK_K=32, GROUP_M=4,
                             COMPUTE_FP32=True, DOT_PRECISION="ieee")
    else:
        grid = lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)
        _autotuned_kernel()[grid](*args, COMPUTE_FP32=False, DOT_PRECISION=dot_precision(a.dtype))
    return c


def matmul_ref(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Reference: fp32 matmul rounded to A's dtype."""
    return (a.float() @ b.float()).to(a.dtype)
