"""The tensor-parallel model (kernels/tp_model.py): its sharded step, on 2 gloo ranks on the CPU, gives the
unsharded step's logits within fp32 tolerance, on a mixed batch of fresh random weights and cache."""

from __future__ import annotations

import datetime as dt

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from phasecal.kernels.catalog import get_model_shape
from phasecal.kernels.model import SyntheticModel, probe_chunks
from phasecal.kernels.tp_model import TimedAllReduce, local_shape, shard_model

WORLD = 2


def _rank(rank: int, init_file: str, seed: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD,
                            timeout=dt.timedelta(seconds=60))
    try:
        full = SyntheticModel(get_model_shape("tiny"), num_blocks=64, block_size=16, seed=seed)
        chunks = probe_chunks([(40, 24), (7, 0)], [100, 33, 250], 16, 64)
        reduce = TimedAllReduce()
        part = shard_model(full, rank, WORLD, reduce)
        sharded = part.logits(part.prepare(chunks))
        whole = full.logits(full.prepare(chunks))
        assert part.layers[0]["qkv_proj"].shape[0] * WORLD == full.layers[0]["qkv_proj"].shape[0]
        assert reduce.seconds > 0  # the two all-reduces per layer ran
        torch.testing.assert_close(sharded, whole, rtol=1e-4, atol=1e-4)
        assert whole.abs().max() > 0.1  # logits of real size: not a comparison of zeros
    finally:
        dist.destroy_process_group()


def test_sharded_step_equals_unsharded(tmp_path):
    mp.spawn(_rank, args=(str(tmp_path / "init"), 7), nprocs=WORLD, join=True)


def test_shape_that_does_not_split_is_refused():
    with pytest.raises(ValueError, match="num_kv_heads = 2 does not split over 4"):
        local_shape(get_model_shape("tiny"), 4)
