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
