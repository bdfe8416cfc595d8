"""The report's Pareto plots, laid out once and drawn twice (inline SVG and PNG).

Every position is computed here in unit coordinates (0..1 on both axes), so the SVG in the
HTML and the matplotlib PNG show exactly the same picture. Two values have no place on an
ordinary axis and get a band of their own: unbounded data leakage (``∞``, at the right) and
zero bytes crossed on the log axis (``0``, at the left).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from crossbound.bench.normalise import leakage_of
from crossbound.bench.plan import human_bytes, utility_of
from crossbound.bench.records import resolve_budget, results_at

COLOURS = {"baseline": "#6b6b6b", "downward": "#1f6fb4", "upward": "#2a9d3a",
           "inference": "#c8372d"}
OTHER_COLOUR = "#8a56b8"


@dataclass
class Point:
    cell: str
    direction: str
    x: float  # the raw value (may be inf)
    y: float  # utility
    u: float  # unit position on the x axis
    v: float  # unit position on the y axis
    line: int = 0  # the label's line above the point (labels of close points stack up)
    left: bool = False  # label to the left of the point (near the right edge)


@dataclass
class Tick:
    pos: float
    label: str


@dataclass
class Plot:
    slug: str
    title: str
    x_label: str
    y_label: str
    points: list[Point] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    front: list[tuple[float, float]] = field(default_factory=list)  # step path, unit coords


def nice_ticks(hi: float, count: int = 5) -> list[float]:
    """0, step, 2·step, … up to ``hi``, with step 1, 2 or 5 × 10^k."""
    if hi <= 0:
        return [0.0]
    raw = hi / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    n = math.floor(hi / step + 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def _fmt(value: float) -> str:
    return f"{value:g}"


def _linear_axis(values: list[float], *, inf_band: bool,
                 fmt: Callable[[float], str] = _fmt) -> tuple[Callable[[float], float],
                                                             list[Tick]]:
    """Linear from 0; with ``inf_band`` unbounded values sit in a band at the right."""
    finite = [v for v in values if math.isfinite(v)]
    top = max(finite, default=0.0)
    ticks = nice_ticks(top) if top > 0 else [0.0]
    end = max(ticks[-1], top) or 1.0
    span = 0.76 if inf_band else 0.9

    def pos(v: float) -> float:
        return 0.94 if math.isinf(v) else 0.04 + span * v / end

    out = [Tick(pos(t), fmt(t)) for t in ticks]
    if inf_band:
        out.append(Tick(0.94, "∞"))
    return pos, out


def _log_axis(values: list[float]) -> tuple[Callable[[float], float], list[Tick]]:
    """Log10 for positive values; 0 sits in a band at the left."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    lo = math.floor(math.log10(min(positive))) if positive else 0
    hi = math.ceil(math.log10(max(positive))) if positive else 1
    hi = max(hi, lo + 1)

    def pos(v: float) -> float:
        if v <= 0:
            return 0.04
        return 0.16 + 0.8 * (math.log10(v) - lo) / (hi - lo)

    step = max(1, math.ceil((hi - lo) / 6))
    ticks = [Tick(0.04, "0")]
    ticks += [Tick(pos(10.0**e), human_bytes(10.0**e)) for e in range(lo, hi + 1, step)]
    return pos, ticks


def utility_axis(values: list[float]) -> tuple[Callable[[float], float], list[Tick]]:
    """From min(0, values) to max(1, values), so every plot of a bench starts at 0."""
    lo = min(0.0, *values) if values else 0.0
    hi = max(1.0, *values) if values else 1.0

    def pos(v: float) -> float:
        return (v - lo) / (hi - lo)

    ticks = [t for t in nice_ticks(hi - lo) if t + lo <= hi + 1e-9]
    return pos, [Tick(pos(t + lo), f"{t + lo:g}") for t in ticks]


def step_front(points: list[Point]) -> list[tuple[float, float]]:
    """The best utility reachable at each x budget: a staircase through the 2-D front."""
    best = -math.inf
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.u, -p.v)):
        if p.v > best:
            front.append(p)
            best = p.v
    path: list[tuple[float, float]] = []
    for i, p in enumerate(front):
        if i:
            path.append((p.u, front[i - 1].v))
        path.append((p.u, p.v))
    if path:
        path.append((1.0, path[-1][1]))
    return path


def build_plots(results: dict[str, Any], records: str | None = None) -> list[Plot]:
    """Utility against data leakage, bytes crossed (log) and wall time, for every cell with
    a headline utility at the record budget ``records`` (default the largest; see
    :func:`~crossbound.bench.records.resolve_budget`), so points of different budgets never
    share a front."""
    budget = resolve_budget(results, records)
    at = f" ({budget.describe()})" if budget else ""
    cells = [c for c in results_at(results, budget)["cells"] if utility_of(c) is not None]
    ys = [float(utility_of(c) or 0.0) for c in cells]
    y_pos, y_ticks = utility_axis(ys)
    metric = results.get("task", {}).get("metric", "utility")
    y_label = f"utility ({metric})"

    def bytes_of(c: dict[str, Any]) -> float:
        return float(c["record"]["efficiency"]["bytes_crossed"] or 0)

    def seconds_of(c: dict[str, Any]) -> float:
        return float(c["record"]["efficiency"]["wall_seconds"] or 0.0)

    specs: list[tuple[str, str, str, Callable[[dict[str, Any]], float], str]] = [
        ("utility-vs-leakage", "Utility vs data leakage",
         "data leakage (DP ε; 0: nothing private crossed; ∞: private text crossed)",
         lambda c: leakage_of(c["record"]), "leakage"),
        ("utility-vs-bytes", "Utility vs bytes crossed", "bytes crossed, both directions (log)",
         bytes_of, "bytes"),
        ("utility-vs-seconds", "Utility vs wall time",
         "wall seconds of the run (both parties in one process)", seconds_of, "seconds"),
    ]
    plots = []
    for slug, title, x_label, value, kind in specs:
        xs = [value(c) for c in cells]
        if kind == "leakage":
            x_pos, x_ticks = _linear_axis(xs, inf_band=True)
        elif kind == "bytes":
            x_pos, x_ticks = _log_axis(xs)
        else:
            x_pos, x_ticks = _linear_axis(xs, inf_band=False)
        points = [Point(c["id"], c["direction"], x, y, x_pos(x), y_pos(y))
                  for c, x, y in zip(cells, xs, ys, strict=True)]
        place_labels(points)
        plots.append(Plot(slug, title + at, x_label, y_label, points, x_ticks, y_ticks,
                          step_front(points)))
    return plots


def place_labels(points: list[Point], char_px: float = 5.0, line_px: float = 11.0) -> None:
    """Keep labels of nearby points from overprinting: each label takes the first line above
    its point whose box (in the SVG's pixels) touches no label placed before it."""
    placed: list[tuple[float, float, float, float]] = []  # x0, x1, y0, y1
    for p in sorted(points, key=lambda p: (p.u, -p.v)):
        x, y = _px(p.u, p.v)
        width = char_px * len(p.cell)
        p.left = x + 7 + width > LEFT + PW
        x0 = x - 7 - width if p.left else x + 7
        for line in range(len(points) + 1):
            top = y - 6 - line * line_px - line_px
            box = (x0, x0 + width, top, top + line_px)
            if not any(box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3]
                       for b in placed):
                break
        p.line = line
        placed.append(box)


# ---------------------------------------------------------------- SVG

W, H = 600, 380
LEFT, RIGHT, TOP, BOTTOM = 58, 18, 34, 62
PW, PH = W - LEFT - RIGHT, H - TOP - BOTTOM


def _px(u: float, v: float) -> tuple[float, float]:
    return round(LEFT + u * PW, 1), round(TOP + (1 - v) * PH, 1)


def svg_frame(slug: str, title: str, x_label: str, y_label: str, x_ticks: list[Tick],
              y_ticks: list[Tick]) -> list[str]:
    """The opening ``<svg>``, frame, title, grid, ticks and axis labels of a chart (the
    caller appends its marks and closes it)."""
    parts = [f'<svg class="plot" id="plot-{slug}" viewBox="0 0 {W} {H}" width="{W}" '
             f'height="{H}" role="img" aria-label="{escape(title)}">',
             f'<rect x="{LEFT}" y="{TOP}" width="{PW}" height="{PH}" class="frame"/>',
             f'<text x="{W / 2}" y="20" class="title">{escape(title)}</text>']
    for t in x_ticks:
        x, _ = _px(t.pos, 0)
        parts.append(f'<line x1="{x}" y1="{TOP}" x2="{x}" y2="{TOP + PH}" class="grid"/>')
        parts.append(f'<text x="{x}" y="{TOP + PH + 16}" class="tick">{escape(t.label)}</text>')
    for t in y_ticks:
        _, y = _px(0, t.pos)
        parts.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + PW}" y2="{y}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4}" class="tick y">{escape(t.label)}</text>')
    parts.append(f'<text x="{LEFT + PW / 2}" y="{H - 22}" class="axis">'
                 f'{escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{TOP + PH / 2}" class="axis" transform="rotate(-90 14 '
                 f'{TOP + PH / 2})">{escape(y_label)}</text>')
    return parts


def svg_point(p: Point, radius: float, title: str) -> str:
    """A point in its direction's colour, with a tooltip; ``data-cell`` names its cell."""
    x, y = _px(p.u, p.v)
    colour = COLOURS.get(p.direction, OTHER_COLOUR)
    return (f'<circle cx="{x}" cy="{y}" r="{radius}" fill="{colour}" class="point" '
            f'data-cell="{escape(p.cell)}"><title>{escape(title)}</title></circle>')


def svg_label(p: Point) -> str:
    """A point's label where :func:`place_labels` put it."""
    x, y = _px(p.u, p.v)
    anchor = ' text-anchor="end"' if p.left else ""
    return (f'<text x="{x - 7 if p.left else x + 7}" y="{y - 6 - 11 * p.line}" '
            f'class="label"{anchor}>{escape(p.cell)}</text>')


def svg_legend(dashed: str) -> str:
    """A dot per direction's colour, then a dashed line sample meaning ``dashed``."""
    parts = []
    legend_x = LEFT
    for direction, colour in COLOURS.items():
        parts.append(f'<circle cx="{legend_x + 5}" cy="{H - 7}" r="4" fill="{colour}"/>'
                     f'<text x="{legend_x + 12}" y="{H - 3}" class="legend">{direction}</text>')
        legend_x += 96
    parts.append(f'<line x1="{legend_x}" y1="{H - 7}" x2="{legend_x + 18}" y2="{H - 7}" '
                 f'class="front"/><text x="{legend_x + 22}" y="{H - 3}" class="legend">'
                 f'{escape(dashed)}</text>')
    return "".join(parts)


def polyline(points: list[tuple[float, float]], attributes: str) -> str:
    """A polyline through unit-coordinate ``points``."""
    path = " ".join(f"{x},{y}" for x, y in (_px(u, v) for u, v in points))
    return f'<polyline points="{path}" {attributes}/>'


def svg(plot: Plot) -> str:
    """The plot as an inline ``<svg>`` element (no external references)."""
    parts = svg_frame(plot.slug, plot.title, plot.x_label, plot.y_label, plot.x_ticks,
                      plot.y_ticks)
    if plot.front:
        parts.append(polyline(plot.front, 'class="front"'))
    for p in plot.points:
        shown = "∞" if math.isinf(p.x) else f"{p.x:.4g}"
        parts.append(svg_point(p, 5, f"{p.cell}: utility {p.y:.3f}, x {shown}"))
        parts.append(svg_label(p))
    parts.append(svg_legend("Pareto front"))
    parts.append("</svg>")
    return "\n".join(parts)
