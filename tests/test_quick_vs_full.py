"""benchmarks/quick_vs_full.py: Spearman's ρ between two benches' strategy rankings."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "quick_vs_full.py"
spec = importlib.util.spec_from_file_location("quick_vs_full", SCRIPT)
assert spec is not None and spec.loader is not None
quick_vs_full = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quick_vs_full)


def test_ranks_share_ties_and_rho_is_pearson_on_ranks():
    assert quick_vs_full.ranks([0.9, 0.5, 0.5, 0.1]) == [1.0, 2.5, 2.5, 4.0]
    assert quick_vs_full.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert quick_vs_full.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # one swap among four: 1 - 6·2 / (4·15) = 0.8
    assert quick_vs_full.spearman([4, 3, 2, 1], [4, 3, 1, 2]) == pytest.approx(0.8)
    assert quick_vs_full.spearman([1, 2], [1, 2]) is None  # too few to rank
    assert quick_vs_full.spearman([1, 1, 1], [1, 2, 3]) is None  # no spread


def _cell(strategy: str, setting: str, utility: float | None, label: str | None,
          status: str = "ok") -> dict[str, Any]:
    return {"id": f"{strategy}--{setting}" + (f"--r{label}" if label else ""),
            "strategy": strategy, "setting": setting, "status": status,
            "records": int(label) if label else None, "records_label": label,
            "record": {"utility": {"headline": utility}}}


def test_compare_ranks_each_strategy_by_its_best_cell_per_budget():
    quick = {"args": {"records": ["16"]}, "cells": [
        _cell("sm", "a", 0.2, "16"), _cell("kd", "a", 0.3, "16"), _cell("kd", "b", 0.5, "16"),
        _cell("pp", "a", 0.4, "16"), _cell("lm", "raw", 0.35, None),
        _cell("gone", "a", 0.9, "16", status="failed")]}
    full = {"args": {"records": ["16", "64"]}, "cells": [
        _cell("sm", "a", 0.1, "16"), _cell("kd", "a", 0.6, "16"), _cell("pp", "a", 0.5, "16"),
        _cell("lm", "raw", 0.3, None), _cell("sm", "a", 0.9, "64")]}
    (row,) = quick_vs_full.compare(quick, full)  # only the budget both ran
    assert row["records"] == "16"
    assert row["strategies"] == ["kd", "lm", "pp", "sm"]
    assert row["quick"]["kd"] == 0.5  # its best setting
    assert row["spearman_rho"] == pytest.approx(1.0)
    assert row["only_quick"] == [] and row["only_full"] == []


def test_pooled_rho_ranks_every_strategy_at_every_budget_and_counts_flat_ones_once():
    rows = [{"records": "16", "strategies": ["kd", "lm", "sm"],
             "quick": {"kd": 0.5, "lm": 0.4, "sm": 0.3}, "full": {"kd": 0.8, "lm": 0.5, "sm": 0.6}},
            {"records": "64", "strategies": ["kd", "lm", "sm"],
             "quick": {"kd": 0.9, "lm": 0.4, "sm": 0.7}, "full": {"kd": 0.9, "lm": 0.5, "sm": 0.7}}]
    together = quick_vs_full.pooled(rows)
    assert together["points"] == ["kd@16", "kd@64", "lm", "sm@16", "sm@64"]
    # quick order kd@64 > sm@64 > kd@16 > lm > sm@16; full kd@64 > kd@16 > sm@64 > sm@16 > lm
    # rank differences 0, 1, 1, 1, 1 -> 1 - 6·4 / (5·24) = 0.8
    assert together["spearman_rho"] == pytest.approx(0.8)
    assert quick_vs_full.pooled(rows[:1]) is None  # one budget: the per-budget ρ says it all
