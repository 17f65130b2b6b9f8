"""benchmarks/bench_kernels.py on the CPU: each bandwidth kernel's torch ceiling does the kernel's work,
and the benchmark times with the probes' Timer."""

import importlib.util
import time
from pathlib import Path

import pytest
import torch

from phasecal.kernels import bandwidth
from phasecal.probes.timing import Timer

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_kernels.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_kernels", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_bandwidth_kernel_is_judged_by_a_torch_op_doing_its_work(bench):
    """read against a reduction and write against a fill, not against a copy."""
    gen = torch.Generator().manual_seed(4)
    a, b, c = (torch.randn(5000, generator=gen) for _ in range(3))
    out = torch.empty_like(a)
    expected = {"copy": bandwidth.stream_copy_ref(a), "scale": bandwidth.stream_scale_ref(c, 0.4),
                "add": bandwidth.stream_add_ref(a, b), "triad": bandwidth.stream_triad_ref(b, c, 0.4),
                "read": bandwidth.stream_read_ref(a), "write": bandwidth.stream_write_ref(a, 1.5)}
    ops = bench.torch_stream_ops(a, b, c, out, scalar=0.4)
    assert set(ops) == set(bandwidth.STREAM_OPS)
    for op, fn in ops.items():
        out.fill_(float("nan"))
        result = fn()
        torch.testing.assert_close(result if op == "read" else out, expected[op], rtol=1e-5, atol=1e-4)


def test_bench_ms_is_the_timers_median(bench):
    ms = bench.bench_ms(lambda: time.sleep(0.002), timer=Timer("cpu", flush_bytes=1 << 20))
    assert 1.9 < ms < 20
