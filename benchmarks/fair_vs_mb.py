"""fair against MB: TTFT p99, TPOT SLO attainment and capacity under SLO, per profile and workload.

Workloads: the bundled Azure conversation trace (its first --requests requests, their recorded arrivals)
and the paper's three synthetic mixes as Poisson arrivals. Capacity under SLO: the highest offered load ρ
(`:load=`: arrivals time-scaled to ρ × MB's closed-form capacity, scheduler/capacity.py) at which ≥ 90% of
requests meet both SLOs: the scheduler's load sweep (scheduler/sweep.py) over LOADS, then its bisection to
ρ ± 0.01.
At MB's capacity (the load where MB just holds 90%) both policies are compared on TTFT p99, TPOT p99,
TPOT SLO attainment (share of multi-token requests with TPOT ≤ SLO) and joint SLO attainment; at half
that load on TTFT p99 as well.

Profiles: the committed CPU calibration (tiny model) and the paper's H200 calibration of Qwen3-8B; the
engine limits are `phasecal simulate`'s defaults (N 256, B the profile's, KV 2^20 tokens). Writes
results/fair_vs_mb/fair_vs_mb.json and .csv and .md (atomically). Run:
    .venv/bin/python benchmarks/fair_vs_mb.py [--requests 1500]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path

from phasecal.atomic import write_atomic
from phasecal.fitting.profile import load_profile
from phasecal.scheduler.capacity import Capacity, at_load, mb_capacity
from phasecal.scheduler.metrics import SLO, summarize
from phasecal.scheduler.run import make_policy
from phasecal.scheduler.simulator import SimulatedExecutor, run_engine
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.sweep import sweep_loads
from phasecal.scheduler.workloads import PAPER_WORKLOADS, Workload, azure_conv, synthetic

ROOT = Path(__file__).resolve().parents[1]
PROFILES = {"CPU tiny (Intel Xeon calibration)": "results/cpu-intel-r-xeon-r-processor/tiny/profile.json",
            "H200 Qwen3-8B (paper)": "results/reference/paper_H200_Qwen3-8B/profile.json"}
SLOS = {"CPU tiny (Intel Xeon calibration)": [SLO(2.0, 0.1)], "H200 Qwen3-8B (paper)": [SLO(2.0, 0.1), SLO(1.0, 0.03)]}
TARGET = 0.9  # share of requests meeting both SLOs that counts as "within SLO"
TOL = 0.01  # precision of the capacity bisection, in load ρ
LOADS = (0.125, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)  # swept before bisecting (ρ)
OUT = ROOT / "results/fair_vs_mb"


def tpot_attainment(res, slo: SLO) -> float:
    """Share of requests with more than one output token whose TPOT meets the SLO."""
    tp = [(r.finish_time - r.first_token_time) / (r.output_len - 1) for r in res.requests if r.output_len > 1]
    return sum(t <= slo.tpot_s for t in tp) / len(tp)


def run(profile, policy: str, w: Workload, rho: float, slo: SLO, cfg: EngineConfig, cap: Capacity) -> dict:
    res = run_engine(make_policy(policy, profile, None, slo=slo), SimulatedExecutor(profile), at_load(w, rho, cap), cfg)
    s = summarize(res, w.name, slo)
    return {"load": rho, "ttft_p99_s": s.ttft_p99_s, "tpot_p99_s": s.tpot_p99_s,
            "tpot_attainment": tpot_attainment(res, slo), "slo_attainment": s.slo_attainment,
            "throughput_tok_s": s.throughput_tok_s, "steps": s.steps, "wall_s": s.wall_s}


def capacities(profile, w: Workload, slo: SLO, cfg: EngineConfig) -> dict[str, float]:
    """Each policy's capacity under SLO (offered load ρ), from the scheduler's load sweep and bisection."""
    rep = sweep_loads(profile, w, ("mb", "fair"), list(LOADS), config=cfg, slo=slo, slo_target=TARGET, tol=TOL,
                      jobs=2)
    out = {}
    for p, c in rep.capacities.items():
        if c.load is None or c.bound:
            raise SystemExit(f"{w.name}: {p} {c.describe()}; widen LOADS")
        out[p] = c.load
    return out


def workloads(n: int) -> dict[str, Workload]:
    out = {"azure_conv": azure_conv(limit=n)}
    for name, (mu_l, mu_o) in PAPER_WORKLOADS.items():
        out[name] = synthetic(mu_l, mu_o, n, rate=1.0, seed=0)
    return out


def compare(label: str, path: str, n: int) -> list[dict]:
    profile = load_profile(ROOT / path)
    cfg = EngineConfig().resolved(profile)
    rows = []
    for slo in SLOS[label]:
        for wname, w in workloads(n).items():
            t0 = time.perf_counter()
            mb_cap = mb_capacity(profile, w, cfg)
            cap = capacities(profile, w, slo, cfg)
            rho_mb = cap["mb"]
            at = {p: run(profile, p, w, rho_mb, slo, cfg, mb_cap) for p in ("mb", "fair")}
            half = {p: run(profile, p, w, rho_mb / 2, slo, cfg, mb_cap) for p in ("mb", "fair")}
            rows.append({"profile": label, "profile_file": path, "workload": wname, "requests": len(w),
                         "slo_ttft_s": slo.ttft_s, "slo_tpot_s": slo.tpot_s, "token_budget": cfg.token_budget,
                         "mb_closed_form_capacity_tok_s": mb_cap.tokens_per_s,
                         "capacity_load": cap, "at_mb_capacity": at,
                         "at_half_mb_capacity": half,
                         "wall_s": time.perf_counter() - t0})
            r = rows[-1]
            print(f"{label:22} {wname:14} SLO {slo.ttft_s:g}s/{slo.tpot_s * 1e3:g}ms  capacity ρ: MB "
                  f"{cap['mb']:.3g} fair {cap['fair']:.3g} ({cap['fair'] / rho_mb - 1:+.0%}); at MB's: TTFT "
                  f"p99 {at['mb']['ttft_p99_s']:.2f}/{at['fair']['ttft_p99_s']:.2f} s, TPOT att "
                  f"{at['mb']['tpot_attainment']:.1%}/{at['fair']['tpot_attainment']:.1%}; at half: TTFT p99 "
                  f"{half['mb']['ttft_p99_s']:.2f}/{half['fair']['ttft_p99_s']:.2f} s ({r['wall_s']:.0f} s)",
                  flush=True)
    return rows


COLUMNS = ("profile", "workload", "slo", "mb_capacity_load", "fair_capacity_load", "fair_capacity_gain",
           "mb_ttft_p99_s", "fair_ttft_p99_s", "mb_tpot_attainment", "fair_tpot_attainment", "mb_slo_attainment",
           "fair_slo_attainment", "half_load_mb_ttft_p99_s", "half_load_fair_ttft_p99_s")


def flat(r: dict) -> dict:
    a, c, h = r["at_mb_capacity"], r["capacity_load"], r["at_half_mb_capacity"]
    return {"profile": r["profile"], "workload": r["workload"],
            "slo": f"TTFT {r['slo_ttft_s']:g} s, TPOT {r['slo_tpot_s'] * 1e3:g} ms",
            "mb_capacity_load": round(c["mb"], 4), "fair_capacity_load": round(c["fair"], 4),
            "fair_capacity_gain": round(c["fair"] / c["mb"] - 1, 3),
            "mb_ttft_p99_s": round(a["mb"]["ttft_p99_s"], 3), "fair_ttft_p99_s": round(a["fair"]["ttft_p99_s"], 3),
            "mb_tpot_attainment": round(a["mb"]["tpot_attainment"], 4),
            "fair_tpot_attainment": round(a["fair"]["tpot_attainment"], 4),
            "mb_slo_attainment": round(a["mb"]["slo_attainment"], 4),
            "fair_slo_attainment": round(a["fair"]["slo_attainment"], 4),
            "half_load_mb_ttft_p99_s": round(h["mb"]["ttft_p99_s"], 3),
            "half_load_fair_ttft_p99_s": round(h["fair"]["ttft_p99_s"], 3)}


def markdown(rows: list[dict]) -> str:
    head = ("| profile | workload | SLO | capacity ρ MB | fair | gain | TTFT p99 MB (s) | fair | TPOT att. MB | fair "
            "| SLO att. MB | fair | TTFT p99 at half load MB (s) | fair |\n|" + "---|" * 14 + "\n")
    lines = []
    for r in map(flat, rows):
        lines.append(f"| {r['profile']} | {r['workload']} | {r['slo']} | {r['mb_capacity_load']:.3g} | "
                     f"{r['fair_capacity_load']:.3g} | {r['fair_capacity_gain']:+.0%} | {r['mb_ttft_p99_s']:.2f} | "
                     f"{r['fair_ttft_p99_s']:.2f} | {r['mb_tpot_attainment']:.1%} | {r['fair_tpot_attainment']:.1%} | "
                     f"{r['mb_slo_attainment']:.1%} | {r['fair_slo_attainment']:.1%} | "
                     f"{r['half_load_mb_ttft_p99_s']:.2f} | {r['half_load_fair_ttft_p99_s']:.2f} |")
    return head + "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1500, help="requests per workload (Azure: the first ones)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows = [row for label, path in PROFILES.items() for row in compare(label, path, args.requests)]
    doc = {"what": "fair against MB under SLO, simulated", "command": " ".join(["python", *sys.argv]),
           "target_attainment": TARGET, "bisection_tol_load": TOL, "swept_loads": LOADS,
           "capacity_load": "offered load ρ (the scheduler's :load=): arrivals time-scaled to ρ × MB's closed-form "
                            "capacity on the profile (scheduler.capacity.mb_capacity)", "rows": rows}
    write_atomic(args.out / "fair_vs_mb.json", json.dumps(doc, indent=2) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS)
    w.writeheader()
    w.writerows(map(flat, rows))
    write_atomic(args.out / "fair_vs_mb.csv", buf.getvalue())
    write_atomic(args.out / "fair_vs_mb.md", markdown(rows))
    print(f"wrote {args.out}/fair_vs_mb.{{json,csv,md}}")


if __name__ == "__main__":
    main()
