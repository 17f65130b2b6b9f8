"""Admission before allocation for simulated and executed runs: refuse, in one line with the numbers,
a KV cache or workload that does not fit in memory, before the engine allocates it."""

from __future__ import annotations

from ..fitting.profile import Profile
from ..memory import admit, available_bytes, cpu_available_bytes
from .state import EngineConfig
from .workloads import Workload

SIM_BYTES_PER_BLOCK = 40  # one free-list entry of scheduler/kv.py (40 B measured with tracemalloc)
SIM_BYTES_PER_REQUEST = 1024  # a Request (about 250 B measured), its metrics and its CSV row


def admit_simulation(config: EngineConfig, workload: Workload) -> None:
    """The simulator's KV block table and requests must fit in available RAM."""
    need = {"KV block table": config.num_blocks * SIM_BYTES_PER_BLOCK,
            "requests": len(workload) * SIM_BYTES_PER_REQUEST}
    admit(need, cpu_available_bytes(), f"simulating {workload.name} with {config.kv_capacity_tokens:,} KV tokens",
          "lower --kv-tokens (or the profile's derived.kv_capacity_tokens) or the workload's :n=")


def admit_execution(profile: Profile, config: EngineConfig, device: str | None) -> None:
    """An executed run's model weights and KV cache must fit in the device's free memory."""
    from ..kernels.catalog import shape_from_record

    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    shape = shape_from_record(profile.model)  # the shape the profile was measured with
    nbytes = 2 if device.startswith("cuda") else 4  # bf16 on a GPU, fp32 on the CPU
    need = {"weights": shape.num_params() * nbytes,
            "KV cache": config.kv_capacity_tokens * shape.kv_bytes_per_token(nbytes)}
    admit(need, available_bytes(device), f"executing {shape.name} on {device}",
          "lower --kv-tokens or simulate without --execute")
