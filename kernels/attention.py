"""Attention over a paged KV cache: unified (prefill chunks + decode tokens, one launch), prefill, and
split-KV decode (flash-decoding), each with GQA, fp32 accumulation and fp16/bf16/fp32 inputs.

Layout (shared with `model.py`):
- `k_cache`, `v_cache`: `[num_blocks, block_size, num_kv_heads, head_dim]`; a sequence's pages are
  listed in `block_tables[seq]` (int32 `[num_seqs, max_blocks_per_seq]`).
- A batch is flat: `q` `[total_tokens, num_heads, head_dim]`, `query_start_loc` int32
  `[num_seqs + 1]` (cumulative new tokens), `seq_lens` int32 `[num_seqs]` (cached + new tokens).
- The new tokens' K/V are already in the cache; new token i of a sequence with c cached tokens
  attends to keys 0..c+i (causal).

Order as the Triton tutorials: kernels, thin wrappers, torch reference. Checks in tests/kernels,
timings in benchmarks/bench_kernels.py. Design follows vLLM's unified Triton attention (q-block to
sequence lookup by binary search, so no host sync) and flash-decoding (split the keys, then reduce).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import dot_precision, interpreting, next_pow2, parallel_units, require

# ----------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------


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


@triton.jit
def _load_kv_tile(
    cache_ptr, block_table_row_ptr, offs_n, key_mask, kv_head, offs_d, d_mask,
    stride_block, stride_slot, stride_head, stride_dim, BLOCK_SIZE: tl.constexpr,
):
    """Gather keys `offs_n` of one sequence (one KV head) from their pages: a [BLOCK_N, HEAD_DIM_P] tile."""
    page = tl.load(block_table_row_ptr + offs_n // BLOCK_SIZE, mask=key_mask, other=0).to(tl.int64)
    row = page * stride_block + (offs_n % BLOCK_SIZE) * stride_slot + kv_head * stride_head
    ptrs = cache_ptr + row[:, None] + offs_d[None, :] * stride_dim
    return tl.load(ptrs, mask=key_mask[:, None] & d_mask[None, :], other=0.0)


# Masking of one key tile: none (every key visible to every row), keys past the end, or keys past the end
# and causal. Tiles below the diagonal skip the masks; only the last tiles pay for them.
MASK_NONE = tl.constexpr(0)
MASK_KEYS = tl.constexpr(1)
MASK_CAUSAL = tl.constexpr(2)


@triton.jit
def _attend_tile(
    q, acc, m_i, l_i, start_n, key_end, causal_limit,
    k_cache_ptr, v_cache_ptr, block_table_row_ptr, kv_head, offs_d, d_mask,
    stride_kb, stride_ks, stride_kh, stride_kd, stride_vb, stride_vs, stride_vh, stride_vd, scale_log2,
    BLOCK_SIZE: tl.constexpr, BLOCK_N: tl.constexpr, MASK: tl.constexpr,
    COMPUTE_FP32: tl.constexpr, DOT_PRECISION: tl.constexpr,
):
    """Online-softmax update of (acc, m_i, l_i) with the keys start_n .. start_n + BLOCK_N (log2 domain)."""
    offs_n = start_n + tl.arange(0, BLOCK_N)
    key_mask = offs_n < key_end
    k = _load_kv_tile(k_cache_ptr, block_table_row_ptr, offs_n, key_mask, kv_head, offs_d, d_mask,
                      stride_kb, stride_ks, stride_kh, stride_kd, BLOCK_SIZE)
    v = _load_kv_tile(v_cache_ptr, block_table_row_ptr, offs_n, key_mask, kv_head, offs_d, d_mask,
                      stride_vb, stride_vs, stride_vh, stride_vd, BLOCK_SIZE)
    if COMPUTE_FP32:
        k = k.to(tl.float32)
        v = v.to(tl.float32)
    s = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * scale_log2
    if MASK == MASK_CAUSAL:
        s = tl.where(key_mask[None, :] & (offs_n[None, :] <= causal_limit[:, None]), s, float("-inf"))
    elif MASK == MASK_KEYS:
        s = tl.where(key_mask[None, :], s, float("-inf"))
    # Finite: the callers' first tile holds a key every row sees, so no row is all -inf after it.
    m_new = tl.maximum(m_i, tl.max(s, 1))
    alpha = tl.exp2(m_i - m_new)
    p = tl.exp2(s - m_new[:, None])
    l_i = l_i * alpha + tl.sum(p, 1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
    return acc, m_new, l_i


@triton.jit
def _unified_attention_kernel(
    q_ptr, k_cache_ptr, v_cache_ptr, out_ptr,
    query_start_loc_ptr, seq_lens_ptr, block_tables_ptr,
    scale_log2, num_seqs, num_queries_per_kv,
    stride_qt, stride_qh, stride_qd,
    stride_ot, stride_oh, stride_od,
    stride_kb, stride_ks, stride_kh, stride_kd,
    stride_vb, stride_vs, stride_vh, stride_vd,
    stride_bt,
    BLOCK_SIZE: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    QPK_P: tl.constexpr, HEAD_DIM: tl.constexpr, HEAD_DIM_P: tl.constexpr,
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
        acc, m_i, l_i = _attend_tile(
            q, acc, m_i, l_i, start_n, key_end, causal_limit, k_cache_ptr, v_cache_ptr, block_table_row_ptr,
            kv_head, offs_d, d_mask, stride_kb, stride_ks, stride_kh, stride_kd,
            stride_vb, stride_vs, stride_vh, stride_vd, scale_log2,
            BLOCK_SIZE, BLOCK_N, MASK_NONE, COMPUTE_FP32, DOT_PRECISION)
    for start_n in range(full_end, key_end, BLOCK_N):
        acc, m_i, l_i = _attend_tile(
            q, acc, m_i, l_i, start_n, key_end, causal_limit, k_cache_ptr, v_cache_ptr, block_table_row_ptr,
            kv_head, offs_d, d_mask, stride_kb, stride_ks, stride_kh, stride_kd,
            stride_vb, stride_vs, stride_vh, stride_vd, scale_log2,
            BLOCK_SIZE, BLOCK_N, MASK_CAUSAL, COMPUTE_FP32, DOT_PRECISION)

    acc = acc / l_i[:, None]
    o_rows = (q_start + q_pos).to(tl.int64) * stride_ot + head * stride_oh
    tl.store(out_ptr + o_rows[:, None] + offs_d[None, :] * stride_od, acc.to(out_ptr.dtype.element_ty),
             mask=row_mask[:, None] & d_mask[None, :])


@triton.jit
def _decode_split_kernel(
    q_ptr, k_cache_ptr, v_cache_ptr, out_ptr, part_out_ptr, part_lse_ptr,
    seq_lens_ptr, block_tables_ptr,
    scale_log2, num_queries_per_kv, split_len,
    stride_qs, stride_qh, stride_qd,
    stride_os, stride_oh, stride_od,
    stride_kb, stride_ks, stride_kh, stride_kd,
    stride_vb, stride_vs, stride_vh, stride_vd,
    stride_bt,
    NUM_HEADS: tl.constexpr, NUM_SPLITS: tl.constexpr,
    BLOCK_SIZE: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr,
    HEAD_DIM: tl.constexpr, HEAD_DIM_P: tl.constexpr,
    COMPUTE_FP32: tl.constexpr, DOT_PRECISION: tl.constexpr,
):
    """One program: one sequence's single query, all query heads of one KV head, keys of one split.

    With one split it writes the output; with several it writes the split's normalised partial
    output and its log2-sum-exp for `_decode_reduce_kernel`.
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
        acc, m_i, l_i = _attend_tile(
            q, acc, m_i, l_i, start_n, key_end, key_end, k_cache_ptr, v_cache_ptr, block_table_row_ptr,
            kv_head, offs_d, d_mask, stride_kb, stride_ks, stride_kh, stride_kd,
            stride_vb, stride_vs, stride_vh, stride_vd, scale_log2,
            BLOCK_SIZE, BLOCK_N, MASK_NONE, COMPUTE_FP32, DOT_PRECISION)
    for start_n in range(full_end, key_end, BLOCK_N):
        acc, m_i, l_i = _attend_tile(
            q, acc, m_i, l_i, start_n, key_end, key_end, k_cache_ptr, v_cache_ptr, block_table_row_ptr,
            kv_head, offs_d, d_mask, stride_kb, stride_ks, stride_kh, stride_kd,
            stride_vb, stride_vs, stride_vh, stride_vd, scale_log2,
            BLOCK_SIZE, BLOCK_N, MASK_KEYS, COMPUTE_FP32, DOT_PRECISION)

    mask = h_mask[:, None] & d_mask[None, :]
    if NUM_SPLITS == 1:
        o_ptrs = out_ptr + seq.to(tl.int64) * stride_os + head[:, None] * stride_oh + offs_d[None, :] * stride_od
        tl.store(o_ptrs, (acc / l_i[:, None]).to(out_ptr.dtype.element_ty), mask=mask)
    else:
        # An empty split (key_start >= seq_len) stores a zero output with lse -inf: weight 0 in the reduction.
        empty = l_i == 0.0
        part = acc / tl.where(empty, 1.0, l_i)[:, None]
        lse = tl.where(empty, float("-inf"), m_i + tl.log2(tl.where(empty, 1.0, l_i)))
        row = (seq * NUM_HEADS + head).to(tl.int64) * NUM_SPLITS + split
        tl.store(part_out_ptr + row[:, None] * HEAD_DIM_P + offs_d[None, :], part, mask=mask)
        tl.store(part_lse_ptr + row, lse, mask=h_mask)


@triton.jit
def _decode_reduce_kernel(
    part_out_ptr, part_lse_ptr, out_ptr,
    stride_os, stride_oh, stride_od,
    NUM_HEADS: tl.constexpr, NUM_SPLITS: tl.constexpr, NUM_SPLITS_P: tl.constexpr,
    HEAD_DIM: tl.constexpr, HEAD_DIM_P: tl.constexpr,
):
    """One program: combine the splits of one (sequence, head) by their log2-sum-exp weights."""
    seq = tl.program_id(0)
    head = tl.program_id(1)
    offs_s = tl.arange(0, NUM_SPLITS_P)
    offs_d = tl.arange(0, HEAD_DIM_P)
    s_mask = offs_s < NUM_SPLITS
    d_mask = offs_d < HEAD_DIM
    row = (seq * NUM_HEADS + head).to(tl.int64) * NUM_SPLITS + offs_s
    lse = tl.load(part_lse_ptr + row, mask=s_mask, other=float("-inf"))
    weight = tl.exp2(lse - tl.max(lse, 0))  # split 0 always holds key 0, so the max is finite
    weight = weight / tl.sum(weight, 0)
    part = tl.load(part_out_ptr + row[:, None] * HEAD_DIM_P + offs_d[None, :],
                   mask=s_mask[:, None] & d_mask[None, :], other=0.0)
    out = tl.sum(weight[:, None] * part, 0)
    tl.store(out_ptr + seq.to(tl.int64) * stride_os + head * stride_oh + offs_d * stride_od,
             out.to(out_ptr.dtype.element_ty), mask=d_mask)


# ----------------------------------------------------------------------------------------------
# Thin wrappers
# ----------------------------------------------------------------------------------------------

_LOG2E = 1.4426950408889634


def _check_cache(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_tables: torch.Tensor) -> None:
    require(q.dim() == 3, f"q must be [tokens, num_heads, head_dim], got shape {tuple(q.shape)}")
    require(k_cache.dim() == 4 and k_cache.shape == v_cache.shape,
            "k_cache and v_cache must both be [num_blocks, block_size, num_kv_heads, head_dim], got "
            f"{tuple(k_cache.shape)} and {tuple(v_cache.shape)}")
    require(q.shape[2] == k_cache.shape[3],
            f"head_dim of q ({q.shape[2]}) and of the KV cache ({k_cache.shape[3]}) differ")
    require(q.shape[1] % k_cache.shape[2] == 0,
            f"num_heads ({q.shape[1]}) must be a multiple of num_kv_heads ({k_cache.shape[2]}) for GQA")
    require(q.dtype == k_cache.dtype == v_cache.dtype,
            f"q, k_cache, v_cache must share a dtype, got {q.dtype}, {k_cache.dtype}, {v_cache.dtype}")
    require(block_tables.dim() == 2 and block_tables.dtype == torch.int32,
            f"block_tables must be int32 [num_seqs, max_blocks_per_seq], got {block_tables.dtype} "
            f"{tuple(block_tables.shape)}")


def _check_varlen(q, query_start_loc, seq_lens, block_tables) -> None:
    num_seqs = seq_lens.shape[0]
    require(seq_lens.dim() == 1 and seq_lens.dtype == torch.int32, "seq_lens must be a 1-D int32 tensor")
    require(query_start_loc.dtype == torch.int32 and query_start_loc.shape == (num_seqs + 1,),
            f"query_start_loc must be int32 [num_seqs + 1] = [{num_seqs + 1}], got {query_start_loc.dtype} "
            f"{tuple(query_start_loc.shape)}")
    require(block_tables.shape[0] == num_seqs,
            f"block_tables has {block_tables.shape[0]} rows but seq_lens lists {num_seqs} sequences")


def _launch_varlen(q, k_cache, v_cache, query_start_loc, seq_lens, block_tables, scale, block_m) -> torch.Tensor:
    _check_cache(q, k_cache, v_cache, block_tables)
    _check_varlen(q, query_start_loc, seq_lens, block_tables)
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
    _unified_attention_kernel[grid](
        q, k_cache, v_cache, out, query_start_loc, seq_lens, block_tables,
        scale * _LOG2E, num_seqs, qpk,
        *q.stride(), *out.stride(), *k_cache.stride(), *v_cache.stride(), block_tables.stride(0),
        BLOCK_SIZE=block_size, BLOCK_Q=block_q, BLOCK_M=block_m, BLOCK_N=64,
        QPK_P=qpk_p, HEAD_DIM=head_dim, HEAD_DIM_P=next_pow2(head_dim),
        COMPUTE_FP32=interpreting(), DOT_PRECISION=dot_precision(q.dtype),
        num_warps=8 if block_m >= 128 else 4, num_stages=3 if block_m >= 128 else 2,
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
    return _launch_varlen(q, k_cache, v_cache, query_start_loc, seq_lens, block_tables, scale, block_m)


def prefill_attention(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, query_start_loc: torch.Tensor,
    seq_lens: torch.Tensor, block_tables: torch.Tensor, scale: float | None = None,
) -> torch.Tensor:
    """Causal varlen prefill, chunked on top of a cached prefix; the same kernel as unified with 128-row q-tiles."""
    return _launch_varlen(q, k_cache, v_cache, query_start_loc, seq_lens, block_tables, scale, 128)


def default_num_splits(num_seqs: int, num_kv_heads: int, max_context: int, device: torch.device) -> int:
    """Splits per sequence so that about two programs per SM run, with at least 256 keys per split."""
    programs = num_seqs * num_kv_heads
    wanted = triton.cdiv(2 * parallel_units(device), max(programs, 1))
    return max(1, min(wanted, triton.cdiv(max_context, 256), 64))


def decode_attention(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, seq_lens: torch.Tensor,
    block_tables: torch.Tensor, scale: float | None = None, num_splits: int | None = None,
    max_seq_len: int | None = None,
) -> torch.Tensor:
    """One query per sequence over its paged KV (seq_lens include the query's own token), split-KV.

    q is `[num_seqs, num_heads, head_dim]`; returns a new tensor shaped like q. The keys of each
    sequence are cut into `num_splits` ranges that run as separate programs, then one reduction
    launch combines them (none when num_splits == 1). Default: `default_num_splits`. The splits cover
    `max_seq_len` keys when given (the caller knows it), else the block table's capacity
    (block_tables.shape[1] * block_size): no host sync on seq_lens either way, but a table much wider
    than the contexts leaves most splits empty.
    """
    _check_cache(q, k_cache, v_cache, block_tables)
    require(seq_lens.dim() == 1 and seq_lens.dtype == torch.int32, "seq_lens must be a 1-D int32 tensor")
    num_seqs, num_heads, head_dim = q.shape
    require(seq_lens.shape[0] == num_seqs and block_tables.shape[0] == num_seqs,
            f"decode q has {num_seqs} sequences but seq_lens has {seq_lens.shape[0]} and block_tables "
            f"{block_tables.shape[0]} rows: one query per sequence")
    out = torch.empty_like(q)
    if num_seqs == 0:
        return out
    num_kv_heads, block_size = k_cache.shape[2], k_cache.shape[1]
    max_context = block_tables.shape[1] * block_size if max_seq_len is None else max_seq_len
    require(1 <= max_context <= block_tables.shape[1] * block_size,
            f"max_seq_len ({max_seq_len}) must be in 1..{block_tables.shape[1] * block_size} (the block table's "
            "capacity) and at least every seq_lens entry")
    if num_splits is None:
        num_splits = default_num_splits(num_seqs, num_kv_heads, max_context, q.device)
    require(num_splits >= 1, f"num_splits must be >= 1, got {num_splits}")
    block_n = 64
    split_len = triton.cdiv(triton.cdiv(max_context, num_splits), block_n) * block_n
    num_splits = triton.cdiv(max_context, split_len)
    qpk = num_heads // num_kv_heads
    head_dim_p = next_pow2(head_dim)
    if num_splits > 1:
        part_out = torch.empty(num_seqs * num_heads * num_splits, head_dim_p, device=q.device, dtype=torch.float32)
        part_lse = torch.empty(num_seqs * num_heads * num_splits, device=q.device, dtype=torch.float32)
    else:
        part_out = part_lse = out  # unused
    scale = head_dim**-0.5 if scale is None else scale
    _decode_split_kernel[(num_seqs, num_kv_heads, num_splits)](
        q, k_cache, v_cache, out, part_out, part_lse, seq_lens, block_tables,
        scale * _LOG2E, qpk, split_len,
        *q.stride(), *out.stride(), *k_cache.stride(), *v_cache.stride(), block_tables.stride(0),
        NUM_HEADS=num_heads, NUM_SPLITS=num_splits, BLOCK_SIZE=block_size, BLOCK_H=max(16, next_pow2(qpk)),
        BLOCK_N=block_n, HEAD_DIM=head_dim, HEAD_DIM_P=head_dim_p,
        COMPUTE_FP32=interpreting(), DOT_PRECISION=dot_precision(q.dtype), num_warps=4, num_stages=3,
    )
    if num_splits > 1:
        _decode_reduce_kernel[(num_seqs, num_heads)](
            part_out, part_lse, out, *out.stride(),
            NUM_HEADS=num_heads, NUM_SPLITS=num_splits, NUM_SPLITS_P=next_pow2(num_splits),
            HEAD_DIM=head_dim, HEAD_DIM_P=head_dim_p,
        )
    return out


# ----------------------------------------------------------------------------------------------
# Torch reference
# ----------------------------------------------------------------------------------------------


def paged_attention_ref(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, query_start_loc: torch.Tensor,
    seq_lens: torch.Tensor, block_tables: torch.Tensor, scale: float | None = None,
) -> torch.Tensor:
    """Reference: per sequence, gather its pages, causal softmax in fp32 with GQA, output in q's dtype."""
    num_heads, head_dim = q.shape[1], q.shape[2]
    block_size, num_kv_heads = k_cache.shape[1], k_cache.shape[2]
    qpk = num_heads // num_kv_heads
    scale = head_dim**-0.5 if scale is None else scale
    out = torch.empty_like(q)
    starts, lens = query_start_loc.tolist(), seq_lens.tolist()
    for seq, seq_len in enumerate(lens):
        q_seq = q[starts[seq] : starts[seq + 1]].float()  # [q_len, H, D]
        q_len = q_seq.shape[0]
        if q_len == 0:
            continue
        pages = block_tables[seq, : triton.cdiv(seq_len, block_size)].long()
        k = k_cache[pages].reshape(-1, num_kv_heads, head_dim)[:seq_len].float()
        v = v_cache[pages].reshape(-1, num_kv_heads, head_dim)[:seq_len].float()
        k = k.repeat_interleave(qpk, dim=1)  # [seq_len, H, D]
        v = v.repeat_interleave(qpk, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q_seq, k) * scale
        context = seq_len - q_len
        visible = torch.arange(seq_len, device=q.device)[None, :] <= (
            context + torch.arange(q_len, device=q.device)[:, None]
        )
        scores = scores.masked_fill(~visible, float("-inf"))
        out[starts[seq] : starts[seq + 1]] = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v).to(q.dtype)
    return out
