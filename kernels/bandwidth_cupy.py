"""Memory-bandwidth kernels as CuPy RawKernels (CUDA C compiled by NVRTC): the BabelStream set of
`bandwidth.py` with 16-byte vector accesses (uint4) and a grid-stride loop, on torch tensors.

`import cupy` works without a GPU, but the first launch raises; this module imports cupy lazily, so it
imports (and the CUDA source can be compiled for checking) on any machine. Kernels run on torch's
current stream, so torch CUDA events time them. bf16 and fp16 are handled as 16-bit storage with
explicit conversions (no CUDA headers needed); arithmetic is fp32. Same semantics and byte counts as
`bandwidth.py` (`STREAM_OPS`), and the same torch references.
"""

from __future__ import annotations

from functools import cache

import torch

from ._common import cupy_on_torch_stream, parallel_units, require

CUDA_SOURCE = r"""
struct bf16_t { unsigned short bits; };
struct f16_t { unsigned short bits; };

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16_t x) { return __uint_as_float(((unsigned int)x.bits) << 16); }
__device__ __forceinline__ float to_f32(f16_t x) {
    float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits)); return f;
}
template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16_t from_f32<bf16_t>(float x) {
    unsigned int u = __float_as_uint(x);
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even (finite inputs)
    bf16_t r; r.bits = (unsigned short)(u >> 16); return r;
}
template <> __device__ __forceinline__ f16_t from_f32<f16_t>(float x) {
    f16_t r; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(x)); return r;
}

// 16 bytes of T, moved as one uint4 (ld/st.global.v4).
template <typename T> union Pack { uint4 v; T e[16 / sizeof(T)]; };
template <typename T> __device__ __forceinline__ Pack<T> load16(const T* p, long long i) {
    Pack<T> r; r.v = reinterpret_cast<const uint4*>(p)[i]; return r;
}
template <typename T> __device__ __forceinline__ void store16(T* p, long long i, const Pack<T>& x) {
    reinterpret_cast<uint4*>(p)[i] = x.v;
}

#define VEC(T) (16 / (long long)sizeof(T))
#define GRID_STRIDE(i, count) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (count); \
         i += (long long)gridDim.x * blockDim.x)

template <typename T> __global__ void copy_kernel(const T* __restrict__ a, T* __restrict__ out, long long n) {
    const long long nvec = n / VEC(T), tail = nvec * VEC(T);
    GRID_STRIDE(i, nvec) store16(out, i, load16(a, i));
    GRID_STRIDE(i, n - tail) out[tail + i] = a[tail + i];
}

template <typename T>
__global__ void scale_kernel(const T* __restrict__ c, T* __restrict__ out, float s, long long n) {
    const long long nvec = n / VEC(T), tail = nvec * VEC(T);
    GRID_STRIDE(i, nvec) {
        Pack<T> x = load16(c, i);
        #pragma unroll
        for (int j = 0; j < VEC(T); ++j) x.e[j] = from_f32<T>(s * to_f32(x.e[j]));
        store16(out, i, x);
    }
    GRID_STRIDE(i, n - tail) out[tail + i] = from_f32<T>(s * to_f32(c[tail + i]));
}

// add: out = x + y (s ignored); triad: out = x + s * y.
template <typename T, bool TRIAD>
__global__ void axpy_kernel(const T* __restrict__ x, const T* __restrict__ y, T* __restrict__ out, float s,
                            long long n) {
    const long long nvec = n / VEC(T), tail = nvec * VEC(T);
    GRID_STRIDE(i, nvec) {
        Pack<T> u = load16(x, i), w = load16(y, i);
        #pragma unroll
        for (int j = 0; j < VEC(T); ++j) {
            float yy = to_f32(w.e[j]);
            u.e[j] = from_f32<T>(to_f32(u.e[j]) + (TRIAD ? s * yy : yy));
        }
        store16(out, i, u);
    }
    GRID_STRIDE(i, n - tail) {
        float yy = to_f32(y[tail + i]);
        out[tail + i] = from_f32<T>(to_f32(x[tail + i]) + (TRIAD ? s * yy : yy));
    }
}

// Read-only: each block sums its share in fp32 and adds it to *total (zeroed by the caller).
template <typename T> __global__ void read_kernel(const T* __restrict__ a, float* total, long long n) {
    const long long nvec = n / VEC(T), tail = nvec * VEC(T);
    float sum = 0.0f;
    GRID_STRIDE(i, nvec) {
        Pack<T> x = load16(a, i);
        #pragma unroll
        for (int j = 0; j < VEC(T); ++j) sum += to_f32(x.e[j]);
    }
    GRID_STRIDE(i, n - tail) sum += to_f32(a[tail + i]);
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    __shared__ float warp_sums[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) warp_sums[warp] = sum;
    __syncthreads();
    if (warp == 0) {
        sum = lane < (blockDim.x + 31) / 32 ? warp_sums[lane] : 0.0f;
        for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
        if (lane == 0) atomicAdd(total, sum);
    }
}

template <typename T> __global__ void write_kernel(T* __restrict__ out, float value, long long n) {
    const long long nvec = n / VEC(T), tail = nvec * VEC(T);
    Pack<T> x;
    #pragma unroll
    for (int j = 0; j < VEC(T); ++j) x.e[j] = from_f32<T>(value);
    GRID_STRIDE(i, nvec) store16(out, i, x);
    GRID_STRIDE(i, n - tail) out[tail + i] = x.e[0];
}
"""

_CUDA_TYPES = {torch.float32: "float", torch.bfloat16: "bf16_t", torch.float16: "f16_t"}
_TEMPLATES = {
    "copy": "copy_kernel<{t}>", "scale": "scale_kernel<{t}>", "add": "axpy_kernel<{t}, false>",
    "triad": "axpy_kernel<{t}, true>", "read": "read_kernel<{t}>", "write": "write_kernel<{t}>",
}
KERNEL_NAMES = tuple(tmpl.format(t=t) for tmpl in _TEMPLATES.values() for t in _CUDA_TYPES.values())
THREADS = 256


@cache
def _module():
    import cupy

    return cupy.RawModule(code=CUDA_SOURCE, options=("-std=c++17",), name_expressions=KERNEL_NAMES)


def _kernel(op: str, dtype: torch.dtype):
    return _module().get_function(_TEMPLATES[op].format(t=_CUDA_TYPES[dtype]))


def _as_cupy(t: torch.Tensor):
    """Zero-copy view for the kernel (16-bit floats pass as int16: the kernel only needs the address)."""
    import cupy

    return cupy.from_dlpack(t.view(torch.int16) if t.element_size() == 2 else t)


@cache
def blocks_per_sm(op: str, dtype: torch.dtype, device_index: int) -> int:
    """Blocks of THREADS that one SM holds at once for this compiled kernel (its registers and shared
    memory decide: the driver's occupancy calculator), at least 1."""
    import cupy

    with cupy.cuda.Device(device_index):
        function = _kernel(op, dtype).kernel.ptr
        return max(1, cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(function, THREADS, 0))


def default_blocks(op: str, dtype: torch.dtype, device: torch.device) -> int:
    """Blocks of the grid-stride loop: one full wave, every SM at the kernel's occupancy. A grid sized
    for more blocks per SM than fit would run a second, partial wave of the remainder."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    return parallel_units(device) * blocks_per_sm(op, dtype, index)


def _launch(op: str, tensors: list[torch.Tensor], scalars: tuple, n: int, blocks: int | None) -> None:
    """Launch kernel `op` on torch's current stream; the first tensor sets dtype and device."""
    import numpy as np

    first = tensors[0]
    require(first.is_cuda, "CuPy RawKernels need CUDA tensors on a CUDA GPU; this tensor is on "
            f"{first.device} (use the Triton kernels of bandwidth.py on CPU)")
    require(first.dtype in _CUDA_TYPES, f"dtype {first.dtype} unsupported: use one of {list(_CUDA_TYPES)}")
    for t in tensors:
        require(t.is_contiguous() and t.data_ptr() % 16 == 0, "tensors must be contiguous and 16-byte aligned")
    if n == 0:
        return
    blocks = blocks or default_blocks(op, first.dtype, first.device)
    blocks = max(1, min(blocks, -(-n // THREADS)))
    with cupy_on_torch_stream(first.device):
        args = (*[_as_cupy(t) for t in tensors], *[np.float32(s) for s in scalars], np.int64(n))
        _kernel(op, first.dtype)((blocks,), (THREADS,), args)


def _alike(like: torch.Tensor, out: torch.Tensor | None, *inputs: torch.Tensor) -> torch.Tensor:
    for t in inputs:
        require(t.shape == like.shape and t.dtype == like.dtype, "stream inputs must share shape and dtype")
    out = torch.empty_like(like) if out is None else out
    require(out.shape == like.shape and out.dtype == like.dtype, "out must match the inputs' shape and dtype")
    return out


def stream_copy(a, out=None, blocks=None):
    """out = a."""
    out = _alike(a, out, a)
    _launch("copy", [a, out], (), a.numel(), blocks)
    return out


def stream_scale(c, scalar, out=None, blocks=None):
    """out = scalar * c."""
    out = _alike(c, out, c)
    _launch("scale", [c, out], (scalar,), c.numel(), blocks)
    return out


def stream_add(a, b, out=None, blocks=None):
    """out = a + b."""
    out = _alike(a, out, a, b)
    _launch("add", [a, b, out], (0.0,), a.numel(), blocks)
    return out


def stream_triad(b, c, scalar, out=None, blocks=None):
    """out = b + scalar * c."""
    out = _alike(b, out, b, c)
    _launch("triad", [b, c, out], (scalar,), b.numel(), blocks)
    return out


def stream_read(a, total=None, blocks=None):
    """Read-only: the fp32 sum of a (a 1-element fp32 `total`, zeroed here, gets one atomic add per block)."""
    total = torch.zeros(1, device=a.device, dtype=torch.float32) if total is None else total.zero_()
    require(total.dtype == torch.float32 and total.numel() == 1, "total must be a 1-element fp32 tensor")
    _launch("read", [a, total.view(1)], (), a.numel(), blocks)
    return total.view(1)[0]


def stream_write(out, value, blocks=None):
    """Write-only: fill out with value."""
    _launch("write", [out], (value,), out.numel(), blocks)
    return out
