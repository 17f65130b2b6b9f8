"""Each device's headline numbers as a ratio against one baseline device: how many times faster it is.

Rates (bandwidth, GEMM) count as faster when higher, costs (α, β, β_MB) when lower, so every ratio reads
"times faster than the baseline". A published reference has costs only (from its profile): its device's
rates were not measured, so they are left blank. Devices run different models (the CPU runs
`tiny`), so a step-cost ratio compares device and model together, as the column heads say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from phasecal.fitting.profile import Profile

from .data import DeviceResults, ReferenceProfile, Results
from .devices import headline_numbers


@dataclass(frozen=True)
class Metric:
    """One row: its name and unit, whether higher is faster, and how to read it off a profile (scaled)."""

    name: str
    higher_is_faster: bool
    of_profile: Callable[[Profile], float | None] | None = None


def _eager(attr: str, scale: float) -> Callable[[Profile], float | None]:
    return lambda p: getattr(p.exclusive["eager"], attr) * scale if "eager" in p.exclusive else None


METRICS = (
    Metric("memory bandwidth plateau (TB/s)", True),
    Metric("best GEMM (TFLOP/s)", True),
    Metric("α_p prefill step overhead (ms)", False, _eager("alpha_p", 1e3)),
    Metric("β_p per prefill token (µs)", False, _eager("beta_p", 1e6)),
    Metric("α_d decode step overhead (ms)", False, _eager("alpha_d", 1e3)),
    Metric("β_d per decode sequence (µs)", False, _eager("beta_d", 1e6)),
    Metric("β_MB(0.5), mixed step per token at half decode (µs)", False,
           lambda p: p.mixed.beta_mb(0.5) * 1e6 if p.mixed is not None else None),
)


def _column(entry: DeviceResults | ReferenceProfile, headline: dict) -> list[float | None]:
    """The metric values of one device or published reference, in METRICS order (None: not known)."""
    # a published calibration carries step costs only: its device's rates were not measured
    rates = [headline.get("bandwidth_tb_s"), headline.get("gemm_tflops")] if isinstance(entry, DeviceResults) \
        else [None, None]
    profile = entry.profile
    costs = [m.of_profile(profile) if profile is not None and m.of_profile else None for m in METRICS[2:]]
    return rates + costs


def _num(x: float) -> str:
    """3 significant digits, never in exponent form."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}" if abs(x) >= 1e-3 else f"{x:.2e}"


def _cell(value: float | None, base: float | None, higher: bool) -> str:
    if value is None:
        return "—"
    if not base or value <= 0:
        return _num(value)
    speedup = value / base if higher else base / value
    return f"{_num(value)} (×{_num(speedup)})"


def ratio_markdown(results: Results, baseline: str | None = None) -> str:
    """A markdown table: a row per metric, a column per device and published reference, each cell the value
    and (×N) how many times faster than `baseline` (a substring of a device label; default the first
    measured device). Raises ValueError naming the devices when `baseline` matches none."""
    headline = headline_numbers(results)
    entries: list[DeviceResults | ReferenceProfile] = [*results.devices, *results.references]
    if not entries:
        return f"No devices under `{results.where}`."
    labels = [e.label for e in entries]
    base_i = 0 if baseline is None else next((i for i, lab in enumerate(labels) if baseline in lab), None)
    if base_i is None:
        raise ValueError(f"baseline {baseline!r} matches no device: choose from {'; '.join(labels)}")
    columns = [_column(e, headline.get(e.label, {})) for e in entries]
    heads = [lab + (" (published reference)" if isinstance(e, ReferenceProfile) else "") +
             (" — baseline" if i == base_i else "") for i, (lab, e) in enumerate(zip(labels, entries, strict=True))]
    lines = ["| metric | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for row, metric in enumerate(METRICS):
        base = columns[base_i][row]
        cells = [_cell(col[row], base, metric.higher_is_faster) for col in columns]
        lines.append(f"| {metric.name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"(×N) = times faster than {labels[base_i]} (rates: higher is faster; costs: lower is faster). "
                 "Different models make step-cost ratios compare device and model together.")
    return "\n".join(lines)
