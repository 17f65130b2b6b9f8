"""GPU clocks, power, temperature and clock-event (throttle) reasons, read through NVML.

Three sources share one small interface: `PynvmlSource` (the real GPU), `FakeNvmlSource` (scripted
readings, for tests) and `NoNvml` (no NVIDIA GPU or no NVML: `available` is False and `reason`
says why, so callers skip clearly instead of failing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

# NVML clock-event reason bits (nvml.h, nvmlClocksEventReason*). The first group lowers the SM clock
# below what the workload asked for: a sample taken under one of them is flagged as throttled.
THROTTLE_REASONS = {
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
}
# Informational: idle, fixed application clocks, sync boost, display clocks. Recorded, not flagged.
OTHER_REASONS = {0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x10: "sync_boost",
                 0x100: "display_clock_setting"}
THROTTLE_MASK = sum(THROTTLE_REASONS)


def reason_names(bits: int) -> list[str]:
    """Names of the reason bits set in `bits` (unknown bits as hex)."""
    known = {**THROTTLE_REASONS, **OTHER_REASONS}
    names = [name for bit, name in sorted(known.items()) if bits & bit]
    rest = bits & ~sum(known)
    return names + ([hex(rest)] if rest else [])


@dataclass
class GpuState:
    """One NVML reading."""

    sm_clock_mhz: float
    mem_clock_mhz: float
    power_w: float
    temperature_c: float
    reasons: int


class NvmlSource:
    """Interface of a reader. `reasons()` is the cheap per-sample read; `state()` the fuller one."""

    available = True
    reason = ""

    def state(self) -> GpuState:
        raise NotImplementedError

    def reasons(self) -> int:
        raise NotImplementedError

    def static_info(self) -> dict:
        return {}

    @staticmethod
    def throttling(bits: int) -> bool:
        return bool(bits & THROTTLE_MASK)


class NoNvml(NvmlSource):
    """No NVML here; `reason` says why (kept in the records instead of clocks)."""

    available = False

    def __init__(self, reason: str):
        self.reason = reason

    def state(self) -> GpuState:
        raise RuntimeError(f"NVML unavailable: {self.reason}")

    def reasons(self) -> int:
        raise RuntimeError(f"NVML unavailable: {self.reason}")


class FakeNvmlSource(NvmlSource):
    """Scripted readings for tests: `reasons()` returns `reason_seq` in turn (the last one repeats)."""

    def __init__(self, reason_seq: Iterable[int], sm_clock_mhz: float = 1980.0, power_w: float = 500.0,
                 temperature_c: float = 50.0):
        self._seq = list(reason_seq) or [0]
        self._i = 0
        self.sm_clock_mhz, self.power_w, self.temperature_c = sm_clock_mhz, power_w, temperature_c

    def reasons(self) -> int:
        bits = self._seq[min(self._i, len(self._seq) - 1)]
        self._i += 1
        return bits

    def state(self) -> GpuState:
        bits = self._seq[min(self._i, len(self._seq) - 1)]
        return GpuState(self.sm_clock_mhz, 2619.0, self.power_w, self.temperature_c, bits)

    def static_info(self) -> dict:
        return {"driver": "fake", "power_limit_w": 700.0}


class PynvmlSource(NvmlSource):
    """The real reader (nvidia-ml-py), for the GPU that torch calls `index`."""

    def __init__(self, index: int):
        import pynvml

        self._nv = pynvml
        pynvml.nvmlInit()
        self.handle = self._handle_for(index)
        # renamed from *ThrottleReasons to *ClocksEventReasons in newer NVML; take whichever exists
        self._reasons_fn = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            pynvml.nvmlDeviceGetCurrentClocksThrottleReasons

    def _handle_for(self, index: int):
        """Match torch's device to NVML's by UUID (indices differ under CUDA_VISIBLE_DEVICES)."""
        import torch

        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        if uuid is not None:
            try:
                return self._nv.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
            except self._nv.NVMLError:
                pass
        return self._nv.nvmlDeviceGetHandleByIndex(index)

    def reasons(self) -> int:
        return int(self._reasons_fn(self.handle))

    def state(self) -> GpuState:
        nv, h = self._nv, self.handle
        return GpuState(sm_clock_mhz=float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
                        mem_clock_mhz=float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM)),
                        power_w=nv.nvmlDeviceGetPowerUsage(h) / 1e3,
                        temperature_c=float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
                        reasons=self.reasons())

    def static_info(self) -> dict:
        nv, h = self._nv, self.handle

        def get(fn, *args):
            try:
                return fn(*args)
            except nv.NVMLError:
                return None

        driver = get(nv.nvmlSystemGetDriverVersion)
        limit = get(nv.nvmlDeviceGetEnforcedPowerLimit, h)
        return {"driver": driver.decode() if isinstance(driver, bytes) else driver,
                "power_limit_w": limit / 1e3 if limit is not None else None,
                "max_sm_clock_mhz": get(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_SM),
                "max_mem_clock_mhz": get(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_MEM)}


def open_nvml(device) -> NvmlSource:
    """An NVML reader for a torch device, or NoNvml saying why there is none."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return NoNvml(f"NVML reads NVIDIA GPUs; this run is on the {device.type.upper()}")
    try:
        import pynvml  # noqa: F401
    except ImportError:
        return NoNvml("nvidia-ml-py is not installed (pip install nvidia-ml-py)")
    try:
        return PynvmlSource(device.index if device.index is not None else torch.cuda.current_device())
    except Exception as e:  # NVMLError subclasses vary by driver; any failure means: no readings
        return NoNvml(f"NVML failed to initialise: {e}")


def summarize_states(states: list[GpuState], source: NvmlSource, sample_bits: int = 0) -> dict:
    """Clocks, power and temperature at the start and end of a point, and every reason seen in
    those readings or in the per-sample reads (`sample_bits`, OR-ed)."""
    bits = sample_bits
    for s in states:
        bits |= s.reasons
    return {"start": asdict(states[0]), "end": asdict(states[-1]),
            "min_sm_clock_mhz": min(s.sm_clock_mhz for s in states),
            "max_temperature_c": max(s.temperature_c for s in states),
            "max_power_w": max(s.power_w for s in states),
            "reasons": reason_names(bits), "throttle_seen": source.throttling(bits)}
