"""Shape checks for records read back from JSON: a field holds what its annotation says, or TypeError.

The profile's derived values (`derived_values.py`, `crossover.py`, `threshold_types.py`) are rebuilt from
JSON a user may hand over; these checks turn a wrong shape into one TypeError naming the field, which
the profile loader reports in one line.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, fields


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_shape(value: object, annotation: str, where: str) -> None:
    """TypeError naming `where` unless `value` has the JSON shape of `annotation` (the field annotations of
    these records: numbers, strings, flags, dicts of numbers/strings/objects, tuples of numbers, or None)."""
    options = [a.strip() for a in annotation.split(" | ")]
    if value is None and "None" in options:
        return
    for opt in options:
        if opt == "float" and _number(value):
            return
        if opt == "int" and isinstance(value, int) and not isinstance(value, bool):
            return
        if opt == "str" and isinstance(value, str) or opt == "bool" and isinstance(value, bool):
            return
        if opt.startswith("dict") and isinstance(value, dict):
            inner = opt[5:-1].split(", ", 1)[-1] if "[" in opt else ""
            bad = [k for k, v in value.items() if inner == "float" and not _number(v) or inner == "str"
                   and not isinstance(v, str) or inner == "dict" and not isinstance(v, dict)
                   or inner == "Interval" and not (isinstance(v, list | tuple) and len(v) == 2
                                                   and all(map(_number, v)))]
            if not bad:
                return
            raise TypeError(f"{where}.{bad[0]} does not fit {inner}, got {value[bad[0]]!r}")
        if opt.startswith("tuple[float") and isinstance(value, list | tuple) and all(map(_number, value)):
            return
    raise TypeError(f"{where} must be {annotation}, got {value!r}")


def checked(cls, d: object, where: str, skip: tuple[str, ...] = ()) -> dict:
    """The fields of record `cls` in `d`, each checked against its annotation (KeyError if one is missing)."""
    if not isinstance(d, dict):
        raise TypeError(f"{where} must be an object, got {type(d).__name__}")
    out = {}
    for f in fields(cls):
        if f.name not in d:
            if f.default is MISSING and f.default_factory is MISSING:
                raise KeyError(f"{where}.{f.name}")
            continue
        if f.name not in skip:
            check_shape(d[f.name], str(f.type), f"{where}.{f.name}")
        out[f.name] = d[f.name]
    return out
