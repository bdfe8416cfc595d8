"""``crossbound plan``: the paper's formulation answered from a bench's results.

    maximise utility  subject to  data leakage ≤ ε,  bytes crossed ≤ B,
                                  wall seconds ≤ S,  bytes from the model party ≤ X

The answer is the best cell within every budget, the Pareto front (utility ↑ against data
leakage, bytes crossed and seconds ↓), and for each excluded cell the budgets it broke.
With a private-record sweep (``bench --records``) each answer is for one record budget: its
cells and the record-independent ones (see :mod:`crossbound.bench.records`).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from crossbound.bench.normalise import leakage_of
from crossbound.bench.records import (
    RecordBudget,
    baseline_name,
    cells_at,
    is_lm_alone,
    is_sm_alone,
    record_budgets,
    resolve_budget,
)

_BYTES = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_BYTE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
               "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10,
               "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SECOND_UNITS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def parse_bytes(text: str) -> float:
    """``50MB`` → 50e6; ``1.5GiB``, ``200kB``, ``1e6`` and plain numbers too; ``inf``."""
    if text.strip().lower() in ("inf", "none", "unlimited"):
        return math.inf
    match = _BYTES.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _BYTE_UNITS:
        raise ValueError(f"{text!r} is not a size: use a number with an optional unit "
                         f"(B, kB, MB, GB, KiB, MiB, GiB), e.g. 50MB")
    return float(match.group(1)) * _BYTE_UNITS[unit]


def parse_seconds(text: str) -> float:
    """``900``, ``900s``, ``15m``, ``1.5h``; ``inf``."""
    if text.strip().lower() in ("inf", "none", "unlimited"):
        return math.inf
    match = _BYTES.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SECOND_UNITS:
        raise ValueError(f"{text!r} is not a duration: use seconds, or a number with s, m or "
                         "h, e.g. 15m")
    return float(match.group(1)) * _SECOND_UNITS[unit]


@dataclass(frozen=True)
class Budgets:
    """The constraints of the formulation; ``None`` leaves one free."""

    max_epsilon: float | None = None  # data leakage (ε; 0: nothing private crossed)
    max_bytes: float | None = None  # bytes crossed, both directions
    max_seconds: float | None = None  # wall seconds of the run
    max_lm_exposure: float | None = None  # bytes the model party sent

    def describe(self) -> str:
        parts = []
        if self.max_epsilon is not None:
            parts.append(f"data leakage ≤ {self.max_epsilon:g}")
        if self.max_bytes is not None:
            parts.append(f"bytes crossed ≤ {human_bytes(self.max_bytes)}")
        if self.max_seconds is not None:
            parts.append(f"wall time ≤ {self.max_seconds:g} s")
        if self.max_lm_exposure is not None:
            parts.append(f"bytes from the model party ≤ {human_bytes(self.max_lm_exposure)}")
        return ", ".join(parts) or "no limits"


# The report's question (issue 10): ε ≤ 3 and at most 50 MB crossed.
DEFAULT_BUDGETS = Budgets(max_epsilon=3.0, max_bytes=50e6)


def human_bytes(n: float) -> str:
    if math.isinf(n):
        return "∞"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _measures(cell: dict[str, Any]) -> dict[str, float]:
    """The four constrained quantities of a finished cell (unknown counts as unbounded)."""
    record = cell["record"]

    def num(value: Any) -> float:
        return math.inf if value is None else float(value)

    return {
        "max_epsilon": leakage_of(record),
        "max_bytes": num(record["efficiency"]["bytes_crossed"]),
        "max_seconds": num(record["efficiency"]["wall_seconds"]),
        "max_lm_exposure": num(record["exposure"]["bytes_from_model_party"]),
    }


_BUDGET_NAMES = {"max_epsilon": "data leakage", "max_bytes": "bytes crossed",
                 "max_seconds": "wall seconds", "max_lm_exposure": "bytes from the model party"}


def broken_budgets(cell: dict[str, Any], budgets: Budgets) -> list[dict[str, Any]]:
    """Each budget the cell exceeds: its name, the limit and the cell's value."""
    values = _measures(cell)
    broken = []
    for key, limit in asdict(budgets).items():
        if limit is not None and values[key] > limit:
            broken.append({"budget": key, "name": _BUDGET_NAMES[key], "limit": limit,
                           "value": values[key]})
    return broken


def utility_of(cell: dict[str, Any]) -> float | None:
    record = cell.get("record")
    if cell.get("status") != "ok" or record is None:
        return None
    value = record["utility"]["headline"]
    return None if value is None else float(value)


def _key(cell: dict[str, Any]) -> tuple[float, ...]:
    """Better first: utility, then less leakage, fewer bytes, fewer seconds."""
    m = _measures(cell)
    return (-(utility_of(cell) or 0.0), m["max_epsilon"], m["max_bytes"], m["max_seconds"])


def _dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """a is at least as good as b on every objective and better on one."""
    ua, ub = utility_of(a), utility_of(b)
    assert ua is not None and ub is not None
    ma, mb = _measures(a), _measures(b)
    objectives = ("max_epsilon", "max_bytes", "max_seconds")
    no_worse = ua >= ub and all(ma[k] <= mb[k] for k in objectives)
    better = ua > ub or any(ma[k] < mb[k] for k in objectives)
    return no_worse and better


def pareto_front(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells no other cell beats on utility, data leakage, bytes and seconds at once."""
    scored = [c for c in cells if utility_of(c) is not None]
    front = [c for c in scored if not any(_dominates(o, c) for o in scored if o is not c)]
    return sorted(front, key=_key)


def _brief(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell's numbers as the planner's JSON shows them."""
    m = _measures(cell)
    return {"cell": cell["id"], "strategy": cell["strategy"],
            "setting": cell["setting"], "utility": utility_of(cell),
            "utility_key": cell["record"]["utility"]["headline_key"],
            "data_leakage": _json_number(m["max_epsilon"]),
            "data_leakage_basis": cell["record"]["privacy"]["data_leakage_basis"],
            "bytes_crossed": cell["record"]["efficiency"]["bytes_crossed"],
            "wall_seconds": cell["record"]["efficiency"]["wall_seconds"],
            "bytes_from_model_party": cell["record"]["exposure"]["bytes_from_model_party"]}


@dataclass
class Plan:
    budgets: Budgets
    best: dict[str, Any] | None
    feasible: list[dict[str, Any]]
    front: list[dict[str, Any]]
    excluded: list[dict[str, Any]]  # {"cell", "reasons": [...]}
    records: RecordBudget | None = None  # the record budget answered; None: no sweep

    def summary(self) -> dict[str, Any]:
        """The record budget, the best cell and the recommendation in words."""
        return {"records": self.records.label if self.records else None,
                "records_count": self.records.count if self.records else None,
                "best": _brief(self.best) if self.best else None,
                "recommendation": recommendation(self)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "budgets": {k: _json_number(v) if v is not None else None
                        for k, v in asdict(self.budgets).items()},
            "budgets_text": self.budgets.describe(),
            **self.summary(),
            "feasible": [_brief(c) for c in self.feasible],
            "pareto_front": [_brief(c) for c in self.front],
            "excluded": [{**e, "reasons": [{k: _json_number(v) for k, v in r.items()}
                                           for r in e["reasons"]]} for e in self.excluded],
        }


def recommendation(answer: Plan) -> str | None:
    """In words, when the best cell is a baseline: no collaboration pays within these
    budgets, so the baseline (usually the SM alone) is what to use. None otherwise."""
    best = answer.best
    if best is None or (best.get("direction") != "baseline" and baseline_name(best) is None):
        return None
    name = baseline_name(best)
    who = f"the {name} ({best['id']})" if name else f"the baseline {best['id']}"
    return f"{who} is the recommendation: no collaboration cell beats it within the budgets"


def _json_number(value: Any) -> Any:
    """inf has no JSON spelling: the string "inf" (readers see it is unbounded)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return value


def plan(results: dict[str, Any], budgets: Budgets, records: str | None = None) -> Plan:
    """Answer the formulation for ``budgets`` over the cells of a bench's ``results`` at the
    record budget ``records`` (a label or count; default the largest; ignored without a
    sweep). Raises ValueError for a record budget the bench did not run."""
    budget = resolve_budget(results, records)
    cells = cells_at(results, budget)
    feasible: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for cell in cells:
        if cell.get("status") != "ok":
            error = cell.get("error") or {}
            excluded.append({"cell": cell["id"], "reasons": [{
                "budget": "failed", "name": "the cell failed",
                "detail": f"{error.get('type', 'error')}: {error.get('message', '')}"}]})
            continue
        if utility_of(cell) is None:
            excluded.append({"cell": cell["id"], "reasons": [{
                "budget": "utility", "name": "no headline utility",
                "detail": "the result has none of final, sm_after, lm_after, accuracy, "
                          "rouge_l"}]})
            continue
        broken = broken_budgets(cell, budgets)
        if broken:
            excluded.append({"cell": cell["id"], "reasons": broken})
        else:
            feasible.append(cell)
    feasible.sort(key=_key)
    ok = [c for c in cells if c.get("status") == "ok"]
    return Plan(budgets=budgets, best=feasible[0] if feasible else None, feasible=feasible,
                front=pareto_front(ok), excluded=excluded, records=budget)


def describe_budget(answer: Plan) -> str:
    """One record budget's answer in a line: its best cell, and whether that is a baseline
    no collaboration cell beats."""
    where = answer.records.describe() if answer.records else "every cell"
    best = answer.best
    if best is None:
        return f"{where}: no cell within the budgets"
    line = f"{where}: {best['id']} (utility {utility_of(best) or 0.0:.3f})"
    if recommendation(answer) is not None:
        line += f" — the {baseline_name(best) or 'baseline'}; no collaboration cell beats it"
    return line


def plans_by_records(results: dict[str, Any], budgets: Budgets) -> list[Plan]:
    """One answer per record budget, fewest records first ([] without a sweep)."""
    return [plan(results, budgets, b.label) for b in record_budgets(results)]


@dataclass
class Pays:
    """Where collaboration pays at one record budget (``budget`` None: no sweep)."""

    budget: RecordBudget | None
    sm_alone: float | None  # the SM alone's utility at this budget; None: no such cell
    lm_alone: float | None
    winners: list[tuple[str, float, float]]  # (cell, utility, margin over the better one)


def _best_utility(cells: list[dict[str, Any]]) -> float | None:
    values = [u for u in map(utility_of, cells) if u is not None]
    return max(values, default=None)


def collaboration_pays(results: dict[str, Any]) -> list[Pays]:
    """For each record budget, the collaboration cells (not baselines) whose utility beats
    both the SM alone and the LM alone, with their margin over the better of the two, best
    first. A missing baseline (not run, or failed) is left out of the bar; with neither
    there is nothing to beat, so no winner is claimed."""
    rows = []
    swept: list[RecordBudget | None] = [*record_budgets(results)]
    for budget in swept or [None]:
        cells = [c for c in cells_at(results, budget) if utility_of(c) is not None]
        sm = _best_utility([c for c in cells if is_sm_alone(c)])
        lm = _best_utility([c for c in cells if is_lm_alone(c)])
        bar = max((u for u in (sm, lm) if u is not None), default=None)
        winners: list[tuple[str, float, float]] = []
        for cell in cells:
            utility = utility_of(cell)
            if (bar is not None and utility is not None and utility > bar
                    and cell.get("direction") != "baseline"):
                winners.append((cell["id"], utility, utility - bar))
        winners.sort(key=lambda w: -w[2])
        rows.append(Pays(budget, sm, lm, winners))
    return rows


def describe_reason(reason: dict[str, Any]) -> str:
    """One exclusion reason in words, with the numbers."""
    if "detail" in reason:
        return f"{reason['name']} ({reason['detail']})"
    value, limit = reason["value"], reason["limit"]
    if reason["budget"] in ("max_bytes", "max_lm_exposure"):
        return f"{reason['name']} {human_bytes(value)} > {human_bytes(limit)}"
    shown = "∞" if math.isinf(value) else f"{value:.4g}"
    return f"{reason['name']} {shown} > {limit:g}"
