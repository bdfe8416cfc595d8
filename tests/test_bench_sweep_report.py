"""The private-record sweep (issue 24, item 1) in the planner, the plots and the report: each
answer is for one record budget, the learning curve spans them all, and the "where
collaboration pays" table compares every budget's cells with the SM alone and the LM alone.
Synthetic results only: no model runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crossbound.bench.curves import FLAT, LM_REFERENCE, SM_REFERENCE, SWEPT, build_curve, curve_svg
from crossbound.bench.plan import Budgets, collaboration_pays, plan, recommendation
from crossbound.bench.plots import build_plots
from crossbound.bench.png import write_curve_png
from crossbound.bench.records import record_budgets, resolve_budget
from crossbound.bench.report import write_report
from crossbound.cli import app
from crossbound.cli.bench import print_bench, print_curves

runner = CliRunner()
ALL_COUNT = 480  # what "all" came to: the data party's whole split


def _cell(cell_id: str, direction: str, utility: float | None, *, leakage: float | None = 0.0,
          label: str | None = None, status: str = "ok") -> dict[str, Any]:
    """A cell as bench/run.py writes it; ``label`` is its record budget (None: independent)."""
    strategy, setting = cell_id.split("--")[:2]
    count = None if label is None else ALL_COUNT if label == "all" else int(label)
    cell: dict[str, Any] = {
        "id": cell_id if label is None else f"{cell_id}--r{label}", "strategy": strategy,
        "setting": setting, "direction": direction, "status": status, "records": count,
        "records_label": label}
    if status != "ok":
        cell["error"] = {"type": "RuntimeError", "message": "out of memory",
                         "details": "cells/x/error.json"}
        return cell
    cell["record"] = {
        "utility": {"headline": utility, "headline_key": "sm_after"},
        "privacy": {"data_leakage": leakage, "data_leakage_basis": "x", "pii_crossed": 0,
                    "membership_auc_max": None},
        "exposure": {"bytes_from_model_party": 0, "lm_calls": 0,
                     "top1_agreement_with_lm": None},
        "efficiency": {"bytes_crossed": 100, "wall_seconds": 1.0, "bytes_to_model_party": 50,
                       "peak_memory_mb": 10.0}}
    return cell


def _swept(cell_id: str, direction: str, utilities: dict[str, float | None],
           **kwargs: Any) -> list[dict[str, Any]]:
    """One cell per budget; a None utility stands for a failed cell."""
    return [_cell(cell_id, direction, u, label=label, status="ok" if u is not None else "failed",
                  **kwargs) for label, u in utilities.items()]


CELLS = [
    *_swept("local-finetune--no-dp", "baseline", {"32": 0.40, "128": 0.55, "all": 0.70}),
    *_swept("logit-kd--top16-8bit", "downward", {"32": 0.60, "128": 0.58, "all": 0.65}),
    # beats the SM alone at 32 records but not the LM alone: no pay
    *_swept("dp-synthetic-data--eps3", "upward", {"32": 0.45, "128": None, "all": 0.52},
            leakage=3.0),
    # beats both at 32, but it is a baseline, not a collaboration
    *_swept("local-finetune--dp-eps3", "baseline", {"32": 0.62}, leakage=3.0),
    _cell("remote-lm--raw-prompts", "baseline", 0.50, leakage=None),
    _cell("cascade--max-prob", "inference", 0.56, leakage=None),
    _cell("speculative--greedy", "inference", None),  # no headline utility
]


def _results(cells: list[dict[str, Any]], records: list[str] | None) -> dict[str, Any]:
    args: dict[str, Any] = {"task": "clinic-triage", "profile": "quick", "large": "l",
                            "small": "s", "only": [], "overrides": []}
    if records is not None:
        args["records"] = records
    return {"schema": 1, "kind": "crossbound-bench", "args": args, "command": "crossbound bench",
            "versions": {"crossbound": "0"}, "machine": {"cpus": 2},
            "task": {"metric": "accuracy"},
            "timings": {"started": "t0", "finished": "t1", "seconds": 1.0, "cells_computed": 1,
                        "cells_reused": 0, "cells_failed": 1, "cell_seconds_total": 1.0},
            "notes": [], "cells": cells}


SWEEP = _results(CELLS, ["32", "128", "all"])


def _old(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Results as written before the sweep: no records fields, no args.records."""
    stripped = [{k: v for k, v in c.items() if k not in ("records", "records_label")}
                for c in cells]
    return _results(stripped, None)


OLD = _old([c for c in CELLS if c.get("records_label") in (None, "all")])


def _ids(answer: Any) -> set[str]:
    return {c["id"] for c in answer.feasible} | {e["cell"] for e in answer.excluded}


# ---------------------------------------------------------------- budgets


def test_budgets_ascend_with_all_at_its_count_and_resolve_by_label_or_count():
    assert [(b.label, b.count) for b in record_budgets(SWEEP)] == [
        ("32", 32), ("128", 128), ("all", ALL_COUNT)]
    assert [b.tick for b in record_budgets(SWEEP)] == ["32", "128", "480 (all)"]
    assert record_budgets(OLD) == []
    assert resolve_budget(SWEEP, None).label == "all"  # type: ignore[union-attr]
    assert resolve_budget(SWEEP, "480").label == "all"  # type: ignore[union-attr]
    assert resolve_budget(SWEEP, "ALL").label == "all"  # type: ignore[union-attr]
    assert resolve_budget(OLD, None) is None
    with pytest.raises(ValueError, match=r"available: 32, 128, 480 \(all\)"):
        resolve_budget(SWEEP, "64")
    with pytest.raises(ValueError, match="no record budgets"):
        resolve_budget(OLD, "32")


# ---------------------------------------------------------------- the planner


def test_plan_answers_at_one_budget_and_never_mixes_budgets():
    largest = plan(SWEEP, Budgets())
    assert largest.records is not None and largest.records.label == "all"
    assert _ids(largest) == {"local-finetune--no-dp--rall", "logit-kd--top16-8bit--rall",
                             "dp-synthetic-data--eps3--rall", "remote-lm--raw-prompts",
                             "cascade--max-prob", "speculative--greedy"}
    assert largest.best is not None and largest.best["id"] == "local-finetune--no-dp--rall"
    assert recommendation(largest) == (
        "the SM alone (local-finetune--no-dp--rall) is the recommendation: no collaboration "
        "cell beats it within the budgets")
    small = plan(SWEEP, Budgets(max_epsilon=0), "32")
    assert _ids(small) == {"local-finetune--no-dp--r32", "logit-kd--top16-8bit--r32",
                           "dp-synthetic-data--eps3--r32", "local-finetune--dp-eps3--r32",
                           "remote-lm--raw-prompts", "cascade--max-prob",
                           "speculative--greedy"}
    assert [c["id"] for c in small.feasible] == ["logit-kd--top16-8bit--r32",
                                                 "local-finetune--no-dp--r32"]
    assert recommendation(small) is None  # a collaboration cell is best
    assert {c["id"] for c in small.front} >= {"logit-kd--top16-8bit--r32"}
    assert not {c["id"] for c in small.front} & {"logit-kd--top16-8bit--rall"}
    with pytest.raises(ValueError, match="available"):
        plan(SWEEP, Budgets(), "64")


def test_plan_on_old_results_behaves_as_before():
    answer = plan(OLD, Budgets())
    assert answer.records is None
    assert _ids(answer) == {c["id"] for c in OLD["cells"]}
    assert answer.best is not None and answer.best["id"] == "local-finetune--no-dp--rall"
    assert answer.to_dict()["records"] is None


def _plan_cli(tmp_path: Path, data: dict[str, Any], *args: str) -> Any:
    (tmp_path / "results.json").write_text(json.dumps(data))
    return runner.invoke(app, ["plan", "--results", str(tmp_path), *args])


def test_plan_command_records_option(tmp_path):
    result = _plan_cli(tmp_path, SWEEP, "--records", "32", "--max-epsilon", "0", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["records"], data["records_count"]) == ("32", 32)
    assert data["best"]["cell"] == "logit-kd--top16-8bit--r32"
    assert "by_records" not in data  # one budget was asked for
    shown = {c["cell"] for c in data["feasible"]} | {e["cell"] for e in data["excluded"]}
    assert all(not c.endswith(("--r128", "--rall")) for c in shown)
    # no --records: the largest budget, and the best cell at each budget
    full = json.loads(_plan_cli(tmp_path, SWEEP, "--max-epsilon", "0", "--json").output)
    assert full["records"] == "all" and full["best"]["cell"] == "local-finetune--no-dp--rall"
    assert [(b["records"], b["best"]["cell"]) for b in full["by_records"]] == [
        ("32", "logit-kd--top16-8bit--r32"), ("128", "logit-kd--top16-8bit--r128"),
        ("all", "local-finetune--no-dp--rall")]
    text = " ".join(_plan_cli(tmp_path, SWEEP, "--max-epsilon", "0").output.split())
    assert "cells within data leakage ≤ 0 at all 480 private records, best first" in text
    assert "best: local-finetune--no-dp--rall" in text
    assert ("the SM alone (local-finetune--no-dp--rall) is the recommendation: no "
            "collaboration cell beats it within the budgets") in text
    assert "32 private records: logit-kd--top16-8bit--r32 (utility 0.600)" in text
    assert "128 private records: logit-kd--top16-8bit--r128 (utility 0.580)" in text
    assert ("all 480 private records: local-finetune--no-dp--rall (utility 0.700) — the SM "
            "alone; no collaboration cell beats it") in text
    missing = _plan_cli(tmp_path, SWEEP, "--records", "64")
    assert missing.exit_code == 1
    assert "available: 32, 128, 480 (all)" in " ".join(missing.output.split())


def test_plan_command_on_old_results(tmp_path):
    result = _plan_cli(tmp_path, OLD, "--max-epsilon", "0")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "cells within data leakage ≤ 0, best first" in text
    assert "best: local-finetune--no-dp--rall" in text and "private-record budget" not in text
    refused = _plan_cli(tmp_path, OLD, "--records", "32")
    assert refused.exit_code == 1 and "no record budgets" in " ".join(refused.output.split())


# ---------------------------------------------------------------- where collaboration pays


def test_pays_table_lists_cells_beating_both_baselines_only():
    rows = {r.budget.label if r.budget else None: r for r in collaboration_pays(SWEEP)}
    assert list(rows) == ["32", "128", "all"]
    r32 = rows["32"]
    assert (r32.sm_alone, r32.lm_alone) == (0.40, 0.50)
    # dp-synthetic (0.45) beats the SM alone only; local-finetune--dp-eps3 (0.62) is a baseline
    assert [(c, u) for c, u, _ in r32.winners] == [("logit-kd--top16-8bit--r32", 0.60),
                                                   ("cascade--max-prob", 0.56)]
    assert [m for *_, m in r32.winners] == pytest.approx([0.10, 0.06])
    assert [c for c, *_ in rows["128"].winners] == ["logit-kd--top16-8bit--r128",
                                                   "cascade--max-prob"]
    assert [m for *_, m in rows["128"].winners] == pytest.approx([0.03, 0.01])
    assert rows["all"].sm_alone == 0.70 and rows["all"].winners == []
    old = collaboration_pays(OLD)
    assert len(old) == 1 and old[0].budget is None and old[0].winners == []


# ---------------------------------------------------------------- plots


def test_learning_curve_has_a_line_per_swept_cell_and_the_two_references(tmp_path):
    curve = build_curve(SWEEP)
    assert curve is not None
    assert [t.label for t in curve.x_ticks] == ["32", "128", "480 (all)"]
    kinds = {s.name: s.kind for s in curve.series}
    assert kinds == {"SM alone": SM_REFERENCE, "logit-kd--top16-8bit": SWEPT,
                     "dp-synthetic-data--eps3": SWEPT, "local-finetune--dp-eps3": SWEPT,
                     "LM alone": LM_REFERENCE, "cascade--max-prob": FLAT}
    series = {s.name: s for s in curve.series}
    assert [(p.x, p.y) for p in series["SM alone"].points] == [
        (32, 0.40), (128, 0.55), (ALL_COUNT, 0.70)]
    assert [p.x for p in series["dp-synthetic-data--eps3"].points] == [32, ALL_COUNT]  # failed
    lm = series["LM alone"].points  # horizontal, from the first budget to the last
    assert [p.v for p in lm] == [lm[0].v] * 2 and [p.u for p in lm] == [
        curve.x_ticks[0].pos, curve.x_ticks[-1].pos]
    assert [p.u for p in series["logit-kd--top16-8bit"].points] == [
        t.pos for t in curve.x_ticks]
    drawn = curve_svg(curve)
    assert drawn.count("<polyline") == 6
    assert drawn.count('data-kind="sm-alone"') == drawn.count('data-kind="lm-alone"') == 1
    assert drawn.count('class="series reference"') == 2
    assert drawn.count('data-series="logit-kd--top16-8bit"') == 1
    assert drawn.count('class="point"') == 3 + 3 + 2 + 1  # swept and SM-alone points only
    assert ">SM alone</text>" in drawn and ">LM alone</text>" in drawn
    png = write_curve_png(curve, tmp_path / "curve.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert build_curve(OLD) is None
    one = [c for c in CELLS if c["records_label"] in ("32", None)]
    assert build_curve(_results(one, ["32"])) is None  # one budget: no curve


def test_pareto_plots_use_one_budget():
    ids = {p.cell for p in build_plots(SWEEP)[0].points}
    assert ids == {"local-finetune--no-dp--rall", "logit-kd--top16-8bit--rall",
                   "dp-synthetic-data--eps3--rall", "remote-lm--raw-prompts",
                   "cascade--max-prob"}
    plots = build_plots(SWEEP, "32")
    assert plots[0].title == "Utility vs data leakage (32 private records)"
    assert {p.cell for p in plots[0].points} == {
        "local-finetune--no-dp--r32", "logit-kd--top16-8bit--r32",
        "dp-synthetic-data--eps3--r32", "local-finetune--dp-eps3--r32",
        "remote-lm--raw-prompts", "cascade--max-prob"}
    assert build_plots(OLD)[0].title == "Utility vs data leakage"


# ---------------------------------------------------------------- report and summary


def test_report_shows_the_curve_and_the_pays_table(tmp_path):
    html = write_report(SWEEP, tmp_path).read_text()
    assert html.count('<svg class="plot"') == 4 and 'id="plot-learning-curve"' in html
    assert (tmp_path / "plots" / "learning-curve.png").read_bytes().startswith(b"\x89PNG")
    pays = html.split('<table id="pays">')[1].split("</table>")[0]
    row32 = pays.split('<tr data-records="32">')[1].split("</tr>")[0]
    assert 'data-cell="logit-kd--top16-8bit--r32"' in row32 and "(+0.100)" in row32
    assert "dp-synthetic-data--eps3--r32" not in row32
    assert "local-finetune--dp-eps3--r32" not in row32
    row_all = pays.split('<tr data-records="480 (all)">')[1].split("</tr>")[0]
    assert row_all.endswith("<td>0.700</td><td>0.500</td><td class=\"text\">none</td>")
    assert 'id="plan-best">local-finetune--no-dp--rall<' in html
    assert "The SM alone (local-finetune--no-dp--rall) is the recommendation" in html
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["records"] == "all" and len(saved["by_records"]) == 3
    old = write_report(OLD, tmp_path / "old").read_text()
    assert old.count('<svg class="plot"') == 3 and "learning-curve" not in old
    assert "by_records" not in json.loads((tmp_path / "old" / "plan.json").read_text())


def test_bench_summary_groups_rows_by_budget(capsys):
    print_bench(SWEEP)
    lines = capsys.readouterr().out.splitlines()
    headings = [i for i, line in enumerate(lines)
                if "private records" in line or "every budget" in line]
    assert [lines[i].strip(" │|") for i in headings] == [
        "32 private records", "128 private records", "all 480 private records",
        "every budget (no records)"]

    def rows_under(i: int) -> list[str]:
        end = next((h for h in headings if h > i), len(lines))
        return [line.split()[1] for line in lines[i + 1:end] if "--" in line]

    assert rows_under(headings[0]) == ["local-finetune--no-dp--r32", "logit-kd--top16-8bit--r32",
                                       "dp-synthetic-data--eps3--r32",
                                       "local-finetune--dp-eps3--r32"]
    assert rows_under(headings[3]) == ["remote-lm--raw-prompts", "cascade--max-prob",
                                       "speculative--greedy"]
    print_bench(OLD)
    printed = capsys.readouterr().out
    assert "private records" not in printed and "every budget" not in printed


def test_learning_curves_print_as_a_table_with_the_winners_marked(capsys):
    print_curves(SWEEP)
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if "--" in line and "strategy--setting" not in line]
    # the two references first, then each swept strategy: one value per budget
    assert "SM alone" in rows[0] and "LM alone" in rows[1]
    logit = next(line for line in rows if "logit-kd--top16-8bit" in line)
    assert "0.600*" in logit and "0.580*" in logit  # above 0.40/0.55 and the LM's 0.50
    assert "0.650" in logit and "0.650*" not in logit  # the SM alone's 0.70 wins at all
    dp = next(line for line in rows if "dp-synthetic-data--eps3" in line)
    assert "failed" in dp and "0.450*" not in dp
    lm = rows[1]
    assert lm.count("0.500") == 3  # the same at every budget
    print_curves(OLD)  # one budget or none: nothing to draw
    assert capsys.readouterr().out == ""
