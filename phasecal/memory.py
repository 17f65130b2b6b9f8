"""Admission before allocation: refuse work that will not fit in memory, in one line with the numbers,
instead of growing until the kernel's OOM killer ends the process without a word.

Torch-free for the CPU (MemAvailable from /proc/meminfo, else the free pages sysconf reports); a CUDA
device's free memory comes from torch.cuda.mem_get_info, imported only when one is asked about.
"""

from __future__ import annotations

import os


def gib(n: float) -> str:
    """Bytes as GiB for messages."""
    return f"{n / 2**30:.1f} GiB"


def cpu_available_bytes(meminfo: str = "/proc/meminfo") -> int | None:
    """Memory the kernel says a new allocation can get without swapping (MemAvailable); None if unknown."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def available_bytes(device) -> int | None:
    """Free memory on `device` (a torch.device or 'cpu' / 'cuda[:N]'); None if it cannot be told."""
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return cpu_available_bytes()


def admit(need: dict[str, float], available: int | None, what: str, advice: str) -> None:
    """ValueError in one line if the parts of `need` (bytes by name) add up to more than `available`."""
    total = sum(need.values())
    if available is None or total <= available:
        return
    parts = ", ".join(f"{name} {gib(v)}" for name, v in need.items() if v)
    raise ValueError(f"{what} needs about {gib(total)} ({parts}) but only {gib(available)} is available; {advice}")
