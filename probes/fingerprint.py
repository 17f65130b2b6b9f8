"""Device fingerprint: what a run measured on, recorded in every raw file's header."""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from pathlib import Path

from phasecal.probes.nvml import NvmlSource
from phasecal.probes.peaks import datasheet_peaks

# A cache size for a device whose fingerprint has none: more than the L2 of any GPU phasecal knows (H100,
# H200: 50 MiB) and than most CPUs' L3, so a flush of twice it still evicts.
UNKNOWN_CACHE_BYTES = 64 * 1024**2


def cache_bytes(fingerprint: dict, is_cuda: bool) -> int:
    """The cache a working set must exceed to miss: L2 on a GPU, the last-level cache on a CPU."""
    llc = fingerprint.get("l2_bytes") if is_cuda else fingerprint.get("l3_bytes") or fingerprint.get("l2_bytes")
    return llc or UNKNOWN_CACHE_BYTES


def slugify(text: str) -> str:
    """Lower-case, runs of non-alphanumerics to one '-': 'NVIDIA H200' -> 'nvidia-h200'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def _version(dist: str) -> str | None:
    """Installed version of a distribution, without importing it (cupy imports slowly, needs no GPU)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cupy_version() -> str | None:
    for dist in ("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy"):
        if (v := _version(dist)) is not None:
            return f"{dist} {v}"
    return None


def cpu_model_name() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpu_cache_bytes() -> dict[str, int]:
    """Cache sizes by level from sysfs (cpu0's view; Linux only)."""
    out: dict[str, int] = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind == "Instruction":
            continue
        mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(size[-1], 1)
        out[f"l{level}_bytes"] = int(size.rstrip("KMG")) * mult
    return out


def _mem_total_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def software_versions() -> dict:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "triton": _version("triton"),
            "cupy": _cupy_version(), "numpy": _version("numpy"), "nvidia-ml-py": _version("nvidia-ml-py"),
            "phasecal": _version("phasecal")}


def device_fingerprint(device, nvml: NvmlSource | None = None) -> dict:
    """Name, slug, sizes and versions of the device a run measures (a JSON-ready dict).

    GPU: SMs, L2, memory, compute capability, CUDA runtime, driver, power limit and max clocks
    (NVML, when available) and the datasheet peaks; CPU: model, cores, threads in use, caches, memory.
    """
    import torch

    device = torch.device(device)
    fp: dict = {"kind": device.type, "host": platform.node(), "os": platform.platform(),
                "host_cpu": cpu_model_name(), "versions": software_versions()}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        p = torch.cuda.get_device_properties(index)
        fp.update(name=p.name, slug=slugify(p.name), index=index, sm_count=p.multi_processor_count,
                  l2_bytes=getattr(p, "L2_cache_size", None), memory_bytes=p.total_memory,
                  compute_capability=f"{p.major}.{p.minor}", cuda_runtime=torch.version.cuda,
                  cudnn=torch.backends.cudnn.version())
        if nvml is not None and nvml.available:
            fp["nvml"] = nvml.static_info()
            fp["driver"] = fp["nvml"].get("driver")
        else:
            fp["nvml"] = f"unavailable: {nvml.reason if nvml is not None else 'not opened'}"
        fp["datasheet"] = datasheet_peaks(p.name)
    elif device.type == "cpu":
        name = cpu_model_name()
        fp.update(name=name, slug="cpu-" + slugify(name), cores=os.cpu_count(), threads=torch.get_num_threads(),
                  memory_bytes=_mem_total_bytes(), **_cpu_cache_bytes())
    else:
        raise ValueError(f"device {device} is not supported: use 'cpu' or 'cuda[:N]'")
    return fp
