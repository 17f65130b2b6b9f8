"""NVML reason decoding, the CPU fingerprint and the datasheet peaks."""

from pathlib import Path

import pytest

from phasecal.probes.fingerprint import device_fingerprint, slugify
from phasecal.probes.nvml import FakeNvmlSource, GpuState, open_nvml, reason_names, summarize_states
from phasecal.probes.peaks import datasheet_peaks, load_peaks


def test_reason_names_split_throttles_from_information():
    assert reason_names(0) == []
    assert reason_names(0x1 | 0x4) == ["gpu_idle", "sw_power_cap"]
    assert reason_names(0x40) == ["hw_thermal_slowdown"]
    assert reason_names(0x10000) == ["0x10000"]
    assert FakeNvmlSource([]).throttling(0x8) and not FakeNvmlSource([]).throttling(0x1 | 0x2)


def test_summarize_states_keeps_extremes_and_every_reason():
    states = [GpuState(1980, 2619, 300, 40, 0x1), GpuState(1500, 2619, 690, 83, 0x4)]
    s = summarize_states(states, FakeNvmlSource([]))
    assert s["min_sm_clock_mhz"] == 1500 and s["max_temperature_c"] == 83 and s["max_power_w"] == 690
    assert s["reasons"] == ["gpu_idle", "sw_power_cap"] and s["throttle_seen"] is True


def test_open_nvml_on_cpu_skips_with_a_reason():
    src = open_nvml("cpu")
    assert not src.available and "CPU" in src.reason


def test_slugify():
    assert slugify("NVIDIA H200") == "nvidia-h200"
    assert slugify("Intel(R) Xeon(R) Processor") == "intel-r-xeon-r-processor"
    assert slugify("  ") == "unknown"


def test_cpu_fingerprint_has_the_essentials():
    fp = device_fingerprint("cpu")
    assert fp["kind"] == "cpu" and fp["slug"].startswith("cpu-")
    assert fp["cores"] >= 1 and fp["threads"] >= 1
    assert fp["versions"]["torch"] and fp["versions"]["python"]


def test_unsupported_device_is_a_clear_error():
    with pytest.raises(ValueError, match="not supported"):
        device_fingerprint("meta")


@pytest.mark.parametrize("name,expected", [
    ("NVIDIA H200", "H200 SXM"), ("NVIDIA H200 NVL", "H200 NVL"), ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL"), ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB"),
    ("NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"), ("NVIDIA A100-SXM4-40GB", "A100 40GB"), ("NVIDIA L40S", "L40S"),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "RTX PRO 6000 Blackwell"), ("NVIDIA B200", "B200"),
])
def test_datasheet_peaks_match_device_names(name, expected):
    assert datasheet_peaks(name)["id"] == expected


def test_unknown_gpu_has_no_peaks():
    assert datasheet_peaks("NVIDIA GeForce GTX 1080") is None


def test_every_peak_entry_is_sourced_and_positive():
    repo = Path(__file__).resolve().parents[2]
    for entry in load_peaks():
        assert entry["source"].strip() and "http" in entry["source"]
        assert entry["hbm_tb_s"] > 0 and entry["bf16_dense_tflops"] > 0
        if "measured" in entry:  # a measured ceiling names the results file in this repository that measured it
            assert (repo / entry["measured"]["file"]).is_file()


@pytest.mark.parametrize(("name", "tb_s", "tflops"), [
    ("NVIDIA H100 80GB HBM3", 3.35, 989.4),  # H100 SXM datasheet: 3.35 TB/s, BF16 1,979 TFLOPS with sparsity
    ("NVIDIA H200", 4.8, 989.4),  # H200 datasheet: 4.8 TB/s, BF16 1,979 TFLOPS with sparsity
])
def test_hopper_peaks_are_the_datasheet_dense_figures(name, tb_s, tflops):
    entry = datasheet_peaks(name)
    assert (entry["hbm_tb_s"], entry["bf16_dense_tflops"]) == (tb_s, tflops)
