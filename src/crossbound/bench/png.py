"""The report's plots as PNG files, drawn by matplotlib from the same layout as the SVGs.

The Agg canvas is used directly (no pyplot): nothing global is switched, nothing needs a
display, and a process that already uses another backend is left alone.
"""

from __future__ import annotations

from pathlib import Path

from crossbound.bench.plots import COLOURS, OTHER_COLOUR, Plot


def write_png(plot: Plot, path: Path) -> Path:
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
    ax.set_xticks([t.pos for t in plot.x_ticks], [t.label for t in plot.x_ticks])
    ax.set_yticks([t.pos for t in plot.y_ticks], [t.label for t in plot.y_ticks])
    ax.grid(True, color="#e4e4e4", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_title(plot.title)
    ax.set_xlabel(plot.x_label, fontsize=9)
    ax.set_ylabel(plot.y_label)
    if plot.front:
        us, vs = zip(*plot.front, strict=True)
        ax.plot(us, vs, linestyle="--", color="#444444", linewidth=1, label="Pareto front")
    seen: set[str] = set()
    for p in plot.points:
        label = p.direction if p.direction not in seen else None
        seen.add(p.direction)
        ax.scatter([p.u], [p.v], s=36, color=COLOURS.get(p.direction, OTHER_COLOUR),
                   label=label, zorder=3)
        ax.annotate(p.cell, (p.u, p.v), xytext=(-5 if p.left else 5, 5 + 9 * p.line),
                    textcoords="offset points", fontsize=7,
                    horizontalalignment="right" if p.left else "left")
    ax.legend(fontsize=8, loc="best")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
