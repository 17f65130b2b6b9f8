"""A profile for people: coefficients, held-out errors and derived values as tables; predicted vs measured plot."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from phasecal.atomic import atomic_file

from .explain import crossover_lines, decision_lines, fit_interval_lines, kv_spill_line, mixed_heldout_line
from .profile import Profile
from .tp import tp_line


def _ms(s: float | None) -> str:
    return "-" if s is None else f"{s * 1e3:.4g} ms"


def _us(s: float | None) -> str:
    return "-" if s is None else f"{s * 1e6:.4g} µs"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}%"


def _num(x: object) -> str:
    return f"{x:.4g}" if isinstance(x, float) else ("-" if x is None else str(x))


def profile_tables(profile: Profile) -> list[Table]:
    """The tables `phasecal show` prints, in order."""
    chosen = profile.step_model.family if profile.step_model else "none (phase-affine exclusive costs)"
    head = Table(title="profile", show_header=False)
    head.add_row("device", str(profile.device.get("name")))
    head.add_row("model", str(profile.model.get("name")))
    head.add_row("step model", chosen)
    if profile.graph_step_model:
        cv = (profile.derived.graph_fit or {}).get("cv_mape")
        head.add_row("graph step model", f"{profile.graph_step_model.family} (k-fold MAPE {_pct(cv)})")
    if profile.derived.tensor_parallel:
        head.add_row("tensor parallel", tp_line(profile.derived.tensor_parallel))

    excl = Table(title="exclusive steps: T_p = α_p + β_p·n_p, T_d = α_d + β_d·n_d")
    for col in ("mode", "α_p", "β_p / token", "α_d", "β_d / token"):
        excl.add_column(col, justify="right")
    for mode, c in profile.exclusive.items():
        excl.add_row(mode, _ms(c.alpha_p), _us(c.beta_p), _ms(c.alpha_d), _us(c.beta_d))

    fams = Table(title="model families: held-out MAPE (k-fold; fit on smallest 80% of token counts -> largest 20%)")
    for col in ("family", "kind", "k-fold", "extrapolation", "points", "note"):
        fams.add_column(col, justify="left" if col in ("family", "note") else "right")
    for f in profile.families:
        mark = " *" if profile.step_model and f.name == profile.step_model.family else ""
        fams.add_row(f.name + mark, "parametric" if f.parametric else "reference", _pct(f.cv_mape),
                     _pct(f.extrap_mape) + ("" if f.extrap_points is None else f" ({f.extrap_points} held out)"),
                     str(f.n_points), f.note)

    tables = [head, excl]
    if profile.families:
        tables.append(fams)
    docs = profile.derived.feature_docs
    if docs:
        feats = Table(title="features of a step")
        feats.add_column("feature")
        feats.add_column("definition")
        for name, doc in docs.items():
            feats.add_row(name, doc)
        tables.append(feats)
    for label, model in (("step model", profile.step_model), ("graph step model", profile.graph_step_model)):
        if model:
            coef = Table(title=f"{label} coefficients ({model.family}; seconds per unit of each feature)")
            coef.add_column("parameter")
            coef.add_column("value", justify="right")
            for k, v in model.params.items():
                coef.add_row(k, f"{v:.6g}")
            tables.append(coef)

    derived = Table(title="derived values", show_header=False)
    if profile.mixed:
        m = profile.mixed
        derived.add_row("β_MB(r) at budget", f"{m.budget} tokens")
        derived.add_row("β_MB(r) = a + b·r + c·r²", f"a {_us(m.a)}, b {_us(m.b)}, c {_us(m.c)} per token")
        derived.add_row("α_MB", _ms(m.alpha))
        check = profile.derived.beta_mb_fit.get("from_step_model")
        if check:
            derived.add_row("β_MB(r) from the step model (check)",
                            f"a {_us(check['a'])}, b {_us(check['b'])}, c {_us(check['c'])}; "
                            f"{check['decode_crossover']}")
    mc = profile.derived.marginal_cost
    derived.add_row("marginal cost of a prefill token", _us(mc.get("prefill_s_per_token")))
    derived.add_row("marginal cost of a decode token", _us(mc.get("decode_s_per_token")))
    ridge = profile.derived.ridge_point
    if ridge:
        derived.add_row("ridge point, fitted (tokens/step)", _num(ridge.get("fitted_tokens")))
        derived.add_row("ridge point, device peak/bandwidth (tokens/step)", _num(ridge.get("device_tokens")))
        if ridge.get("fitted_note"):
            derived.add_row("", ridge["fitted_note"])
    tables.append(derived)
    tables.append(_lines_table("crossovers", [*crossover_lines(profile.derived.crossover),
                                              *(profile.derived.crossover.notes if profile.derived.crossover else [])]))
    tables.append(_lines_table("uncertainty", [kv_spill_line(profile.derived.kv_spill, profile.step_model),
                                               mixed_heldout_line(profile.derived.mixed_heldout),
                                               *fit_interval_lines(profile.derived.uncertainty)]))
    for workload, decision in profile.derived.eb_thresholds.items():
        tables.append(_lines_table(f"EB decision · {workload}", decision_lines(decision)))
    return tables


def _lines_table(title: str, lines: list[str]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("", overflow="fold")
    for line in lines:
        table.add_row(line)
    return table


def show_profile(profile: Profile, console: Console | None = None) -> None:
    """Print the profile's tables."""
    console = console or Console()
    for table in profile_tables(profile):
        console.print(table)


def plot_predicted_vs_measured(profile: Profile, png: str | os.PathLike) -> Path:
    """Held-out (k-fold) predicted step time against measured, log-log, per grid; written atomically as PNG."""
    if not profile.points:
        raise ValueError("this profile holds no fitted steps to plot (imported calibrations carry none); "
                         "fit one with `phasecal fit`")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(5.5, 5))
    groups: dict[str, list[tuple[float, float]]] = {}
    for p in profile.points:
        label = ("graph " if p.get("graph") else "") + str(p.get("grid") or "step")
        groups.setdefault(label, []).append((p["measured_s"], p.get("heldout_s", p["fitted_s"])))
    for label, pairs in sorted(groups.items()):
        ax.scatter([m * 1e3 for m, _ in pairs], [q * 1e3 for _, q in pairs], s=12, label=label, alpha=0.8)
    lo = min(min(p["measured_s"], p["fitted_s"]) for p in profile.points) * 1e3 * 0.8
    hi = max(max(p["measured_s"], p["fitted_s"]) for p in profile.points) * 1e3 * 1.25
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
    in_sample = "; graph in-sample" if any(p.get("graph") for p in profile.points) else ""
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured step time (ms)",
           ylabel=f"predicted step time (ms, held out{in_sample})")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(NullFormatter())
    family = profile.step_model.family if profile.step_model else "?"
    ax.set_title(f"{profile.device.get('name')} / {profile.model.get('name')}: {family}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        with atomic_file(png, binary=True) as f:
            fig.savefig(f, dpi=120, format="png")
    finally:
        plt.close(fig)
    return Path(png)
