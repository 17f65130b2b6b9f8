"""Request traces in CSV: arrival time, prompt tokens and output tokens per request, in one of two schemas.

- Azure LLM inference trace: `TIMESTAMP,ContextTokens,GeneratedTokens` with ISO date-times.
- Plain: `arrival_s,prompt_tokens,output_tokens` with arrival times in seconds (any origin).

The header names the schema; columns may come in any order, and other columns are an error (a typo in a
column name would otherwise drop data silently).
"""

from __future__ import annotations

import csv
import datetime
import math
from importlib import resources
from pathlib import Path

AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
PLAIN_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")
TRACE_COLUMNS = AZURE_COLUMNS  # the bundled trace's schema
BUNDLED_TRACES = {"azure_conv": "azure_llm_2023_conv.csv"}


def bundled_trace_path(name: str) -> Path:
    """Path of a trace shipped with phasecal (see scheduler/traces/README.md for sources and licences)."""
    if name not in BUNDLED_TRACES:
        raise ValueError(f"unknown trace {name!r}: bundled traces are {', '.join(BUNDLED_TRACES)}")
    return Path(str(resources.files("phasecal.scheduler").joinpath("traces", BUNDLED_TRACES[name])))


def _schema(path: Path, header: list[str] | None) -> tuple[tuple[str, str, str], list[int]]:
    """The schema the header names and the position of each of its three columns."""
    names = [h.strip() for h in header or []]
    for schema in (AZURE_COLUMNS, PLAIN_COLUMNS):
        if sorted(names) == sorted(schema):
            return schema, [names.index(c) for c in schema]
    raise ValueError(f"{path}:1: header must be {','.join(AZURE_COLUMNS)} (Azure) or {','.join(PLAIN_COLUMNS)} "
                     f"(plain, seconds), got {','.join(names) or 'nothing'}")


def _arrival(path: Path, line: int, schema: tuple[str, ...], text: str) -> float:
    """Seconds (plain) or a POSIX timestamp (Azure) of one row."""
    if schema == AZURE_COLUMNS:
        try:
            ts = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{path}:{line}: column TIMESTAMP: not an ISO date-time: {text!r}") from None
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=datetime.UTC)  # only differences matter; naive times are one clock
        return ts.timestamp()
    try:
        t = float(text)
    except ValueError:
        raise ValueError(f"{path}:{line}: column arrival_s: not a number of seconds: {text!r}") from None
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"{path}:{line}: column arrival_s: must be finite and ≥ 0 seconds, got {text!r}")
    return t


def _tokens(path: Path, line: int, column: str, text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"{path}:{line}: column {column}: not an integer: {text!r}") from None
    if n < 1:
        raise ValueError(f"{path}:{line}: column {column}: must be ≥ 1 token, got {n}")
    return n


def load_trace(path: str | Path) -> tuple[list[float], list[int], list[int]]:
    """(arrival seconds from the first request, prompt tokens, output tokens), sorted by arrival.

    A bad row raises ValueError naming the file, the line and the column; a bad header names the columns
    expected.
    """
    path = Path(path)
    try:
        f = path.open(newline="")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such trace file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not a trace file") from None
    rows: list[tuple[float, int, int]] = []
    with f:
        reader = csv.reader(f)
        try:
            schema, cols = _schema(path, next(reader, None))
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != 3:
                    raise ValueError(f"{path}:{line}: expected 3 columns ({','.join(schema)}), got {len(row)}")
                cells = [row[i].strip() for i in cols]
                rows.append((_arrival(path, line, schema, cells[0]), _tokens(path, line, schema[1], cells[1]),
                             _tokens(path, line, schema[2], cells[2])))
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a text CSV file (undecodable bytes)") from None
        except csv.Error as e:
            raise ValueError(f"{path}:{reader.line_num}: not valid CSV ({e})") from None
    if not rows:
        raise ValueError(f"{path}: trace has no requests")
    rows.sort(key=lambda r: r[0])
    start = rows[0][0]
    return [r[0] - start for r in rows], [r[1] for r in rows], [r[2] for r in rows]
