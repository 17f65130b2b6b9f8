"""Admission before allocation: the memory estimate of the step grid and the one-line refusal."""

import pytest

from phasecal.kernels.catalog import get_model_shape
from phasecal.memory import admit, cpu_available_bytes
from phasecal.probes import step
from phasecal.probes.step_memory import admit_step_grid, step_grid_memory


def test_meminfo_is_read(tmp_path):
    f = tmp_path / "meminfo"
    f.write_text("MemTotal:       24000000 kB\nMemAvailable:    1000 kB\n")
    assert cpu_available_bytes(str(f)) == 1000 * 1024
    assert cpu_available_bytes(str(tmp_path / "none")) is None or cpu_available_bytes(str(tmp_path / "none")) > 0


def test_estimate_counts_fp32_weights_and_the_grids_kv():
    shape = get_model_shape("Qwen3-8B")
    need = step_grid_memory(shape, 4, step.compositions(step.step_grid("cpu", True)))
    assert need["weights"] == shape.num_params() * 4  # about 8.2e9 parameters
    assert 30 * 2**30 < need["weights"] < 31 * 2**30
    blocks = max(step.blocks_needed(p) for p in step.compositions(step.step_grid("cpu", True))) + 1
    assert need["KV cache"] == blocks * step.BLOCK_SIZE * 2 * 36 * 8 * 128 * 4


def test_a_model_too_big_for_ram_is_refused_with_the_numbers():
    with pytest.raises(ValueError, match=r"Qwen3-8B on cpu needs about 49\.\d GiB \(weights 30\.5 GiB, KV cache "
                                         r"18\.\d GiB.*only 23\.0 GiB is available"):
        admit_step_grid(get_model_shape("Qwen3-8B"), "cpu", quick=True, available=23 * 2**30)
    admit_step_grid(get_model_shape("tiny"), "cpu", quick=True, available=2 * 2**30)


def test_admit_passes_when_memory_is_unknown():
    admit({"x": 10**15}, None, "anything", "")
