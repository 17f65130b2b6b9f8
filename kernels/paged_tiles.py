"""What the three attention kernels share: the paged KV-cache layout, the tile loads, the online-softmax
step, and the wrappers' input checks.

Layout (shared with `model.py`):
- `k_cache`, `v_cache`: `[num_blocks, block_size, num_kv_heads, head_dim]`; a sequence's pages are
  listed in `block_tables[seq]` (int32 `[num_seqs, max_blocks_per_seq]`).
- A batch is flat: `q` `[total_tokens, num_heads, head_dim]`, `query_start_loc` int32
  `[num_seqs + 1]` (cumulative new tokens), `seq_lens` int32 `[num_seqs]` (cached + new tokens).
- The new tokens' K/V are already in the cache; new token i of a sequence with c cached tokens
  attends to keys 0..c+i (causal).

Arguments that change from step to step (`num_seqs`, the block table's row stride, the split length)
are `do_not_specialize` in the kernels: Triton would otherwise compile a new variant when one of them
becomes 1 or a multiple of 16, inside a measured step.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import require

LOG2E = 1.4426950408889634  # softmax runs in the log2 domain: exp2 is one instruction
SHARED_MEMORY_BYTES = 227 * 1024  # per block on sm_90 (H100/H200); smaller GPUs fail bigger configs at launch


@triton.jit
def _load_kv_tile(
    cache_ptr,  # [num_blocks, BLOCK_SIZE, num_kv_heads, head_dim]
    block_table_row_ptr,  # [max_blocks_per_seq] int32: this sequence's pages
    offs_n, key_mask,  # [BLOCK_N]: key positions in the sequence, and which exist
    kv_head, offs_d, d_mask,  # offs_d, d_mask: [HEAD_DIM_P]
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
def attend_tile(
    q,  # [ROWS, HEAD_DIM_P]: ROWS = BLOCK_M (unified) or BLOCK_H (decode) query rows
    acc,  # [ROWS, HEAD_DIM_P] fp32, unnormalised output
    m_i, l_i,  # [ROWS] fp32: running max and sum of exp2 (log2 domain)
    start_n, key_end,  # first key of the tile; keys from key_end on do not exist for this program
    causal_limit,  # [ROWS]: the last key each row may see (read with MASK_CAUSAL only)
    k_cache_ptr, v_cache_ptr,  # [num_blocks, BLOCK_SIZE, num_kv_heads, head_dim]
    block_table_row_ptr,  # [max_blocks_per_seq] int32: this sequence's pages
    kv_head, offs_d, d_mask,  # offs_d, d_mask: [HEAD_DIM_P]
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


def fits_shared_memory(configs, named_args, **kwargs):
    """Autotune prune filter: keep configurations whose staged K and V tiles plus the q-tile
    (BLOCK_M or BLOCK_H rows) fit in an sm_90 block's shared memory; at least the first."""
    elem = named_args["q_ptr"].element_size()
    rows = kwargs.get("BLOCK_M", kwargs.get("BLOCK_H", 0))

    def smem(c) -> int:
        return (2 * c.num_stages * c.kwargs["BLOCK_N"] + rows) * kwargs["HEAD_DIM_P"] * elem

    return [c for c in configs if smem(c) <= SHARED_MEMORY_BYTES] or configs[:1]


def check_cache(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_tables: torch.Tensor) -> None:
    """ValueError unless q, the caches and the block table have the layout above."""
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


def check_varlen(query_start_loc: torch.Tensor, seq_lens: torch.Tensor, block_tables: torch.Tensor) -> None:
    """ValueError unless query_start_loc, seq_lens and the block table describe the same sequences."""
    num_seqs = seq_lens.shape[0]
    require(seq_lens.dim() == 1 and seq_lens.dtype == torch.int32, "seq_lens must be a 1-D int32 tensor")
    require(query_start_loc.dtype == torch.int32 and query_start_loc.shape == (num_seqs + 1,),
            f"query_start_loc must be int32 [num_seqs + 1] = [{num_seqs + 1}], got {query_start_loc.dtype} "
            f"{tuple(query_start_loc.shape)}")
    require(block_tables.shape[0] == num_seqs,
            f"block_tables has {block_tables.shape[0]} rows but seq_lens lists {num_seqs} sequences")
