"""Empty kernels, to time launch overhead: one through Triton's launcher, one as a CuPy RawKernel.

Nothing runs on the device but the launch itself, so the time from enqueue to completion is the
cost of launching (host enqueue, driver, and the device's minimal kernel time). The probes add a
torch op and CUDA Graph replay beside these.
"""

from __future__ import annotations

from functools import cache

import torch
import triton
import triton.language as tl

from ._common import cupy_on_torch_stream, require


@triton.jit
def _empty_kernel():
    pass


def launch_empty_triton(programs: int = 1) -> None:
    """Launch the empty Triton kernel over `programs` programs (through Triton's Python launcher)."""
    require(programs >= 1, f"programs must be >= 1, got {programs}")
    _empty_kernel[(programs,)]()


@triton.jit
def _count_kernel(counter_ptr):
    """One program adds 1 to counter[0]: a launch whose running shows in memory."""
    tl.store(counter_ptr, tl.load(counter_ptr) + 1.0)


def launch_count_triton(counter: torch.Tensor) -> None:
    """Add 1 to the fp32 `counter[0]` through Triton's launcher, the path the empty kernel takes: a
    CUDA Graph of n such launches must leave n in the counter (the launch probe's holds-work check)."""
    require(counter.dtype == torch.float32 and counter.numel() >= 1, "counter must be an fp32 tensor")
    _count_kernel[(1,)](counter)


CUDA_SOURCE = 'extern "C" __global__ void empty_kernel() {}'


@cache
def empty_cupy_kernel():
    """The compiled empty RawKernel, for probes that launch it in their own stream context (no wrapper cost)."""
    import cupy

    return cupy.RawKernel(CUDA_SOURCE, "empty_kernel")


def launch_empty_cupy(blocks: int = 1, threads: int = 1, device: torch.device | str = "cuda") -> None:
    """Launch the empty CuPy RawKernel (`blocks` x `threads`) on torch's current stream of `device`."""
    device = torch.device(device)
    require(device.type == "cuda" and torch.cuda.is_available(),
            "CuPy RawKernels need a CUDA GPU; none is visible to torch here (use launch_empty_triton on CPU)")
    with cupy_on_torch_stream(device):
        empty_cupy_kernel()((blocks,), (threads,), ())
