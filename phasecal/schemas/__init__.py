"""The JSON Schemas of the files phasecal writes and keeps under results/, and the one check the loaders use.

A file's kind comes from its `kind` key where its writer puts one, else from its name (`Kind.names`). JSON
files are one document, JSONL files one document a line, CSV files one row object a line: the header
must name only columns of the row schema's properties and every required one, and each cell is read as
the first of its column's types that it parses as (an empty cell as null where null is allowed). Markdown
is prose: it only has to be non-empty UTF-8. Every failure is a SchemaError (a ValueError, so the CLI
exits 2) of one line: the file (and line), the JSON path, and what is wrong.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import io
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

BASE = "https://phasecal.invalid/schemas/"


@dataclass(frozen=True)
class Kind:
    """One kind of file: its schema ("<file>" or "<file>#<pointer>"; None for prose), the file-name
    patterns that identify it when it carries no `kind` key, and its form (json, jsonl, csv or text)."""

    name: str
    schema: str | None
    names: tuple[str, ...]
    form: str = "json"


# first match by name wins; a `kind` key in the document wins over the name
KINDS: tuple[Kind, ...] = (
    Kind("profile", "profile.schema.json", ("*profile.json",)),
    Kind("schedule", "schedule.schema.json", ("schedule_*.json",)),
    Kind("suite_summary", "suite_summary.schema.json", ("summary.json",)),  # simulate's summary.json has kind=schedule
    Kind("raw", "raw_record.schema.json", ("raw.jsonl", "*.raw.jsonl"), "jsonl"),
    Kind("load_sweep", "load_sweep.schema.json", ("sweep.json",)),
    Kind("load_sweep_row", "load_sweep.schema.json#/$defs/point", ("sweep.csv",), "csv"),
    Kind("requests", "requests.schema.json", ("requests_*.csv",), "csv"),
    Kind("scheduler_bench", "scheduler_bench.schema.json", ("bench.json",)),
    Kind("validation", "validation.schema.json", ("validation.json",)),
    Kind("fair_vs_mb", "fair_study.schema.json", ("fair_vs_mb.json",)),
    Kind("fair_vs_mb_row", "fair_study.schema.json#/$defs/csv_row", ("fair_vs_mb.csv",), "csv"),
    Kind("fair_executed", "fair_study.schema.json#/$defs/executed", ("executed_*.json",)),
    Kind("paper_pd_calibration", "paper_reference.schema.json#/$defs/pd_calibration",
         ("eb_paper_pd_calibration_*.json",)),
    Kind("paper_beta_mb", "paper_reference.schema.json#/$defs/beta_mb", ("eb_paper_beta_mb_*.json",)),
    Kind("paper_attention", "paper_reference.schema.json#/$defs/attention", ("eb_paper_attention_*.json",)),
    Kind("markdown", None, ("*.md",), "text"),
)
BY_NAME = {k.name: k for k in KINDS}
MESSAGE_CHARS = 200  # a message quoting a large value is cut: the line names the path to look at


class SchemaError(ValueError):
    """A file or document that does not match its schema; the message is one line."""


def schema_files() -> dict[str, dict]:
    """Every shipped schema by file name."""
    folder = resources.files(__name__)
    return {f.name: json.loads(f.read_text(encoding="utf-8")) for f in folder.iterdir()
            if f.name.endswith(".schema.json")}


@functools.cache
def _registry():
    from referencing import Registry, Resource

    return Registry().with_resources((BASE + name, Resource.from_contents(s)) for name, s in schema_files().items())


@functools.cache
def validator(kind: str):
    """A compiled validator for one kind's schema (the file's, or the definition its pointer names)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": BASE + BY_NAME[kind].schema}, registry=_registry())


def row_schema(kind: str) -> dict:
    """The schema one row of a CSV kind is checked against (its properties are the allowed columns)."""
    return _registry().resolver().lookup(BASE + BY_NAME[kind].schema).contents


def kind_of(path: str | Path, doc: object = None) -> Kind:
    """The kind of a file: its document's `kind` key where that names one, else the first name pattern
    that matches; SchemaError if neither does."""
    if isinstance(doc, dict) and doc.get("kind") in BY_NAME:
        return BY_NAME[doc["kind"]]
    name = Path(path).name
    for kind in KINDS:
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in kind.names):
            return kind
    raise SchemaError(f"{path}: no schema for a file of this name (phasecal knows "
                      f"{', '.join(p for k in KINDS for p in k.names)})")


def _json_path(parts) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" if re.fullmatch(r"[A-Za-z_]\w*", p)
                         else f"[{json.dumps(p)}]" for p in parts)


def check(doc: object, kind: str, where: str, error: type[ValueError] = SchemaError) -> None:
    """Raise `error` (one line: where, the JSON path, what is wrong) unless doc matches the kind's schema."""
    from jsonschema.exceptions import best_match

    try:
        found = best_match(validator(kind).iter_errors(doc))
    except RecursionError:
        raise error(f"{where}: nested too deeply to be a {kind} document") from None
    if found is not None:
        message = found.message.replace("\r", "\\r").replace("\n", "\\n")  # a quoted value may hold line breaks
        if len(message) > MESSAGE_CHARS:
            message = message[:MESSAGE_CHARS] + "…"
        raise error(f"{where}: {_json_path(found.absolute_path)}: {message} (schema: {kind})")


def _cell(text: str, types: list[str]) -> object:
    """A CSV cell as the first of the column's JSON types it parses as; the text itself if none."""
    for t in types:
        if t == "null" and text == "":
            return None
        if t == "integer" and re.fullmatch(r"-?\d+", text):
            return int(text)
        if t == "number" and re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|-?inf|nan", text):
            return float(text)
        if t == "boolean" and text in ("True", "False", "true", "false"):
            return text in ("True", "true")
        if t == "string":
            return text
    return text


def _types(column: dict) -> list[str]:
    """A column's JSON types in parsing order; a column without one (a $ref) is parsed as the cell reads."""
    t = column.get("type", ["integer", "number", "boolean", "string"])
    return t if isinstance(t, list) else [t]


def check_csv(text: str, kind: str, where: str) -> int:
    """Check a CSV kind: the header against the row schema, then every row; the number of rows."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        types = _check_header(header, kind, where)
        rows = 0
        for cells in reader:
            at = f"{where}:{reader.line_num}"
            if len(cells) != len(header):
                raise SchemaError(f"{at}: {len(cells)} cells under a header of {len(header)} columns")
            check({c: _cell(v, types[c]) for c, v in zip(header, cells, strict=True)}, kind, at)
            rows += 1
    except csv.Error as e:  # a field past the csv module's size limit, say
        raise SchemaError(f"{where}:{reader.line_num}: not readable as CSV ({e})") from None
    return rows


def _check_header(header: list[str] | None, kind: str, where: str) -> dict[str, list[str]]:
    """The header names only columns of the row schema, each once, and every required one; their types."""
    schema = row_schema(kind)
    columns = schema.get("properties", {})
    if not header:
        raise SchemaError(f"{where}: empty CSV (no header line)")
    unknown = [c for c in header if c not in columns]
    missing = [c for c in schema.get("required", []) if c not in header]
    problem = (f"names unknown columns {unknown}" if unknown else f"lacks columns {missing}" if missing
               else "repeats a column" if len(set(header)) < len(header) else "")
    if problem:
        raise SchemaError(f"{where}:1: header {problem} (schema: {kind})")
    return {c: _types(columns[c]) for c in header}


def check_file(path: str | Path, kind: str | None = None) -> Kind:
    """Check a file against its kind's schema (the given kind, else found by `kind_of`); its kind."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SchemaError(f"{path}: not UTF-8 text (byte {e.start})") from None
    found = BY_NAME[kind] if kind is not None else kind_of(path)
    if found.form == "text":
        if not text.strip():
            raise SchemaError(f"{path}: empty")
    elif found.form == "csv":
        check_csv(text, found.name, str(path))
    elif found.form == "jsonl":
        if not text.strip():
            raise SchemaError(f"{path}: empty")
        for i, line in enumerate(text.splitlines(), start=1):
            check(_decode(line, f"{path}:{i}"), found.name, f"{path}:{i}")
    else:
        doc = _decode(text, str(path))
        found = BY_NAME[kind] if kind is not None else kind_of(path, doc)
        check(doc, found.name, str(path))
    return found


def _decode(text: str, where: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SchemaError(f"{where}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise SchemaError(f"{where}: JSON nested too deeply") from None
