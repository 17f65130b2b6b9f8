"""Small synthetic results folders for the report tests: raw records and profiles written through the
project's own writers, with step times from a known cost model plus a little noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phasecal.fitting.derived_values import Derived
from phasecal.fitting.profile import ExclusiveCosts, FamilyScore, MixedCost, Profile, StepModel, save_profile
from phasecal.point_params import BandwidthRates
from phasecal.records import PointRecord, RunHeader, append_record
from phasecal.scheduler.metrics import PolicySummary
from phasecal.scheduler.schedule_doc import ScheduleDoc, WorkloadInfo, write_schedule_doc
from phasecal.scheduler.state import EngineConfig


def _record(probe: str, key: str, params: dict, median: float, rng: np.random.Generator,
            extra: dict | None = None) -> PointRecord:
    samples = sorted(float(median * (1 + 0.02 * rng.standard_normal())) for _ in range(10))
    samples = [max(s, median * 0.5) for s in samples]
    med = float(np.median(samples))
    p10, p90 = np.percentile(samples, [10, 90])
    return PointRecord(probe=probe, key=key, params=params, median_s=med, spread=float((p90 - p10) / med),
                       samples_s=samples, extra=extra or {})


def write_device(root: Path, slug: str, name: str, *, model: str = "tiny", speed: float = 1.0,
                 probes: tuple[str, ...] = ("step", "bandwidth", "launch", "gemm", "attention"), kind: str = "cpu",
                 profile: bool = True, seed: int = 0) -> Path:
    """Write `root/<slug>/<model>/raw.jsonl` (and profile.json) for a device `speed` times the baseline."""
    rng = np.random.default_rng(seed)
    folder = root / slug / model
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "raw.jsonl"
    device = {"name": name, "slug": slug, "kind": kind, "l2_bytes": 4 << 20}
    append_record(raw, RunHeader(device=device, settings={"quick": True}, model={"name": model},
                                 command="synthetic", started="2026-01-01T00:00:00Z"))
    costs = ExclusiveCosts(alpha_p=2e-3 / speed, beta_p=20e-6 / speed, alpha_d=3e-3 / speed, beta_d=40e-6 / speed)
    if "step" in probes:
        for n in (16, 64, 256, 1024):
            t = costs.alpha_p + costs.beta_p * n
            append_record(raw, _record("step", f"p{n}", {"grid": "prefill", "prefill": [[n, 0]], "decode": [],
                                                                  "graph": False}, t, rng))
        for ctx in (128, 1024):
            for n in (1, 8, 32, 128):
                t = costs.alpha_d + costs.beta_d * n + 1e-8 * ctx * n / speed
                for graph in (False, True):
                    append_record(raw, _record("step", f"d{n}c{ctx}g{graph}",
                                               {"grid": "decode", "prefill": [], "decode": [ctx] * n,
                                                "graph": graph},
                                               t * (0.7 if graph else 1.0), rng))
        for r in (0.25, 0.5, 0.75):
            n_d = int(256 * r)
            t = costs.alpha_p + costs.alpha_d + costs.beta_p * (256 - n_d) + costs.beta_d * n_d
            append_record(raw, _record("step", f"m{r}", {"grid": "mixed", "prefill": [[256 - n_d, 0]],
                                                         "decode": [512] * n_d, "graph": False, "budget": 256,
                                                         "decode_share": r}, t, rng))
    if "bandwidth" in probes:
        for impl in ("torch", "triton") if kind == "cuda" else ("torch",):
            for op, arrays in (("copy", 2), ("triad", 3), ("read", 1)):
                for cold in (False, True):
                    for ws in (1 << 16, 1 << 20, 1 << 24, 1 << 28):
                        tb_s = (0.05 if ws < (4 << 20) and not cold else 0.02) * speed
                        moved = ws // arrays * arrays
                        append_record(raw, _record("bandwidth", f"{impl}/{op}/{ws}/{cold}",
                                                   {"impl": impl, "op": op, "working_set_bytes": ws,
                                                    "dtype": "float32", "cold": cold},
                                                   moved / (tb_s * 1e12), rng,
                                                   BandwidthRates(ws // arrays // 4, moved, tb_s * 1e3).to_dict()))
    if "launch" in probes and kind == "cpu":
        append_record(raw, _record("launch", "launch/torch/call", {"impl": "torch", "what": "call", "nodes": 1}, 3e-6,
                                   rng))
    elif "launch" in probes:
        for what, t in (("enqueue", 5e-6), ("launch_sync", 9e-6)):
            append_record(raw, _record("launch", f"launch/torch/{what}", {"impl": "torch", "what": what, "nodes": 1},
                                       t, rng))
        for nodes in (1, 16, 64):
            append_record(raw, _record("launch", f"launch/torch/graph/{nodes}",
                                       {"impl": "torch", "what": "graph", "nodes": nodes}, 4e-6 + 1e-6 * nodes, rng))
    if "gemm" in probes:
        for layer, (n, k) in (("qkv_proj", (512, 256)), ("down_proj", (256, 768))):
            for m in (1, 16, 256):
                flops = 2 * m * n * k
                t = flops / (min(m, 64) * 1e10 * speed)
                append_record(raw, _record("gemm", f"gemm/torch/{layer}/m{m}", {"impl": "torch", "layer": layer,
                                                                               "m": m, "n": n, "k": k,
                                                                               "dtype": "bfloat16"},
                                           t, rng, {"flops": flops, "tflops": flops / t / 1e12}))
    if "attention" in probes:
        for b in (1, 8):
            for ctx in (128, 512, 2048):
                kv = b * (ctx + 1) * 2 * 2 * 64 * 2
                t = kv / (0.02e12 * speed * (1 + b / 8))
                append_record(raw, _record("attention", f"attention/decode/torch_paged/{b}x{ctx}",
                                           {"kind": "decode", "impl": "torch_paged", "prefill": [], "decode": [ctx] * b,
                                            "dtype": "float32"}, t, rng, {"decode_kv_gb_s": kv / t / 1e9,
                                                                          "prefill_tflops": None}))
        for q in (64, 256, 1024):
            flops = 4 * 4 * 64 * q * (q + 1) / 2
            t = flops / (0.5e12 * speed)
            append_record(raw, _record("attention", f"attention/prefill/torch_paged/q{q}",
                                       {"kind": "prefill", "impl": "torch_paged", "prefill": [[q, 0]], "decode": [],
                                        "dtype": "float32"}, t, rng, {"prefill_tflops": flops / t / 1e12,
                                                                      "decode_kv_gb_s": None}))
        for share in (0.0, 0.5, 1.0):
            n_d = round(share * 256)
            append_record(raw, _record("attention", f"attention/mixed/torch_paged/r{share:.2f}",
                                       {"kind": "mixed", "impl": "torch_paged", "prefill": [[256 - n_d, 0]] if n_d < 256
                                        else [], "decode": [256] * n_d, "dtype": "float32", "budget": 256,
                                        "decode_share": share}, (1 + share) * 1e-3 / speed, rng))
    if profile:
        save_profile(Profile(
            device=device, model={"name": model}, exclusive={"eager": costs},
            step_model=StepModel("phase_affine", {"alpha_p": costs.alpha_p, "beta_p": costs.beta_p,
                                                  "alpha_d": costs.alpha_d, "beta_d": costs.beta_d}),
            mixed=MixedCost(budget=256, a=22e-6 / speed, b=10e-6 / speed, c=15e-6 / speed),
            families=[FamilyScore("phase_affine", 5.0, 8.0, 30), FamilyScore("extended_linear", 3.0, None, 30)],
            derived=Derived(beta_mb_fit={"shares": [0.25, 0.5, 0.75],
                                         "beta_mb_points": [26e-6 / speed, 31e-6 / speed, 38e-6 / speed]}),
            provenance={"source": "synthetic test data"}), folder / "profile.json")
    return folder


def _summary(policy: str, workload: str, thr: float, ttft: float, tpot: float) -> PolicySummary:
    return PolicySummary(
        policy=policy, workload=workload, executed=False, num_requests=100, makespan_s=10.0,
        throughput_tok_s=thr, output_tok_s=thr / 2, ttft_mean_s=ttft, ttft_p50_s=ttft, ttft_p90_s=2 * ttft,
        ttft_p99_s=3 * ttft, tpot_mean_s=tpot, tpot_p50_s=tpot, tpot_p90_s=1.5 * tpot, tpot_p99_s=2 * tpot,
        slo_attainment=0.9, goodput_tok_s=0.9 * thr, slo={"ttft_s": 2.0, "tpot_s": 0.1}, preemptions=0,
        mode_switches=0, steps=100, kv_peak_blocks=10, kv_blocks=100, wall_s=0.1, steps_per_s=1000.0)


def _doc(family: str, concurrency: int | None, summaries: list[PolicySummary], profile: str | None,
         decision: str = "MB") -> ScheduleDoc:
    name = family if concurrency is None else f"{family} c={concurrency}"
    return ScheduleDoc(WorkloadInfo(name, family, concurrency, 100), profile, EngineConfig().resolved(), {},
                       decision, summaries)


def write_scheduler(folder: Path, *, speed: float = 1.0,
                    cases: tuple[tuple[str, int | None], ...] = (("balanced", 64), ("balanced", 256),
                                                                 ("decode_heavy", 64))) -> Path:
    """Schedule documents as `phasecal simulate` writes them, one per case (a workload family and its
    concurrency, None for an open loop): MB, EB and EB+ on each."""
    for i, (family, conc) in enumerate(cases):
        name = family if conc is None else f"{family} c={conc}"
        summaries = []
        for j, policy in enumerate(("mb", "eb", "ebplus")):
            thr = speed * 1000 * (1 + 0.1 * i) * (1 + 0.05 * ((i + j) % 3))
            summaries.append(_summary(policy, name, thr, 0.5 / speed * (1 + j), 0.02 / speed * (3 - j)))
        write_schedule_doc(_doc(family, conc, summaries, None), folder / f"schedule_{name.replace(' c=', '_c')}.json")
    return folder


def write_scheduler_bench(folder: Path, profile_source: str) -> Path:
    """Schedule documents as benchmarks/bench_simulator.py writes them on a published calibration: the
    crossover's prediction per paper workload, and an Azure-trace run."""
    for name, conc, eb_gain in (("decode_heavy", 512, 0.01), ("decode_heavy", 2048, 0.05), ("balanced", 512, -0.02)):
        summaries = [_summary("mb", name, 15000, 0.12, 0.033), _summary("eb", name, 15000 * (1 + eb_gain), 1.2, 0.032),
                     _summary("ebplus", name, 14800, 1.1, 0.0325)]
        write_schedule_doc(_doc(name, conc, summaries, profile_source, "EB"), folder / f"schedule_{name}_c{conc}.json")
    azure = [_summary("mb", "azure_conv", 7500, 0.04, 0.0113), _summary("eb", "azure_conv", 7500, 0.03, 0.0113)]
    write_schedule_doc(_doc("azure_conv", None, azure, profile_source), folder / "schedule_azure_conv.json")
    return folder
