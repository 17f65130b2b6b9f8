"""What the step probe's grid needs in memory, checked before the synthetic model allocates anything.

The model holds its weights, a KV cache just large enough for the grid's largest composition, and
the activations of its largest step. On a CPU all of it must fit in available RAM or the run is
refused in one line with the numbers (instead of growing until the OOM killer ends it silently). On
a GPU the grid's KV part shrinks to what fits (`step.kv_block_budget`, each dropped point said in the
run's skipped list); the weights and activations must fit in free device memory.
"""

from __future__ import annotations

from phasecal.kernels.catalog import ModelShape
from phasecal.memory import admit, available_bytes

from . import step

CUDA_RESERVE_BYTES = 2 * 1024**3  # allocator, graphs, the LM head output (as step.kv_block_budget keeps)


def step_grid_memory(shape: ModelShape, dtype_bytes: int, comps: list[dict]) -> dict[str, float]:
    """Bytes of weights, KV cache and activations the synthetic model needs for the compositions `comps`."""
    max_tokens = max(sum(q for q, _ in p["prefill"]) + len(p["decode"]) for p in comps)
    max_seqs = max(len(p["prefill"]) + len(p["decode"]) for p in comps)
    blocks = max(step.blocks_needed(p) for p in comps) + 1  # as step.build_model allocates
    per_token = 2 * shape.intermediate_size + shape.q_size + 2 * shape.kv_size + 2 * shape.hidden_size
    return {
        "weights": shape.num_params() * dtype_bytes,
        "KV cache": blocks * step.BLOCK_SIZE * shape.kv_bytes_per_token(dtype_bytes),
        "activations": (4 * max_tokens * per_token + max_seqs * shape.vocab_size) * dtype_bytes,
    }


def admit_step_grid(shape: ModelShape, device, quick: bool, available: int | None = None) -> None:
    """ValueError (one line, with the numbers) if the step grid of `shape` cannot fit on `device`."""
    kind = getattr(device, "type", str(device).split(":")[0])
    dtype_bytes = 2 if kind == "cuda" else 4  # bf16 on a GPU, fp32 on the CPU (probes/suite.py)
    need = step_grid_memory(shape, dtype_bytes, step.compositions(step.step_grid(kind, quick)))
    if kind == "cuda":
        need = {"weights": need["weights"], "activations": need["activations"], "reserve": CUDA_RESERVE_BYTES}
    if available is None:
        available = available_bytes(device)
    grid = "quick grid" if quick else "grid"
    advice = ("choose a smaller --model (e.g. tiny) or run on a GPU" if kind == "cpu"
              else "choose a smaller --model or free the GPU")
    admit(need, available, f"the step probe's {grid} of {shape.name} on {kind}", advice)
