"""The footer line that says when and with what a figure's numbers were measured, and when it was drawn.

Every figure names the day it was drawn and the phasecal that drew it; then, per device and model it
shows, the day that device was measured and the software it ran (from the run header's fingerprint,
else the profile's `software`), or, for a published reference, the day and the citation it carries.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

from phasecal import __version__

from .data import DeviceResults, ReferenceProfile

SOFTWARE = ("torch", "triton", "cupy", "numpy", "python", "phasecal")  # what decides a kernel's speed, in order


def drawn() -> str:
    """`drawn 2026-11-30 by phasecal 0.1.0` (UTC date)."""
    return f"drawn {_dt.datetime.now(_dt.UTC).date().isoformat()} by phasecal {__version__}"


def _day(stamp: object) -> str:
    return str(stamp)[:10] if stamp else "date not recorded"


def _versions(versions: dict) -> str:
    return ", ".join(f"{k} {str(versions[k]).removeprefix(k + '-')}" for k in SOFTWARE if versions.get(k))


def measured(d: DeviceResults) -> str:
    """`<device · model>: measured <day> with torch …, triton …` for a device of this suite."""
    header = d.runs[0].header if d.runs else None
    profile = d.profile
    day = header.started if header else (profile.provenance.get("fitted_at") if profile else None)
    versions = (header.device.get("versions") if header else None) or (profile.software if profile else {}) or {}
    with_what = _versions(versions)
    return f"{d.label}: measured {_day(day)}" + (f" with {with_what}" if with_what else "")


def published(r: ReferenceProfile) -> str:
    """`<device · model>: published reference, measured <day> (<citation>)`."""
    prov = r.profile.provenance
    cite = prov.get("citation")
    return f"{r.label}: published reference, measured {_day(prov.get('measured'))}" + (f" ({cite})" if cite else "")


def shown(results, labels: Iterable[str]) -> list[DeviceResults | ReferenceProfile]:
    """The devices and published references whose label begins one of `labels` (figures that know runs by label)."""
    labels = list(labels)
    return [e for e in [*results.devices, *results.references] if any(lab.startswith(e.label) for lab in labels)]


def provenance(entries: Iterable[DeviceResults | ReferenceProfile]) -> list[str]:
    """Footer lines: what drew the figure, then one line per device or reference it shows (each once)."""
    lines = [measured(e) if isinstance(e, DeviceResults) else published(e) for e in entries]
    return ["Made: " + drawn()] + list(dict.fromkeys(lines))
