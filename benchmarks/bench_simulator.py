"""Simulator benchmark and the paper's H200 study.

1. Speed: the whole Azure conversation trace (19,366 requests) per policy (fair under the default SLO):
   wall and CPU seconds, steps/s.
   Target: ≤ 5 s per policy on one core (Vidur ran about 6,000 batches/s here; aim ≥ 10× that).
2. The paper's three synthetic workloads (μ_L/μ_O = 128/1024, 512/512, 1024/128, ±50% jitter) at fixed
   concurrency c = 512 and 2048 under the authors' H200 calibration of Qwen3-8B: what the crossover
   predicts (MB or EB) against what the simulator measures for MB, PF, EB, EB+ and fair. MB is simulated twice:
   with the profile's step model (phase-affine: a mixed step pays α_p + α_d + β_p·n_p + β_d·n_d) and with
   mixed steps costed by the paper's β_MB(r) fit (step time = β_MB(r_step)·tokens), the cost the
   crossover itself assumes. "sim best" compares MB with EB under the step model, "β_MB best" with MB
   costed by β_MB; within 1% is a tie. "mb-slow" is MB on the trace without the decode-stretch fast path.

Writes results/derived/scheduler_paper_H200/: one schedule document per workload (`scheduler.schedule_doc`,
what the reports read; phasecal's own runs on a published calibration, so not under results/reference/) and
bench.json (speed, and MB costed by β_MB), and prints tables. Run:
    .venv/bin/python benchmarks/bench_simulator.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from phasecal.atomic import write_atomic
from phasecal.fitting.profile import ExclusiveCosts, MixedCost, Profile, load_profile
from phasecal.fitting.thresholds import derive_thresholds
from phasecal.kernels.catalog import get_model_shape
from phasecal.scheduler.capacity import mb_capacity, offered_load
from phasecal.scheduler.metrics import summarize
from phasecal.scheduler.run import make_policy, workload_stats
from phasecal.scheduler.schedule_doc import ScheduleDoc, WorkloadInfo, write_schedule_doc
from phasecal.scheduler.simulator import SimulatedExecutor, run_engine
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.workload_spec import workload_from_spec
from phasecal.scheduler.workloads import PAPER_WORKLOADS, azure_conv

ROOT = Path(__file__).resolve().parents[1]
PAPER_PROFILE = ROOT / "results/reference/paper_H200_Qwen3-8B/profile.json"
OUT = ROOT / "results/derived/scheduler_paper_H200"
POLICIES = ("mb", "pf", "eb", "ebplus", "fair")

# KV capacity of Qwen3-8B fp16 on an H200 as vLLM would size it: 0.9 of the memory torch reports
# (150.1e9 B), minus the weights, minus an activation reserve (an estimate; the paper does not print C).
H200_MEMORY_BYTES = 150.1e9
GPU_MEMORY_UTILIZATION = 0.9
ACTIVATION_RESERVE_BYTES = 4e9


def paper_profile() -> tuple[Profile, str]:
    """The imported paper calibration if present, else the same numbers (eb-vllm reproduce/calibration/)."""
    if PAPER_PROFILE.exists():
        return load_profile(PAPER_PROFILE), str(PAPER_PROFILE.relative_to(ROOT))
    costs = ExclusiveCosts(alpha_p=1.2786e-3, beta_p=2.4853e-5, alpha_d=8.9212e-3, beta_d=4.5865e-5)
    mixed = MixedCost(budget=8192, a=2.494e-5, b=5.193e-5, c=1.478e-5)
    return (Profile(device={"name": "NVIDIA H200"}, model={"name": "Qwen3-8B"}, exclusive={"eager": costs},
                    mixed=mixed), "built from the paper's numbers (profile.json not imported yet)")


def h200_kv_tokens() -> int:
    shape = get_model_shape("Qwen3-8B")
    free = H200_MEMORY_BYTES * GPU_MEMORY_UTILIZATION - 2 * shape.num_params() - ACTIVATION_RESERVE_BYTES
    return int(free // shape.kv_bytes_per_token(2))


class BetaMBExecutor(SimulatedExecutor):
    """Mixed steps cost β_MB(r_step)·tokens (the paper's whole-engine fit); pure steps the profile's model."""

    def step(self, batch, st) -> float:
        if not (batch.prefill and batch.decode):
            return super().step(batch, st)
        n_p = sum(q for _, q in batch.prefill)
        n_d = len(batch.decode)
        return self.profile.mixed.beta_mb(n_d / (n_p + n_d)) * (n_p + n_d)


TIE = 0.01  # throughputs within 1% of each other: no winner


def winner(mb: float, eb: float) -> str:
    return "tie" if abs(eb / mb - 1) < TIE else "MB" if mb > eb else "EB"


def run_one(profile, name, workload, cfg, th, executor=None, fast_forward=True):
    cpu0, wall0 = time.process_time(), time.perf_counter()
    res = run_engine(make_policy(name, profile, th), executor or SimulatedExecutor(profile), workload, cfg,
                     fast_forward=fast_forward)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    s = summarize(res, workload.name)
    return s, {"policy": name, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "steps": res.steps,
               "steps_per_cpu_s": round(res.steps / cpu), "throughput_tok_s": round(s.throughput_tok_s, 1),
               "ttft_p50_s": round(s.ttft_p50_s, 4), "tpot_p50_ms": round(s.tpot_p50_s * 1e3, 3),
               "preemptions": s.preemptions, "mode_switches": s.mode_switches}


def schedule_doc(profile, source, w, cfg, th, summaries) -> ScheduleDoc:
    """The reports' document of one workload's policy runs (MB's capacity computed as `phasecal simulate` does)."""
    capacity = mb_capacity(profile, w, cfg)
    return ScheduleDoc(WorkloadInfo.of(w), source, cfg, th.to_dict(), th.decision, summaries, capacity=capacity,
                       offered_load=offered_load(w, capacity))


def bench_azure(profile, source, kv_tokens, folder: Path) -> dict:
    w = azure_conv()
    cfg = EngineConfig(max_num_seqs=256, kv_capacity_tokens=kv_tokens).resolved(profile)
    th = derive_thresholds(profile, workload_stats(w, cfg))
    runs = [run_one(profile, p, w, cfg, th) for p in POLICIES]
    write_schedule_doc(schedule_doc(profile, source, w, cfg, th, [s for s, _ in runs]),
                       folder / "schedule_azure_conv.json")
    rows = [row for _, row in runs]
    # The same MB run with every decode step scheduled and applied one by one (no stretch fast path).
    rows.append({**run_one(profile, "mb", w, cfg, th, fast_forward=False)[1], "policy": "mb-slow"})
    print(f"\nAzure conversation trace, {len(w)} requests, {w.arrivals[-1]:.0f} s of traffic; N 256, "
          f"B {cfg.token_budget}, KV {cfg.kv_capacity_tokens:,} tokens")
    print(f"{'policy':8} {'wall s':>7} {'cpu s':>7} {'steps':>9} {'steps/cpu-s':>12} {'tok/s':>9}")
    for r in rows:
        print(f"{r['policy']:8} {r['wall_s']:7.2f} {r['cpu_s']:7.2f} {r['steps']:9,} {r['steps_per_cpu_s']:12,} "
              f"{r['throughput_tok_s']:9,.0f}")
    return {"requests": len(w), "config": vars(cfg), "policies": rows}


def bench_paper(profile, source, kv_tokens, quick: bool, folder: Path) -> list[dict]:
    out = []
    print("\nPaper workloads on the H200 calibration: crossover prediction vs simulated throughput (tok/s)")
    print(f"{'workload':14} {'c':>5} {'N':>5} {'k̂0':>6} {'Δ (s/tok)':>10} {'predicts':>8} {'MB':>8} {'MB β_MB':>8} "
          f"{'PF':>8} {'EB':>8} {'EB+':>8} {'Fair':>8} {'sim best':>9} {'β_MB best':>9}")
    for c in (512, 2048):
        for wname, (mu_l, mu_o) in PAPER_WORKLOADS.items():
            n_req = (2 if quick else 4) * c
            w = workload_from_spec(f"{wname}:c={c}:n={n_req}", seed=0)  # μ_L/μ_O ±50%, named as `-w` names it
            cfg = EngineConfig(max_num_seqs=1024, kv_capacity_tokens=kv_tokens).resolved(profile)
            th = derive_thresholds(profile, workload_stats(w, cfg))
            runs = {p: run_one(profile, p, w, cfg, th) for p in POLICIES}
            write_schedule_doc(schedule_doc(profile, source, w, cfg, th, [s for s, _ in runs.values()]),
                               folder / f"schedule_{wname}_c{c}.json")
            rows = {p: row for p, (_, row) in runs.items()}
            mb_beta = run_one(profile, "mb", w, cfg, th, BetaMBExecutor(profile))[1]
            tp = {p: r["throughput_tok_s"] for p, r in rows.items()}
            sim_best = winner(tp["mb"], tp["eb"])
            sim_best_beta = winner(mb_beta["throughput_tok_s"], tp["eb"])
            rec = {"workload": wname, "mu_l": mu_l, "mu_o": mu_o, "concurrency": c, "requests": n_req,
                   "thresholds": th.to_dict(), "predicted": th.decision, "simulated": rows,
                   "mb_beta_mb_costed": mb_beta, "simulated_winner": sim_best,
                   "simulated_winner_beta_mb_costed": sim_best_beta,
                   "eb_over_mb": tp["eb"] / tp["mb"] - 1, "eb_over_mb_beta_mb_costed": tp["eb"] / mb_beta[
                       "throughput_tok_s"] - 1}
            out.append(rec)
            print(f"{wname:14} {c:5} {th.n:5} {th.k_hat0:6.1f} {th.crossover_delta:10.2e} {th.decision:>8} "
                  f"{tp['mb']:8,.0f} {mb_beta['throughput_tok_s']:8,.0f} {tp['pf']:8,.0f} {tp['eb']:8,.0f} "
                  f"{tp['ebplus']:8,.0f} {tp['fair']:8,.0f} {sim_best:>9} {sim_best_beta:>9}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="half the requests per paper workload")
    ap.add_argument("--out", type=Path, default=OUT, help="folder for the documents")
    args = ap.parse_args()
    profile, source = paper_profile()
    kv = h200_kv_tokens()
    print(f"profile: {source}; KV capacity estimate {kv:,} tokens")
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "kind": "scheduler_bench",
        "what": "phasecal reference scheduler under the paper's H200 calibration of Qwen3-8B",
        "profile_source": source,
        "kv_capacity_tokens": kv,
        "kv_capacity_estimate": {"memory_bytes": H200_MEMORY_BYTES, "utilization": GPU_MEMORY_UTILIZATION,
                                 "activation_reserve_bytes": ACTIVATION_RESERVE_BYTES, "dtype_bytes": 2},
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "note": "single-threaded simulator; cpu_s is process CPU time"},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "azure_trace": bench_azure(profile, source, kv, args.out),
        "paper_workloads": bench_paper(profile, source, kv, args.quick, args.out),
    }
    write_atomic(args.out / "bench.json", json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.out}/: bench.json and the schedule documents")


if __name__ == "__main__":
    main()
