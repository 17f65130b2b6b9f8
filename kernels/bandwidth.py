"""Memory-bandwidth kernels in Triton, as BabelStream: copy, scale, add, triad, read-only (a sum) and
write-only (a fill), with the bytes each moves and their torch references.

BabelStream's arrays are a, b, c with c = a (copy), b = s*c (scale), c = a + b (add), a = b + s*c
(triad). Here every kernel writes a separate `out` so inputs survive (probes reuse buffers across
samples); the bytes moved are the same. Order as the Triton tutorials: kernel, thin wrappers, table of
bytes, torch references; checks in tests/kernels, timings in benchmarks/bench_kernels.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from ._common import require

DEFAULT_BLOCK = 4096  # elements per program: 8 KiB of bf16, 16 B per thread per access at 8 warps


@triton.jit
def _stream_kernel(x_ptr, y_ptr, out_ptr, scalar, n, OP: tl.constexpr, BLOCK: tl.constexpr):
    """One program per BLOCK elements. OP: 0 copy, 1 scale, 2 add, 3 triad, 4 read (partial sum), 5 write."""
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    if OP == 5:
        tl.store(out_ptr + offs, (tl.zeros([BLOCK], tl.float32) + scalar).to(out_ptr.dtype.element_ty), mask=mask)
    elif OP == 4:
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        tl.store(out_ptr + pid, tl.sum(x, 0))
    elif OP == 0:
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask), mask=mask)
    else:
        x = tl.load(x_ptr + offs, mask=mask).to(tl.float32)
        if OP == 1:
            out = scalar * x
        else:
            y = tl.load(y_ptr + offs, mask=mask).to(tl.float32)
            if OP == 2:
                out = x + y
            else:
                out = x + scalar * y
        tl.store(out_ptr + offs, out.to(out_ptr.dtype.element_ty), mask=mask)


_OP_CODES = {"copy": 0, "scale": 1, "add": 2, "triad": 3, "read": 4, "write": 5}


def _launch(op: str, x, y, out, scalar: float, n: int, block: int) -> None:
    if n > 0:
        _stream_kernel[(triton.cdiv(n, block),)](
            x, y, out, scalar, n, OP=_OP_CODES[op], BLOCK=block, num_warps=8 if block >= 2048 else 4
        )


def _prepare_out(like: torch.Tensor, out: torch.Tensor | None, *inputs: torch.Tensor) -> torch.Tensor:
    for t in inputs:
        require(t.is_contiguous() and t.shape == like.shape and t.dtype == like.dtype,
                f"stream inputs must be contiguous and alike: {tuple(like.shape)} {like.dtype}, got "
                f"{tuple(t.shape)} {t.dtype}")
    if out is None:
        return torch.empty_like(like)
    require(out.is_contiguous() and out.shape == like.shape and out.dtype == like.dtype,
            f"out must be a contiguous {tuple(like.shape)} {like.dtype} tensor")
    return out


def stream_copy(a: torch.Tensor, out: torch.Tensor | None = None, block: int = DEFAULT_BLOCK) -> torch.Tensor:
    """out = a."""
    out = _prepare_out(a, out, a)
    _launch("copy", a, a, out, 0.0, a.numel(), block)
    return out


def stream_scale(c: torch.Tensor, scalar: float, out: torch.Tensor | None = None,
                 block: int = DEFAULT_BLOCK) -> torch.Tensor:
    """out = scalar * c."""
    out = _prepare_out(c, out, c)
    _launch("scale", c, c, out, scalar, c.numel(), block)
    return out


def stream_add(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None,
               block: int = DEFAULT_BLOCK) -> torch.Tensor:
    """out = a + b."""
    out = _prepare_out(a, out, a, b)
    _launch("add", a, b, out, 0.0, a.numel(), block)
    return out


def stream_triad(b: torch.Tensor, c: torch.Tensor, scalar: float, out: torch.Tensor | None = None,
                 block: int = DEFAULT_BLOCK) -> torch.Tensor:
    """out = b + scalar * c."""
    out = _prepare_out(b, out, b, c)
    _launch("triad", b, c, out, scalar, b.numel(), block)
    return out


def stream_read(a: torch.Tensor, partials: torch.Tensor | None = None, block: int = DEFAULT_BLOCK) -> torch.Tensor:
    """Read-only: the fp32 sum of a, as one partial sum per program (then a tiny torch sum of those)."""
    _prepare_out(a, None, a)
    num_programs = triton.cdiv(a.numel(), block)
    if partials is None:
        partials = torch.empty(num_programs, device=a.device, dtype=torch.float32)
    require(partials.dtype == torch.float32 and partials.numel() >= num_programs,
            f"partials must be fp32 with at least {num_programs} elements")
    _launch("read", a, a, partials, 0.0, a.numel(), block)
    return partials[:num_programs].sum()


def stream_write(out: torch.Tensor, value: float, block: int = DEFAULT_BLOCK) -> torch.Tensor:
    """Write-only: fill out with value."""
    _prepare_out(out, out)
    _launch("write", out, out, out, value, out.numel(), block)
    return out


@dataclass(frozen=True)
class StreamOp:
    """A bandwidth kernel's traffic, as BabelStream counts it: arrays read and written per element."""

    name: str
    arrays_read: int
    arrays_written: int

    def bytes_moved(self, n: int, element_size: int) -> int:
        return (self.arrays_read + self.arrays_written) * n * element_size


STREAM_OPS = {
    op.name: op
    for op in (StreamOp("copy", 1, 1), StreamOp("scale", 1, 1), StreamOp("add", 2, 1), StreamOp("triad", 2, 1),
               StreamOp("read", 1, 0), StreamOp("write", 0, 1))
}


def stream_copy_ref(a):
    return a.clone()


def stream_scale_ref(c, scalar):
    return (scalar * c.float()).to(c.dtype)


def stream_add_ref(a, b):
    return (a.float() + b.float()).to(a.dtype)


def stream_triad_ref(b, c, scalar):
    return (b.float() + scalar * c.float()).to(b.dtype)


def stream_read_ref(a):
    return a.float().sum()


def stream_write_ref(out, value):
    return torch.full_like(out, value)
