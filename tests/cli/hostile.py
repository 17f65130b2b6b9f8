"""Helpers of the hostile-input tests: run the CLI, and check a refusal is exit 2 with one line naming the problem."""

import json
from pathlib import Path

from typer.testing import CliRunner

from phasecal.cli import app

ROOT = Path(__file__).resolve().parents[2]
CPU_PROFILE = ROOT / "results" / "cpu-intel-r-xeon-r-processor" / "tiny" / "profile.json"
runner = CliRunner()


def phasecal(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_refused(res, *words: str) -> str:
    """Exit 2, exactly one line on stderr, no traceback, and every word of `words` in that line."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def profile_dict() -> dict:
    return json.loads(CPU_PROFILE.read_text())


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path
