"""`phasecal compare A.json B.json`: two profiles side by side, with B ÷ A for every number both have.

Rows: the exclusive-step costs (eager, and CUDA-Graph where both have them), β_MB(r) and its budget, the
crossover share, marginal costs, MB's capacity on the bundled trace, the EB thresholds of every
workload both profiles derived them for, and the measured ceilings (bandwidth, launch, GEMM, attention)
of the probe suite's `summary.json` beside each profile, where there is one. A number one profile lacks
shows as "—" and gets no ratio.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

# the headline leaves of the probes' measured ceilings: plateau bandwidth, TFLOP/s, launch µs, attention rates
HEADLINE = ("plateau_gb_s", "tflops", "_us", ".value")
Row = tuple[str, Callable[[object], float | None], float]  # (label, value of a profile, display scale)


def _get(d: object, *keys: str) -> float | None:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d if isinstance(d, int | float) and not isinstance(d, bool) else None


def _rows(a, b) -> list[Row]:
    rows: list[Row] = []
    for mode in ("eager", "graph"):
        if mode in a.exclusive and mode in b.exclusive:
            for key, label, scale in (("alpha_p", "α_p (ms)", 1e3), ("beta_p", "β_p (µs/token)", 1e6),
                                      ("alpha_d", "α_d (ms)", 1e3), ("beta_d", "β_d (µs/seq)", 1e6)):
                rows.append((f"{mode} {label}", lambda p, m=mode, k=key: getattr(p.exclusive[m], k), scale))
    for key, label, scale in (("budget", "β_MB token budget B", 1), ("a", "β_MB a (µs/token)", 1e6),
                              ("b", "β_MB b (µs/token)", 1e6), ("c", "β_MB c (µs/token)", 1e6)):
        rows.append((label, lambda p, k=key: getattr(p.mixed, k, None) if p.mixed else None, scale))
    rows += [("decode crossover r (first)", _first_decode_crossing, 1),
             ("marginal prefill (µs/token)", lambda p: _get(p.derived.marginal_cost, "prefill_s_per_token"), 1e6),
             ("marginal decode (µs/token)", lambda p: _get(p.derived.marginal_cost, "decode_s_per_token"), 1e6),
             ("ridge point (tokens)", lambda p: _get(p.derived.ridge_point, "fitted_tokens"), 1),
             ("MB capacity, azure_conv (tok/s)", _azure_capacity, 1)]
    common = sorted(set(_thresholds(a)) & set(_thresholds(b)))
    for w in common:
        for key, label in (("theta0", "θ₀"), ("theta_star", "θ*"), ("n", "N"), ("k_hat", "k̂"),
                           ("crossover_delta", "crossover Δ (s/token)")):
            rows.append((f"EB {w}: {label}", lambda p, w=w, k=key: _get(_thresholds(p), w, k), 1))
    return rows


def _ceilings(profile_path: Path) -> dict[str, float]:
    """The probe suite's measured ceilings beside a profile, flattened to 'probe key.sub' → number ({} if none)."""
    from phasecal.probes.suite_summary import SuiteSummary

    path = profile_path.with_name("summary.json")
    try:
        summary = SuiteSummary.from_dict(json.loads(path.read_text()), str(path))
    except (OSError, ValueError):
        return {}
    flat: dict[str, float] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix.count(" ") else f"{prefix} {k}", v)
        elif isinstance(value, int | float) and not isinstance(value, bool) and prefix.endswith(HEADLINE):
            flat[prefix] = float(value)

    for name, probe in summary.probes.items():
        walk(name, probe.measured)
    return flat


def _thresholds(p) -> dict:
    return {w: d.thresholds.to_dict() for w, d in p.derived.eb_thresholds.items()}


def _first_decode_crossing(p) -> float | None:
    """The paper's crossover share (β_MB(r) = β_d), its first crossing; None where β_MB never crosses β_d."""
    cross = p.derived.crossover
    return cross.decode.crossings[0].share if cross is not None and cross.decode.crossings else None


def _azure_capacity(p) -> float:
    from phasecal.scheduler.capacity import mb_capacity
    from phasecal.scheduler.state import EngineConfig
    from phasecal.scheduler.workload_spec import workload_from_spec

    return mb_capacity(p, workload_from_spec("azure_conv"), EngineConfig().resolved(p)).tokens_per_s


def _fmt(v: float | None, scale: float) -> str:
    if v is None:
        return "—"
    x = v * scale
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def compare(
    a: Annotated[Path, typer.Argument(help="The first profile (the baseline of the ratios).")],
    b: Annotated[Path, typer.Argument(help="The second profile.")],
) -> None:
    """Print two profiles side by side with the ratio B ÷ A of every number both have."""
    from rich.console import Console
    from rich.table import Table

    from phasecal.fitting.profile import load_profile

    pa, pb = load_profile(a), load_profile(b)
    names = [f"{p.model.get('name', '?')} on {p.device.get('name', '?')}" for p in (pa, pb)]
    table = Table(title=f"A: {names[0]} ({a})\nB: {names[1]} ({b})")
    for col in ("", "A", "B", "B ÷ A"):
        table.add_column(col, justify="right")
    values = [(label, value(pa), value(pb), scale) for label, value, scale in _rows(pa, pb)]
    ca, cb = _ceilings(a), _ceilings(b)
    values += [(f"measured {k}", ca.get(k), cb.get(k), 1) for k in sorted(set(ca) | set(cb))]
    for label, va, vb, scale in values:
        ratio = f"{vb / va:.3g}" if va and vb is not None else "—"
        table.add_row(label, _fmt(va, scale), _fmt(vb, scale), ratio)
    Console().print(table)
