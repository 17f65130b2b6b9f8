"""Shared figure furniture: panel grids, notes for missing data, reference markers, title and footer.

Every figure says what it shows (title with units), for which device and model (panel titles or
legend), where its numbers came from (footer listing the files) and when and with what they were
measured (footer: date drawn, phasecal version, per device the measurement date and software).
Published figures measured elsewhere are drawn in black with hollow markers and labelled "published
reference", so they are never mistaken for this suite's measurements. A figure with nothing to draw is
a `Missing`: one line saying what to run, never an empty panel.
"""

from __future__ import annotations

import io
import math
import textwrap
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from .provenance import drawn

REFERENCE = "published reference"
REF_STYLE = {"color": "black", "markerfacecolor": "none", "markeredgecolor": "black"}
PANEL_W, PANEL_H = 5.2, 3.8
MAX_COLS = 3
MIN_W = 7.5  # a lone panel still has room for its title and the footer


@dataclass(frozen=True)
class Missing:
    """Stands in for a figure with nothing to draw: one line naming what is missing and what to run."""

    text: str

    def _repr_markdown_(self) -> str:
        return f"*{self.text}*"


def missing(what: str, run: str) -> Missing:
    """`<what>: not measured yet; run `<run>` to fill it.`"""
    return Missing(f"{what}: not measured yet; run `{run}` to fill it.")


def scale_to(ax: Axes, axis: str, values: Sequence[float], zero: bool = True) -> None:
    """Log scale only where the values span a decade or more; else linear, from zero when `zero`."""
    shown = [v for v in values if v is not None and math.isfinite(v)]
    set_scale, set_lim = (ax.set_xscale, ax.set_xlim) if axis == "x" else (ax.set_yscale, ax.set_ylim)
    if shown and min(shown) > 0 and max(shown) / min(shown) >= 10:
        set_scale("log")
        set_lim(min(shown) / 1.4, max(shown) * 1.4)
    elif zero and shown and min(shown) >= 0:
        set_lim(0, max(shown) * 1.1 or 1)


def ref_label(what: str) -> str:
    """Legend text for a point or line that is a published figure, not a measurement of this suite."""
    return f"{what} ({REFERENCE})"


def panel_grid(n: int, *, ncols: int | None = None, sharey: bool = False,
               panel_w: float = PANEL_W) -> tuple[Figure, list[Axes]]:
    """A figure with `n` panels (at least one) of `panel_w` inches, wrapped into rows of at most MAX_COLS."""
    n = max(n, 1)
    ncols = ncols or min(n, MAX_COLS)
    nrows = -(-n // ncols)
    # Figures are drawn on the Agg canvas directly, not through pyplot: no window, no global figure list.
    fig = Figure(figsize=(max(panel_w * ncols, MIN_W), PANEL_H * nrows + 0.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


_EMPTY: weakref.WeakKeyDictionary[Axes, str] = weakref.WeakKeyDictionary()  # panels with nothing to draw, and why


def note(ax: Axes, text: str) -> None:
    """Mark a panel as having nothing to draw, and say why: `finish` removes it and keeps `text` as one
    footer line (or, when no panel is left, turns the whole figure into that one line)."""
    _EMPTY[ax] = text


def _collapse_empty(fig: Figure) -> list[str]:
    """Remove the noted and hidden panels, close up the grid's rows and columns that emptied, and shrink the
    figure to match; returns the notes. Panels keep their row and column relative to each other."""
    notes = [_EMPTY[ax] for ax in fig.axes if ax in _EMPTY]
    gone = [ax for ax in fig.axes if ax in _EMPTY or not ax.get_visible()]
    if not gone:
        return notes
    live = [ax for ax in fig.axes if ax not in gone]
    old = gone[0].get_subplotspec().get_gridspec()
    for ax in gone:
        fig.delaxes(ax)
    if not live:
        return notes
    rows = sorted({ax.get_subplotspec().rowspan.start for ax in live})
    cols = sorted({ax.get_subplotspec().colspan.start for ax in live})
    grid = fig.add_gridspec(len(rows), len(cols))
    for ax in live:
        spec = ax.get_subplotspec()
        ax.set_subplotspec(grid[rows.index(spec.rowspan.start), cols.index(spec.colspan.start)])
    width, height = fig.get_size_inches()
    fig.set_size_inches(max(width * len(cols) / old.ncols, MIN_W), (height - 0.8) * len(rows) / old.nrows + 0.8)
    return notes


def finish(fig: Figure, title: str, sources: list[str], notes: list[str] | None = None,
           provenance: list[str] | None = None) -> Figure | Missing:
    """Title the figure; list in a footer its data sources, any notes (such as what was not measured) and
    its provenance (`provenance.provenance(...)`: when drawn, and per device when and with what measured).
    Panels marked by `note` leave the figure for a footer line; with none left the figure is a `Missing`."""
    empty = _collapse_empty(fig)
    if not fig.axes:
        return Missing(f"{title.split(' (')[0]}: " + "; ".join(dict.fromkeys(empty)) + ".")
    for ax in fig.axes:
        _plain_log_ticks(ax)
    title = textwrap.fill(title, int(fig.get_figwidth() * 9))
    lines = ["Data: " + ("; ".join(dict.fromkeys(sources)) if sources else "none found")]
    lines += list(dict.fromkeys(list(notes or []) + ["Not drawn: " + e for e in empty]))
    lines += provenance or ["Made: " + drawn()]
    footer = "\n".join(textwrap.fill(line, int(fig.get_figwidth() * 16), subsequent_indent="    ") for line in lines)
    # grow the figure by what the wrapped title and footer need, so the panels keep their height
    extra_in = 0.2 * title.count("\n") + 0.13 * footer.count("\n")
    fig.set_figheight(fig.get_figheight() + extra_in)
    height = fig.get_figheight()
    fig.suptitle(title, fontsize=11.5, fontweight="bold")
    fig.text(0.01, 0.005, footer, fontsize=7.5, va="bottom", ha="left", color="0.25")
    bottom = (0.13 * (footer.count("\n") + 1) + 0.1) / height
    top = 1 - (0.3 + 0.2 * title.count("\n")) / height
    fig.tight_layout(rect=(0, bottom, 1, top))
    return fig


def _plain_log_ticks(ax: Axes) -> None:
    """Log axes labelled 0.5, 2, 20 instead of 5×10⁻¹; minor ticks at 2 and 5 labelled on short spans.
    A log axis spanning less than a decade becomes linear: log scales are for values that span decades."""
    for axis, scale, lim, set_scale in ((ax.xaxis, ax.get_xscale(), ax.get_xlim(), ax.set_xscale),
                                        (ax.yaxis, ax.get_yscale(), ax.get_ylim(), ax.set_yscale)):
        if scale != "log" or min(lim) <= 0:
            continue
        decades = abs(math.log10(lim[1] / lim[0]))
        if decades < 1:
            set_scale("linear")
            continue
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        if decades <= 1.6:
            axis.set_minor_formatter(FuncFormatter(_minor_label))
        else:
            axis.set_minor_formatter(NullFormatter())


def _minor_label(v: float, _pos) -> str:
    mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
    return f"{v:g}" if round(mantissa) in (2, 5) and abs(mantissa - round(mantissa)) < 1e-6 else ""


def legend(ax: Axes, **kwargs) -> None:
    """A small legend, only if the panel has labelled artists."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**({"fontsize": 7.5} | kwargs))


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show(fig: Figure | Missing, dpi: int = 100) -> None:
    """Display a figure in a notebook as a PNG (independent of the kernel's matplotlib backend), or the one
    line that stands in for a figure with nothing to draw."""
    from IPython.display import Image, Markdown, display

    if isinstance(fig, Missing):
        display(Markdown(fig._repr_markdown_()))
    else:
        display(Image(data=png_bytes(fig, dpi), format="png"))
