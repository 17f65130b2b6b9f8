"""Step glue kernels (RMSNorm+residual, neox rotary, SiLU-and-mul, KV-cache write) against their torch refs."""

import pytest
import torch

from phasecal.kernels.step_ops import (
    rms_norm,
    rms_norm_ref,
    rotary_embedding,
    rotary_embedding_ref,
    silu_and_mul,
    silu_and_mul_ref,
    write_kv_cache,
    write_kv_cache_ref,
)

CPU_DTYPES = [torch.float32, torch.float16]
TOL = {torch.float32: dict(atol=1e-5, rtol=1e-5), torch.float16: dict(atol=2e-3, rtol=2e-3),
       torch.bfloat16: dict(atol=2e-2, rtol=2e-2)}


def _rand(*shape, dtype, device, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(device, dtype)


def _close(a, b, dtype):
    assert a.shape == b.shape and a.dtype == b.dtype
    torch.testing.assert_close(a.float(), b.float(), **TOL[dtype])


def _check_rms_norm(tokens, hidden, dtype, device):
    x, res = _rand(tokens, hidden, dtype=dtype, device=device, seed=1), _rand(tokens, hidden, dtype=dtype,
                                                                                device=device, seed=2)
    w = _rand(hidden, dtype=dtype, device=device, seed=3)
    x_before, res_before = x.clone(), res.clone()
    out, new_res = rms_norm(x, w, 1e-6, res)
    ref_out, ref_res = rms_norm_ref(x, w, 1e-6, res)
    _close(out, ref_out, dtype)
    _close(new_res, ref_res, dtype)
    assert torch.equal(x, x_before) and torch.equal(res, res_before), "inputs must not be modified"
    out, same = rms_norm(x, w, 1e-6)
    _close(out, rms_norm_ref(x, w, 1e-6)[0], dtype)
    assert same is x


@pytest.mark.parametrize("dtype", CPU_DTYPES)
@pytest.mark.parametrize("tokens,hidden", [(1, 64), (7, 300), (33, 1024), (0, 128)])
def test_rms_norm(tokens, hidden, dtype, device):
    _check_rms_norm(tokens, hidden, dtype, device)


def test_rms_norm_per_head_qk_norm(device):
    x = _rand(5, 4, 64, dtype=torch.float32, device=device, seed=4)
    w = _rand(64, dtype=torch.float32, device=device, seed=5)
    _close(rms_norm(x, w, 1e-6)[0], rms_norm_ref(x, w, 1e-6)[0], torch.float32)


def _check_rotary(tokens, heads, kv_heads, head_dim, dtype, device, max_pos=40960):
    qkv = _rand(tokens, (heads + 2 * kv_heads) * head_dim, dtype=dtype, device=device, seed=6)
    q, k = qkv[:, : heads * head_dim], qkv[:, heads * head_dim : (heads + kv_heads) * head_dim]  # strided views
    pos = torch.randint(0, max_pos, (tokens,), generator=torch.Generator().manual_seed(7)).to(device)
    q_out, k_out = rotary_embedding(pos, q, k, head_dim, 1e6)
    q_ref, k_ref = rotary_embedding_ref(pos, q, k, head_dim, 1e6)
    _close(q_out, q_ref, dtype)
    _close(k_out, k_ref, dtype)


@pytest.mark.parametrize("dtype", CPU_DTYPES)
@pytest.mark.parametrize(
    "tokens,heads,kv_heads,head_dim", [(1, 4, 4, 64), (19, 8, 2, 128), (5, 6, 1, 40), (0, 2, 1, 64)]
)
def test_rotary_embedding(tokens, heads, kv_heads, head_dim, dtype, device):
    _check_rotary(tokens, heads, kv_heads, head_dim, dtype, device)


def test_rotary_3d_input_keeps_shape(device):
    q = _rand(3, 4, 64, dtype=torch.float32, device=device, seed=8)
    k = _rand(3, 2, 64, dtype=torch.float32, device=device, seed=9)
    pos = torch.tensor([0, 1, 4095], device=device)
    q_out, k_out = rotary_embedding(pos, q, k, 64, 10000.0)
    q_ref, k_ref = rotary_embedding_ref(pos, q, k, 64, 10000.0)
    _close(q_out, q_ref, torch.float32)
    _close(k_out, k_ref, torch.float32)
    torch.testing.assert_close(q_out[0], q[0])  # position 0 is the identity


@pytest.mark.parametrize("dtype", CPU_DTYPES)
@pytest.mark.parametrize("tokens,inter", [(1, 64), (9, 300), (4, 3072), (0, 32)])
def test_silu_and_mul(tokens, inter, dtype, device):
    x = _rand(tokens, 2 * inter, dtype=dtype, device=device, seed=10)
    _close(silu_and_mul(x), silu_and_mul_ref(x), dtype)


def _check_kv_write(tokens, kv_heads, head_dim, block_size, dtype, device):
    gen = torch.Generator().manual_seed(11)
    num_blocks = 2 + tokens // block_size + 1
    k_cache = torch.randn(num_blocks, block_size, kv_heads, head_dim, generator=gen).to(device, dtype)
    v_cache = torch.randn(num_blocks, block_size, kv_heads, head_dim, generator=gen).to(device, dtype)
    kv = torch.randn(2, tokens, kv_heads, head_dim, generator=gen).to(device, dtype)
    slots = torch.randperm(num_blocks * block_size, generator=gen)[:tokens]
    if tokens > 2:
        slots[tokens // 2] = -1  # a padding token: skipped
    slots = slots.to(device)
    k_ref, v_ref = k_cache.clone(), v_cache.clone()
    write_kv_cache(kv[0], kv[1], k_cache, v_cache, slots)
    write_kv_cache_ref(kv[0], kv[1], k_ref, v_ref, slots)
    assert torch.equal(k_cache, k_ref) and torch.equal(v_cache, v_ref)


@pytest.mark.parametrize("dtype", CPU_DTYPES)
@pytest.mark.parametrize("tokens,kv_heads,head_dim,block_size", [(1, 1, 64, 16), (37, 2, 128, 16), (10, 3, 40, 5),
                                                                 (0, 2, 64, 16)])
def test_write_kv_cache(tokens, kv_heads, head_dim, block_size, dtype, device):
    _check_kv_write(tokens, kv_heads, head_dim, block_size, dtype, device)


def test_bad_inputs_raise_clear_errors(device):
    x = torch.randn(3, 64, device=device)
    with pytest.raises(ValueError, match="weight must be"):
        rms_norm(x, torch.randn(32, device=device), 1e-6)
    with pytest.raises(ValueError, match="2 \\* intermediate"):
        silu_and_mul(torch.randn(3, 63, device=device))
    with pytest.raises(ValueError, match="must share tokens"):
        rotary_embedding(torch.arange(2, device=device), x, x, 64, 1e4)


@pytest.mark.gpu
def test_gpu_bf16_step_ops():
    dtype = torch.bfloat16
    for tokens, hidden in [(1, 4096), (333, 4096), (2048, 5120)]:
        _check_rms_norm(tokens, hidden, dtype, "cuda")
    for tokens in (1, 257, 4096):
        _check_rotary(tokens, 32, 8, 128, dtype, "cuda")
        x = _rand(tokens, 2 * 12288, dtype=dtype, device="cuda", seed=12)
        _close(silu_and_mul(x), silu_and_mul_ref(x), dtype)
        _check_kv_write(tokens, 8, 128, 16, dtype, "cuda")
