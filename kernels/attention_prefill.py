"""Causal varlen prefill over a paged KV cache: the unified kernel (attention_unified.py) with 128-row
q-tiles, its key tile and pipelining autotuned on a GPU.

A prefill program is compute-bound: deeper pipelining (more K/V tiles in flight) and 128-key tiles
pay when shared memory holds them; `fits_shared_memory` drops the configurations whose K/V stages do not fit
an sm_90 SM. Under the interpreter one fixed configuration runs (it cannot time configurations).
Order as the Triton tutorials: configurations, thin wrapper; reference in attention_ref.py.
"""

from __future__ import annotations

from functools import cache

import torch
import triton

from ._common import interpreting
from .attention_unified import _unified_attention_kernel, launch_varlen
from .paged_tiles import fits_shared_memory

BLOCK_M = 128
# (BLOCK_N, num_warps, num_stages): the last fixed configuration first, then longer tiles and deeper pipelines.
PREFILL_TILES = [(64, 8, 3), (64, 8, 4), (64, 4, 3), (128, 8, 2), (128, 8, 3), (128, 8, 4)]
INTERPRETER_TILE = {"BLOCK_N": 64, "num_warps": 8, "num_stages": 3}


@cache
def _autotuned_kernel():
    """Built on first GPU use: the autotuner wants the GPU driver, which a CPU machine lacks."""
    configs = [triton.Config({"BLOCK_N": n}, num_warps=w, num_stages=s) for n, w, s in PREFILL_TILES]
    return triton.autotune(configs=configs, key=["HEAD_DIM_P", "QPK_P", "BLOCK_SIZE"],
                           prune_configs_by={"early_config_prune": fits_shared_memory})(_unified_attention_kernel)


def prefill_attention(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, query_start_loc: torch.Tensor,
    seq_lens: torch.Tensor, block_tables: torch.Tensor, scale: float | None = None,
) -> torch.Tensor:
    """Causal varlen prefill, chunked on top of a cached prefix; returns a new tensor shaped like q."""
    args = (q, k_cache, v_cache, query_start_loc, seq_lens, block_tables, scale, BLOCK_M)
    if interpreting():
        return launch_varlen(*args, **INTERPRETER_TILE)
    return launch_varlen(*args, kernel=_autotuned_kernel())
