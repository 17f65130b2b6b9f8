"""Attention and the KV write at Qwen3-8B's shapes in bf16 on a paged KV cache above 2**31 elements.

A page whose id is at least 2**31 / (block_size * kv_heads * head_dim) starts past int32's range, so a
kernel that computes cache offsets in 32 bits reads or writes the wrong page there. The batch's pages
are spread on both sides of that line. The device check runs the GPU test first (its `correctness`
stage); the CPU test runs the same relocation with the line moved down to a small cache, so the
test's own indexing is checked on every machine.
"""

import pytest
import torch
from paged_batch import PagedBatch, make_paged_batch

from phasecal.kernels.attention import decode_attention, paged_attention_ref, prefill_attention, unified_attention
from phasecal.kernels.catalog import get_model_shape
from phasecal.kernels.step_ops import write_kv_cache

BLOCK_SIZE = 16
MIXED = [(0, 300), (1000, 37), (2047, 1), (4095, 1), (500, 0), (16, 16), (7000, 129)]
DECODE = [1, 17, 2048, 4096, 8192, 333, 16384, 100]
TOL = {torch.float32: dict(atol=1e-4, rtol=1e-4), torch.bfloat16: dict(atol=2e-2, rtol=2e-2)}


def relocate(batch: PagedBatch, first_high: int) -> PagedBatch:
    """The same batch in a cache of first_high + n pages: even page ids stay, odd ones move past first_high."""
    n = batch.k_cache.shape[0]
    ids = torch.arange(n, device=batch.k_cache.device)
    new_ids = torch.where(ids % 2 == 0, ids, ids + first_high)
    shape = (first_high + n, *batch.k_cache.shape[1:])
    k_cache = torch.full(shape, float("nan"), dtype=batch.k_cache.dtype, device=batch.k_cache.device)
    v_cache = torch.full_like(k_cache, float("nan"))
    k_cache[new_ids] = batch.k_cache
    v_cache[new_ids] = batch.v_cache
    tables = new_ids[batch.block_tables.long()].to(torch.int32)
    return PagedBatch(batch.q, k_cache, v_cache, batch.query_start_loc, batch.seq_lens, tables)


def _close(out, ref):
    assert torch.isfinite(out.float()).all()
    torch.testing.assert_close(out.float(), ref.float(), **TOL[ref.dtype])


def check_attention(heads, kv_heads, head_dim, dtype, device, first_high, mixed, decode):
    small = make_paged_batch(mixed, heads, kv_heads, head_dim, BLOCK_SIZE, dtype, device, seed=3)
    big = relocate(small, first_high)
    assert int(big.block_tables.max()) >= first_high, "no page was placed past the line"
    ref = paged_attention_ref(*small.varlen_args())
    for fn in (unified_attention, prefill_attention):
        _close(fn(*big.varlen_args()), ref)
    small = make_paged_batch([(c - 1, 1) for c in decode], heads, kv_heads, head_dim, BLOCK_SIZE, dtype, device,
                             seed=4)
    big = relocate(small, first_high)
    ref = paged_attention_ref(*small.varlen_args())
    for splits in (None, 1, 7):
        _close(decode_attention(big.q, big.k_cache, big.v_cache, big.seq_lens, big.block_tables, num_splits=splits),
               ref)
    return big


def check_kv_write(big: PagedBatch, first_high: int) -> None:
    """Write fresh K/V into slots on both sides of the line; exactly those slots change."""
    _, block_size, kv_heads, head_dim = big.k_cache.shape
    pages = torch.tensor([0, 2, first_high + 1, big.k_cache.shape[0] - 1], device=big.k_cache.device)
    slots = (pages[:, None] * block_size + torch.tensor([0, 5, block_size - 1], device=pages.device)).flatten()
    k, v = (torch.randn(len(slots), kv_heads, head_dim, device=pages.device).to(big.k_cache.dtype) for _ in range(2))
    before = big.k_cache[pages].clone()
    write_kv_cache(k, v, big.k_cache, big.v_cache, slots)
    assert torch.equal(big.k_cache[slots // block_size, slots % block_size], k)
    assert torch.equal(big.v_cache[slots // block_size, slots % block_size], v)
    untouched = torch.ones(block_size, dtype=torch.bool)
    untouched[[0, 5, block_size - 1]] = False
    torch.testing.assert_close(big.k_cache[pages][:, untouched], before[:, untouched], equal_nan=True, rtol=0, atol=0)


def test_relocated_cache_past_a_small_line(device):
    big = check_attention(4, 2, 32, torch.float32, device, first_high=64, mixed=[(0, 37), (20, 5), (33, 1), (7, 0)],
                          decode=[1, 17, 200, 33])
    check_kv_write(big, first_high=64)


@pytest.mark.gpu
def test_gpu_qwen3_8b_bf16_cache_past_int32():
    shape = get_model_shape("Qwen3-8B")
    first_high = -(-(2**31) // (BLOCK_SIZE * shape.num_kv_heads * shape.head_dim))
    big = check_attention(shape.num_heads, shape.num_kv_heads, shape.head_dim, torch.bfloat16, "cuda", first_high,
                          MIXED, DECODE)
    assert big.k_cache.numel() > 2**31
    check_kv_write(big, first_high)
