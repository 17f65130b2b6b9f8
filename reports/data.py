"""What is in results/: measured runs and fitted profiles per device and model, plus published references.

Everything is discovered, nothing is listed by name: every `*.jsonl` under the results folder whose
first line is a phasecal run header is a raw run, every `profile.json` a fitted profile. A run
belongs to the `results/<device-slug>/<model>/` folder it lies in, so a new device's folder shows
up in every figure without a code change. Files under `results/reference/` are published figures
measured elsewhere and are kept apart from the measured ones.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from phasecal.fitting.profile import Profile, ProfileError, load_profile
from phasecal.probes.suite_summary import SuiteSummary
from phasecal.records import PointRecord, RawFormatError, RunHeader, read_raw

REFERENCE_DIR = "reference"
REPO = Path(__file__).resolve().parent.parent  # the repository root, in a checkout or an editable install


def default_results_dirs(repo: Path = REPO) -> list[Path]:
    """`$PHASECAL_RESULTS` if set (several folders joined by `os.pathsep`), else `results/` at the repository
    root beside `reports/`, else the nearest `results/` above the working directory (a notebook opened with
    `jupyter lab reports/notebooks` from an installed wheel runs in that folder)."""
    env = os.environ.get("PHASECAL_RESULTS")
    if env:
        return [Path(p).expanduser().absolute() for p in env.split(os.pathsep) if p]
    beside = repo / "results"
    if beside.is_dir():
        return [beside]
    cwd = Path.cwd()
    return [next((d / "results" for d in (cwd, *cwd.parents) if (d / "results").is_dir()), beside)]


def walk_files(root: Path, pattern: str) -> list[Path]:
    """Files under `root` matching `pattern`, following symlinked folders (each real folder once), sorted.
    Paths stay under `root` as found, so a result folder linked in from elsewhere keeps its place."""
    found, seen = [], set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        found += [Path(folder) / f for f in files if fnmatch.fnmatch(f, pattern)]
    return sorted(found)


@dataclass
class RawRun:
    """One raw jsonl file: its header and its points."""

    path: Path
    header: RunHeader
    points: list[PointRecord]


@dataclass
class DeviceResults:
    """Everything measured and fitted for one device running one model (one `results/<device>/<model>/`)."""

    slug: str
    model: str
    runs: list[RawRun] = field(default_factory=list)
    profile: Profile | None = None
    profile_path: Path | None = None
    root: Path = Path(".")
    skipped: list[str] = field(default_factory=list)  # probe parts not run here, with why (suite summary.json)
    origin: str = ""  # the results folder, named when the same device and model come from two folders

    @property
    def device_name(self) -> str:
        """The device's own name (from a run header or the profile), else its folder name."""
        for run in self.runs:
            if run.header.device.get("name"):
                return str(run.header.device["name"])
        if self.profile is not None and self.profile.device.get("name"):
            return str(self.profile.device["name"])
        return self.slug

    @property
    def label(self) -> str:
        """How figures name this device and model."""
        name = self.device_name
        head = name if name == self.slug else f"{name} [{self.slug}]"
        return f"{head} · {self.model}" + (f" ({self.origin})" if self.origin else "")

    @property
    def device(self) -> dict:
        """The device fingerprint of the first run (or of the profile)."""
        for run in self.runs:
            return run.header.device
        return self.profile.device if self.profile is not None else {}

    def points(self, probe: str) -> list[PointRecord]:
        """All points of one probe ("step", "bandwidth", "launch", "gemm", "attention") across runs."""
        return [p for run in self.runs for p in run.points if p.probe == probe]

    def sources(self, probe: str | None = None) -> list[str]:
        """Paths (relative to the results folder's parent) of the files a figure of `probe` reads."""
        paths = [run.path for run in self.runs if probe is None or any(p.probe == probe for p in run.points)]
        if probe is None and self.profile_path is not None:
            paths.append(self.profile_path)
        return [_relative(p, self.root) for p in paths]

    def profile_source(self) -> str | None:
        return None if self.profile_path is None else _relative(self.profile_path, self.root)


@dataclass
class ReferenceProfile:
    """A published calibration stored as a profile under results/reference/."""

    name: str
    profile: Profile
    path: Path
    root: Path

    @property
    def label(self) -> str:
        return f"{self.profile.device.get('name', self.name)} · {self.profile.model.get('name', '?')}"

    @property
    def source(self) -> str:
        return _relative(self.path, self.root)


@dataclass
class Results:
    """The contents of a results folder, as the figures use them."""

    root: Path
    devices: list[DeviceResults]
    references: list[ReferenceProfile]
    problems: list[str]  # files that could not be read, with why; shown in the notebooks
    roots: list[Path] = field(default_factory=list)  # every folder read (`root` is the first)

    def __post_init__(self):
        self.roots = self.roots or [self.root]

    def files(self, pattern: str) -> list[tuple[Path, Path]]:
        """(results folder, file) for every file matching `pattern` in every folder, symlinks followed."""
        return [(r, p) for r in self.roots if r.is_dir() for p in walk_files(r, pattern)]

    @property
    def where(self) -> str:
        """The folders read, as a reader would name them (`results/`)."""
        return ", ".join(f"{r.name}/" for r in self.roots)

    def with_profile(self) -> list[DeviceResults]:
        return [d for d in self.devices if d.profile is not None]

    def profiles(self) -> list[tuple[str, Profile, str, bool, DeviceResults | ReferenceProfile]]:
        """(label, profile, source, is a published reference, entry) of every profile: measured, then published."""
        out = [(d.label, d.profile, d.profile_source(), False, d) for d in self.with_profile()]
        return out + [(r.label, r.profile, r.source, True, r) for r in self.references]

    def summary(self) -> str:
        """One line per device and model: what was found."""
        if not self.devices:
            return f"no measured devices under {self.where}"
        lines = []
        for d in self.devices:
            counts = {}
            for run in d.runs:
                for p in run.points:
                    counts[p.probe] = counts.get(p.probe, 0) + 1
            probes = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no raw points"
            fitted = "profile" if d.profile is not None else "no profile"
            lines.append(f"{d.label}: {probes}; {fitted}")
        return "\n".join(lines)


def _relative(path: Path, root: Path) -> str:
    """A path as `results/...` (relative to the results folder's parent) when possible; symlinks are kept."""
    try:
        return str(Path(root.name) / Path(os.path.abspath(path)).relative_to(os.path.abspath(root)))
    except ValueError:
        return str(path)


def _shorten(message: str, root: Path) -> str:
    """A message with the results folder's absolute location cut to `results/...` (reports get committed)."""
    return message.replace(str(root.parent) + os.sep, "")


def _is_raw(path: Path) -> bool:
    """Whether a jsonl file starts with a phasecal run header (other jsonl files are not ours)."""
    try:
        with open(path) as f:
            first = json.loads(f.readline() or "null")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(first, dict) and first.get("kind") == "header"


def _folder_key(path: Path, root: Path) -> tuple[str, str] | None:
    """(device slug, model) from `root/<device>/<model>/...`; None for files not in such a folder."""
    parts = path.relative_to(root).parts
    if len(parts) < 3:
        return None
    return parts[0], parts[1]


def _as_roots(root) -> list[Path]:
    if root is None:
        return default_results_dirs()
    roots = [root] if isinstance(root, str | os.PathLike) else list(root)
    return [Path(r).expanduser().absolute() for r in roots]


def load_results(root: str | os.PathLike | Iterable[str | os.PathLike] | None = None) -> Results:
    """Discover and read every raw run and profile under `root`, one folder or several (default:
    `default_results_dirs()`). Symlinked folders are followed. The same device found in two folders (two
    machines of one kind) stays two entries, labelled by folder. Unreadable files do not stop the report:
    they are listed in `Results.problems`.
    """
    roots = _as_roots(root)
    devices: list[DeviceResults] = []
    references: dict[str, ReferenceProfile] = {}
    problems: list[str] = []
    for r in roots:
        if not r.is_dir():
            problems.append(f"{r}: no results folder (run `phasecal run` to measure this machine)")
            continue
        found, refs = _load_root(r, problems)
        devices += found
        for ref in refs:
            references.setdefault(ref.name, ref)
    labels = [d.label for d in devices]
    for d in devices:
        if labels.count(d.label) > 1:
            d.origin = d.root.name if len({x.root.name for x in devices}) > 1 else str(d.root)
    return Results(roots[0], devices, list(references.values()), problems, roots)


def _load_root(root: Path, problems: list[str]) -> tuple[list[DeviceResults], list[ReferenceProfile]]:
    """The devices and published references of one results folder."""
    by_key: dict[tuple[str, str], DeviceResults] = {}
    references: list[ReferenceProfile] = []

    def entry(key: tuple[str, str]) -> DeviceResults:
        if key not in by_key:
            by_key[key] = DeviceResults(slug=key[0], model=key[1], root=root)
        return by_key[key]

    for path in walk_files(root, "*.jsonl"):
        key = _folder_key(path, root)
        if key is None or key[0] == REFERENCE_DIR or not _is_raw(path):
            continue
        try:
            header, points = read_raw(path)
        except RawFormatError as e:
            problems.append(_shorten(str(e), root))
            continue
        entry(key).runs.append(RawRun(path, header, points))
    for path in walk_files(root, "profile.json"):
        key = _folder_key(path, root)
        if key is None:
            continue
        try:
            profile = load_profile(path)
        except ProfileError as e:
            problems.append(_shorten(str(e), root))
            continue
        if key[0] == REFERENCE_DIR:
            references.append(ReferenceProfile(key[1], profile, path, root))
        else:
            d = entry(key)
            d.profile, d.profile_path = profile, path
    for path in walk_files(root, "summary.json"):
        key = _folder_key(path, root)
        if key is None or key not in by_key or len(path.relative_to(root).parts) != 3:
            continue  # the suite's summary lies beside raw.jsonl (simulate's summary.json lies deeper)
        try:
            suite = SuiteSummary.from_dict(json.loads(path.read_text()), _relative(path, root))
        except json.JSONDecodeError as e:
            problems.append(f"{_relative(path, root)}: not valid JSON ({e.msg}); its skipped probe parts are not shown")
            continue
        except UnicodeDecodeError:
            problems.append(f"{_relative(path, root)}: not a text file; its skipped probe parts are not shown")
            continue
        except ValueError as e:
            problems.append(f"{e}; its skipped probe parts are not shown")
            continue
        by_key[key].skipped += unique(line for p in suite.probes.values() for line in p.skipped)
    return sorted(by_key.values(), key=lambda d: (d.slug, d.model)), references


def load_reference_json(results: Results, name: str) -> dict | None:
    """A published reference file `results/reference/<name>` as JSON (from the first results folder that
    has it), or None if none has it."""
    path = next((r / REFERENCE_DIR / name for r in results.roots if (r / REFERENCE_DIR / name).is_file()), None)
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        results.problems.append(f"{reference_source(results, name)}: not valid JSON ({e.msg})")
        return None
    except UnicodeDecodeError:
        results.problems.append(f"{reference_source(results, name)}: not a text file")
        return None


def reference_source(results: Results, name: str) -> str:
    """Where a published reference file is, as `results/reference/<name>`."""
    root = next((r for r in results.roots if (r / REFERENCE_DIR / name).is_file()), results.root)
    return _relative(root / REFERENCE_DIR / name, root)


def unique(values: Iterable) -> list:
    """Distinct values in first-seen order."""
    seen: dict = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)
