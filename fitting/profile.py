"""The profile format: a device's fitted step-cost model and what is derived from it, as plain JSON.

Defined once here, torch-free; `save_profile` and `load_profile` are its only writer and reader.
Nothing is pickled: coefficients are numbers, and loading validates every field it relies on.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from phasecal.atomic import write_atomic
from phasecal.schemas import check

from .derived_values import Derived

PROFILE_SCHEMA_VERSION = 2  # 2: typed derived values, crossovers in derived.crossover


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the field."""


@dataclass
class ExclusiveCosts:
    """The paper's exclusive-step model: T_p = alpha_p + beta_p*n_p, T_d = alpha_d + beta_d*n_d (seconds)."""

    alpha_p: float
    beta_p: float
    alpha_d: float
    beta_d: float


@dataclass
class MixedCost:
    """MB effective marginal cost per token at token budget B: beta_MB(r) = a + b*r + c*r^2 (s/token)."""

    budget: int
    a: float
    b: float
    c: float
    alpha: float | None = None  # alpha_MB: per-step overhead of a mixed step (s), where the fit separates it

    def beta_mb(self, r: float) -> float:
        return self.a + self.b * r + self.c * r * r


@dataclass
class StepModel:
    """A fitted step-time model: `family` names the functional form, `params` its numbers."""

    family: str
    params: dict[str, float]


@dataclass
class FamilyScore:
    """Held-out error of one model family (MAPE in percent); `params` are its coefficients on all data."""

    name: str
    cv_mape: float | None
    extrap_mape: float | None
    n_points: int
    parametric: bool = True
    params: dict[str, float] = field(default_factory=dict)
    note: str = ""  # why a score is missing (too few points, ...)
    extrap_points: int | None = None  # steps held out for the extrapolation score


@dataclass
class Profile:
    """Everything the scheduler and the reports need to know about one device running one model."""

    device: dict
    model: dict
    exclusive: dict[str, ExclusiveCosts]  # "eager" and, where measured, "graph"
    step_model: StepModel | None = None
    mixed: MixedCost | None = None
    families: list[FamilyScore] = field(default_factory=list)
    derived: Derived = field(default_factory=Derived)  # crossovers, intervals, EB decisions per workload, ...
    software: dict = field(default_factory=dict)
    probe_settings: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    graph_step_model: StepModel | None = None  # the chosen family fitted on CUDA-Graph steps, where measured
    points: list[dict] = field(default_factory=list)  # fitted steps: features, measured, fitted, held-out (s)
    schema_version: int = PROFILE_SCHEMA_VERSION

    def to_dict(self) -> dict:
        d = _plain(asdict(self))  # nested records (derived values included) as plain JSON values
        for key in ("tensor_parallel", "kv_spill"):  # absent ones stay out: such profiles read as written before
            if d["derived"].get(key) is None:
                d["derived"].pop(key, None)
        return d

    def predict(self, prefill: int | list[tuple[int, int]] = (), decode: int | list[int] = (), *,
                context: int = 0, graph: bool = False) -> float:
        """Seconds for one step under this profile, e.g. `p.predict(prefill=512)` (one 512-token prompt),
        `p.predict(decode=64, context=2048)` (64 decodes on 2,048 cached tokens each) or
        `p.predict(prefill=[(256, 1024)], decode=[900, 3000])` (a chunk of 256 new tokens on 1,024 cached
        ones, and two decodes with their contexts). `graph`: a pure-decode step as a CUDA Graph replay."""
        from .features import step_features
        from .predict import profile_step_time

        chunks = [(prefill, context)] if isinstance(prefill, int) else list(prefill)
        contexts = [context] * decode if isinstance(decode, int) else list(decode)
        if any(q < 1 or c < 0 for q, c in chunks) or any(c < 0 for c in contexts):
            raise ValueError("a prefill chunk needs ≥ 1 new token and contexts must be ≥ 0")
        if not chunks and not contexts:
            raise ValueError("an empty step: give prefill tokens, decodes, or both")
        return profile_step_time(self, step_features(chunks, contexts, graph=graph))


def _plain(value: object) -> object:
    """Tuples as lists, recursively: what JSON gives back, so a saved profile equals its to_dict."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def save_profile(profile: Profile, path: str | os.PathLike) -> Path:
    """Write a profile atomically (temp file + rename): a reader never sees half a file."""
    path = Path(path)
    data = profile.to_dict()
    _validate(data, str(path))
    return write_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def load_profile(path: str | os.PathLike) -> Profile:
    """Read and validate a profile; ProfileError naming the field if anything is malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile (write one with `phasecal run` or `phasecal fit`)") from None
    except IsADirectoryError:
        raise ProfileError(f"{path}: is a folder, not a profile JSON file") from None
    except UnicodeDecodeError as e:
        raise ProfileError(f"{path}: not a text file (byte {e.start} is not UTF-8); is it a profile?") from None
    except json.JSONDecodeError as e:
        raise ProfileError(f"{path}: not valid JSON, truncated or corrupt ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise ProfileError(f"{path}: JSON nested too deeply to be a profile") from None
    return profile_from_dict(data, str(path))


def profile_from_dict(data: object, where: str = "profile") -> Profile:
    """Validate a decoded profile (form, then meaning) and build the dataclasses."""
    from .profile_meaning import check_meaning  # it runs the step models, whose module imports this one

    _validate(data, where)
    as_written = data
    if data["schema_version"] < 2:
        data = _upgrade_v1(data)
    profile = Profile(
        device=data["device"],
        model=data["model"],
        exclusive={k: ExclusiveCosts(**v) for k, v in data["exclusive"].items()},
        step_model=StepModel(**data["step_model"]) if data.get("step_model") else None,
        mixed=MixedCost(**data["mixed"]) if data.get("mixed") else None,
        families=[FamilyScore(**f) for f in data.get("families", [])],
        derived=_derived(data, where),
        software=data.get("software", {}),
        probe_settings=data.get("probe_settings", {}),
        provenance=data.get("provenance", {}),
        graph_step_model=StepModel(**data["graph_step_model"]) if data.get("graph_step_model") else None,
        points=data.get("points", []),
        schema_version=data["schema_version"],
    )
    check_meaning(profile, where)
    check(as_written, "profile", where, ProfileError)  # the shipped schema: what the checks above leave
    return profile


# v1 profiles kept the share crossover in mixed and the EB thresholds untyped: both are re-derived now
_V1_DROPPED = {"mixed": ("crossover_share",), "derived": ("eb_thresholds",)}


def _upgrade_v1(data: dict) -> dict:
    data = dict(data)
    for section, keys in _V1_DROPPED.items():
        if isinstance(data.get(section), dict):
            data[section] = {k: v for k, v in data[section].items() if k not in keys}
    return data


def _derived(data: dict, where: str) -> Derived:
    try:
        return Derived.from_dict(data.get("derived") or {})
    except (KeyError, TypeError, ValueError, IndexError) as e:
        detail = str(e).replace("\r", "\\r").replace("\n", "\\n")  # a key may hold line breaks: one line
        _fail(where, "derived", f"is malformed ({type(e).__name__}: {detail}): refit with `phasecal fit`")


def _fail(where: str, field_path: str, msg: str):
    raise ProfileError(f"{where}: field '{field_path}' {msg}")


def _number(where: str, field_path: str, value: object, *, nonneg: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(where, field_path, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        _fail(where, field_path, f"must be finite, got {value!r}")
    if nonneg and value < 0:
        _fail(where, field_path, f"is a cost and must not be negative, got {value!r}")


def _object(where: str, field_path: str, value: object, keys: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        _fail(where, field_path, f"must be an object, got {type(value).__name__}")
    for k in keys:
        if k not in value:
            _fail(where, f"{field_path}.{k}", "is missing")
    return value


def _validate(data: object, where: str) -> None:
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a profile is a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        _fail(where, "schema_version", f"must be an integer, got {version!r}")
    if version > PROFILE_SCHEMA_VERSION or version < 1:
        _fail(where, "schema_version", f"is {version}; this phasecal reads 1..{PROFILE_SCHEMA_VERSION}: "
                                       "upgrade phasecal to read newer profiles")
    _object(where, "profile", data, ("device", "model", "exclusive"))
    for name in ("device", "model"):
        _object(where, name, data[name], ("name",))
        if not isinstance(data[name]["name"], str):
            _fail(where, f"{name}.name", f"must be a string, got {data[name]['name']!r}")
    for name in ("derived", "software", "probe_settings", "provenance"):
        if not isinstance(data.get(name, {}), dict):
            _fail(where, name, f"must be an object, got {type(data[name]).__name__}")
    exclusive = _object(where, "exclusive", data["exclusive"], ("eager",))
    for mode, costs in exclusive.items():
        _object(where, f"exclusive.{mode}", costs, ("alpha_p", "beta_p", "alpha_d", "beta_d"))
        for k in ("alpha_p", "beta_p", "alpha_d", "beta_d"):
            _number(where, f"exclusive.{mode}.{k}", costs[k])
    for name in ("step_model", "graph_step_model"):
        if data.get(name) is not None:
            sm = _object(where, name, data[name], ("family", "params"))
            _only_keys(where, name, sm, ("family", "params"))
            if not isinstance(sm["family"], str):
                _fail(where, f"{name}.family", f"must be a string, got {sm['family']!r}")
            _object(where, f"{name}.params", sm["params"], ())
            for k, v in sm["params"].items():
                _number(where, f"{name}.params.{k}", v, nonneg=False)
    if data.get("mixed") is not None:
        mixed = _object(where, "mixed", data["mixed"], ("budget", "a", "b", "c"))
        _number(where, "mixed.budget", mixed["budget"])
        for k in ("a", "b", "c"):
            _number(where, f"mixed.{k}", mixed[k], nonneg=False)
        legacy = ("crossover_share",) if version < 2 else ()
        _only_keys(where, "mixed", mixed, ("budget", "a", "b", "c", "alpha", *legacy))
        if mixed.get("alpha") is not None:
            _number(where, "mixed.alpha", mixed["alpha"], nonneg=False)
    families = data.get("families", [])
    if not isinstance(families, list):
        _fail(where, "families", f"must be a list, got {type(families).__name__}")
    for i, fam in enumerate(families):
        _object(where, f"families[{i}]", fam, ("name", "cv_mape", "extrap_mape", "n_points"))
        _only_keys(where, f"families[{i}]", fam,
                   ("name", "cv_mape", "extrap_mape", "n_points", "parametric", "params", "note", "extrap_points"))
        for k in ("cv_mape", "extrap_mape"):
            if fam[k] is not None:
                _number(where, f"families[{i}].{k}", fam[k])
        _typed(where, f"families[{i}]", fam, {"name": str, "n_points": int, "parametric": bool, "note": str})
        _object(where, f"families[{i}].params", fam.get("params", {}), ())
        for k, v in fam.get("params", {}).items():
            _number(where, f"families[{i}].params.{k}", v, nonneg=False)
    points = data.get("points", [])
    if not isinstance(points, list):
        _fail(where, "points", f"must be a list, got {type(points).__name__}")
    for i, point in enumerate(points):
        _object(where, f"points[{i}]", point, ("measured_s", "fitted_s"))
        _typed(where, f"points[{i}]", point, {"graph": bool, "grid": str})
        for k, v in point.items():
            if k not in ("graph", "grid"):
                _number(where, f"points[{i}].{k}", v)


def _typed(where: str, field_path: str, value: dict, types: dict[str, type]) -> None:
    """Fields of `value` that are present (and not null) have the given types (an int is not a bool)."""
    for k, t in types.items():
        v = value.get(k)
        if v is not None and (not isinstance(v, t) or (t is int and isinstance(v, bool))):
            _fail(where, f"{field_path}.{k}", f"must be {t.__name__}, got {v!r}")


def _only_keys(where: str, field_path: str, value: dict, allowed: tuple[str, ...]) -> None:
    for k in value:
        if k not in allowed:
            _fail(where, f"{field_path}.{k}", f"is not a known field (known: {', '.join(allowed)})")
