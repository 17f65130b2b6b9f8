"""`--tp N` of `phasecal run` and `phasecal probe`: start N tensor-parallel ranks through torchrun's launcher
(torch.distributed's elastic launch API, the engine `torchrun` runs) and wait for them.

The launcher's agent watches the ranks: when one dies, it stops the others and the run ends with one
line; a rank that hangs makes the others' collectives time out after TIMEOUT_S (or PHASECAL_TP_TIMEOUT_S),
which ends it the same way. Rank 0 has appended every finished point, so a rerun resumes from them. A
rank's own error (bad input, a failed probe) comes back as that error's one line: each rank writes it
to a file before exiting.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from pathlib import Path

from phasecal.errors import Interrupted, RunFailed

TIMEOUT_S = 300.0  # a collective waiting this long means a rank hangs: the run stops (PHASECAL_TP_TIMEOUT_S)
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


def hang_timeout_s() -> float:
    """Seconds a collective may wait before its rank is taken as hung: PHASECAL_TP_TIMEOUT_S, else TIMEOUT_S."""
    text = os.environ.get("PHASECAL_TP_TIMEOUT_S")
    if text is None:
        return TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 86400:
        raise ValueError(f"PHASECAL_TP_TIMEOUT_S must be a number of seconds in [1, 86400], got {text!r}")
    return value


def check_ranks(config, tp: int) -> str:
    """`check_devices`, and the suite must run over ranks: refused in one line before any rank starts."""
    from phasecal.probes.suite import tp_probe_modules

    kind = check_devices(config.device, tp)
    tp_probe_modules(config.suite)
    hang_timeout_s()
    return kind


def run_ranks(config, tp: int) -> Path:
    """Run the suite `config` (a SuiteConfig) on `tp` ranks; the raw file rank 0 wrote. ValueError when a rank
    refused the input, RunFailed when a rank died, hung or failed (finished points kept), Interrupted on Ctrl-C."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from phasecal.probes.tp_worker import worker

    kind, timeout = check_ranks(config, tp), hang_timeout_s()
    launch = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=tp, run_id=f"phasecal-{os.getpid()}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          monitor_interval=MONITOR_S, start_method="spawn")
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its failure tables: ours is one line
    kept = (f"finished points are kept under {config.out_dir}; rerun the same command (with --resume for probe) "
            "to finish")
    with tempfile.TemporaryDirectory(prefix="phasecal-tp-") as errors:
        try:
            results = elastic_launch(launch, worker)(dataclasses.replace(config, device=kind), kind, timeout,
                                                       errors)
        except ChildFailedError as e:
            raise _rank_failure(e.failures, Path(errors), tp, timeout, kept) from None
        except KeyboardInterrupt:
            raise Interrupted(kept) from None
    return Path(results[0])


def _rank_failure(failures: dict, errors: Path, tp: int, timeout: float, kept: str) -> Exception:
    """The one error to report for failed ranks, root cause first: a rank killed by a signal; a refused input
    (ValueError); a rank that died or hung without a word while the others' collectives failed on it; the
    first error a rank wrote; else the launcher's exit code."""
    killed = {r: f for r, f in failures.items() if f.exitcode < 0}
    if killed:
        rank, failure = min(killed.items())
        return RunFailed(f"tensor-parallel rank {rank} of {tp} died (signal {failure.signal_name()}); the other "
                         f"ranks were stopped; {kept}")
    said = {int(f.name.removeprefix("rank")): f.read_text().partition(": ") for f in errors.glob("rank*")}
    for kind, _, message in said.values():
        if kind in ("ValueError", "OSError"):
            return ValueError(message)
    silent = [r for r in range(tp) if r not in said]
    if said and silent:
        timed_out = any("timed out" in m.lower() or "timeout" in m.lower() for _, _, m in said.values())
        what = f"hung (a collective waited {timeout:.0f} s)" if timed_out else \
            "died without an error (killed or crashed)"
        return RunFailed(f"tensor-parallel rank {silent[0]} of {tp} {what}; the other ranks were stopped; {kept}")
    if said:
        rank = min(said)
        kind, _, message = said[rank]
        return RunFailed(f"tensor-parallel rank {rank}: {kind}: {message}; {kept}")
    rank, failure = min(failures.items())
    return RunFailed(f"tensor-parallel rank {rank} of {tp} failed (exit code {failure.exitcode}); {kept}")
