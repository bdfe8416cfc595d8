"""The report's learning curve: utility against the private records the data party trained on.

Laid out once in unit coordinates, like the Pareto plots of :mod:`crossbound.bench.plots`,
and drawn twice (inline SVG here, PNG in :mod:`crossbound.bench.png`). One line per swept
(strategy, setting); the two references every collaboration has to beat drawn dashed: the SM
alone as a curve (it learns from the records too), the LM alone as a horizontal line (it sees
none); other record-independent cells as thin dotted horizontal lines. Failed cells and cells
without a headline utility are left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from crossbound.bench.plan import utility_of
from crossbound.bench.plots import (
    COLOURS,
    OTHER_COLOUR,
    Point,
    Tick,
    place_labels,
    polyline,
    svg_frame,
    svg_label,
    svg_legend,
    svg_point,
    utility_axis,
)
from crossbound.bench.records import (
    LM_ALONE,
    SM_ALONE,
    RecordBudget,
    is_lm_alone,
    is_sm_alone,
    is_swept,
    record_budgets,
)

SLUG = "learning-curve"
# What a series is: a swept cell's curve, one of the two reference baselines, or another
# record-independent cell (the same utility at every budget).
SWEPT, SM_REFERENCE, LM_REFERENCE, FLAT = "swept", "sm-alone", "lm-alone", "flat"
MARKED = frozenset({SWEPT, SM_REFERENCE})  # series with a point per budget


@dataclass
class Series:
    name: str  # what its label says: strategy--setting, "SM alone", "LM alone" or a cell id
    kind: str  # SWEPT, SM_REFERENCE, LM_REFERENCE or FLAT
    direction: str
    points: list[Point]  # unit coordinates, left to right; x is the record count (inf: "all")


@dataclass
class Curve:
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    labels: list[Point]  # one per series, placed by place_labels
    slug: str = SLUG


def _x_positions(count: int) -> list[float]:
    """Evenly spaced columns: the budgets are a handful of categories (32, 128, all), and
    a log axis would crowd the small ones together; the margins keep markers off the frame."""
    return [0.06 + 0.88 * i / (count - 1) for i in range(count)]


def _record_count(budget: RecordBudget) -> float:
    return math.inf if budget.count is None else float(budget.count)


def _label(series: Series) -> Point:
    """Curves are named at their right end (the largest budget, where they are compared),
    horizontal lines at their left end (the right is crowded by the curves' names)."""
    anchor = series.points[-1] if series.kind in MARKED else series.points[0]
    return Point(series.name, series.direction, anchor.x, anchor.y, anchor.u, anchor.v)


def _swept_series(cells: list[dict[str, Any]],
                  place: Callable[[dict[str, Any]], Point]) -> list[Series]:
    """One series per swept (strategy, setting), its points in budget order."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["strategy"], cell["setting"]), []).append(cell)
    series = []
    for (strategy, setting), group in groups.items():
        points = sorted(map(place, group), key=lambda p: p.u)
        sm = is_sm_alone(group[0])
        series.append(Series(SM_ALONE if sm else f"{strategy}--{setting}",
                             SM_REFERENCE if sm else SWEPT, group[0].get("direction", ""),
                             points))
    return series


def build_curve(results: dict[str, Any]) -> Curve | None:
    """The learning curve of a bench with a private-record sweep; None with fewer than two
    budgets (one column is no curve)."""
    budgets = record_budgets(results)
    if len(budgets) < 2:
        return None
    scored = [c for c in results["cells"] if utility_of(c) is not None]
    y_pos, y_ticks = utility_axis([float(utility_of(c) or 0.0) for c in scored])
    columns = dict(zip((b.label for b in budgets), _x_positions(len(budgets)), strict=True))
    x_ticks = [Tick(columns[b.label], b.tick) for b in budgets]
    counts = {b.label: _record_count(b) for b in budgets}

    def place(cell: dict[str, Any], label: str) -> Point:
        y = float(utility_of(cell) or 0.0)
        return Point(cell["id"], cell.get("direction", ""), counts[label], y, columns[label],
                     y_pos(y))

    series = _swept_series([c for c in scored if is_swept(c)],
                           lambda c: place(c, str(c["records_label"])))
    first, last = budgets[0].label, budgets[-1].label
    for cell in (c for c in scored if not is_swept(c)):
        lm = is_lm_alone(cell)
        series.append(Series(LM_ALONE if lm else cell["id"], LM_REFERENCE if lm else FLAT,
                             cell.get("direction", ""),
                             [place(cell, first), place(cell, last)]))
    labels = [_label(s) for s in series]
    place_labels(labels)
    metric = results.get("task", {}).get("metric", "utility")
    return Curve("Utility vs private records",
                 "private records the data party trained on (one column per budget)",
                 f"utility ({metric})", series, x_ticks, y_ticks, labels)


# A series' SVG class: the stylesheet draws references dashed and flat lines thin and dotted.
_SVG_CLASS = {SWEPT: "series", SM_REFERENCE: "series reference",
              LM_REFERENCE: "series reference", FLAT: "series flat"}


def _records_text(x: float) -> str:
    return "all records" if math.isinf(x) else f"{x:.0f} records"


def curve_svg(curve: Curve) -> str:
    """The learning curve as an inline ``<svg>`` element (no external references)."""
    parts = svg_frame(curve.slug, curve.title, curve.x_label, curve.y_label, curve.x_ticks,
                      curve.y_ticks)
    for s in curve.series:
        colour = COLOURS.get(s.direction, OTHER_COLOUR)
        parts.append(polyline([(p.u, p.v) for p in s.points],
                              f'class="{_SVG_CLASS[s.kind]}" stroke="{colour}" '
                              f'data-series="{escape(s.name)}" data-kind="{s.kind}"'))
        if s.kind in MARKED:
            parts += [svg_point(p, 4, f"{p.cell}: utility {p.y:.3f} at {_records_text(p.x)}")
                      for p in s.points]
    parts += [svg_label(p) for p in curve.labels]
    parts.append(svg_legend(f"{SM_ALONE}, {LM_ALONE}"))
    parts.append("</svg>")
    return "\n".join(parts)
