"""Small synthetic results folders for the report tests: raw records and profiles written through the
project's own writers, with step times from a known cost model plus a little noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phasecal.fitting.profile import ExclusiveCosts, FamilyScore, MixedCost, Profile, StepModel, save_profile
from phasecal.records import PointRecord, RunHeader, append_record


def _record(probe: str, key: str, params: dict, median: float, rng: np.random.Generator,
            extra: dict | None = None) -> PointRecord:
    samples = sorted(float(median * (1 + 0.02 * rng.standard_normal())) for _ in range(10))
    samples = [max(s, median * 0.5) for s in samples]
    med = float(np.median(samples))
    p10, p90 = np.percentile(samples, [10, 90])
    return PointRecord(probe=probe, key=key, params=params, median_s=med, spread=float((p90 - p10) / med),
                       samples_s=samples, extra=extra or {})


def write_device(root: Path, slug: str, name: str, *, model: str = "tiny", speed: float = 1.0,
                 probes: tuple[str, ...] = ("step", "bandwidth", "gemm", "attention"), kind: str = "cpu",
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
            append_record(raw, _record("step", f"p{n}", {"prefill": [[n, 0]], "decode": [], "graph": False}, t, rng))
        for ctx in (128, 1024):
            for n in (1, 8, 32, 128):
                t = costs.alpha_d + costs.beta_d * n + 1e-8 * ctx * n / speed
                for graph in (False, True):
                    append_record(raw, _record("step", f"d{n}c{ctx}g{graph}",
                                               {"prefill": [], "decode": [ctx] * n, "graph": graph},
                                               t * (0.7 if graph else 1.0), rng))
        for r in (0.25, 0.5, 0.75):
            n_d = int(256 * r)
            t = costs.alpha_p + costs.alpha_d + costs.beta_p * (256 - n_d) + costs.beta_d * n_d
            append_record(raw, _record("step", f"m{r}", {"prefill": [[256 - n_d, 0]], "decode": [512] * n_d,
                                                         "graph": False}, t, rng))
    if profile:
        save_profile(Profile(
            device=device, model={"name": model}, exclusive={"eager": costs},
            step_model=StepModel("phase_affine", {"alpha_p": costs.alpha_p, "beta_p": costs.beta_p,
                                                  "alpha_d": costs.alpha_d, "beta_d": costs.beta_d}),
            mixed=MixedCost(budget=256, a=22e-6 / speed, b=10e-6 / speed, c=15e-6 / speed, crossover_share=0.6),
            families=[FamilyScore("phase_affine", 5.0, 8.0, 30), FamilyScore("extended_linear", 3.0, None, 30)],
            derived={"mixed_fit": {"shares": [0.25, 0.5, 0.75], "beta_mb_points": [26e-6 / speed, 31e-6 / speed,
                                                                                     38e-6 / speed]}},
            provenance={"source": "synthetic test data"}), folder / "profile.json")
    return folder
