"""Bandwidth (BabelStream) kernels: Triton under the interpreter or on the GPU; CuPy only on a GPU.

The CuPy CUDA source is also compiled to PTX on the CPU when NVRTC is installed, checking that it
builds and that its loads and stores are 16-byte vectors.
"""

import pytest
import torch

from phasecal.kernels import bandwidth, bandwidth_cupy
from phasecal.kernels.launch import launch_empty_cupy, launch_empty_triton

HAS_CUDA = torch.cuda.is_available()
needs_cupy_gpu = pytest.mark.skipif(
    not HAS_CUDA, reason="CuPy RawKernels need a CUDA GPU to launch; torch sees none here"
)
TOL = {torch.float32: dict(atol=1e-6, rtol=1e-6), torch.float16: dict(atol=1e-3, rtol=1e-3),
       torch.bfloat16: dict(atol=1e-2, rtol=1e-2)}
SIZES = [1, 7, 1000, 4097, 3 * 4096 + 5]


def _arrays(n, dtype, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, generator=gen).to(device, dtype) for _ in range(3)]


def _check_module(mod, n, dtype, device):
    a, b, c = _arrays(n, dtype, device)
    close = lambda x, y: torch.testing.assert_close(x.float(), y.float(), **TOL[dtype])
    assert torch.equal(mod.stream_copy(a), bandwidth.stream_copy_ref(a))
    close(mod.stream_scale(c, 0.4), bandwidth.stream_scale_ref(c, 0.4))
    close(mod.stream_add(a, b), bandwidth.stream_add_ref(a, b))
    close(mod.stream_triad(b, c, 0.4), bandwidth.stream_triad_ref(b, c, 0.4))
    torch.testing.assert_close(mod.stream_read(a), bandwidth.stream_read_ref(a), atol=1e-3, rtol=1e-4)
    out = torch.empty_like(a)
    assert mod.stream_write(out, 1.5) is out
    assert torch.equal(out, bandwidth.stream_write_ref(a, 1.5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("n", SIZES)
def test_triton_stream_kernels(n, dtype, device):
    _check_module(bandwidth, n, dtype, device)


def test_triton_stream_small_block_and_given_out(device):
    a, b, _ = _arrays(1001, torch.float32, device, seed=1)
    out = torch.empty_like(a)
    assert bandwidth.stream_add(a, b, out=out, block=128) is out
    torch.testing.assert_close(out, a + b)
    assert bandwidth.stream_copy(a[:0]).numel() == 0


def test_byte_counts_follow_babelstream():
    counts = {name: op.bytes_moved(1000, 2) for name, op in bandwidth.STREAM_OPS.items()}
    assert counts == {"copy": 4000, "scale": 4000, "add": 6000, "triad": 6000, "read": 2000, "write": 2000}


def test_bad_inputs_raise_clear_errors(device):
    a = torch.randn(10, device=device)
    with pytest.raises(ValueError, match="alike"):
        bandwidth.stream_add(a, torch.randn(11, device=device))
    with pytest.raises(ValueError, match="CUDA"):
        launch_empty_cupy(device="cpu")


def test_triton_count_kernel_adds_one_per_launch(device):
    from phasecal.kernels.launch import launch_count_triton

    counter = torch.full((1,), 5.0, device=device)
    for _ in range(3):
        launch_count_triton(counter)
    assert counter.item() == 8.0


def test_triton_empty_kernel_launches_and_refuses_an_empty_grid(device):
    assert launch_empty_triton() is None and launch_empty_triton(programs=4) is None
    with pytest.raises(ValueError, match="programs must be >= 1"):
        launch_empty_triton(programs=0)


def test_cupy_source_compiles_to_vector_ptx():
    try:
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # NVRTC's shared library is not installed on every CPU machine
        pytest.skip(f"NVRTC not loadable here ({type(exc).__name__}); the CuPy source is compiled on the GPU tests")
    prog = nvrtc.createProgram(bandwidth_cupy.CUDA_SOURCE, "stream.cu", [], [])
    for name in bandwidth_cupy.KERNEL_NAMES:
        nvrtc.addNameExpression(prog, name)
    nvrtc.compileProgram(prog, ["-std=c++17", "-arch=compute_90"])
    ptx = nvrtc.getPTX(prog).decode()
    assert "ld.global.nc.v4" in ptx or "ld.global.v4" in ptx
    assert "st.global.v4" in ptx


@needs_cupy_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("n", SIZES + [(1 << 24) + 3])
def test_cupy_stream_kernels(n, dtype):
    _check_module(bandwidth_cupy, n, dtype, "cuda")


@needs_cupy_gpu
@pytest.mark.gpu
def test_cupy_on_side_stream_and_few_blocks():
    a, b, c = _arrays(100_003, torch.bfloat16, "cuda", seed=2)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        out = bandwidth_cupy.stream_triad(b, c, 2.0, blocks=3)
        launch_empty_cupy()
    stream.synchronize()
    torch.testing.assert_close(out.float(), bandwidth.stream_triad_ref(b, c, 2.0).float(), **TOL[torch.bfloat16])


def test_cupy_default_grid_is_one_wave_at_the_kernels_occupancy(monkeypatch):
    """The default grid is SMs x what the driver's occupancy calculator says one SM holds of the
    compiled kernel (6 here), not a fixed 2048 threads per SM."""
    import contextlib
    import sys
    import types

    asked = []

    def occupancy(function, threads, shared_bytes):
        asked.append((function, threads, shared_bytes))
        return 6

    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(
        Device=lambda index: contextlib.nullcontext(),
        driver=types.SimpleNamespace(occupancyMaxActiveBlocksPerMultiprocessor=occupancy)))
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(bandwidth_cupy, "_kernel", lambda op, dtype: types.SimpleNamespace(
        kernel=types.SimpleNamespace(ptr=1234)))
    monkeypatch.setattr(bandwidth_cupy, "parallel_units", lambda device: 132)
    bandwidth_cupy.blocks_per_sm.cache_clear()
    try:
        assert bandwidth_cupy.default_blocks("triad", torch.bfloat16, torch.device("cuda", 0)) == 6 * 132
    finally:
        bandwidth_cupy.blocks_per_sm.cache_clear()
    assert asked == [(1234, 256, 0)]


@needs_cupy_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("op", ["copy", "triad", "read"])
def test_cupy_occupancy_fits_the_kernels_registers(op):
    per_sm = bandwidth_cupy.blocks_per_sm(op, torch.bfloat16, torch.cuda.current_device())
    regs = bandwidth_cupy._kernel(op, torch.bfloat16).attributes["num_regs"]
    assert 1 <= per_sm <= min(2048 // bandwidth_cupy.THREADS, 65536 // (regs * bandwidth_cupy.THREADS))


@pytest.mark.gpu
@pytest.mark.parametrize("n", [1, 4097, (1 << 24) + 3])
def test_triton_stream_kernels_bf16_gpu(n):
    _check_module(bandwidth, n, torch.bfloat16, "cuda")
