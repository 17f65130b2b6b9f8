"""The prepared device check: one unattended run on an H100/H200 that gives the most truth per minute.

    benchmarks/gpu_check.sh [--deadline-min 8] [--out DIR] [--wheel WHEEL] [--model Qwen3-8B] [--dry-run]

Installs phasecal with no network (the carried wheel with `pip install --no-index --no-deps --target`,
or else the checkout's folders copied by pyproject's package-dir) into a work folder, with the needs the
machine lacks (jsonschema and its needs) from the wheels carried beside it (benchmarks/carry_wheels.sh
fills .whl/), then runs each stage from an empty folder with only that install on PYTHONPATH, so nothing
of the checkout's root is imported by accident. Stages, in order of value, each under its own limit and
all under one deadline:
env (versions, NVML, CuPy NVRTC) -> correctness at Qwen3-8B shapes, KV cache past 2**31 elements ->
the GPU-marked tests -> Qwen3-8B step points (eager and CUDA Graph) -> the kernel benchmark ->
`phasecal run --quick` -> the full `phasecal run` with the time left. A stage past its limit is cut
(SIGINT, then SIGKILL) and the rest still run. OUT (default $OUT, else ./gpu_check_out) gets, as each
stage ends: gpu_check.log, gpu_check.json, results.tgz (raw points, profiles), bench_kernels.json and,
last, summary.txt. `--dry-run` runs the same machinery on the CPU in under a minute (tiny model; stages
that need CUDA report "skipped: no GPU"); CI runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpu_check_runner import GRACE_S, CheckRecord, StageResult, log_section, pytest_outcome, run_command, write_atomic
from gpu_check_summary import format_summary, read_checks, target_rows

CHECKOUT = Path(__file__).resolve().parents[1]
LARGE_CACHE_TEST = "tests/kernels/test_large_cache.py"
# phasecal's runtime needs that the GPU machines' image lacks (import names; carried as wheels)
NEEDS = ("jsonschema", "referencing", "rpds")


@dataclass
class Ctx:
    """Where things are and how this check runs."""

    python: str
    out: Path
    work: Path
    dry_run: bool
    model: str
    gpus: int = 0  # CUDA devices torch sees (0 in a dry run)

    @property
    def site(self) -> Path:
        return self.work / "site"

    @property
    def device(self) -> str:
        return "cpu" if self.dry_run else "cuda"

    def phasecal(self, *args: str) -> list[str]:
        return [self.python, "-m", "phasecal", *args, "--model", self.model, "--device", self.device]

    def pytest(self, *args: str) -> list[str]:
        return [self.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", *args]


@dataclass(frozen=True)
class Stage:
    """A stage: its limits (on the GPU, in a dry run), its command, and the GPUs it needs (0: runs in a dry run too)."""

    name: str
    limit_s: float
    dry_limit_s: float
    command: Callable[[Ctx, float], list[str]]  # (context, this run's limit in s) -> argv
    gpus: int = 0
    pytest: bool = False


def gpu_test_files() -> list[str]:
    """The test files holding GPU-marked tests, less the large-cache one (its own stage)."""
    files = sorted(p.relative_to(CHECKOUT).as_posix() for p in (CHECKOUT / "tests").rglob("test_*.py")
                   if "mark.gpu" in p.read_text())
    return [str(CHECKOUT / f) for f in files if f != LARGE_CACHE_TEST]


def _step_budget_min(ctx: Ctx, limit_s: float) -> str:
    """Step probe's own budget: it stops starting points in time to write its summary before the cut."""
    return "0.1" if ctx.dry_run else f"{max(limit_s - 45, 30) / 60:.2f}"


STAGES = [
    Stage("env", 90, 25, lambda c, lim: [c.python, str(CHECKOUT / "benchmarks" / "gpu_check_env.py"), str(c.site),
                                         str(c.work / "env.json"), *(["--dry-run"] if c.dry_run else [])]),
    Stage("correctness", 150, 25, lambda c, lim: c.pytest(str(CHECKOUT / LARGE_CACHE_TEST)), pytest=True),
    Stage("gpu_tests", 180, 40, lambda c, lim: c.pytest(*gpu_test_files()), pytest=True),
    Stage("step_probe", 150, 25, lambda c, lim: c.phasecal("probe", "--suite", "step", "--quick", "--out",
                                                           str(c.work / "results"), "--budget-minutes",
                                                           _step_budget_min(c, lim))),
    Stage("bench", 180, 0, lambda c, lim: [c.python, str(CHECKOUT / "benchmarks" / "bench_kernels.py"),
                                           str(c.work / "bench_kernels.json"), "--quick", "--model", c.model],
          gpus=1),
    Stage("run_quick", 150, 20, lambda c, lim: c.phasecal("run", "--quick", "--out", str(c.work / "results"))),
    # tensor parallel over NCCL: only where two GPUs are lent (results in results/<device>/<model>-tp2/)
    Stage("tp_quick", 150, 0, lambda c, lim: c.phasecal("run", "--tp", "2", "--quick", "--out",
                                                        str(c.work / "results")), gpus=2),
    Stage("full_run", float("inf"), float("inf"), lambda c, lim: c.phasecal("run", "--out", str(c.work / "full"))),
]


def find_wheel(given: Path | None) -> Path | None:
    """The wheel to install: --wheel, else the newest phasecal wheel in the checkout's .whl/ or dist/."""
    if given is not None:
        return given
    found = [p for d in (".whl", "dist") for p in (CHECKOUT / d).glob("phasecal-*.whl")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def package_dirs() -> dict[str, str]:
    """pyproject's package-dir: import name -> the checkout's folder."""
    return tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def files_unlike_checkout(wheel: Path) -> list[str]:
    """The wheel's modules whose text differs from the checkout's file (a wheel of other sources)."""
    prefixes = sorted(((name.replace(".", "/") + "/", folder) for name, folder in package_dirs().items()),
                      key=lambda kv: -len(kv[0]))
    differ = []
    with zipfile.ZipFile(wheel) as zf:
        for name in (n for n in zf.namelist() if n.endswith(".py")):
            prefix, folder = next(((p, f) for p, f in prefixes if name.startswith(p)), (None, None))
            source = CHECKOUT / folder / name.removeprefix(prefix) if prefix else None
            if source is None or not source.is_file() or source.read_bytes() != zf.read(name):
                differ.append(name)
    return differ


def assemble_from_checkout(site: Path) -> int:
    """Copy the checkout's package folders to site as pyproject's package-dir maps them; files copied."""
    for name, folder in sorted(package_dirs().items(), key=lambda kv: kv[0].count(".")):
        shutil.copytree(CHECKOUT / folder, site / name.replace(".", "/"), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
    return sum(1 for p in site.rglob("*") if p.is_file())


def install(ctx: Ctx, wheel: Path | None, log: Path, env: dict) -> StageResult:
    """Put phasecal into ctx.site without the network: the wheel through pip, or the checkout's folders;
    then its runtime needs the machine lacks, from the wheels carried beside it."""
    ctx.site.mkdir(parents=True, exist_ok=True)
    if wheel is None:
        start = time.monotonic()
        files = assemble_from_checkout(ctx.site)
        result = StageResult("install", "pass", time.monotonic() - start, note=f"no wheel carried: the checkout's "
                             f"package folders copied by pyproject's package-dir ({files} files)")
    else:
        result = run_command("install", _pip_target(ctx, [wheel]), 120, log, env, ctx.work)
        differ = files_unlike_checkout(wheel)
        result.note = f"{wheel.name}" + (f"; {len(differ)} of its modules differ from the checkout's (e.g. "
                                         f"{differ[0]}): the tests and benchmarks are the checkout's" if differ else "")
    if result.status == "pass":
        needs = install_needs(ctx, carried_needs(wheel), log, env)
        result.status = "pass" if needs.status == "pass" else "fail"
        result.note = f"{result.note}; {needs.note}"
    return result


def carried_needs(wheel: Path | None) -> list[Path]:
    """The wheels of phasecal's runtime needs carried beside its wheel (else in the checkout's .whl/):
    every wheel there but phasecal's (benchmarks/carry_wheels.sh puts jsonschema and its needs there)."""
    folder = wheel.parent if wheel is not None else CHECKOUT / ".whl"
    return sorted(p for p in folder.glob("*.whl") if not p.name.startswith("phasecal-"))


def install_needs(ctx: Ctx, wheels: list[Path], log: Path, env: dict) -> StageResult:
    """Make NEEDS importable beside the install: as they are where the machine has them, else from the
    carried wheels; failed, saying what to carry, where neither gives them."""
    probe = [ctx.python, "-c", f"import {', '.join(NEEDS)}"]
    if run_command("needs", probe, 60, log, env, ctx.work).status == "pass":
        return StageResult("needs", "pass", note=f"{', '.join(NEEDS)} already importable here")
    if wheels:
        run_command("needs", _pip_target(ctx, wheels), 120, log, env, ctx.work)
        if run_command("needs", probe, 60, log, env, ctx.work).status == "pass":
            return StageResult("needs", "pass", note=f"installed the carried {', '.join(p.name for p in wheels)}")
    return StageResult("needs", "fail", note=f"{', '.join(NEEDS)} not importable here and no wheels of them carried "
                       f"that install (found {len(wheels)}): run benchmarks/carry_wheels.sh where pip works, "
                       "carry .whl/")


def _pip_target(ctx: Ctx, wheels: list[Path]) -> list[str]:
    return [ctx.python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index", "--no-deps",
            "--no-compile", "--target", str(ctx.site), *map(str, wheels)]


def stage_env(ctx: Ctx) -> dict:
    """Child environment: the install alone on PYTHONPATH, unbuffered output, no bytecode in the checkout."""
    return {**os.environ, "PYTHONPATH": str(ctx.site), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def bring_back(ctx: Ctx) -> None:
    """Copy what the stages wrote into OUT: the results trees as one archive, the benchmark's JSON."""
    trees = [ctx.work / d for d in ("results", "full") if (ctx.work / d).is_dir()]
    if trees:
        fd, tmp = tempfile.mkstemp(dir=ctx.out, prefix=".results.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
            for tree in trees:
                tar.add(tree, arcname=tree.name)
        os.replace(tmp, ctx.out / "results.tgz")
    bench = ctx.work / "bench_kernels.json"
    if bench.is_file():
        shutil.copyfile(bench, ctx.out / "bench_kernels.json")


def _grace(ctx: Ctx) -> float:
    return min(5.0, GRACE_S) if ctx.dry_run else GRACE_S


def run_stage(stage: Stage, ctx: Ctx, limit_s: float, log: Path, env: dict) -> StageResult:
    """Run one stage; pytest stages that only skipped are reported as skipped."""
    result = run_command(stage.name, stage.command(ctx, limit_s), limit_s, log, env, ctx.work / "cwd",
                         grace_s=_grace(ctx))
    if stage.pytest:
        result = pytest_outcome(result, log_section(log, stage.name))
    if stage.name == "env" and (ctx.work / "env.json").is_file():
        result.details["env"] = json.loads((ctx.work / "env.json").read_text())
        ctx.gpus = 0 if ctx.dry_run else int(result.details["env"].get("gpu_count") or 0)
        problems = result.details["env"].get("problems") or []
        result.note = "; ".join(problems) if problems else result.details["env"]["origin"]["phasecal"]
    return result


def run_check(ctx: Ctx, wheel: Path | None, deadline_s: float) -> list[StageResult]:
    """Every stage in order under the deadline; OUT is brought up to date after each."""
    start = time.monotonic()
    log, env = ctx.out / "gpu_check.log", stage_env(ctx)
    (ctx.work / "cwd").mkdir(parents=True, exist_ok=True)
    record = CheckRecord(ctx.out / "gpu_check.json", dict(
        dry_run=ctx.dry_run, model=ctx.model, deadline_s=deadline_s, python=ctx.python, checkout=str(CHECKOUT),
        work=str(ctx.work), started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    grace = _grace(ctx)
    record.add(install(ctx, wheel, log, env))
    _print(record.stages[-1], start)
    if record.stages[-1].status != "pass":
        return record.stages
    for stage in STAGES:
        left = deadline_s - (time.monotonic() - start) - grace
        limit = min(stage.dry_limit_s if ctx.dry_run else stage.limit_s, left)
        if ctx.gpus < stage.gpus:
            result = StageResult(stage.name, "skipped", note="skipped: no GPU" if not ctx.gpus else
                                 f"skipped: needs {stage.gpus} GPUs, {ctx.gpus} visible")
        elif left < 5:
            result = StageResult(stage.name, "skipped", note="skipped: no time left before the deadline")
        else:
            result = run_stage(stage, ctx, limit, log, env)
        bring_back(ctx)
        record.add(result)
        _print(result, start)
        if stage.name == "env" and not ctx.dry_run and not ctx.gpus:
            print("no CUDA GPU visible to torch: nothing more to check here (use --dry-run on a CPU)")
            break
    record.write(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), seconds=time.monotonic() - start)
    return record.stages


def _print(result: StageResult, start: float) -> None:
    print(f"[{time.monotonic() - start:5.0f}s] {result.name:12s} {result.status:8s} {result.seconds:5.0f}s  "
          f"{result.note}"[:200], flush=True)


def summarize(ctx: Ctx, stages: list[StageResult], deadline_s: float) -> str:
    log = ctx.out / "gpu_check.log"
    checks, source = read_checks(ctx.out / "bench_kernels.json", log_section(log, "bench"))
    env = next((s.details.get("env") for s in stages if s.name == "env"), None) or {}
    device = ((env.get("gpu") or {}).get("fingerprint") or {}).get("name", "no GPU")
    versions = env.get("versions") or {}
    total = sum(s.seconds for s in stages)
    header = (f"phasecal device check{' (dry run)' if ctx.dry_run else ''} on {device} (torch {versions.get('torch')}, "
              f"triton {versions.get('triton')}): {total:.0f} s of a {deadline_s:.0f} s deadline; files in {ctx.out}")
    text = format_summary(stages, target_rows(checks), source, header)
    write_atomic(ctx.out / "summary.txt", text + "\n")
    return text


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpu_check.sh", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="the same stages on the CPU, tiny model, < 1 min")
    parser.add_argument("--deadline-min", type=float, default=None,
                        help="overall deadline in minutes [default: 8, or 1 with --dry-run]")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu_check_out"),
                        help="where logs, JSON and results go [default: $OUT, else ./gpu_check_out]")
    parser.add_argument("--wheel", type=Path, help="phasecal wheel to install [default: newest in .whl/ or dist/]")
    parser.add_argument("--model", default=None, help="catalog model [default: Qwen3-8B, tiny with --dry-run]")
    parser.add_argument("--work", type=Path, help="work folder (install, results) [default: a new temp folder]")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    deadline_min = args.deadline_min if args.deadline_min is not None else (1 if args.dry_run else 8)
    if deadline_min <= 0 or (args.wheel is not None and not args.wheel.is_file()):
        print(f"gpu_check: {'--deadline-min must be positive' if deadline_min <= 0 else f'no wheel at {args.wheel}'}",
              file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        work = args.work or Path(tempfile.mkdtemp(prefix="phasecal_gpu_check_"))
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"gpu_check: cannot create {e.filename}: {e.strerror}; pass a writable --out/--work", file=sys.stderr)
        return 2
    ctx = Ctx(python=sys.executable, out=args.out.resolve(), work=work.resolve(), dry_run=args.dry_run,
              model=args.model or ("tiny" if args.dry_run else "Qwen3-8B"))
    stages = run_check(ctx, find_wheel(args.wheel), 60 * deadline_min)
    print(summarize(ctx, stages, 60 * deadline_min))
    return 1 if any(s.status == "fail" for s in stages) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
