"""The synthetic model sharded Megatron-style over tensor-parallel ranks.

Column-parallel QKV and gate/up (each rank holds its heads' rows of QKV, its slice of the MLP's
gate and up rows), row-parallel o_proj and down (the matching input columns), the KV cache split by
KV heads; embedding, norms and LM head replicated. Each rank's partial o_proj and down outputs are
summed with one all-reduce each, two per layer, as Megatron-LM and vLLM do. The step itself is
`SyntheticModel.logits` on the rank's local shape, with its `reduce` hook set to the all-reduce.
"""

from __future__ import annotations

import copy
import dataclasses
import time

import torch

from .catalog import ModelShape
from .model import SyntheticModel


def check_divisible(shape: ModelShape, world: int) -> None:
    """ValueError unless heads, KV heads and the MLP width split evenly over `world` ranks."""
    for name in ("num_heads", "num_kv_heads", "intermediate_size"):
        if getattr(shape, name) % world:
            raise ValueError(f"{shape.name}: {name} = {getattr(shape, name)} does not split over {world} "
                             f"tensor-parallel ranks; choose a --tp that divides it")


def local_shape(shape: ModelShape, world: int) -> ModelShape:
    """The shape one rank computes: its heads, KV heads and MLP slice (hidden size and vocab whole)."""
    check_divisible(shape, world)
    return dataclasses.replace(shape, num_heads=shape.num_heads // world, num_kv_heads=shape.num_kv_heads // world,
                               intermediate_size=shape.intermediate_size // world)


def _rows(w: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    n = w.shape[0] // world
    return w[rank * n:(rank + 1) * n]


def _cols(w: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    n = w.shape[1] // world
    return w[:, rank * n:(rank + 1) * n]


def _shard_layer(lw: dict, s: ModelShape, rank: int, world: int) -> dict:
    q, k, v = lw["qkv_proj"].split([s.q_size, s.kv_size, s.kv_size])
    gate, up = lw["gate_up_proj"].chunk(2)
    out = dict(lw)  # norms are replicated
    out["qkv_proj"] = torch.cat([_rows(q, rank, world), _rows(k, rank, world), _rows(v, rank, world)])
    out["o_proj"] = _cols(lw["o_proj"], rank, world).contiguous()
    out["gate_up_proj"] = torch.cat([_rows(gate, rank, world), _rows(up, rank, world)])
    out["down_proj"] = _cols(lw["down_proj"], rank, world).contiguous()
    return out


def shard_model(full: SyntheticModel, rank: int, world: int, reduce) -> SyntheticModel:
    """Rank `rank`'s part of `full` (whose weights every rank draws alike from the same seed); `reduce`
    sums a tensor over the ranks in place and returns it (an all-reduce). `full` is left unchanged."""
    s = full.shape
    part = copy.copy(full)
    part.shape = local_shape(s, world)
    part.layers = [_shard_layer(lw, s, rank, world) for lw in full.layers]
    kv_heads = s.num_kv_heads // world
    part.k_cache = [c[:, :, rank * kv_heads:(rank + 1) * kv_heads].contiguous() for c in full.k_cache]
    part.v_cache = [c[:, :, rank * kv_heads:(rank + 1) * kv_heads].contiguous() for c in full.v_cache]
    part.reduce = reduce
    return part


class TimedAllReduce:
    """The all-reduce of a TP step (torch.distributed, sum, in place), adding the time `clock` sees it take
    to `seconds`: with gloo the call returns when the sum is done, so that is its communication time (on the
    wall clock including waiting for the slowest rank; on a thread CPU clock this rank's own work); with
    NCCL it is only the enqueue (`exact` is False)."""

    def __init__(self, clock=time.perf_counter) -> None:
        import torch.distributed as dist

        self.dist, self.seconds, self.clock = dist, 0.0, clock
        self.exact = dist.get_backend() == "gloo"

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        t0 = self.clock()
        self.dist.all_reduce(h)
        self.seconds += self.clock() - t0
        return h
