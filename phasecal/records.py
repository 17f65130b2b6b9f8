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
from phasecal.schemas import check

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


def heal_raw(path: str | os.PathLike) -> int:
    """Cut a torn last line (an append cut off by a crash or a full disk: no closing newline) back to
    the last whole record, so the next append starts on a fresh line; returns the bytes cut (0 if none)."""
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        keep, pos = 0, size  # scan back in blocks for the last newline
        while pos > 0 and not keep:
            start = max(0, pos - 65536)
            f.seek(start)
            block = f.read(pos - start)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
            pos = start
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


def _check_point(d: dict, where: str) -> PointRecord:
    try:
        rec = PointRecord(**d)
    except TypeError as e:
        raise RawFormatError(f"{where}: not a point record ({e})") from None
    if not isinstance(rec.median_s, int | float) or not math.isfinite(rec.median_s) or rec.median_s <= 0:
        raise RawFormatError(f"{where}: median_s must be a positive finite time in seconds, got {rec.median_s!r}")
    samples = rec.samples_s
    if not isinstance(samples, list) or not samples or any(
            not isinstance(s, int | float) or not math.isfinite(s) or s <= 0 for s in samples):
        raise RawFormatError(f"{where}: samples_s must be a non-empty list of positive finite seconds")
    for name, types in (("probe", str), ("key", str), ("throttled", bool), ("extra", dict)):
        if not isinstance(getattr(rec, name), types):
            raise RawFormatError(f"{where}: field '{name}' must be {types.__name__}, "
                                 f"got {getattr(rec, name)!r}")
    if isinstance(rec.spread, bool) or not isinstance(rec.spread, int | float) or not math.isfinite(rec.spread):
        raise RawFormatError(f"{where}: field 'spread' must be a finite number, got {rec.spread!r}")
    try:
        params_from_dict(rec.probe, rec.params, f"{where}: params")
    except ParamsError as e:
        raise RawFormatError(str(e)) from None
    return rec


def _check_header(d: dict, where: str) -> RunHeader:
    try:
        header = RunHeader(**d)
    except TypeError as e:
        raise RawFormatError(f"{where}: malformed header ({e})") from None
    for name, types, what in (("device", dict, "an object"), ("settings", dict, "an object"),
                              ("model", dict | None, "an object or null"), ("command", str, "a string"),
                              ("started", str, "a string")):
        if not isinstance(getattr(header, name), types):
            raise RawFormatError(f"{where}: header field '{name}' must be {what}, "
                                 f"got {type(getattr(header, name)).__name__}")
    for name in ("name", "slug"):
        if not isinstance(header.device.get(name, ""), str):
            raise RawFormatError(f"{where}: header field 'device.{name}' must be a string")
    if header.model is not None and not isinstance(header.model.get("name", ""), str):
        raise RawFormatError(f"{where}: header field 'model.name' must be a string")
    return header


def read_raw(path: str | os.PathLike) -> tuple[RunHeader, list[PointRecord]]:
    """Read and validate a raw file. A last line cut off mid-write (no newline) is dropped;
    any other malformed line raises RawFormatError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise RawFormatError(f"{path}: no such raw file (write one with `phasecal probe` or `phasecal run`)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RawFormatError(f"{path}: not a text file (byte {e.start} is not UTF-8); is it a phasecal raw file?") \
            from None
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
        except RecursionError:
            raise RawFormatError(f"{where}: JSON nested too deeply to be a phasecal record") from None
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
            header = _check_header(d, where)
        elif kind == "point":
            points.append(_check_point(d, where))
        else:
            raise RawFormatError(f"{where}: unknown record kind {kind!r}")
        check(d, "raw", where, RawFormatError)
    assert header is not None
    return header, points


def finished_keys(path: str | os.PathLike) -> set[str]:
    """Keys of the points already in a raw file (empty if it does not exist): what a resume skips."""
    if not Path(path).exists():
        return set()
    return {p.key for p in read_raw(path)[1]}
