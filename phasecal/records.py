"""The raw-record format: one jsonl file per probe run, a header line then one line per measured point.

Defined once here, torch-free, so that the probes (writers) and the fitting (reader) share it.
Points are appended one line at a time and flushed, so an interrupted run keeps every finished
point and a rerun resumes by skipping the keys already present.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from phasecal.point_params import ParamsError, params_from_dict

RAW_SCHEMA_VERSION = 1


class RawFormatError(ValueError):
    """A raw jsonl file that cannot be read as phasecal records; the message names file and line."""


@dataclass
class RunHeader:
    """First line of a raw file: what was measured where, and how."""

    device: dict
    settings: dict
    model: dict | None = None
    command: str = ""
    started: str = ""
    schema_version: int = RAW_SCHEMA_VERSION
    kind: str = "header"


@dataclass
class PointRecord:
    """One measured point. `key` is unique within a run; `params` says what was measured.

    `params` is the `to_dict` of the probe's params class (phasecal/point_params.py), checked on reading;
    `extra` holds the timing's conditions and the rates the probe derives from `median_s`.
    """

    probe: str
    key: str
    params: dict
    median_s: float
    spread: float  # (p90 - p10) / median of the samples
    samples_s: list[float]
    throttled: bool = False
    extra: dict = field(default_factory=dict)  # derived rates, clocks, temperatures
    kind: str = "point"


def append_record(path: str | os.PathLike, record: RunHeader | PointRecord) -> None:
    """Append one record as one line and flush it to disk, so a crash never leaves half a point."""
    line = json.dumps(asdict(record), allow_nan=False) + "\n"
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _check_point(d: dict, where: str) -> PointRecord:
    try:
        rec = PointRecord(**d)
    except TypeError as e:
        raise RawFormatError(f"{where}: not a point record ({e})") from None
    if not isinstance(rec.median_s, int | float) or not math.isfinite(rec.median_s) or rec.median_s <= 0:
        raise RawFormatError(f"{where}: median_s must be a positive finite time in seconds, got {rec.median_s!r}")
    if not rec.samples_s or any(not isinstance(s, int | float) or not math.isfinite(s) or s <= 0
                                for s in rec.samples_s):
        raise RawFormatError(f"{where}: samples_s must be a non-empty list of positive finite seconds")
    try:
        params_from_dict(rec.probe, rec.params, f"{where}: params")
    except ParamsError as e:
        raise RawFormatError(str(e)) from None
    return rec


def read_raw(path: str | os.PathLike) -> tuple[RunHeader, list[PointRecord]]:
    """Read and validate a raw file. A last line cut off mid-write (no newline) is dropped;
    any other malformed line raises RawFormatError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise RawFormatError(f"{path}: no such raw file (write one with `phasecal probe` or `phasecal run`)")
    text = path.read_text()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # torn tail of an interrupted append: the point was not finished
    if not lines:
        raise RawFormatError(f"{path}: empty raw file (no header line)")
    header: RunHeader | None = None
    points: list[PointRecord] = []
    for i, line in enumerate(lines, start=1):
        where = f"{path}:{i}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise RawFormatError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(d, dict):
            raise RawFormatError(f"{where}: expected a JSON object")
        kind = d.get("kind")
        if i == 1:
            if kind != "header":
                raise RawFormatError(f"{where}: first line must be the run header, found kind={kind!r}")
            version = d.get("schema_version")
            if not isinstance(version, int) or version > RAW_SCHEMA_VERSION or version < 1:
                raise RawFormatError(f"{where}: raw schema_version {version!r} is not supported "
                                     f"(this phasecal reads 1..{RAW_SCHEMA_VERSION}); upgrade phasecal")
            try:
                header = RunHeader(**d)
            except TypeError as e:
                raise RawFormatError(f"{where}: malformed header ({e})") from None
        elif kind == "point":
            points.append(_check_point(d, where))
        else:
            raise RawFormatError(f"{where}: unknown record kind {kind!r}")
    assert header is not None
    return header, points


def finished_keys(path: str | os.PathLike) -> set[str]:
    """Keys of the points already in a raw file (empty if it does not exist): what a resume skips."""
    if not Path(path).exists():
        return set()
    return {p.key for p in read_raw(path)[1]}
