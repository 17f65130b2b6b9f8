"""Device check machinery: run one stage's command under its time limit, log it, record the outcome.

A stage past its limit gets SIGINT (phasecal keeps its finished points and writes its summary on it),
then SIGKILL after a grace period; it is reported as cut and the next stage runs. Every stage's output
is appended to one log as it is produced, and the record of all stages is rewritten atomically after
each one, so a check cut short still leaves what it measured.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

GRACE_S = 15.0  # after SIGINT, before SIGKILL


@dataclass
class StageResult:
    """What one stage did: pass, fail, cut (past its limit) or skipped, and why."""

    name: str
    status: str
    seconds: float = 0.0
    limit_s: float = 0.0
    rc: int | None = None
    command: list[str] = field(default_factory=list)
    note: str = ""
    details: dict = field(default_factory=dict)


def write_atomic(path: Path, text: str) -> None:
    """Write text to path through a temporary file in the same folder (never half-written)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _stop(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGINT to the stage's process group, then SIGKILL if it is still there after grace_s."""
    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run_command(name: str, command: list[str], limit_s: float, log: Path, env: dict, cwd: Path,
                grace_s: float = GRACE_S) -> StageResult:
    """Run command in its own process group with output appended to log; cut it at limit_s."""
    with open(log, "a") as f:
        f.write(f"\n===== begin stage {name}: {' '.join(command)} (limit {limit_s:.0f} s)\n")
        f.flush()
        start = time.monotonic()
        try:
            proc = subprocess.Popen(command, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    cwd=cwd, start_new_session=True)
        except OSError as e:
            return StageResult(name, "fail", limit_s=limit_s, command=command, note=f"could not start: {e}")
        try:
            rc = proc.wait(timeout=max(limit_s, 0.1))
            cut = False
        except subprocess.TimeoutExpired:
            _stop(proc, grace_s)
            rc, cut = proc.returncode, True
        seconds = time.monotonic() - start
        f.write(f"\n===== end stage {name}: {'cut at its limit' if cut else f'exit {rc}'} after {seconds:.1f} s\n")
    if cut:
        return StageResult(name, "cut", seconds, limit_s, rc, command, f"past its {limit_s:.0f} s limit: stopped")
    return StageResult(name, "pass" if rc == 0 else "fail", seconds, limit_s, rc, command,
                       "" if rc == 0 else f"exit code {rc}")


def log_section(log: Path, name: str) -> str:
    """The output a stage appended to the log (its last run, if it ran twice)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    start = text.rfind(f"\n===== begin stage {name}: ")
    if start < 0:
        return ""
    end = text.find(f"\n===== end stage {name}: ", start)
    return text[start:end if end >= 0 else len(text)]


def pytest_outcome(result: StageResult, section: str) -> StageResult:
    """A pytest stage that ran tests but passed none of them (all skipped: no GPU) is reported as skipped."""
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", section)}
    result.details["pytest"] = counts
    if result.status == "pass" and not counts.get("passed") and counts.get("skipped"):
        result.status, result.note = "skipped", f"no GPU: {counts['skipped']} tests skipped"
    elif counts:
        result.note = (result.note + "; " if result.note else "") + ", ".join(f"{n} {k}" for k, n in counts.items())
    return result


class CheckRecord:
    """gpu_check.json: settings and every stage so far, rewritten atomically after each stage."""

    def __init__(self, path: Path, settings: dict) -> None:
        self.path, self.settings, self.stages = path, settings, []

    def add(self, result: StageResult) -> None:
        self.stages.append(result)
        self.write()

    def write(self, **extra) -> None:
        payload = {**self.settings, **extra, "stages": [asdict(s) for s in self.stages]}
        write_atomic(self.path, json.dumps(payload, indent=1, default=str) + "\n")
