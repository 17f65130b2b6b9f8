"""`phasecal probe`: measure the device (bandwidth, launch overhead, GEMM, attention, whole steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def probe(
    suite: Annotated[str, typer.Option(
        "--suite", help="all, bandwidth, launch, gemm, attention, step or allreduce (allreduce needs --tp).")] = "all",
    model: Annotated[str, typer.Option(
        "--model", help="Model shape for GEMM, attention and step: a catalog name (phasecal models) or a Hugging "
                        "Face config.json; auto: tiny on the CPU, Qwen3-8B on a GPU.")] = "auto",
    device: Annotated[str, typer.Option("--device", help="auto (GPU if visible, else CPU), cpu or cuda[:N].")] = "auto",
    out: Annotated[Path, typer.Option(
        "-o", "--out", help="Results folder; points go to OUT/<device>/<model>/raw.jsonl.")] = Path("results"),
    budget_minutes: Annotated[float | None, typer.Option(
        "--budget-minutes", help="Start no new point after this many minutes (finish later with --resume).")] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Smaller grids (about 30 s on a 2-core CPU; sized for 2 minutes on an H100/H200).")] = False,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue an existing raw file, skipping the points it already holds.")] = False,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Set an existing raw file aside (renamed, kept) and measure anew.")] = False,
    threads: Annotated[int | None, typer.Option(
        "--threads", help="CPU threads for torch (default: all cores but one, shared among --tp ranks).")] = None,
    tp: Annotated[int, typer.Option(
        "--tp", help="Tensor-parallel ranks: N GPUs (NCCL) or N gloo processes on the CPU, started here; the "
                     "step probe runs the sharded model, `all` adds the all-reduce probe.")] = 1,
) -> None:
    """Time the device's kernels and model steps; append every point to a raw jsonl as it is measured."""
    from phasecal.probes.suite import SuiteConfig, run_suite

    config = SuiteConfig(suite=suite, model=model, device=device, out_dir=out, quick=quick, resume=resume, fresh=fresh,
                         budget_minutes=budget_minutes, threads=threads)
    if tp == 1:
        print(run_suite(config))
    else:
        from phasecal.commands.tp_launch import run_ranks

        print(run_ranks(config, tp))
