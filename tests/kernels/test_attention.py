"""Paged attention kernels against `paged_attention_ref` on fresh random batches.

CPU (interpreter): fp32 and fp16, small head counts; GPU: the same in bf16 plus serving-sized shapes.
"""

import pytest
import torch
from paged_batch import make_paged_batch

from phasecal.kernels.attention import decode_attention, paged_attention_ref, prefill_attention, unified_attention

TOL = {torch.float32: dict(atol=1e-4, rtol=1e-4), torch.float16: dict(atol=3e-3, rtol=1e-2),
       torch.bfloat16: dict(atol=2e-2, rtol=2e-2)}
# (cached, new) per sequence: odd lengths, chunks crossing page boundaries, decode tokens, a sequence with
# nothing new this step, a chunk starting exactly on a page boundary.
MIXED = [(0, 37), (20, 5), (33, 1), (0, 1), (100, 1), (15, 17), (7, 0), (32, 9)]
DECODE_CONTEXTS = [1, 16, 17, 200, 33, 64]


def _check(out, ref, dtype):
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert torch.isfinite(out.float()).all()
    torch.testing.assert_close(out.float(), ref.float(), **TOL[dtype])


def _decode_batch(contexts, heads, kv_heads, head_dim, block_size, dtype, device, seed=0):
    return make_paged_batch([(c - 1, 1) for c in contexts], heads, kv_heads, head_dim, block_size, dtype, device, seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("gqa", [1, 4, 8])
@pytest.mark.parametrize("fn", [unified_attention, prefill_attention])
def test_varlen_attention_matches_reference(fn, gqa, dtype, device):
    batch = make_paged_batch(MIXED, 2 * gqa, 2, 32, 16, dtype, device, seed=gqa)
    _check(fn(*batch.varlen_args()), paged_attention_ref(*batch.varlen_args()), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_unified_odd_page_size_and_head_dim(dtype, device):
    batch = make_paged_batch([(3, 11), (0, 2), (12, 1)], 6, 3, 40, 5, dtype, device, seed=7)
    _check(unified_attention(*batch.varlen_args(), scale=0.3), paged_attention_ref(*batch.varlen_args(), scale=0.3),
           dtype)


def test_unified_decode_tile_hint(device):
    batch = _decode_batch(DECODE_CONTEXTS, 8, 2, 32, 16, torch.float32, device)
    out = unified_attention(*batch.varlen_args(), max_query_len=1)
    _check(out, paged_attention_ref(*batch.varlen_args()), torch.float32)


@pytest.mark.parametrize("gqa", [1, 4, 8])
@pytest.mark.parametrize(  # None is 1 split on CPU for this batch: the path that writes the output directly
    "num_splits,dtype", [(None, torch.float32), (3, torch.float32), (3, torch.float16)]
)
def test_decode_matches_reference(num_splits, dtype, gqa, device):
    batch = _decode_batch(DECODE_CONTEXTS, 2 * gqa, 2, 32, 16, dtype, device, seed=gqa)
    out = decode_attention(batch.q, batch.k_cache, batch.v_cache, batch.seq_lens, batch.block_tables,
                           num_splits=num_splits)
    _check(out, paged_attention_ref(*batch.varlen_args()), dtype)


def test_long_context_decode_and_chunk(device):
    """Context 4k, tiny heads so the interpreter stays fast: many splits, and a chunk on a long prefix."""
    batch = _decode_batch([4096, 1], 1, 1, 16, 16, torch.float32, device, seed=3)
    ref = paged_attention_ref(*batch.varlen_args())
    for splits in (None, 16):
        out = decode_attention(batch.q, batch.k_cache, batch.v_cache, batch.seq_lens, batch.block_tables,
                               num_splits=splits, max_seq_len=4096)
        _check(out, ref, torch.float32)
    batch = make_paged_batch([(4000, 96)], 1, 1, 16, 16, torch.float32, device, seed=4)
    _check(unified_attention(*batch.varlen_args()), paged_attention_ref(*batch.varlen_args()), torch.float32)


@pytest.mark.parametrize("chunks", [[], [(0, 1)], [(9, 0)]], ids=["no-seqs", "single-token", "no-new-tokens"])
def test_empty_and_single_token_batches(chunks, device):
    batch = make_paged_batch(chunks, 4, 2, 32, 16, torch.float32, device)
    for fn in (unified_attention, prefill_attention):
        _check(fn(*batch.varlen_args()), paged_attention_ref(*batch.varlen_args()), torch.float32)
    if all(n == 1 for _, n in chunks):
        out = decode_attention(batch.q, batch.k_cache, batch.v_cache, batch.seq_lens, batch.block_tables)
        _check(out, paged_attention_ref(*batch.varlen_args()), torch.float32)


def test_bad_inputs_raise_clear_errors(device):
    batch = make_paged_batch([(3, 4)], 4, 2, 32, 16, torch.float32, device)
    with pytest.raises(ValueError, match="query_start_loc must be int32"):
        unified_attention(batch.q, batch.k_cache, batch.v_cache, batch.query_start_loc.long(), batch.seq_lens,
                          batch.block_tables)
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        unified_attention(batch.q[:, :3], batch.k_cache, batch.v_cache, *batch.varlen_args()[3:])
    with pytest.raises(ValueError, match="max_seq_len"):
        decode_attention(batch.q[:1], batch.k_cache, batch.v_cache, batch.seq_lens, batch.block_tables,
                         max_seq_len=10**6)
    with pytest.raises(ValueError, match="one query per sequence"):
        decode_attention(batch.q, batch.k_cache, batch.v_cache, batch.seq_lens, batch.block_tables)


@pytest.mark.gpu
@pytest.mark.parametrize("gqa", [1, 4, 8])
def test_gpu_bf16_mixed_and_decode(gqa):
    chunks = MIXED + [(2000, 300), (0, 1000), (4095, 1)] + [(c - 1, 1) for c in (1, 2048, 4096, 129)]
    batch = make_paged_batch(chunks, 4 * gqa, 4, 128, 16, torch.bfloat16, "cuda", seed=gqa)
    ref = paged_attention_ref(*batch.varlen_args())
    for fn in (unified_attention, prefill_attention):
        _check(fn(*batch.varlen_args()), ref, torch.bfloat16)
    dec = _decode_batch([1, 17, 2048, 4096, 16384, 333] * 8, 4 * gqa, 4, 128, 16, torch.bfloat16, "cuda", seed=gqa)
    ref = paged_attention_ref(*dec.varlen_args())
    for splits in (None, 1, 7):
        out = decode_attention(dec.q, dec.k_cache, dec.v_cache, dec.seq_lens, dec.block_tables, num_splits=splits)
        _check(out, ref, torch.bfloat16)


@pytest.mark.gpu
def test_gpu_bf16_block_size_and_head_dim_64():
    batch = make_paged_batch(MIXED * 4, 16, 8, 64, 32, torch.bfloat16, "cuda", seed=11)
    _check(unified_attention(*batch.varlen_args()), paged_attention_ref(*batch.varlen_args()), torch.bfloat16)
