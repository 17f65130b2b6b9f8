"""Every Triton kernel variant a run of the synthetic model meets is compiled by its warm-up.

Run as a script in a process WITHOUT TRITON_INTERPRET. Launches are intercepted (nothing runs) and
keyed as Triton's own JIT keys its kernel cache on an sm_90 target: the specialization of every
argument (an integer equal to 1 or divisible by 16, pointer alignment, constexpr values) plus the
launch options. `SyntheticModel.warmup()` runs first; then steps of every kind and size an engine
meets. A key seen only after the warm-up is a compile (1-3 s on a GPU) inside a measured step.
Prints the keys of each phase; exits non-zero if the later steps met a variant the warm-up did not.
"""

from __future__ import annotations

import sys

import torch
from triton.backends.compiler import GPUTarget
from triton.compiler import make_backend
from triton.runtime.autotuner import Autotuner
from triton.runtime.jit import JITFunction

try:  # Triton's own argument binder; its name is internal, so a Triton without it says so (exit 3)
    from triton.runtime.jit import create_function_from_signature
except ImportError:
    print("this Triton has no triton.runtime.jit.create_function_from_signature to key launches with")
    sys.exit(3)

_BACKEND = make_backend(GPUTarget("cuda", 90, 32))
_binders: dict = {}
seen: set = set()


def _key(fn: JITFunction, args: tuple, kwargs: dict) -> tuple:
    if fn not in _binders:
        _binders[fn] = create_function_from_signature(fn.signature, fn.params, _BACKEND)
    _, specialization, options = _binders[fn](*args, **kwargs)
    return fn.__name__, str(specialization), str(sorted(options.items()))


def _record(self, *args, grid, warmup, **kwargs):
    seen.add(_key(self, args, kwargs))


def _record_autotuned(self, *args, **kwargs):
    kwargs.pop("grid", None)
    tuned = dict(self.configs[0].all_kwargs())  # the tuned values are the configuration's, not the call's
    seen.add(_key(self.fn, args, {**kwargs, **tuned}))


def steps(block_size: int) -> list[list]:
    """Steps of every kind an engine runs: decode batches of 1-40 at contexts 1-700, prefills of 1-37
    tokens on 0-300 cached, and mixed batches; pages numbered so that no two sequences share one."""
    from phasecal.kernels.model import probe_chunks

    out = []
    for batch in (1, 2, 3, 7, 16, 33, 40):
        for ctx in (1, 15, 16, 17, 100, 255, 256, 257, 700):
            out.append(probe_chunks([], [ctx] * batch, block_size, 10_000))
    for q in (1, 2, 16, 17, 37):
        for cached in (0, 1, 16, 300):
            out.append(probe_chunks([(q, cached)], [], block_size, 10_000))
            out.append(probe_chunks([(q, cached), (3, 5)], [20, 700, 1], block_size, 10_000))
    return out


def main() -> int:
    from phasecal.kernels.catalog import get_model_shape
    from phasecal.kernels.model import SyntheticModel

    JITFunction.run = _record
    Autotuner.run = _record_autotuned
    model = SyntheticModel(get_model_shape("tiny"), num_blocks=4096, block_size=16, backend="triton")
    model.warmup()
    warmed = set(seen)
    for chunks in steps(model.block_size):
        model.forward(chunks)
    late = seen - warmed
    print(f"warm-up compiled {len(warmed)} variants; the steps met {len(seen)}; {len(late)} only after warm-up")
    for name, spec, options in sorted(late):
        print(f"NOT WARMED {name} {spec} {options}")
    return 1 if late else 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
