"""The suite runner: resume after interruption, refusals, time budget, and the CLI command."""

import json

import pytest
from typer.testing import CliRunner

from phasecal.cli import app
from phasecal.probes import step
from phasecal.probes.suite import SuiteConfig, probe_modules, resolve_device, run_suite, select_device
from phasecal.records import RunHeader, append_record, read_raw


def _cfg(tmp_path, **kw):
    return SuiteConfig(suite="step", model="tiny", device="cpu", out_dir=tmp_path, threads=1, **kw)


def test_resume_after_interruption_measures_only_the_rest(fast_suite, tmp_path, monkeypatch):
    monkeypatch.setattr(step, "group_size", lambda ctx: 3)
    real = step.prepare_point
    prepared = []

    def dies_in_second_group(ctx, model, params):
        if len(prepared) == 3 + 2:
            raise KeyboardInterrupt
        prepared.append(step.step_key(params))
        return real(ctx, model, params)

    monkeypatch.setattr(step, "prepare_point", dies_in_second_group)
    with pytest.raises(KeyboardInterrupt):
        run_suite(_cfg(tmp_path))
    path = next(tmp_path.rglob("raw.jsonl"))
    first = [p.key for p in read_raw(path)[1]]
    assert first == prepared[:3]  # the finished group was on disk when the run died

    resumed = []
    monkeypatch.setattr(step, "prepare_point", lambda c, m, p: (resumed.append(step.step_key(p)), real(c, m, p))[1])
    run_suite(_cfg(tmp_path, resume=True))
    keys = [p.key for p in read_raw(path)[1]]
    assert len(keys) == len(set(keys))  # nothing measured twice
    assert not set(resumed) & set(first)
    assert set(keys) == set(first) | set(resumed) and len(resumed) > 0


def test_resume_of_a_complete_file_measures_nothing(fast_suite, tmp_path):
    path = run_suite(_cfg(tmp_path))
    n = len(read_raw(path)[1])
    run_suite(_cfg(tmp_path, resume=True))
    assert len(read_raw(path)[1]) == n


def test_existing_file_without_resume_is_refused(fast_suite, tmp_path):
    run_suite(_cfg(tmp_path))
    with pytest.raises(ValueError, match="--resume"):
        run_suite(_cfg(tmp_path))


@pytest.mark.parametrize("field,value,match", [("device", {"name": "NVIDIA H200"}, "device"),
                                               ("model", {"name": "Qwen3-8B"}, "model"),
                                               ("settings", {"page_layout": None}, "page_layout"),
                                               ("settings", {"sample_order": None}, "sample_order")])
def test_resume_refuses_another_device_model_or_page_layout(fast_suite, tmp_path, field, value, match):
    """page_layout None: a file from before the step probe scattered its pages (contiguous ones); sample_order
    None: from before a CPU sample followed another point's step."""
    path = run_suite(_cfg(tmp_path))
    header, points = read_raw(path)
    setattr(header, field, {**(getattr(header, field) or {}), **value})
    path.unlink()
    append_record(path, RunHeader(**{k: getattr(header, k) for k in ("device", "settings", "model", "command",
                                                                        "started")}))
    for p in points:
        append_record(path, p)
    with pytest.raises(ValueError, match=match):
        run_suite(_cfg(tmp_path, resume=True))


def test_resume_refuses_other_threads(fast_suite, tmp_path):
    run_suite(_cfg(tmp_path))
    cfg = _cfg(tmp_path, resume=True)
    cfg.threads = 2
    with pytest.raises(ValueError, match="threads"):
        run_suite(cfg)


def test_time_budget_stops_starting_points_and_lists_the_rest(fast_suite, tmp_path, monkeypatch):
    from phasecal.probes.context import ProbeContext

    monkeypatch.setattr(step, "group_size", lambda ctx: 3)
    clock = {"calls": 0, "spent_after": 2}  # spent once the first group has started (suite + probe check)

    def time_left(self):
        clock["calls"] += 1
        return 1.0 if clock["calls"] <= clock["spent_after"] else -1.0

    monkeypatch.setattr(ProbeContext, "time_left", time_left)
    path = run_suite(_cfg(tmp_path, budget_minutes=5))
    assert len(read_raw(path)[1]) == 3  # the first group finishes, no other starts
    summary = json.loads((path.parent / "summary.json").read_text())
    assert summary["probes"]["step"]["not_run"]
    clock["spent_after"] = 10**9
    run_suite(_cfg(tmp_path, resume=True))
    assert len(read_raw(path)[1]) == 3 + len(summary["probes"]["step"]["not_run"])


@pytest.mark.parametrize("kw,match", [({"suite": "nope"}, "unknown suite"), ({"model": "GPT-9"}, "unknown model"),
                                      ({"budget_minutes": -1}, "budget"), ({"threads": 0}, "threads")])
def test_bad_config_is_a_clear_value_error(tmp_path, kw, match):
    cfg = _cfg(tmp_path)
    for k, v in kw.items():
        setattr(cfg, k, v)
    with pytest.raises(ValueError, match=match):
        run_suite(cfg)


def test_cuda_without_gpu_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_probe_modules_selects_in_order():
    assert [m.NAME for m in probe_modules("step")] == ["step"]


def _probe(*args: str):
    return CliRunner().invoke(app, ["probe", *args])


def test_cli_runs_step_and_prints_the_raw_path(fast_suite, tmp_path):
    result = _probe(*["--suite", "step", "--device", "cpu", "--out", str(tmp_path),
                                         "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("raw.jsonl")


def test_cli_bad_input_exits_2_with_a_message(tmp_path):
    result = _probe(*["--suite", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown suite" in result.stderr


def test_auto_model_is_tiny_on_the_cpu(fast_suite, tmp_path):
    path = run_suite(SuiteConfig(suite="step", device="cpu", out_dir=tmp_path, threads=1))
    assert read_raw(path)[0].model["name"] == "tiny" and path.parent.name == "tiny"


def test_a_failing_probe_is_recorded_and_the_others_still_run(fast_suite, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from phasecal.probes import suite
    from phasecal.probes.context import Plan, PlannedPoint
    from phasecal.probes.suite import ProbeFailed

    def broken_run(ctx, points):
        raise RuntimeError("kernel launch failed")
        yield  # a generator, like the real probes

    broken = SimpleNamespace(NAME="broken", plan=lambda ctx: Plan([PlannedPoint("broken/1", {})]), run=broken_run,
                             summarize=lambda records: "")
    monkeypatch.setattr(suite, "probe_modules", lambda name: [broken, step])
    with pytest.raises(ProbeFailed, match="kernel launch failed"):
        run_suite(_cfg(tmp_path))
    path = next(tmp_path.rglob("raw.jsonl"))
    assert any(p.probe == "step" for p in read_raw(path)[1])  # the step probe ran after the failure
    summary = json.loads((path.parent / "summary.json").read_text())
    assert "kernel launch failed" in summary["probes"]["broken"]["failed"]
    assert summary["probes"]["broken"]["not_run"] == ["broken/1"]


def test_a_cuda_device_index_becomes_the_current_device(monkeypatch):
    """--device cuda:1 makes GPU 1 current, so events, spin kernels and launches go there, not to GPU 0."""
    import torch

    selected = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", selected.append)
    assert select_device("cuda:1") == torch.device("cuda", 1)
    assert selected == [torch.device("cuda", 1)]
    assert select_device("cpu").type == "cpu" and len(selected) == 1


def test_summary_keeps_each_probes_own_elapsed_time(fast_suite, tmp_path, monkeypatch):
    import time
    from types import SimpleNamespace

    from phasecal.probes import suite
    from phasecal.probes.context import Plan
    from phasecal.probes.suite_summary import SuiteSummary

    def slow_plan(ctx):
        time.sleep(0.3)
        return Plan()

    slow = SimpleNamespace(NAME="slow", plan=slow_plan, run=None, summarize=lambda records: "")
    monkeypatch.setattr(suite, "probe_modules", lambda name: [slow, step])
    path = run_suite(_cfg(tmp_path))
    summary = SuiteSummary.from_dict(json.loads((path.parent / "summary.json").read_text()))
    assert summary.probes["slow"].elapsed_s >= 0.3  # not the last probe's time written over every entry
    assert summary.probes["step"].elapsed_s is not None and summary.probes["step"].planned > 0
