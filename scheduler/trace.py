"""Request traces in CSV (the Azure LLM inference trace format): arrival timestamp, prompt and output tokens."""

from __future__ import annotations

import csv
import datetime
from importlib import resources
from pathlib import Path

TRACE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
BUNDLED_TRACES = {"azure_conv": "azure_llm_2023_conv.csv"}


def bundled_trace_path(name: str) -> Path:
    """Path of a trace shipped with phasecal (see scheduler/traces/README.md for sources and licences)."""
    if name not in BUNDLED_TRACES:
        raise ValueError(f"unknown trace {name!r}: bundled traces are {', '.join(BUNDLED_TRACES)}")
    return Path(str(resources.files("phasecal.scheduler").joinpath("traces", BUNDLED_TRACES[name])))


def load_trace(path: str | Path) -> tuple[list[float], list[int], list[int]]:
    """(arrival seconds from the first request, prompt tokens, output tokens), sorted by arrival.

    A bad row raises ValueError naming the file, the line and the column.
    """
    path = Path(path)
    try:
        f = path.open(newline="")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such trace file") from None
    arrivals: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header[:3]) != TRACE_COLUMNS:
            raise ValueError(f"{path}:1: header must start with {','.join(TRACE_COLUMNS)}, got {header!r}")
        t0 = None
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < 3:
                raise ValueError(f"{path}:{line}: expected 3 columns {TRACE_COLUMNS}, got {len(row)}")
            try:
                ts = datetime.datetime.fromisoformat(row[0].strip())
            except ValueError:
                raise ValueError(f"{path}:{line}: column TIMESTAMP: not an ISO date-time: {row[0]!r}") from None
            for col, value in ((1, row[1]), (2, row[2])):
                try:
                    n = int(value)
                except ValueError:
                    raise ValueError(f"{path}:{line}: column {TRACE_COLUMNS[col]}: not an integer: {value!r}") from None
                if n < 1:
                    raise ValueError(f"{path}:{line}: column {TRACE_COLUMNS[col]}: must be ≥ 1 token, got {n}")
            t0 = ts if t0 is None else t0
            arrivals.append((ts - t0).total_seconds())
            prompts.append(int(row[1]))
            outputs.append(int(row[2]))
    if not arrivals:
        raise ValueError(f"{path}: trace has no requests")
    order = sorted(range(len(arrivals)), key=arrivals.__getitem__)
    start = arrivals[order[0]]
    return [arrivals[i] - start for i in order], [prompts[i] for i in order], [outputs[i] for i in order]
