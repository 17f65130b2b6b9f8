"""Device check: the one-screen summary, stages and the kernel targets' ratios.

The ratios come from bench_kernels.py's JSON (`targets`: target, what, measured, required, ok); when the
benchmark was cut before writing it, from the `TARGET ...` lines it printed as it went. A target with
neither is printed as unmeasured.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from gpu_check_runner import StageResult

# target key in bench_kernels.py -> (label, required ratio, which checks count)
TARGETS = [
    ("bandwidth_vs_torch_op", "bandwidth kernels vs torch's own op", 0.97, None),
    ("decode_vs_copy_bandwidth", "split-KV decode 512x2048 vs copy bandwidth", 0.80, None),
    ("prefill_vs_sdpa_flash", "prefill vs SDPA flash", 0.70, None),
    ("matmul_vs_cublas", "matmul vs cuBLAS, every M", 0.80, None),
    ("matmul_vs_cublas", "matmul vs cuBLAS, M <= 16", 0.80, 16),
]
_TARGET_LINE = re.compile(r"^TARGET\s+(\S+)\s+(.*?)\s+(-?[\d.]+(?:e-?\d+)?) >= ([\d.]+): (ok|MISSED)\s*$", re.M)


def read_checks(bench_json: Path | None, bench_log: str) -> tuple[list[dict], str]:
    """The benchmark's target checks and where they were read from ('json', 'log' or 'none')."""
    if bench_json is not None and bench_json.is_file():
        try:
            return json.loads(bench_json.read_text())["targets"], "json"
        except (ValueError, KeyError, TypeError):
            pass
    checks = [dict(target=t, what=w, measured=float(m), required=float(r), ok=ok == "ok")
              for t, w, m, r, ok in _TARGET_LINE.findall(bench_log)]
    return checks, "log" if checks else "none"


def _m_of(what: str) -> int | None:
    found = re.search(r"M=(\d+)", what)
    return int(found.group(1)) if found else None


def target_rows(checks: list[dict]) -> list[dict]:
    """Per target: the worst ratio over its checks, how many met it, and which check was worst."""
    rows = []
    known = {t for t, *_ in TARGETS}
    extra = [(t, t, None, None) for t in dict.fromkeys(c["target"] for c in checks) if t not in known]
    for key, label, required, max_m in TARGETS + extra:
        mine = [c for c in checks if c["target"] == key and (max_m is None or (_m_of(c["what"]) or 1 << 30) <= max_m)]
        if not mine:
            rows.append(dict(label=label, required=required, worst=None))
            continue
        worst = min(mine, key=lambda c: c["measured"])
        rows.append(dict(label=label, required=worst.get("required", required), worst=worst["measured"],
                         where=worst["what"], met=sum(bool(c["ok"]) for c in mine), total=len(mine)))
    return rows


def format_summary(stages: list[StageResult], rows: list[dict], source: str, header: str) -> str:
    """The lines printed at the end of the check (and saved as summary.txt)."""
    lines = [header, f"{'stage':14s} {'status':8s} {'time':>6s} {'limit':>6s}  note"]
    for s in stages:
        lines.append(f"{s.name:14s} {s.status:8s} {s.seconds:5.0f}s {s.limit_s:5.0f}s  {s.note}"[:160])
    lines.append(f"kernel targets (ratios read from the benchmark's {source})" if source != "none"
                 else "kernel targets: the benchmark wrote no ratios (not run, or cut before its first)")
    for r in rows:
        req = f">={r['required']:.2f}" if r["required"] is not None else ""
        if r["worst"] is None:
            lines.append(f"  {r['label']:44s} {req:7s} unmeasured")
        else:
            verdict = "met" if r["met"] == r["total"] else "MISSED"
            lines.append(f"  {r['label']:44s} {req:7s} worst {r['worst']:.3f}  {verdict} "
                         f"{r['met']}/{r['total']}  (worst: {r['where']})")
    return "\n".join(lines)
