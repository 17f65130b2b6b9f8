"""Small helpers the kernel wrappers share: interpreter detection, power-of-two sizes, SM count."""

from __future__ import annotations

import os
from functools import cache

import torch


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1).

    Read at call time, not import time, so a test's conftest can set the variable first. Under the
    interpreter bf16 arithmetic and tl.dot are wrong, so kernels then load and compute in fp32, and
    wrappers skip autotuning (it needs a GPU to time configurations).
    """
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def next_pow2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1); Triton block shapes must be powers of two."""
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


@cache
def sm_count(device_index: int) -> int:
    """Streaming multiprocessors of CUDA device `device_index` (cached: the query is not free)."""
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def parallel_units(device: torch.device) -> int:
    """How many programs run at once, roughly: the SM count on a GPU, a small fixed number elsewhere."""
    if device.type == "cuda":
        return sm_count(device.index if device.index is not None else torch.cuda.current_device())
    return 4


def dot_precision(dtype: torch.dtype) -> str:
    """tl.dot input precision: exact fp32 ('ieee') for fp32 inputs, else the native tensor-core path."""
    return "ieee" if dtype == torch.float32 else "tf32"


def require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless `condition` holds: the wrappers' single input-check idiom."""
    if not condition:
        raise ValueError(message)


@cache
def _cupy_external_stream(ptr: int, device_index: int):
    import cupy

    return cupy.cuda.ExternalStream(ptr, device_index)


def cupy_on_torch_stream(device: torch.device):
    """A context that makes CuPy launch on torch's current stream (so torch CUDA events time them).

    torch's default stream is the legacy NULL stream, which is CuPy's default too: then nothing to switch.
    """
    import contextlib

    import cupy

    index = device.index if device.index is not None else torch.cuda.current_device()
    ptr = torch.cuda.current_stream(index).cuda_stream
    if ptr == 0:
        return cupy.cuda.Device(index)
    stack = contextlib.ExitStack()
    stack.enter_context(cupy.cuda.Device(index))
    stack.enter_context(_cupy_external_stream(ptr, index))
    return stack


def keep_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Make glibc malloc keep freed blocks below `limit_bytes` in the process instead of returning
    them to the OS (as jemalloc/tcmalloc do). torch's CPU tensors are plain mallocs: otherwise every
    eager step maps fresh pages and pays thousands of page faults (measured: tiny, 8 decodes at 512,
    2048 faults and 23 ms per step; 0 faults and 14 ms after this). False where it does not apply."""
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(libc.mallopt(m_mmap_threshold, limit_bytes)) and bool(libc.mallopt(m_trim_threshold, limit_bytes))
