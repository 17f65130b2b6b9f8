"""`phasecal report`: execute the comparison notebooks against results/ and write them as HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    out: Annotated[Path, typer.Option("--out", help="Folder for the HTML pages (created if missing).")]
    = Path("reports/html"),
    results: Annotated[list[Path] | None, typer.Option(
        "--results", help="Results folder: <device>/<model>/raw.jsonl and profile.json, plus reference/; "
        "repeat to compare several (e.g. one per machine).")] = None,
    update_notebooks: Annotated[bool, typer.Option(
        "--update-notebooks", help="Also write each executed .ipynb beside its .py source.")] = False,
) -> None:
    """Execute the device, step-cost and scheduling notebooks on RESULTS (one folder or several) and write one
    HTML page each to OUT."""
    results = results or [Path("results")]
    try:
        from phasecal.reports.run import execute_reports_timed
    except ImportError as e:
        raise ValueError(f"{e}; install the report extras: pip install 'phasecal[reports]'") from None
    for e in execute_reports_timed(results, out, update_notebooks=update_notebooks):
        extra = f", notebook {e.ipynb}" if e.ipynb else ""
        print(f"{e.name}: {e.html} ({e.seconds:.1f} s{extra})")
