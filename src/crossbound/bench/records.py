"""The data party's private-record budgets of a bench (``crossbound bench --records``).

A cell that trains on private records runs once per budget (``records_label`` "32", "all",
…); a cell that uses none (``records_label`` None: the LM alone, speculative decoding) runs
once and answers at every budget. So the cells *at* a budget are that budget's swept cells
plus every record-independent one, and a Pareto plot or a plan over them never mixes budgets.
Results written before the sweep have no budgets: every cell is then one budget, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crossbound.bench.cells import ALL_RECORDS as ALL

# The two baselines every collaboration is judged against (README: "the two baselines that
# bound every comparison"). The SM alone is swept (a learning curve); the LM alone is not.
SM_ALONE_STRATEGY, SM_ALONE_SETTING = "local-finetune", "no-dp"
LM_ALONE_STRATEGY = "remote-lm"
SM_ALONE, LM_ALONE = "SM alone", "LM alone"


@dataclass(frozen=True)
class RecordBudget:
    """One budget as asked (``label``) and the private records it means (``count``; None
    for "all" when no cell says how many that was)."""

    label: str
    count: int | None

    @property
    def tick(self) -> str:
        """The axis label: the record count, "all" marked as such."""
        if self.label == ALL:
            return ALL if self.count is None else f"{self.count} ({ALL})"
        return self.label

    def describe(self) -> str:
        if self.label == ALL:
            return "all" + ("" if self.count is None else f" {self.count}") + " private records"
        return f"{self.label} private records"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _label_count(label: str) -> int | None:
    return int(label) if label.isdigit() else None


def record_budgets(results: dict[str, Any]) -> list[RecordBudget]:
    """The budgets of ``results``, fewest records first ("all" with an unknown count last);
    [] for results written before the sweep."""
    counts: dict[str, int | None] = {}
    for label in (results.get("args") or {}).get("records") or []:
        counts.setdefault(str(label), _label_count(str(label)))
    for cell in results["cells"]:
        label = cell.get("records_label")
        if label is None:
            continue
        label = str(label)
        count = _count(cell.get("records"))
        if counts.get(label) is None:  # a cell knows what "all" came to
            counts[label] = _label_count(label) if count is None else count
    budgets = [RecordBudget(label, count) for label, count in counts.items()]
    return sorted(budgets, key=lambda b: (b.count is None, b.count or 0, b.label == ALL))


def is_swept(cell: dict[str, Any]) -> bool:
    """The cell trained on private records, so it belongs to one budget only."""
    return cell.get("records_label") is not None


def cells_at(results: dict[str, Any], budget: RecordBudget | None) -> list[dict[str, Any]]:
    """The cells that answer for ``budget``: its swept cells and the record-independent
    ones (``None``: every cell, for results without budgets)."""
    if budget is None:
        return list(results["cells"])
    return [c for c in results["cells"]
            if not is_swept(c) or str(c["records_label"]) == budget.label]


def results_at(results: dict[str, Any], budget: RecordBudget | None) -> dict[str, Any]:
    """``results`` with only the cells at ``budget``: what the planner and the Pareto plots
    read, so neither mixes budgets."""
    return {**results, "cells": cells_at(results, budget)}


def resolve_budget(results: dict[str, Any], asked: str | None) -> RecordBudget | None:
    """The budget ``--records asked`` names (a label, or the count "all" came to); the
    largest when nothing is asked; None for results without budgets."""
    budgets = record_budgets(results)
    if not budgets:
        if asked is None:
            return None
        raise ValueError(f"--records {asked}: these results have no record budgets (the bench "
                         "ran before --records, each cell on all its records); leave it out")
    if asked is None:
        return budgets[-1]
    text = asked.strip().lower()
    for budget in budgets:
        if budget.label == text:
            return budget
    for budget in budgets:
        if text.isdigit() and budget.count == int(text):
            return budget
    available = ", ".join(b.tick for b in budgets)
    raise ValueError(f"--records {asked}: the bench has no such budget; available: "
                     f"{available} (give a number of records, or {ALL})")


def group_by_budget(
    results: dict[str, Any],
) -> list[tuple[RecordBudget | None, list[dict[str, Any]]]]:
    """The swept cells of each budget, fewest records first, then (``None``) the
    record-independent cells; [] for results without budgets."""
    budgets = record_budgets(results)
    if not budgets:
        return []
    groups: list[tuple[RecordBudget | None, list[dict[str, Any]]]] = [
        (b, [c for c in results["cells"] if is_swept(c) and str(c["records_label"]) == b.label])
        for b in budgets]
    groups.append((None, [c for c in results["cells"] if not is_swept(c)]))
    return [(b, cells) for b, cells in groups if cells]


def is_sm_alone(cell: dict[str, Any]) -> bool:
    return cell.get("strategy") == SM_ALONE_STRATEGY and cell.get("setting") == SM_ALONE_SETTING


def is_lm_alone(cell: dict[str, Any]) -> bool:
    return cell.get("strategy") == LM_ALONE_STRATEGY


def baseline_name(cell: dict[str, Any]) -> str | None:
    """"SM alone" or "LM alone" for the two reference baselines, else None."""
    if is_sm_alone(cell):
        return SM_ALONE
    if is_lm_alone(cell):
        return LM_ALONE
    return None
