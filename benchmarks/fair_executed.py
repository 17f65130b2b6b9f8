"""fair executed on this machine's CPU (tiny model) against fair simulated, under the committed CPU profile.

Per profile, two checks: (1) the step times fair plans (the profile's step model on each batch it forms) against what
the executed steps take, as a mean absolute percentage error to compare with the profile's held-out
error (its k-fold MAPE); (2) TPOT SLO attainment (share of multi-token requests with TPOT ≤ SLO) and the
joint SLO attainment, executed against simulated. The executor measures as the probes did (one torch
thread, the thread clock), but other processes on the machine still perturb it: the load average is
recorded beside the numbers. Writes results/fair_vs_mb/executed_cpu.json (atomically). Run:
    .venv/bin/python benchmarks/fair_executed.py [--requests 60]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from phasecal.atomic import write_atomic
from phasecal.fitting.profile import load_profile
from phasecal.probes.fingerprint import cpu_model_name
from phasecal.scheduler.executed import ExecutedExecutor
from phasecal.scheduler.fair import FairBatching, held_out_error
from phasecal.scheduler.metrics import SLO, summarize
from phasecal.scheduler.simulator import SimulatedExecutor, run_engine
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.workload_spec import workload_from_spec

sys.path.insert(0, str(Path(__file__).parent))
from fair_vs_mb import tpot_attainment  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The committed CPU calibration, and a quick one of the machine this check ran on (`phasecal run --quick`,
# copied beside the results) where the committed one was measured on another CPU model.
PROFILES = ("results/cpu-intel-r-xeon-r-processor/tiny/profile.json", "results/fair_vs_mb/this_vm_quick_profile.json")
CASES = (("256/64:rate=3", SLO(2.0, 0.1)), ("256/64:rate=6", SLO(1.0, 0.02)), ("256/64:rate=6", SLO(1.0, 0.015)))
OUT = ROOT / "results/fair_vs_mb/executed_cpu.json"


def step_errors(planned: list[float], measured: list[float]) -> dict:
    """Per-step |planned − measured| / measured: mean (MAPE), median and 90th percentile, in percent."""
    errs = sorted(abs(p - m) / m * 100 for p, m in zip(planned, measured, strict=True))
    n = len(errs)
    return {"steps": n, "mape_pct": sum(errs) / n, "median_pct": errs[n // 2], "p90_pct": errs[int(0.9 * n)],
            "mean_planned_s": sum(planned) / n, "mean_measured_s": sum(measured) / n}


def one_case(profile, spec: str, slo: SLO, n: int, cfg: EngineConfig) -> dict:
    w = workload_from_spec(f"{spec}:n={n}", seed=0)
    sim_res = run_engine(FairBatching(profile, slo.ttft_s, slo.tpot_s), SimulatedExecutor(profile), w, cfg)
    fair = FairBatching(profile, slo.ttft_s, slo.tpot_s)
    ex = ExecutedExecutor(profile, cfg, device="cpu", seed=0)
    load_before = os.getloadavg()
    ex_res = run_engine(fair, ex, w, cfg)
    load_after = os.getloadavg()
    sim, exe = summarize(sim_res, w.name, slo), summarize(ex_res, w.name, slo)
    row = {"workload": w.name, "requests": len(w), "slo": {"ttft_s": slo.ttft_s, "tpot_s": slo.tpot_s},
           "planned_vs_executed_steps": step_errors(fair.predicted_s, ex.step_times),
           "tpot_attainment": {"simulated": tpot_attainment(sim_res, slo), "executed": tpot_attainment(ex_res, slo)},
           "slo_attainment": {"simulated": sim.slo_attainment, "executed": exe.slo_attainment},
           "ttft_p99_s": {"simulated": sim.ttft_p99_s, "executed": exe.ttft_p99_s},
           "tpot_p50_s": {"simulated": sim.tpot_p50_s, "executed": exe.tpot_p50_s},
           "throughput_tok_s": {"simulated": sim.throughput_tok_s, "executed": exe.throughput_tok_s},
           "loadavg_1_5_15": {"before": load_before, "after": load_after}, "executor_clock": ex.clock_name}
    e, t = row["planned_vs_executed_steps"], row["tpot_attainment"]
    print(f"{w.name} SLO {slo.ttft_s:g}s/{slo.tpot_s * 1e3:g}ms: {e['steps']} steps, planned vs executed MAPE "
          f"{e['mape_pct']:.1f}% (median {e['median_pct']:.1f}%); TPOT attainment simulated {t['simulated']:.1%} "
          f"executed {t['executed']:.1%}; load {load_before[0]:.1f}→{load_after[0]:.1f}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--profile", action="append", help="profile JSON (repeatable) [default: the two in PROFILES]")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    runs = []
    for path in args.profile or PROFILES:
        profile = load_profile(ROOT / path)
        cfg = EngineConfig(kv_capacity_tokens=65536).resolved(profile)
        err = held_out_error(profile)
        print(f"{path}: measured on {profile.device['name']}, held-out MAPE "
              f"{'n/a' if err is None else f'{err * 100:.1f}%'}", flush=True)
        runs.append({"profile": path, "profile_device": profile.device["name"],
                     "held_out_mape_pct": None if err is None else err * 100, "config": vars(cfg),
                     "cases": [one_case(profile, spec, slo, args.requests, cfg) for spec, slo in CASES]})
    doc = {"what": "fair executed on the CPU (tiny model) against its plan and its simulation",
           "machine": {"processor": cpu_model_name(), "cpu_count": os.cpu_count(),
                       "note": "2-core VM shared with other jobs; load averages recorded per case"},
           "command": " ".join(["python", *sys.argv]), "runs": runs}
    write_atomic(args.out, json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
