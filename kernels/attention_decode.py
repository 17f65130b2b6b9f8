"""Split-KV decode attention (flash-decoding): one query per sequence over its paged KV cache.

A decode step reads the whole KV cache once and computes little, so it is bandwidth-bound; with few
sequences, one program per sequence and KV head would leave most SMs idle. Each sequence's keys are
cut into splits that run as separate programs, then one small launch combines their partial outputs
by log-sum-exp weights. The split count is a runtime argument (not a constexpr), so every batch size
and context runs the same two compiled kernels. Order as the Triton tutorials: kernels, thin wrapper;
reference in attention_ref.py, checks in tests/kernels.
"""

from __future__ import annotations

from functools import cache

import torch
import triton
import triton.language as tl

from ._common import dot_precision, interpreting, next_pow2, parallel_units, require
from .paged_tiles import LOG2E, MASK_KEYS, MASK_NONE, attend_tile, check_cache, fits_shared_memory

MAX_SPLITS = 64  # the reduction holds every split of a head in one tile


@triton.jit(do_not_specialize=["split_len", "num_splits", "stride_bt"])
def _decode_split_kernel(
    q_ptr,  # [num_seqs, NUM_HEADS, head_dim]
    k_cache_ptr,  # [num_blocks, BLOCK_SIZE, num_kv_heads, head_dim]
    v_cache_ptr,  # [num_blocks, BLOCK_SIZE, num_kv_heads, head_dim]
    out_ptr,  # [num_seqs, NUM_HEADS, head_dim]: written when not SPLIT
    part_out_ptr,  # [num_seqs * NUM_HEADS * num_splits, HEAD_DIM_P] fp32: written when SPLIT
    part_lse_ptr,  # [num_seqs * NUM_HEADS * num_splits] fp32, log2-sum-exp of each split
    seq_lens_ptr,  # [num_seqs] int32, the query's own token included
    block_tables_ptr,  # [num_seqs, max_blocks_per_seq] int32
    scale_log2,  # softmax scale * log2(e)
    num_queries_per_kv,
    split_len,  # keys per split, a multiple of 64
    num_splits,  # grid axis 2
    stride_qs, stride_qh, stride_qd,
    stride_os, stride_oh, stride_od,
    stride_kb, stride_ks, stride_kh, stride_kd,
    stride_vb, stride_vs, stride_vh, stride_vd,
    stride_bt,  # = max_blocks_per_seq, changes every step
    NUM_HEADS: tl.constexpr, SPLIT: tl.constexpr,  # SPLIT: num_splits > 1
    BLOCK_SIZE: tl.constexpr,  # tokens per KV page
    BLOCK_H: tl.constexpr,  # query heads of one KV head, padded to >= 16 rows for tl.dot
    BLOCK_N: tl.constexpr,  # keys per tile
    HEAD_DIM: tl.constexpr, HEAD_DIM_P: tl.constexpr,
    COMPUTE_FP32: tl.constexpr, DOT_PRECISION: tl.constexpr,
):
    """One program: one sequence's single query, all query heads of one KV head, keys of one split.

    Without SPLIT it writes the output; with it, the split's normalised partial output and its
    log2-sum-exp for `_decode_reduce_kernel`.
    """
    seq = tl.program_id(0)
    kv_head = tl.program_id(1)
    split = tl.program_id(2)
    seq_len = tl.load(seq_lens_ptr + seq)
    key_start = split * split_len
    key_end = tl.minimum(key_start + split_len, seq_len)

    offs_h = tl.arange(0, BLOCK_H)
    offs_d = tl.arange(0, HEAD_DIM_P)
    d_mask = offs_d < HEAD_DIM
    head = kv_head * num_queries_per_kv + offs_h
    h_mask = offs_h < num_queries_per_kv
    q = tl.load(q_ptr + seq.to(tl.int64) * stride_qs + head[:, None] * stride_qh + offs_d[None, :] * stride_qd,
                mask=h_mask[:, None] & d_mask[None, :], other=0.0)
    if COMPUTE_FP32:
        q = q.to(tl.float32)

    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, HEAD_DIM_P], dtype=tl.float32)
    block_table_row_ptr = block_tables_ptr + seq.to(tl.int64) * stride_bt
    # Whole tiles first (no mask), then the sequence's last partial tile.
    full_end = key_start + tl.maximum(key_end - key_start, 0) // BLOCK_N * BLOCK_N
    for start_n in range(key_start, full_end, BLOCK_N):
        acc, m_i, l_i = attend_tile(
            q, acc, m_i, l_i, start_n, key_end, key_end, k_cache_ptr, v_cache_ptr, block_table_row_ptr,
            kv_head, offs_d, d_mask, stride_kb, stride_ks, stride_kh, stride_kd,
            stride_vb, stride_vs, stride_vh, stride_vd, scale_log2,
            BLOCK_SIZE, BLOCK_N, MASK_NONE, COMPUTE_FP32, DOT_PRECISION)
    for start_n in range(full_end, key_end, BLOCK_N):
        acc, m_i, l_i = attend_tile(
            q, acc, m_i, l_i, start_n, key_end, key_end, k_cache_ptr, v_cache_ptr, block_table_row_ptr,
            kv_head, offs_d, d_mask, stride_kb, stride_ks, stride_kh, stride_kd,
            stride_vb, stride_vs, stride_vh, stride_vd, scale_log2,
            BLOCK_SIZE, BLOCK_N, MASK_KEYS, COMPUTE_FP32, DOT_PRECISION)

    mask = h_mask[:, None] & d_mask[None, :]
    if SPLIT:
        # An empty split (key_start >= seq_len) stores a zero output with lse -inf: weight 0 in the reduction.
        empty = l_i == 0.0
        part = acc / tl.where(empty, 1.0, l_i)[:, None]
        lse = tl.where(empty, float("-inf"), m_i + tl.log2(tl.where(empty, 1.0, l_i)))
        row = (seq * NUM_HEADS + head).to(tl.int64) * num_splits + split
        tl.store(part_out_ptr + row[:, None] * HEAD_DIM_P + offs_d[None, :], part, mask=mask)
        tl.store(part_lse_ptr + row, lse, mask=h_mask)
    else:
        o_ptrs = out_ptr + seq.to(tl.int64) * stride_os + head[:, None] * stride_oh + offs_d[None, :] * stride_od
        tl.store(o_ptrs, (acc / l_i[:, None]).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["num_splits"])
def _decode_reduce_kernel(
    part_out_ptr,  # [num_seqs * NUM_HEADS * num_splits, HEAD_DIM_P] fp32
    part_lse_ptr,  # [num_seqs * NUM_HEADS * num_splits] fp32
    out_ptr,  # [num_seqs, NUM_HEADS, head_dim]
    num_splits,
    stride_os, stride_oh, stride_od,
    NUM_HEADS: tl.constexpr, MAX_SPLITS_P: tl.constexpr,
    HEAD_DIM: tl.constexpr, HEAD_DIM_P: tl.constexpr,
):
    """One program: combine the splits of one (sequence, head) by their log2-sum-exp weights."""
    seq = tl.program_id(0)
    head = tl.program_id(1)
    offs_s = tl.arange(0, MAX_SPLITS_P)
    offs_d = tl.arange(0, HEAD_DIM_P)
    s_mask = offs_s < num_splits
    d_mask = offs_d < HEAD_DIM
    row = (seq * NUM_HEADS + head).to(tl.int64) * num_splits + offs_s
    lse = tl.load(part_lse_ptr + row, mask=s_mask, other=float("-inf"))
    weight = tl.exp2(lse - tl.max(lse, 0))  # split 0 always holds key 0, so the max is finite
    weight = weight / tl.sum(weight, 0)
    part = tl.load(part_out_ptr + row[:, None] * HEAD_DIM_P + offs_d[None, :],
                   mask=s_mask[:, None] & d_mask[None, :], other=0.0)
    out = tl.sum(weight[:, None] * part, 0)
    tl.store(out_ptr + seq.to(tl.int64) * stride_os + head * stride_oh + offs_d * stride_od,
             out.to(out_ptr.dtype.element_ty), mask=d_mask)


# (BLOCK_N, num_warps, num_stages): the former fixed tile first; more stages keep more K/V tiles in flight,
# which a bandwidth-bound loop whose block-table load takes a stage of its own needs.
DECODE_TILES = [(64, 4, 3), (64, 4, 4), (64, 4, 5), (64, 8, 4), (32, 4, 6), (128, 8, 3)]
INTERPRETER_TILE = {"BLOCK_N": 64, "num_warps": 4, "num_stages": 3}
SPLIT_ALIGN = 64  # split lengths are multiples of 64 keys (a 128-key tile ends with a masked tail)


@cache
def _autotuned_kernel():
    """Built on first GPU use: the autotuner wants the GPU driver, which a CPU machine lacks."""
    configs = [triton.Config({"BLOCK_N": n}, num_warps=w, num_stages=s) for n, w, s in DECODE_TILES]
    return triton.autotune(configs=configs, key=["HEAD_DIM_P", "BLOCK_H", "BLOCK_SIZE", "SPLIT"],
                           prune_configs_by={"early_config_prune": fits_shared_memory})(_decode_split_kernel)


def default_num_splits(num_seqs: int, num_kv_heads: int, max_context: int, device: torch.device) -> int:
    """Splits per sequence so that about two programs per SM run, with at least 256 keys per split."""
    programs = num_seqs * num_kv_heads
    wanted = triton.cdiv(2 * parallel_units(device), max(programs, 1))
    return max(1, min(wanted, triton.cdiv(max_context, 256), MAX_SPLITS))


def decode_attention(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, seq_lens: torch.Tensor,
    block_tables: torch.Tensor, scale: float | None = None, num_splits: int | None = None,
    max_seq_len: int | None = None,
) -> torch.Tensor:
    """One query per sequence over its paged KV (seq_lens include the query's own token), split-KV.

    q is `[num_seqs, num_heads, head_dim]`; returns a new tensor shaped like q. The keys of each
    sequence are cut into `num_splits` (1..64) ranges that run as separate programs, then one reduction
    launch combines them (none when num_splits == 1). Default: `default_num_splits`. The splits cover
    `max_seq_len` keys when given (the caller knows it), else the block table's capacity
    (block_tables.shape[1] * block_size): no host sync on seq_lens either way, but a table much wider
    than the contexts leaves most splits empty.
    """
    check_cache(q, k_cache, v_cache, block_tables)
    require(seq_lens.dim() == 1 and seq_lens.dtype == torch.int32, "seq_lens must be a 1-D int32 tensor")
    num_seqs, num_heads, head_dim = q.shape
    require(seq_lens.shape[0] == num_seqs and block_tables.shape[0] == num_seqs,
            f"decode q has {num_seqs} sequences but seq_lens has {seq_lens.shape[0]} and block_tables "
            f"{block_tables.shape[0]} rows: one query per sequence")
    out = torch.empty_like(q)
    if num_seqs == 0:
        return out
    num_kv_heads, block_size = k_cache.shape[2], k_cache.shape[1]
    capacity = block_tables.shape[1] * block_size
    max_context = capacity if max_seq_len is None else max_seq_len
    require(1 <= max_context <= capacity,
            f"max_seq_len ({max_seq_len}) must be in 1..{capacity} (the block table's capacity) and at least "
            "every seq_lens entry")
    if num_splits is None:
        num_splits = default_num_splits(num_seqs, num_kv_heads, max_context, q.device)
    require(1 <= num_splits <= MAX_SPLITS, f"num_splits must be in 1..{MAX_SPLITS}, got {num_splits}")
    split_len = triton.cdiv(triton.cdiv(max_context, num_splits), SPLIT_ALIGN) * SPLIT_ALIGN
    num_splits = triton.cdiv(max_context, split_len)
    head_dim_p = next_pow2(head_dim)
    if num_splits > 1:
        part_out = torch.empty(num_seqs * num_heads * num_splits, head_dim_p, device=q.device, dtype=torch.float32)
        part_lse = torch.empty(num_seqs * num_heads * num_splits, device=q.device, dtype=torch.float32)
    else:
        part_out = part_lse = out  # unused
    scale = head_dim**-0.5 if scale is None else scale
    qpk = num_heads // num_kv_heads
    kernel = _decode_split_kernel if interpreting() else _autotuned_kernel()
    tiles = INTERPRETER_TILE if interpreting() else {}
    kernel[(num_seqs, num_kv_heads, num_splits)](
        q, k_cache, v_cache, out, part_out, part_lse, seq_lens, block_tables,
        scale * LOG2E, qpk, split_len, num_splits,
        *q.stride(), *out.stride(), *k_cache.stride(), *v_cache.stride(), block_tables.stride(0),
        NUM_HEADS=num_heads, SPLIT=num_splits > 1, BLOCK_SIZE=block_size, BLOCK_H=max(16, next_pow2(qpk)),
        HEAD_DIM=head_dim, HEAD_DIM_P=head_dim_p,
        COMPUTE_FP32=interpreting(), DOT_PRECISION=dot_precision(q.dtype), **tiles,
    )
    if num_splits > 1:
        _decode_reduce_kernel[(num_seqs, num_heads)](
            part_out, part_lse, out, num_splits, *out.stride(),
            NUM_HEADS=num_heads, MAX_SPLITS_P=MAX_SPLITS, HEAD_DIM=head_dim, HEAD_DIM_P=head_dim_p,
        )
    return out
