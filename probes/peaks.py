"""Datasheet peaks of common GPUs (`peaks.json`, each with its source), matched to a device name."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

PEAKS_PATH = Path(__file__).with_name("peaks.json")


@cache
def load_peaks() -> list[dict]:
    """All entries of peaks.json, in match order."""
    return json.loads(PEAKS_PATH.read_text())["gpus"]


def datasheet_peaks(device_name: str) -> dict | None:
    """The peaks entry whose `match` substring first occurs in `device_name` (case-insensitive), or None."""
    name = device_name.lower()
    for entry in load_peaks():
        if any(m.lower() in name for m in entry["match"]):
            return entry
    return None
