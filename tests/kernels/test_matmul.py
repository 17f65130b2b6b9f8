"""Triton matmul against torch on fresh random inputs: odd shapes, a transposed weight view, empty M."""

import pytest
import torch

from phasecal.kernels.catalog import get_model_shape
from phasecal.kernels.matmul import matmul, matmul_ref

TOL = {torch.float32: dict(atol=1e-4, rtol=1e-4), torch.float16: dict(atol=2e-2, rtol=2e-2),
       torch.bfloat16: dict(atol=1e-1, rtol=2e-2)}


def _check(M, K, N, dtype, device, transposed_weight=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(M, K, generator=gen).to(device, dtype)
    b = torch.randn(N, K, generator=gen).to(device, dtype).t() if transposed_weight else \
        torch.randn(K, N, generator=gen).to(device, dtype)
    out = matmul(a, b)
    assert out.shape == (M, N) and out.dtype == dtype
    torch.testing.assert_close(out.float(), matmul_ref(a, b).float(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("M,K,N", [(1, 64, 96), (37, 100, 33), (64, 256, 128), (5, 31, 7)])
def test_matmul(M, K, N, dtype, device):
    _check(M, K, N, dtype, device)


def test_matmul_linear_weight_view_and_empty(device):
    _check(19, 96, 80, torch.float32, device, transposed_weight=True)
    a = torch.randn(0, 16, device=device)
    assert matmul(a, torch.randn(16, 8, device=device)).shape == (0, 8)


def test_bad_shapes_raise(device):
    with pytest.raises(ValueError, match="A \\[M, K\\] and B \\[K, N\\]"):
        matmul(torch.randn(3, 4, device=device), torch.randn(5, 6, device=device))


@pytest.mark.gpu
@pytest.mark.parametrize("M", [1, 17, 512, 4096])
def test_gpu_bf16_model_linear_shapes(M):
    for K, N in get_model_shape("Qwen3-8B").linear_shapes().values():
        if N > 20000 and M > 512:
            continue  # the LM head on many tokens is not a step's shape (logits are taken for few tokens)
        _check(M, K, N, torch.bfloat16, "cuda", transposed_weight=True, seed=M)


def _config(bm, bn, bk=64):
    import triton

    return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8})


def test_decode_sized_m_keeps_only_narrow_tiles_that_fill_an_h100():
    """M <= 16 (a decode step): only 16-row tiles, and for every Qwen3-8B layer one of them gives at
    least 132 programs (the SMs of an H100/H200); larger M never gets the 16-row tiles."""
    from phasecal.kernels.matmul import _DECODE_TILES, _TILES, prune_for_m

    configs = [_config(bm, bn, bk) for bm, bn, bk, _, _ in _TILES + _DECODE_TILES]
    for m_bucket in (1, 2, 8, 16):
        kept = prune_for_m(configs, {"M_BUCKET": m_bucket})
        assert kept and {c.kwargs["BLOCK_M"] for c in kept} == {16}
        for k, n in get_model_shape("Qwen3-8B").linear_shapes().values():
            assert max(-(-n // c.kwargs["BLOCK_N"]) for c in kept) >= 132, (k, n)
    for m_bucket in (32, 512, 8192):
        kept = prune_for_m(configs, {"M_BUCKET": m_bucket})
        assert kept and all(16 < c.kwargs["BLOCK_M"] <= m_bucket for c in kept)


@pytest.mark.parametrize("tile", [(16, 16, 256), (16, 32, 128), (16, 64, 256)])
def test_decode_tiles_compute_the_product(tile, device):
    """The narrow decode tiles run the same kernel correctly (interpreter: fp32, one config at a time)."""
    import triton

    from phasecal.kernels.matmul import _matmul_kernel

    bm, bn, bk = tile
    gen = torch.Generator().manual_seed(1)
    a, w = torch.randn(5, 300, generator=gen).to(device), torch.randn(72, 300, generator=gen).to(device)
    c = torch.empty(5, 72, device=device)
    grid = (triton.cdiv(5, bm) * triton.cdiv(72, bn),)
    _matmul_kernel[grid](a, w.t(), c, 5, 72, 300, 8, *a.stride(), *w.t().stride(), *c.stride(),
                         BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8, COMPUTE_FP32=True, DOT_PRECISION="ieee",
                         num_warps=2)
    torch.testing.assert_close(c, matmul_ref(a, w.t()), atol=1e-4, rtol=1e-4)
