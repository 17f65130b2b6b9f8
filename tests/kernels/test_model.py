"""The synthetic model's step is self-consistent: chunked prefill and decode reproduce a one-shot prefill."""

import pytest
import torch

from phasecal.kernels.catalog import get_model_shape
from phasecal.kernels.model import SeqChunk, SyntheticModel, probe_chunks


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SyntheticModel(get_model_shape("tiny"), num_blocks=64, block_size=16, seed=1)


def _logits(model, chunks):
    return model.logits(model.prepare(chunks))


@pytest.mark.parametrize("split", [1, 16, 23, 39])
def test_chunked_prefill_matches_one_shot(model, split):
    table = list(range(3))  # 48 slots for a 41-token sequence: crosses two page boundaries
    full = _logits(model, [SeqChunk(0, 41, table)])
    _logits(model, [SeqChunk(0, split, table)])
    chunked = _logits(model, [SeqChunk(split, 41 - split, table)])
    torch.testing.assert_close(chunked, full, rtol=1e-4, atol=1e-4)


def test_batched_decode_matches_single_sequences(model):
    lens = [5, 17, 33]
    tables = [[10 + 3 * i, 11 + 3 * i, 12 + 3 * i] for i in range(3)]
    singles = []
    for n, t in zip(lens, tables, strict=True):
        singles.append(_logits(model, [SeqChunk(0, n + 1, t)]))
    # mixed batch: one prefill chunk plus decodes over the caches written above
    batch = [SeqChunk(0, 9, [40])] + [SeqChunk(n, 1, t) for n, t in zip(lens, tables, strict=True)]
    out = _logits(model, batch)
    torch.testing.assert_close(out[1:], torch.cat(singles), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out[:1], _logits(model, [SeqChunk(0, 9, [41])]), rtol=1e-4, atol=1e-4)


def test_forward_returns_a_token_per_sequence_and_empty_batch(model):
    chunks = probe_chunks([(7, 0), (3, 20)], [30, 1], block_size=16, num_blocks=64)
    out = model.forward(chunks)
    assert out.shape == (4,) and out.dtype == torch.long and int(out.max()) < model.shape.vocab_size
    assert model.forward([]).numel() == 0


def test_probe_chunks_refuses_a_batch_larger_than_the_cache():
    with pytest.raises(ValueError, match="KV pages"):
        probe_chunks([], [1000] * 10, block_size=16, num_blocks=64)


def test_scattered_pages_give_the_same_tokens_on_other_pages(model):
    """A layout changes where the KV sits, never the step's result: the same batch, on contiguous pages and
    on pages scattered over the cache, computes the same tokens and caches."""
    prefill, decode = [(7, 0), (3, 20)], [30, 17, 45]
    flat = probe_chunks(prefill, decode, block_size=16, num_blocks=64)
    spread = probe_chunks(prefill, decode, block_size=16, num_blocks=64, scatter_seed=0)
    pages = [b for c in spread for b in c.block_table]
    assert len(pages) == len(set(pages)) and all(0 <= b < 64 for b in pages)
    assert [len(c.block_table) for c in spread] == [len(c.block_table) for c in flat]
    assert pages != sorted(pages)  # not one contiguous run
    for kc, vc in zip(model.k_cache, model.v_cache, strict=True):  # fresh random KV under the flat layout
        kc.normal_(), vc.normal_()
    out_flat = _logits(model, flat)
    src = [b for c in flat for b in c.block_table]
    for kc, vc in zip(model.k_cache, model.v_cache, strict=True):  # the same KV, moved to the scattered pages
        kc[pages], vc[pages] = kc[src].clone(), vc[src].clone()
    torch.testing.assert_close(_logits(model, spread), out_flat, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("prefill,decode", [
    ([(9, 0), (5, 18)], []),  # prefill chunks, one on a cached prefix: the unified kernel
    ([], [33, 7, 16, 300]),  # pure decode: the split-KV decode kernel (the 300-key context splits)
    ([(9, 0), (5, 18)], [33, 7, 16]),  # mixed: the unified kernel
], ids=["prefill", "decode", "mixed"])
def test_triton_backend_matches_torch_backend(prefill, decode, one_torch_thread):
    """Every Triton kernel of a step (norms, rotary, KV write, attention, SiLU-mul; interpreted on the
    CPU) gives the torch backend's logits and KV cache, to fp32 tolerance."""
    shape = get_model_shape("tiny")
    chunks = probe_chunks(prefill, decode, block_size=16, num_blocks=48)
    out = {}
    for backend in ("torch", "triton"):
        m = SyntheticModel(shape, num_blocks=48, block_size=16, seed=3, backend=backend)
        out[backend] = (m.logits(m.prepare(chunks)), m.k_cache[-1], m.v_cache[-1])
    for got, want in zip(out["triton"], out["torch"], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)


def test_pure_decode_steps_use_the_split_kv_kernel(monkeypatch):
    from phasecal.kernels import model as model_mod

    calls = []
    monkeypatch.setattr(model_mod, "decode_attention", lambda *a, **k: calls.append("decode") or a[0].clone())
    monkeypatch.setattr(model_mod, "unified_attention", lambda *a, **k: calls.append("unified") or a[0].clone())
    m = SyntheticModel(get_model_shape("tiny"), num_blocks=16, block_size=16, backend="triton")
    for chunks, kernel in (([], "decode"), ([(3, 0)], "unified")):
        calls.clear()
        m.forward(probe_chunks(chunks, [20, 5] if kernel == "decode" else [20], 16, 16))
        assert set(calls) == {kernel}


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        SyntheticModel(get_model_shape("tiny"), backend="cuda")
