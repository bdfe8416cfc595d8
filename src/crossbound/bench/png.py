"""The report's plots as PNG files, drawn by matplotlib from the same layout as the SVGs.

The Agg canvas is used directly (no pyplot): nothing global is switched, nothing needs a
display, and a process that already uses another backend is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossbound.bench.curves import FLAT, LM_REFERENCE, MARKED, SM_REFERENCE, SWEPT, Curve
from crossbound.bench.plots import COLOURS, OTHER_COLOUR, Plot, Point, Tick

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# The SVG's dash patterns in matplotlib's terms, per kind of learning-curve series.
_LINESTYLE = {SWEPT: "-", SM_REFERENCE: "--", LM_REFERENCE: "--", FLAT: ":"}


def _axes(title: str, x_label: str, y_label: str, x_ticks: list[Tick],
          y_ticks: list[Tick]) -> tuple[Figure, Axes]:
    """A figure with the unit-square axes, ticks, grid and labels every plot shares."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RuntimeError("the PNG plots need matplotlib: pip install matplotlib") from exc

    figure = Figure(figsize=(7.5, 4.8), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.04, 1.06)
    ax.set_xticks([t.pos for t in x_ticks], [t.label for t in x_ticks])
    ax.set_yticks([t.pos for t in y_ticks], [t.label for t in y_ticks])
    ax.grid(True, color="#e4e4e4", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_title(title)
    ax.set_xlabel(x_label, fontsize=9)
    ax.set_ylabel(y_label)
    return figure, ax


def _annotate(ax: Axes, p: Point) -> None:
    """A label where place_labels put it (the SVG's offsets, in points)."""
    ax.annotate(p.cell, (p.u, p.v), xytext=(-5 if p.left else 5, 5 + 9 * p.line),
                textcoords="offset points", fontsize=7,
                horizontalalignment="right" if p.left else "left")


def _save(figure: Figure, ax: Axes, path: Path) -> Path:
    ax.legend(fontsize=8, loc="best")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def write_png(plot: Plot, path: Path) -> Path:
    figure, ax = _axes(plot.title, plot.x_label, plot.y_label, plot.x_ticks, plot.y_ticks)
    if plot.front:
        us, vs = zip(*plot.front, strict=True)
        ax.plot(us, vs, linestyle="--", color="#444444", linewidth=1, label="Pareto front")
    seen: set[str] = set()
    for p in plot.points:
        label = p.direction if p.direction not in seen else None
        seen.add(p.direction)
        ax.scatter([p.u], [p.v], s=36, color=COLOURS.get(p.direction, OTHER_COLOUR),
                   label=label, zorder=3)
        _annotate(ax, p)
    return _save(figure, ax, path)


def write_curve_png(curve: Curve, path: Path) -> Path:
    figure, ax = _axes(curve.title, curve.x_label, curve.y_label, curve.x_ticks,
                       curve.y_ticks)
    seen: set[str] = set()
    for s in curve.series:
        label = s.direction if s.direction not in seen else None  # a legend entry per colour
        seen.add(s.direction)
        ax.plot([p.u for p in s.points], [p.v for p in s.points], label=label,
                linestyle=_LINESTYLE[s.kind], linewidth=0.8 if s.kind == FLAT else 1.4,
                marker="o" if s.kind in MARKED else None, markersize=4,
                color=COLOURS.get(s.direction, OTHER_COLOUR))
    for p in curve.labels:
        _annotate(ax, p)
    return _save(figure, ax, path)
