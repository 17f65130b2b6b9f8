"""What the device figures share: a device's datasheet entry, the note for a probe not measured, units."""

from __future__ import annotations

from phasecal.probes.peaks import datasheet_peaks

from .data import DeviceResults
from .style import note, ref_label

PEAKS_SOURCE = "probes/peaks.json"
MIB = 2**20


def peaks_of(d: DeviceResults) -> dict | None:
    """The datasheet entry of a device: the one its fingerprint carries, else matched by name."""
    return d.device.get("datasheet") or datasheet_peaks(d.device_name)


def missing_note(ax, d: DeviceResults, probe: str) -> None:
    note(ax, f"no {probe} data for {d.label}: not measured (run `phasecal probe --suite {probe}`)")


def datasheet_line(ax, d: DeviceResults, key: str, unit: str) -> bool:
    """Draw device `d`'s datasheet peak `key` as a dotted reference line; True when drawn, so the
    figure cites PEAKS_SOURCE."""
    peaks = peaks_of(d)
    value = peaks and peaks.get(key)
    if not value:
        return False
    ax.axhline(value, color="black", ls=":", lw=1.2, label=ref_label(f"{peaks['id']} datasheet {value:g} {unit}"))
    return True


def label_axes(ax, xlabel: str, ylabel: str, title: str, *, ylog: bool = False) -> None:
    """The device panels' common frame: log x (and y when asked), labels, a small title, a light grid."""
    ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9.5)
    ax.grid(True, which="both", alpha=0.25)
