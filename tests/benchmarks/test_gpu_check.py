"""The device check's machinery on the CPU: limits cut a stage and the rest run, the deadline holds,
every stage is on record as it ends, and the summary reads the benchmark's ratios or says unmeasured."""

import json
import sys
import time

import gpu_check
import pytest
from gpu_check_runner import StageResult, log_section, pytest_outcome, run_command
from gpu_check_summary import format_summary, read_checks, target_rows

PY = sys.executable


def _py(code: str) -> list[str]:
    return [PY, "-c", code]


def test_a_stage_past_its_limit_is_cut_and_its_output_kept(tmp_path):
    log = tmp_path / "log"
    start = time.monotonic()
    result = run_command("slow", _py("import time; print('started', flush=True); time.sleep(60)"), 1.0, log,
                         {}, tmp_path, grace_s=1.0)
    assert result.status == "cut" and time.monotonic() - start < 10
    assert "started" in log_section(log, "slow")
    after = run_command("next", _py("print('ran')"), 10, log, {}, tmp_path)
    assert after.status == "pass" and "ran" in log_section(log, "next")


def test_sigint_first_lets_a_stage_finish_its_files(tmp_path):
    code = ("import signal, sys, time\n"
            "def stop(*_):\n    open('kept', 'w').write('points'); sys.exit(130)\n"
            "signal.signal(signal.SIGINT, stop)\nprint('ready', flush=True)\ntime.sleep(60)")
    result = run_command("int", _py(code), 1.5, tmp_path / "log", {}, tmp_path, grace_s=5)
    assert result.status == "cut" and result.rc == 130
    assert (tmp_path / "kept").read_text() == "points"


def test_a_failing_stage_is_failed_with_its_exit_code(tmp_path):
    result = run_command("bad", _py("raise SystemExit(3)"), 10, tmp_path / "log", {}, tmp_path)
    assert (result.status, result.rc) == ("fail", 3)


@pytest.mark.parametrize("tail,status", [("3 passed, 2 skipped in 1.0s", "pass"),
                                         ("5 skipped, 9 deselected", "skipped"), ("1 failed, 4 passed", "fail")])
def test_pytest_outcome(tail, status):
    result = pytest_outcome(StageResult("t", "fail" if "failed" in tail else "pass"), tail)
    assert result.status == status


BENCH = {"targets": [
    dict(target="bandwidth_vs_torch_op", what="triton copy", measured=0.99, required=0.97, ok=True),
    dict(target="bandwidth_vs_torch_op", what="cupy read", measured=0.91, required=0.97, ok=False),
    dict(target="matmul_vs_cublas", what="qkv M=16", measured=0.62, required=0.8, ok=False),
    dict(target="matmul_vs_cublas", what="qkv M=512", measured=0.93, required=0.8, ok=True),
]}


def _rows(checks):
    return {r["label"]: r for r in target_rows(checks)}


def test_targets_from_the_benchmark_json(tmp_path):
    (tmp_path / "bench.json").write_text(json.dumps(BENCH))
    checks, source = read_checks(tmp_path / "bench.json", "")
    rows = _rows(checks)
    assert source == "json"
    assert rows["bandwidth kernels vs torch's own op"]["worst"] == 0.91
    assert rows["matmul vs cuBLAS, M <= 16"]["worst"] == 0.62 and rows["matmul vs cuBLAS, M <= 16"]["total"] == 1
    assert rows["prefill vs SDPA flash"]["worst"] is None
    text = format_summary([StageResult("bench", "pass")], target_rows(checks), source, "header")
    assert "MISSED 1/2" in text and "unmeasured" in text


def test_targets_from_the_log_of_a_cut_benchmark():
    log = ("decode ...\nTARGET decode_vs_copy_bandwidth     decode 512 x 2048                        0.843 >= 0.8: ok\n"
           "TARGET prefill_vs_sdpa_flash        prefill 4096                             0.512 >= 0.7: MISSED\n")
    checks, source = read_checks(None, log)
    rows = _rows(checks)
    assert source == "log"
    assert rows["split-KV decode 512x2048 vs copy bandwidth"]["worst"] == 0.843
    assert rows["prefill vs SDPA flash"]["met"] == 0
    assert rows["matmul vs cuBLAS, every M"]["worst"] is None


def _stage(name, code, limit):
    return gpu_check.Stage(name, limit, limit, lambda ctx, lim: _py(code))


def test_the_deadline_holds_and_every_stage_is_on_record(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check, "STAGES", [
        _stage("first", "print('one')", 20),
        _stage("hangs", "import time; time.sleep(60)", 2),
        _stage("after", "print('three')", 20),
        _stage("long", "import time; time.sleep(60)", float("inf")),
        _stage("late", "print('never')", 20),
    ])
    monkeypatch.setattr(gpu_check, "GRACE_S", 1.0)
    ctx = gpu_check.Ctx(python=PY, out=tmp_path / "out", work=tmp_path / "work", dry_run=False, model="tiny")
    ctx.out.mkdir()
    start = time.monotonic()
    stages = gpu_check.run_check(ctx, None, deadline_s=12)
    assert time.monotonic() - start < 20
    assert [(s.name, s.status) for s in stages] == [("install", "pass"), ("first", "pass"), ("hangs", "cut"),
                                                    ("after", "pass"), ("long", "cut"), ("late", "skipped")]
    record = json.loads((ctx.out / "gpu_check.json").read_text())
    assert [s["name"] for s in record["stages"]] == [s.name for s in stages]
    assert (ctx.work / "site" / "phasecal" / "kernels" / "__init__.py").is_file()  # assembled: no wheel given
    text = gpu_check.summarize(ctx, stages, 12)
    assert "unmeasured" in text and (ctx.out / "summary.txt").read_text().strip() == text


@pytest.mark.parametrize("args,message", [(["--deadline-min", "0"], "must be positive"),
                                          (["--wheel", "/nonexistent.whl"], "no wheel at")])
def test_bad_flags_get_one_line_and_exit_2(args, message, capsys, tmp_path):
    assert gpu_check.main([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_wheel_of_other_sources_is_noticed(tmp_path):
    import zipfile

    same = (gpu_check.CHECKOUT / "kernels" / "catalog.py").read_bytes()
    wheel = tmp_path / "phasecal-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("phasecal/kernels/catalog.py", same)
        zf.writestr("phasecal/kernels/models.json", b"{}")  # data files are not compared
        zf.writestr("phasecal/probes/timing.py", b"# another version\n")
    assert gpu_check.files_unlike_checkout(wheel) == ["phasecal/probes/timing.py"]


def test_a_stage_needing_more_gpus_than_visible_is_skipped_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check, "STAGES", [
        gpu_check.Stage("one_gpu", 20, 20, lambda ctx, lim: _py("print('ran')"), gpus=1),
        gpu_check.Stage("two_gpus", 20, 20, lambda ctx, lim: _py("print('ran')"), gpus=2),
    ])
    ctx = gpu_check.Ctx(python=PY, out=tmp_path / "out", work=tmp_path / "work", dry_run=False, model="tiny", gpus=1)
    ctx.out.mkdir()
    stages = gpu_check.run_check(ctx, None, deadline_s=60)
    assert [(s.name, s.status) for s in stages] == [("install", "pass"), ("one_gpu", "pass"), ("two_gpus", "skipped")]
    assert stages[-1].note == "skipped: needs 2 GPUs, 1 visible"


def test_the_tensor_parallel_stage_needs_two_gpus(tmp_path):
    tp = next(s for s in gpu_check.STAGES if s.name == "tp_quick")
    ctx = gpu_check.Ctx(python=PY, out=tmp_path, work=tmp_path, dry_run=False, model="Qwen3-8B")
    assert tp.gpus == 2 and "--tp" in tp.command(ctx, 150)


def _fake_wheel(folder, name: str):
    """A minimal pure-Python wheel of one module, as a carried need."""
    import zipfile

    path = folder / f"{name}-0.1-py3-none-any.whl"
    info = f"{name}-0.1.dist-info"
    files = {f"{name}.py": "VALUE = 1\n", f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{f},,\n" for f in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as zf:
        for f, text in files.items():
            zf.writestr(f, text)
    return path


def test_missing_needs_come_from_the_carried_wheels_or_the_install_fails_saying_what_to_carry(tmp_path, monkeypatch):
    ctx = gpu_check.Ctx(python=PY, out=tmp_path / "out", work=tmp_path / "work", dry_run=True, model="tiny")
    ctx.site.mkdir(parents=True)
    env, log = gpu_check.stage_env(ctx), tmp_path / "log"
    monkeypatch.setattr(gpu_check, "NEEDS", ("phasecal_fake_need",))
    missing = gpu_check.install_needs(ctx, [], log, env)
    assert missing.status == "fail" and "benchmarks/carry_wheels.sh" in missing.note
    wheel = _fake_wheel(tmp_path, "phasecal_fake_need")
    assert gpu_check.carried_needs(_fake_wheel(tmp_path, "phasecal")) == [wheel]  # phasecal's own is not a need
    installed = gpu_check.install_needs(ctx, [wheel], log, env)
    assert installed.status == "pass" and wheel.name in installed.note
    assert (ctx.site / "phasecal_fake_need.py").is_file()
    assert "already importable" in gpu_check.install_needs(ctx, [wheel], log, env).note
