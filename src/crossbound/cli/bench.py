"""``crossbound bench`` and ``crossbound plan``: the multi-objective benchmark and the budget
planner on its results.

Lazy imports: the bench (torch, every strategy) loads when a command runs, so ``crossbound
--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from crossbound.cli.console import bar_factory, err, fail, out, plain, progress_display
from crossbound.defaults import DEFAULT_LARGE, DEFAULT_RECORDS, DEFAULT_SMALL


def bench(
    profile: Annotated[str, typer.Option(
        help="quick: every direction in minutes on a laptop CPU; full: every mechanism "
        "setting.")] = "quick",
    task: Annotated[str, typer.Option(help="Task name with options, or a file.")] =
    "clinic-triage",
    large: Annotated[str, typer.Option(help="The model party's LM.")] = DEFAULT_LARGE,
    small: Annotated[str, typer.Option(help="The data party's SM.")] = DEFAULT_SMALL,
    out_dir: Annotated[Path, typer.Option("--out", help="Bench folder (reused: finished "
                                          "cells are not run again).")] = Path("runs/bench"),
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Run only this strategy or cell (strategy--setting); repeatable, or "
        "comma-separated.")] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="key=value for every strategy that has the setting, or "
        "strategy.key=value; wins over the profile's values (repeatable).")] = None,
    records: Annotated[str | None, typer.Option(
        "--records", help="Private-record budgets to sweep, e.g. 32,128,all: every cell that "
        "trains on private records runs once per budget (the learning curves). Default: "
        + "; ".join(f"{name} {','.join(DEFAULT_RECORDS[name])}" for name in DEFAULT_RECORDS)
        + ".")] = None,
    report: Annotated[bool, typer.Option(help="Write report.html and the PNG plots.")] = True,
) -> None:
    """Run strategies × mechanism settings on a task and record utility, privacy, exposure
    and cost per cell; resumable (finished cells are reused), failures recorded.

    Writes OUT/results.json, OUT/results.csv, OUT/report.html, OUT/plots/*.png and one
    folder per cell under OUT/cells/.
    """
    import shlex

    from crossbound.bench.plan import DEFAULT_BUDGETS, plan
    from crossbound.bench.run import BenchArgs, CellOutcome, run_bench

    names = [n.strip() for item in only or [] for n in item.split(",") if n.strip()]
    args = BenchArgs(profile=profile, task=task, large=large, small=small, only=names,
                     overrides=list(settings or []),
                     records=[records] if records is not None else [])
    command = shlex.join(["crossbound", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else None

    def on_cell(outcome: CellOutcome) -> None:
        if outcome.status == "ok":
            how = "reused" if outcome.reused else f"done in {outcome.seconds:.1f} s"
            err.print(f"[green]✓[/] {plain(outcome.spec.id)}: {how}", highlight=False)
        else:
            error = outcome.error or {}
            err.print("[red]✗[/] " + plain(
                f"{outcome.spec.id}: failed after {outcome.seconds:.1f} s — "
                f"{error.get('type')}: {error.get('message')} (see "
                f"{outcome.folder / 'error.json'})"), highlight=False)

    with progress_display() as progress:
        try:
            results = run_bench(args, out_dir, progress=bar_factory(progress, keep=False),
                                on_cell=on_cell, command=command, report=report)
        except (ValueError, FileNotFoundError) as exc:
            raise fail(str(exc)) from exc
    print_bench(results)
    print_curves(results)
    answer = plan(results, DEFAULT_BUDGETS)
    if answer.best is not None:
        out.print(f"best within {DEFAULT_BUDGETS.describe()}: [bold]{plain(answer.best['id'])}"
                  f"[/] ({plain(f'crossbound plan --results {out_dir}')} for other budgets)")
    if report:
        out.print(f"report: {out_dir / 'report.html'}  (plots: {out_dir / 'plots'})",
                  markup=False)
    out.print(f"results: {out_dir / 'results.json'}, {out_dir / 'results.csv'}", markup=False)
    if results["timings"]["cells_failed"]:
        raise typer.Exit(1)


def _bench_groups(results: dict[str, Any]) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """The summary's rows in groups: one per private-record budget, then the cells that use
    none, when the bench swept several budgets; otherwise one group without a heading."""
    from crossbound.bench.records import group_by_budget, record_budgets

    if len(record_budgets(results)) < 2:
        return [(None, list(results["cells"]))]
    return [(b.describe() if b else "every budget (no records)", cells)
            for b, cells in group_by_budget(results)]


def print_bench(results: dict[str, Any]) -> None:
    """The bench's summary table: a row a cell, grouped by private-record budget when
    the bench swept several."""
    from crossbound.bench.report import summary_rows

    t = results["timings"]
    table = Table(title=f"bench: {plain(results['args']['task'])} "
                        f"({plain(results['args']['profile'])}; "
                        f"{t['cells_computed']} computed, {t['cells_reused']} reused, "
                        f"{t['cells_failed']} failed, {t['seconds']:.0f} s)")
    # summary_rows' column → a short header, so the table fits an 80-column log
    columns = {"cell": "cell", "utility": "utility", "data leakage": "leak ε",
               "PII crossed": "PII", "bytes crossed": "crossed", "from model party": "from LM",
               "LM calls": "LM calls", "wall s": "wall s", "status": "status"}
    for column, header in columns.items():
        table.add_column(header, justify="left" if column in ("cell", "status") else "right",
                         no_wrap=column == "cell")
    for heading, cells in _bench_groups(results):
        if heading is not None:
            table.add_row(f"[bold]{plain(heading)}[/]")
        rows = summary_rows({**results, "cells": cells})  # summary_rows reads only "cells"
        for i, row in enumerate(rows):
            table.add_row(*(plain(row.get(c, ("", None))[0]) for c in columns),
                          end_section=i == len(rows) - 1 and heading is not None)
    out.print(table)


def print_curves(results: dict[str, Any]) -> None:
    """The learning curves as a table: utility per swept strategy and budget, the two
    baselines first; a value marked * beats both the SM alone and the LM alone there."""
    from crossbound.bench.plan import collaboration_pays, utility_of
    from crossbound.bench.records import is_lm_alone, is_sm_alone, is_swept, record_budgets

    budgets = record_budgets(results)
    if len(budgets) < 2:
        return
    winners = {cell for row in collaboration_pays(results) for cell, _, _ in row.winners}
    table = Table(title="learning curves: utility by private records "
                        "(* beats both the SM alone and the LM alone)")
    table.add_column("strategy--setting", no_wrap=True)
    for budget in budgets:
        table.add_column(plain(budget.tick), justify="right")
    lines: dict[str, list[str]] = {}
    order: list[str] = []
    for cell in results["cells"]:
        name = f"{cell['strategy']}--{cell['setting']}"
        if is_sm_alone(cell):
            name = f"SM alone ({name})"
        elif is_lm_alone(cell):
            name = f"LM alone ({name})"
        if name not in lines:
            lines[name] = ["—"] * len(budgets)
            order.append(name)
        utility = utility_of(cell)
        text = "failed" if cell.get("status") != "ok" else (
            "—" if utility is None else f"{utility:.3f}" + ("*" if cell["id"] in winners else ""))
        for i, budget in enumerate(budgets):
            if not is_swept(cell) or str(cell.get("records_label")) == budget.label:
                lines[name][i] = text
    order.sort(key=lambda n: (not n.startswith("SM alone"), not n.startswith("LM alone")))
    for name in order:
        table.add_row(plain(name), *lines[name])
    out.print(table)


def plan_command(
    results_dir: Annotated[Path, typer.Option(
        "--results", help="A bench folder (or its results.json).")],
    max_epsilon: Annotated[float | None, typer.Option(
        help="Data-leakage budget: DP ε (0: nothing private may cross).")] = None,
    max_bytes: Annotated[str | None, typer.Option(
        help="Bytes crossed, both directions (e.g. 50MB, 1.5GiB).")] = None,
    max_seconds: Annotated[str | None, typer.Option(
        help="Wall time of a run (e.g. 900, 15m).")] = None,
    max_lm_exposure: Annotated[str | None, typer.Option(
        help="Bytes the model party may send (e.g. 2MB): its exposure.")] = None,
    records: Annotated[str | None, typer.Option(
        "--records", help="Answer at this private-record budget of the bench (a number of "
        "records, or all). Default: the largest, and a line per budget.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pick the best strategy and setting under privacy, cost and exposure budgets; show the
    Pareto front and why every other cell was excluded."""
    from crossbound.bench.plan import (
        Budgets,
        describe_budget,
        describe_reason,
        human_bytes,
        parse_bytes,
        parse_seconds,
        plans_by_records,
    )
    from crossbound.bench.plan import plan as make_plan
    from crossbound.bench.results import load_results

    try:
        budgets = Budgets(
            max_epsilon=max_epsilon,
            max_bytes=None if max_bytes is None else parse_bytes(max_bytes),
            max_seconds=None if max_seconds is None else parse_seconds(max_seconds),
            max_lm_exposure=None if max_lm_exposure is None else parse_bytes(max_lm_exposure))
        results = load_results(results_dir)
        answer = make_plan(results, budgets, records)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    # Asked for no budget in particular: how the answer moves with the records, in a line each
    by_records = plans_by_records(results, budgets) if records is None else []
    if len(by_records) < 2:
        by_records = []
    data = answer.to_dict()
    if by_records:
        data["by_records"] = [p.summary() for p in by_records]
    if as_json:
        print(json.dumps(data, indent=2))
        return
    at = f" at {answer.records.describe()}" if answer.records else ""
    table = Table(title=f"cells within {budgets.describe()}{at}, best first")
    for column in ("cell", "utility", "data leakage", "bytes crossed", "wall s",
                   "from model party"):
        table.add_column(column, justify="left" if column == "cell" else "right")
    def leak(value: Any) -> str:
        return "∞" if value == "inf" else f"{value:.3g}"

    front = {c["cell"] for c in data["pareto_front"]}
    for row in data["feasible"]:
        mark = " ◆" if row["cell"] in front else ""
        seconds = "?" if row["wall_seconds"] is None else f"{row['wall_seconds']:.1f}"
        table.add_row(plain(row["cell"]) + mark, f"{row['utility']:.3f}",
                      leak(row["data_leakage"]), human_bytes(row["bytes_crossed"] or 0),
                      seconds, human_bytes(row["bytes_from_model_party"] or 0))
    out.print(table)
    if data["best"] is None:
        out.print(f"[red]no cell is within {budgets.describe()}{at}[/]")
    else:
        best = data["best"]
        out.print(f"best: [bold]{plain(best['cell'])}[/] " + plain(
            f"(utility {best['utility']:.3f} from {best['utility_key']}; data leakage "
            f"{leak(best['data_leakage'])}, {best['data_leakage_basis']})"))
    if data["recommendation"] is not None:
        out.print(data["recommendation"], markup=False, highlight=False)
    out.print("Pareto front (utility ↑; data leakage, bytes, seconds ↓; ◆ above): "
              + (", ".join(c["cell"] for c in data["pareto_front"]) or "none"), markup=False)
    for excluded in answer.excluded:
        out.print(f"  excluded {excluded['cell']}: "
                  + "; ".join(describe_reason(r) for r in excluded["reasons"]), markup=False,
                  highlight=False)
    if by_records:
        out.print(f"best at each private-record budget ({budgets.describe()}):", markup=False)
        for each in by_records:
            out.print(f"  {describe_budget(each)}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``bench`` and ``plan`` to ``app``."""
    app.command("bench")(bench)
    app.command("plan")(plan_command)
