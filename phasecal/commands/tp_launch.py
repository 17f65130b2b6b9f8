"""`--tp N` of `phasecal run` and `phasecal probe`: start N tensor-parallel ranks through torchrun's launcher
(torch.distributed's elastic launch API, the engine `torchrun` runs) and wait for them.

The launcher's agent watches the ranks: when one dies, it stops the others and the run ends with one
line; a rank that hangs makes the others' collectives time out after TIMEOUT_S, which ends it the same
way. Rank 0 has appended every finished point, so a rerun resumes from them. A rank's own error (bad
input, a failed probe) comes back as that error's one line: each rank writes it to a file before exiting.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from pathlib import Path

from phasecal.errors import Interrupted, RunFailed

TIMEOUT_S = 300.0  # a collective waiting this long means a rank hangs: the run stops
MONITOR_S = 0.5  # how often the agent looks at the ranks


def check_devices(device: str, tp: int) -> str:
    """The device type the ranks run on ('cuda' or 'cpu'); ValueError (one line) if `tp` ranks do not fit."""
    import torch

    from phasecal.probes.suite import resolve_device

    if tp < 1:
        raise ValueError(f"--tp must be a positive number of ranks, got {tp}")
    kind = resolve_device(device).type
    if kind == "cuda" and torch.cuda.device_count() < tp:
        raise ValueError(f"--tp {tp} needs {tp} GPUs, torch sees {torch.cuda.device_count()} here: "
                         "pass a smaller --tp (or --device cpu for gloo ranks on the CPU)")
    cores = os.cpu_count() or 1
    if kind == "cpu" and tp > cores:
        raise ValueError(f"--tp {tp} on the CPU runs {tp} ranks but this machine has {cores} cores: "
                         f"pass --tp <= {cores}")
    return kind


def check_ranks(config, tp: int) -> str:
    """`check_devices`, and the suite must run over ranks: refused in one line before any rank starts."""
    from phasecal.probes.suite import tp_probe_modules

    kind = check_devices(config.device, tp)
    tp_probe_modules(config.suite)
    return kind


def run_ranks(config, tp: int) -> Path:
    """Run the suite `config` (a SuiteConfig) on `tp` ranks; the raw file rank 0 wrote. ValueError when a rank
    refused the input, RunFailed when a rank died, hung or failed (finished points kept), Interrupted on Ctrl-C."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from phasecal.probes.tp_worker import worker

    kind = check_ranks(config, tp)
    launch = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=tp, run_id=f"phasecal-{os.getpid()}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          monitor_interval=MONITOR_S, start_method="spawn")
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its failure tables: ours is one line
    kept = f"finished points are kept under {config.out_dir}; rerun the same command to finish"
    with tempfile.TemporaryDirectory(prefix="phasecal-tp-") as errors:
        try:
            results = elastic_launch(launch, worker)(dataclasses.replace(config, device=kind), kind, TIMEOUT_S, errors)
        except ChildFailedError as e:
            killed = {r: f for r, f in e.failures.items() if f.exitcode < 0}
            if not killed:  # the ranks that failed said why (a refused input, a probe error, a timed-out collective)
                _raise_rank_error(Path(errors), kept)
            rank, failure = min((killed or e.failures).items())
            how = f"signal {failure.signal_name()}" if failure.exitcode < 0 else f"exit code {failure.exitcode}"
            raise RunFailed(f"tensor-parallel rank {rank} of {tp} died ({how}); the other ranks were stopped; "
                            f"{kept}") from None
        except KeyboardInterrupt:
            raise Interrupted(kept) from None
    return Path(results[0])


def _raise_rank_error(errors: Path, kept: str) -> None:
    """Raise the error a rank wrote (rank 0's first): a refused input as ValueError, any other as RunFailed."""
    files = sorted(errors.glob("rank*"), key=lambda f: int(f.name.removeprefix("rank")))
    if not files:
        return
    kind, _, message = files[0].read_text().partition(": ")
    rank = files[0].name.removeprefix("rank")
    if kind in ("ValueError", "OSError"):
        raise ValueError(message)
    raise RunFailed(f"tensor-parallel rank {rank}: {kind}: {message}; {kept}")
