"""What the device figures share: a device's datasheet entry, the note for a probe not measured, units."""

from __future__ import annotations

from phasecal.probes.peaks import datasheet_peaks

from .data import DeviceResults
from .style import note

PEAKS_SOURCE = "probes/peaks.json"
MIB = 2**20


def peaks_of(d: DeviceResults) -> dict | None:
    """The datasheet entry of a device: the one its fingerprint carries, else matched by name."""
    return d.device.get("datasheet") or datasheet_peaks(d.device_name)


def missing_note(ax, d: DeviceResults, probe: str) -> None:
    note(ax, f"no {probe} data for {d.label}: not measured (run `phasecal probe --suite {probe}`)")
