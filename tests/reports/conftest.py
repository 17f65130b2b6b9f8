"""Fixtures for the report tests: synthetic results folders built with the project's own writers."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import write_device, write_scheduler, write_scheduler_bench  # noqa: E402

REPO_RESULTS = Path(__file__).resolve().parents[2] / "results"


@pytest.fixture
def two_devices(tmp_path: Path) -> Path:
    """A results folder with a CPU (no launch data) and a faster CUDA device, profiles, scheduler runs, the
    paper's attention reference, and a device folder whose files are corrupt (figures must still draw)."""
    cpu = write_device(tmp_path, "cpu-test", "Test CPU", seed=0)
    write_scheduler(cpu / "scheduler")
    gpu = write_device(tmp_path, "nvidia-test-gpu", "NVIDIA Test GPU", kind="cuda", speed=20, seed=1,
                       probes=("step", "bandwidth", "launch", "gemm", "attention"))
    write_scheduler(gpu / "sched", speed=20)
    ref = REPO_RESULTS / "reference" / "eb_paper_attention_H200_pure.json"
    (tmp_path / "reference").mkdir()
    shutil.copy(ref, tmp_path / "reference")
    shutil.copytree(REPO_RESULTS / "reference" / "paper_H200_Qwen3-8B", tmp_path / "reference" / "paper_H200_Qwen3-8B")
    write_scheduler_bench(tmp_path / "derived" / "scheduler_paper_H200",
                          "results/reference/paper_H200_Qwen3-8B/profile.json")
    bad = tmp_path / "broken-device" / "tiny"
    bad.mkdir(parents=True)
    (bad / "profile.json").write_text("{not json")
    (bad / "raw.jsonl").write_text(json.dumps({"kind": "header", "device": {}, "settings": {},
                                               "schema_version": 1}) + "\n{torn\n")
    return tmp_path
