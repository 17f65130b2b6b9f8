"""Unified paged attention: prefill chunks and decode tokens of a mixed batch in ONE launch.

Design after vLLM's unified Triton attention: each program takes BLOCK_Q new tokens of one sequence
times the query heads of one KV head, and finds its sequence by binary search over query_start_loc,
so the launch needs no host sync. `prefill_attention` (attention_prefill.py) runs this kernel with
128-row q-tiles and autotuned key tiles; pure-decode steps go to attention_decode.py. Order as the
Triton tutorials: kernel, thin wrapper; the torch reference is attention_ref.py, checks in tests/kernels.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import dot_precision, interpreting, next_pow2
from .paged_tiles import LOG2E, MASK_CAUSAL, MASK_NONE, attend_tile, check_cache, check_varlen


@triton.jit
def _find_seq_idx(query_start_loc_ptr, q_block_global, num_seqs, BLOCK_Q: tl.constexpr):
    """The sequence owning q-block `q_block_global`; sequence s owns blocks from start_s // BLOCK_Q + s."""
    left: tl.int32 = 0
    right = num_seqs
    while left < right:
        mid = (left + right) // 2
        first_block = tl.load(query_start_loc_ptr + mid) // BLOCK_Q + mid
        if first_block <= q_block_global:
            left = mid + 1
        else:
            right = mid
    return left - 1


@triton.jit(do_not_specialize=["num_seqs", "stride_bt"])
def _unified_attention_kernel(
    q_ptr,  # [num_tokens, num_heads, head_dim]
    k_cache_ptr,  # [num_blocks, BLOCK_SIZE, num_kv_heads, head_dim]
    v_cache_ptr,  # [num_blocks, BLOCK_SIZE, num_kv_heads, head_dim]
    out_ptr,  # [num_tokens, num_heads, head_dim]
    query_start_loc_ptr,  # [num_seqs + 1] int32
    seq_lens_ptr,  # [num_seqs] int32
    block_tables_ptr,  # [num_seqs, max_blocks_per_seq] int32
    scale_log2,  # softmax scale * log2(e)
    num_seqs,  # changes every step: not specialized
    num_queries_per_kv,
    stride_qt, stride_qh, stride_qd,
    stride_ot, stride_oh, stride_od,
    stride_kb, stride_ks, stride_kh, stride_kd,
    stride_vb, stride_vs, stride_vh, stride_vd,
    stride_bt,  # = max_blocks_per_seq, changes every step: not specialized
    BLOCK_SIZE: tl.constexpr,  # tokens per KV page
    BLOCK_Q: tl.constexpr,  # new tokens per program
    BLOCK_M: tl.constexpr,  # rows per program = BLOCK_Q * QPK_P
    BLOCK_N: tl.constexpr,  # keys per tile
    QPK_P: tl.constexpr,  # query heads per KV head, padded to a power of two
    HEAD_DIM: tl.constexpr, HEAD_DIM_P: tl.constexpr,
    COMPUTE_FP32: tl.constexpr, DOT_PRECISION: tl.constexpr,
):
    """One program: BLOCK_Q new tokens of one sequence x the QPK query heads of one KV head (BLOCK_M rows)."""
    q_block_global = tl.program_id(0)
    kv_head = tl.program_id(1)
    seq = _find_seq_idx(query_start_loc_ptr, q_block_global, num_seqs, BLOCK_Q)
    q_start = tl.load(query_start_loc_ptr + seq)
    q_block_local = q_block_global - (q_start // BLOCK_Q + seq)
    q_len = tl.load(query_start_loc_ptr + seq + 1) - q_start
    if q_block_local * BLOCK_Q >= q_len:  # the grid is an upper bound on q-blocks
        return
    seq_len = tl.load(seq_lens_ptr + seq)
    context_len = seq_len - q_len

    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM_P)
    d_mask = offs_d < HEAD_DIM
    q_pos = q_block_local * BLOCK_Q + offs_m // QPK_P  # position among the sequence's new tokens
    head = kv_head * num_queries_per_kv + offs_m % QPK_P
    row_mask = (q_pos < q_len) & (offs_m % QPK_P < num_queries_per_kv)
    q_rows = (q_start + q_pos).to(tl.int64) * stride_qt + head * stride_qh
    q = tl.load(q_ptr + q_rows[:, None] + offs_d[None, :] * stride_qd,
                mask=row_mask[:, None] & d_mask[None, :], other=0.0)
    if COMPUTE_FP32:
        q = q.to(tl.float32)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM_P], dtype=tl.float32)
    # Keys this q-block can see: up to the causal limit of its last real token. Keys below `full_end`
    # (whole tiles) are visible to every row: no mask there.
    key_end = tl.minimum(seq_len, context_len + tl.minimum((q_block_local + 1) * BLOCK_Q, q_len))
    full_end = (context_len + q_block_local * BLOCK_Q + 1) // BLOCK_N * BLOCK_N
    causal_limit = context_len + q_pos  # last key each row may attend to
    block_table_row_ptr = block_tables_ptr + seq.to(tl.int64) * stride_bt
    for start_n in range(0, full_end, BLOCK_N):
        acc, m_i, l_i = attend_tile(
            q, acc, m_i, l_i, start_n, key_end, causal_limit, k_cache_ptr, v_cache_ptr, block_table_row_ptr,
            kv_head, offs_d, d_mask, stride_kb, stride_ks, stride_kh, stride_kd,
            stride_vb, stride_vs, stride_vh, stride_vd, scale_log2,
            BLOCK_SIZE, BLOCK_N, MASK_NONE, COMPUTE_FP32, DOT_PRECISION)
    for start_n in range(full_end, key_end, BLOCK_N):
        acc, m_i, l_i = attend_tile(
            q, acc, m_i, l_i, start_n, key_end, causal_limit, k_cache_ptr, v_cache_ptr, block_table_row_ptr,
            kv_head, offs_d, d_mask, stride_kb, stride_ks, stride_kh, stride_kd,
            stride_vb, stride_vs, stride_vh, stride_vd, scale_log2,
            BLOCK_SIZE, BLOCK_N, MASK_CAUSAL, COMPUTE_FP32, DOT_PRECISION)

    acc = acc / l_i[:, None]
    o_rows = (q_start + q_pos).to(tl.int64) * stride_ot + head * stride_oh
    tl.store(out_ptr + o_rows[:, None] + offs_d[None, :] * stride_od, acc.to(out_ptr.dtype.element_ty),
             mask=row_mask[:, None] & d_mask[None, :])


def launch_varlen(q, k_cache, v_cache, query_start_loc, seq_lens, block_tables, scale, block_m,
                  kernel=None, **tiles) -> torch.Tensor:
    """Check the inputs and launch the unified kernel with `block_m`-row q-tiles; `kernel` (default the
    plain one) may be an autotuned wrapper of it, then `tiles` holds nothing it tunes."""
    check_cache(q, k_cache, v_cache, block_tables)
    check_varlen(query_start_loc, seq_lens, block_tables)
    out = torch.empty_like(q)
    num_tokens, num_heads, head_dim = q.shape
    num_seqs = seq_lens.shape[0]
    if num_tokens == 0 or num_seqs == 0:
        return out
    num_kv_heads, block_size = k_cache.shape[2], k_cache.shape[1]
    qpk = num_heads // num_kv_heads
    qpk_p = next_pow2(qpk)
    block_m = max(block_m, qpk_p)
    block_q = block_m // qpk_p
    scale = head_dim**-0.5 if scale is None else scale
    grid = (num_tokens // block_q + num_seqs, num_kv_heads)  # upper bound on q-blocks, no host sync
    (kernel or _unified_attention_kernel)[grid](
        q, k_cache, v_cache, out, query_start_loc, seq_lens, block_tables,
        scale * LOG2E, num_seqs, qpk,
        *q.stride(), *out.stride(), *k_cache.stride(), *v_cache.stride(), block_tables.stride(0),
        BLOCK_SIZE=block_size, BLOCK_Q=block_q, BLOCK_M=block_m,
        QPK_P=qpk_p, HEAD_DIM=head_dim, HEAD_DIM_P=next_pow2(head_dim),
        COMPUTE_FP32=interpreting(), DOT_PRECISION=dot_precision(q.dtype), **tiles,
    )
    return out


def unified_attention(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, query_start_loc: torch.Tensor,
    seq_lens: torch.Tensor, block_tables: torch.Tensor, scale: float | None = None,
    max_query_len: int | None = None,
) -> torch.Tensor:
    """Causal attention of a mixed batch (prefill chunks and decode tokens) in ONE launch.

    Returns a new tensor shaped like q. `max_query_len` (optional, the longest chunk in the batch, known
    to the scheduler) picks the q-tile: 16 rows when every sequence decodes, else 64. Without it, 64.
    """
    block_m = 16 if max_query_len is not None and max_query_len <= 1 else 64
    return launch_varlen(q, k_cache, v_cache, query_start_loc, seq_lens, block_tables, scale, block_m,
                         BLOCK_N=64, num_warps=4, num_stages=2)
