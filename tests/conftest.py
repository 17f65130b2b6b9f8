"""Shared test setup.

Without a GPU, Triton kernels run in the interpreter on CPU tensors; TRITON_INTERPRET must be set
before any @triton.jit runs, so it is set here, first. With a GPU they compile for the device.
"""

import os

import torch

HAS_CUDA = torch.cuda.is_available()
if not HAS_CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

pytest_plugins = ["time_limit"]  # every test has a time limit: a hang fails instead of stalling CI


@pytest.fixture
def device() -> str:
    """The device kernels are tested on: the GPU when there is one, else the CPU (interpreter)."""
    return "cuda" if HAS_CUDA else "cpu"


def pytest_collection_modifyitems(config, items):
    """Skip tests marked `gpu` when no CUDA device is present, saying why."""
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is visible to torch on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test: on a shared 2-core machine two threads spin against other
    processes and a tiny model's step takes 6x longer (measured: 0.12 s vs 0.02 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
