"""fair against MB: the tables of `benchmarks/fair_vs_mb.py` (simulated, per profile and workload) and
`benchmarks/fair_executed.py` (executed on the CPU against its plan), read from `results/fair_vs_mb/`."""

from __future__ import annotations

import json
from pathlib import Path

from .data import Results

STUDY_DIR = "fair_vs_mb"


STUDY_ROW_KEYS = ("profile", "workload", "slo_ttft_s", "slo_tpot_s", "capacity_load", "at_mb_capacity",
                  "at_half_mb_capacity")
EXECUTED_RUN_KEYS = ("profile", "profile_device", "held_out_mape_pct", "cases")


def load_study(path: Path) -> dict:
    """`benchmarks/fair_vs_mb.py`'s document; ValueError naming the file and the missing field."""
    return _checked(path, "rows", STUDY_ROW_KEYS)


def load_executed(path: Path) -> dict:
    """`benchmarks/fair_executed.py`'s document; ValueError naming the file and the missing field."""
    return _checked(path, "runs", EXECUTED_RUN_KEYS)


def _checked(path: Path, list_key: str, keys: tuple[str, ...]) -> dict:
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get(list_key), list):
        raise ValueError(f"{path}: expected an object with a list '{list_key}'")
    for i, item in enumerate(doc[list_key]):
        missing = [k for k in keys if not isinstance(item, dict) or k not in item]
        if missing:
            raise ValueError(f"{path}: {list_key}[{i}] lacks {', '.join(missing)}")
    return doc


def _read(results: Results, name: str, reader) -> dict | None:
    path = results.root / STUDY_DIR / name
    try:
        return reader(path)
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError, OSError) as e:  # json.JSONDecodeError is a ValueError
        results.problems.append(f"{STUDY_DIR}/{name}: {e}")
        return None


def fair_vs_mb_markdown(results: Results) -> str:
    """Capacity under SLO, TTFT p99 and TPOT SLO attainment of fair against MB, one row per profile,
    workload and SLO; then the executed check (planned against executed step times, attainment)."""
    study = _read(results, "fair_vs_mb.json", load_study)
    if study is None:
        return f"No fair-vs-MB study under `{results.root.name}/{STUDY_DIR}/` (run `benchmarks/fair_vs_mb.py`)."
    lines = ["| profile | workload | SLO (TTFT, TPOT) | capacity (load ρ), MB → fair | TTFT p99 at MB's capacity, MB → "
             "fair | TPOT SLO attainment there, MB → fair | TTFT p99 at half of it, MB → fair |",
             "|---|---|---|---|---|---|---|"]
    for r in study["rows"]:
        cap, at, half = r["capacity_load"], r["at_mb_capacity"], r["at_half_mb_capacity"]
        lines.append(
            f"| {r['profile']} | {r['workload']} | {r['slo_ttft_s']:g} s, {r['slo_tpot_s'] * 1e3:g} ms | "
            f"{cap['mb']:.3g} → {cap['fair']:.3g} ({cap['fair'] / cap['mb'] - 1:+.0%}) | "
            f"{at['mb']['ttft_p99_s']:.2f} → {at['fair']['ttft_p99_s']:.2f} s | "
            f"{at['mb']['tpot_attainment']:.1%} → {at['fair']['tpot_attainment']:.1%} | "
            f"{half['mb']['ttft_p99_s']:.2f} → {half['fair']['ttft_p99_s']:.2f} s |")
    executed = _read(results, "executed_cpu.json", load_executed)
    for run in (executed or {}).get("runs", []):
        lines += ["", *executed_markdown(run, executed.get("machine", {}))]
    return "\n".join(lines)


def executed_markdown(run: dict, machine: dict) -> list[str]:
    """One executed run (`benchmarks/fair_executed.py`) on its machine (else `machine`, the document's): a line
    on the profile and its held-out error, then a row per case: planned against executed step times (overall
    and per kind), the split by re-timing, and TPOT SLO attainment simulated → executed, and simulated at the
    re-checked and executed levels where the run has them."""
    err = run["held_out_mape_pct"]
    machine = run.get("machine", machine)  # runs recorded before runs kept their own machine: the document's
    lines = [f"Executed on the CPU ({machine.get('processor', '?')}, {machine.get('cpu_count', '?')} cores, shared) "
             f"under `{run['profile']}` (measured on {run['profile_device']}; held-out k-fold MAPE of its step "
             f"model ({run.get('held_out_family', '?')}) {'n/a' if err is None else f'{err:.1f}%'}). Planned vs "
             "executed: mean absolute error per step (signed median); over bins of like steps (same kind, "
             "neighbouring planned times), each bin's median against median, as the held-out error scores a point; "
             "the profile's plan without fair's online correction, and how far the correction had moved by the end; "
             "also over the steps during which no other process took the core (how many); re-timed probe-style "
             "after the run: the profile's plan and the executed time against a sample of the executed "
             "compositions, and the profile's own points now against when profiled. TPOT attainment simulated "
             "under the profile → executed, and in brackets simulated at other levels of the machine's speed where "
             "the run recorded them: the level a re-check of the profile's own points measured just before the run, "
             "and the executed level (the executed steps' total time over the profile's plan for them); and the band "
             "simulated on a machine slower and faster than the profile by its held-out error.", "",
             "| workload | SLO (TTFT, TPOT) | steps | planned vs executed | like steps, median vs median (bins) | "
             "profile alone, no online correction | correction at the end | prefill / decode / mixed | steps no "
             "other process interrupted | profile vs re-timed | executed vs re-timed | machine vs profiled | TPOT "
             "attainment, simulated → executed | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in run["cases"]:
        e = c["planned_vs_executed_steps"]
        kinds = " / ".join(f"{e['by_kind'][k]['mape_pct']:.1f}%" if k in e["by_kind"] else "–"
                           for k in ("prefill", "decode", "mixed"))
        like = e.get("like_steps")
        like = f"{like['mape_pct']:.1f}% ({like['bins']})" if like else "–"
        alone = e.get("profile_alone")
        alone = f"{alone['mape_pct']:.1f}% ({alone['signed_median_pct']:+.1f}%)" if alone else "–"
        corr = c.get("online_correction_pct")
        corr = "–" if corr is None else f"{corr:+.1f}%"
        calm = e.get("by_preemption", {}).get("0")
        calm = f"{calm['mape_pct']:.1f}% ({calm['steps']})" if calm else "–"
        rt = c.get("retimed") or {}
        rep, dr = rt.get("replay"), rt.get("drift")
        pct = "{:+.1f}%".format
        choice = c.get("slo_choice")
        slo = f"{c['slo']['ttft_s']:g} s, {c['slo']['tpot_s'] * 1e3:.3g} ms" + (
            f" (discriminating: {choice['simulated_attainment']:.0%} simulated)" if choice else "")
        t = c["tpot_attainment"]
        at_level = "; ".join(f"{name} ×{c[level]:.3f}: {t[key]:.1%}" for name, key, level in (
            ("re-checked", "simulated_at_rechecked_level", "rechecked_level"),
            ("executed", "simulated_at_executed_level", "executed_level")) if t.get(key) is not None)
        band = t.get("simulated_within_held_out_error")
        if band is not None and err is not None:  # slower by the held-out error, then faster
            at_level += f"{'; ' if at_level else ''}±{err:.1f}%: {band[0]:.0%}–{band[1]:.0%}"
        at_level = f" ({at_level})" if at_level else ""
        lines.append(
            f"| {c['workload']} | {slo} | {e['all']['steps']} | {e['all']['mape_pct']:.1f}% "
            f"({pct(e['all']['signed_median_pct'])}) | {like} | {alone} | {corr} | {kinds} | {calm} | "
            f"{pct(rep['planned_vs_replayed']['median_pct']) if rep else '–'} | "
            f"{pct(rep['executed_vs_replayed']['median_pct']) if rep else '–'} | "
            f"{pct(dr['now_vs_profiled']['median_pct']) if dr else '–'} | "
            f"{t['simulated']:.1%} → {t['executed']:.1%}{at_level} | {c['loadavg_1_5_15']['before'][0]:.1f} |")
    chosen = [c["slo_choice"]["how"] for c in run["cases"] if c.get("slo_choice")]
    if chosen:
        lines += ["", f"Discriminating SLOs: {'; '.join(chosen)}."]
    return lines
