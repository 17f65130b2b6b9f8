"""`phasecal simulate --sweep load=A:B:STEP`: each policy over a range of offered loads, printed as one table,
with each policy's capacity under the SLOs; written as sweep.json and a tidy sweep.csv (one row per policy
and load)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from phasecal.atomic import atomic_file
from phasecal.fitting.profile import Profile
from phasecal.scheduler.metrics import SLO, run_info
from phasecal.scheduler.run import parse_policies
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.sweep import SweepReport, parse_sweep, sweep_loads
from phasecal.scheduler.workload_spec import workload_from_spec

# (header, value of a summary) of the table; the CSV carries every summary field
_COLUMNS = (
    ("tok/s", lambda s: f"{s.throughput_tok_s:,.0f}"), ("goodput", lambda s: f"{s.goodput_tok_s:,.0f}"),
    ("TTFT s p50/p90/p99", lambda s: _three(s.ttft_p50_s, s.ttft_p90_s, s.ttft_p99_s)),
    ("TPOT ms p50/p90/p99", lambda s: _three(s.tpot_p50_s * 1e3, s.tpot_p90_s * 1e3, s.tpot_p99_s * 1e3)),
    ("SLO met", lambda s: f"{s.slo_attainment:.1%}"),
)


def _three(*values: float) -> str:
    """Percentiles to three significant digits, without exponents (1,234 not 1.23e+03)."""
    return "/".join(f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}" for v in values)


CSV_SKIP = ("slo",)  # a dict: its two numbers are columns of their own


def run_sweep(prof: Profile, profile_path: Path, workload: str, policy: str, config: EngineConfig, slo: SLO,
              slo_target: float, sweep: str, jobs: int, seed: int, out: Path | None) -> None:
    """Sweep, print, and write the files when `out` is given."""
    loads = parse_sweep(sweep)
    policies = parse_policies(policy)
    base = workload_from_spec(workload, seed=seed)
    if base.load is not None:
        raise ValueError(f"workload {workload!r}: --sweep sets the load itself; drop :load= from the workload")
    started = time.perf_counter()
    report = sweep_loads(prof, base, policies, loads, config=config, slo=slo, slo_target=slo_target,
                         seed=seed, jobs=jobs)
    wall = time.perf_counter() - started
    console = Console()
    console.print(_table(report, prof))
    for p, cap in report.capacities.items():
        console.print(f"capacity under the SLOs ({slo_target:.0%} of requests with TTFT ≤ {slo.ttft_s:g} s and "
                      f"TPOT ≤ {slo.tpot_s:g} s), {p}: {cap.describe()}")
    console.print(f"{len(loads)} loads × {len(policies)} policies and the capacity searches in {wall:.1f} s "
                  f"({jobs} process{'es' if jobs > 1 else ''})")
    if out is not None:
        meta = {**run_info(seed=seed, workload_spec=workload), "profile": str(profile_path),
                "config": vars(report.config), "capacity": report.capacity.to_dict(), "slo": vars(slo),
                "slo_target": slo_target, "wall_s": wall}
        json_path, csv_path = write_sweep(report, out, meta)
        console.print(f"wrote {json_path} and {csv_path}")


def _table(report: SweepReport, prof: Profile) -> Table:
    c = report.config
    table = Table(title=f"Load sweep · {report.workload} · {prof.model.get('name', '?')} on "
                        f"{prof.device.get('name', '?')} · N {c.max_num_seqs}, B {c.token_budget} · ρ = 1 is MB's "
                        f"capacity, {report.capacity.tokens_per_s:,.0f} tok/s", pad_edge=False)
    for header in ("policy", "ρ", *(h for h, _ in _COLUMNS)):
        table.add_column(header, justify="right")
    for policy, sums in report.points.items():
        for load, s in zip(report.loads, sums, strict=True):
            table.add_row(policy, f"{load:.2f}", *(value(s) for _, value in _COLUMNS))
        table.add_section()
    return table


def _rows(report: SweepReport) -> list[dict]:
    """Tidy rows: one per policy and load, every summary field, with the load and the SLO spelled out."""
    rows = []
    for sums in report.points.values():
        for load, s in zip(report.loads, sums, strict=True):
            d = {k: v for k, v in s.to_dict().items() if k not in CSV_SKIP}
            rows.append({"offered_load": load, "offered_tok_s": load * report.capacity.tokens_per_s, **d,
                         "slo_ttft_s": report.slo.ttft_s, "slo_tpot_s": report.slo.tpot_s,
                         "meets_slo": s.slo_attainment >= report.slo_target})
    return rows


def write_sweep(report: SweepReport, out: Path, meta: dict) -> tuple[Path, Path]:
    """sweep.json (metadata, capacities, every point) and sweep.csv (the points), each written atomically."""
    rows = _rows(report)
    doc = {"kind": "load_sweep", **meta, "loads": report.loads,
           "capacity_under_slo": {p: {"offered_load": c.load, "tokens_per_s": c.tokens_per_s, "bound": c.bound}
                                  for p, c in report.capacities.items()},
           "points": rows}
    json_path, csv_path = out / "sweep.json", out / "sweep.csv"
    with atomic_file(json_path) as f:
        json.dump(doc, f, indent=2)
    with atomic_file(csv_path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path

