"""Does the quick profile rank strategies as the full one does? Spearman's ρ per record budget.

    python benchmarks/quick_vs_full.py --quick runs/demo --full runs/full \
        [--out benchmarks/results/default-pair/quick-vs-full.json]

For each private-record budget both benches ran (and once over the record-independent cells
alone when neither swept), each strategy's utility is its best ok cell there (a strategy's
settings differ between profiles; the strategy is what a user picks). Strategies present in
both are ranked by utility in each bench; ρ is Pearson's correlation of the two rank vectors,
ties given their mean rank. Record-independent cells (the LM alone, speculative) take part at
every budget, as they do in the planner.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from crossbound.bench.records import cells_at, record_budgets


def best_by_strategy(cells: list[dict[str, Any]]) -> dict[str, float]:
    """Each strategy's best headline utility among its ok cells."""
    best: dict[str, float] = {}
    for cell in cells:
        value = (cell.get("record") or {}).get("utility", {}).get("headline")
        if cell.get("status") != "ok" or not isinstance(value, int | float):
            continue
        best[cell["strategy"]] = max(best.get(cell["strategy"], -math.inf), float(value))
    return best


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, highest value first; ties share their mean rank."""
    order = sorted(range(len(values)), key=lambda i: -values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's ρ (Pearson on tie-averaged ranks); None with fewer than 3 items or no spread."""
    if len(a) != len(b) or len(a) < 3:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return None if not va or not vb else cov / math.sqrt(va * vb)


def compare(quick: dict[str, Any], full: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per budget both benches ran: the strategies, both utilities, ρ."""
    rows = []
    quick_budgets = {b.label: b for b in record_budgets(quick)}
    full_budgets = {b.label: b for b in record_budgets(full)}
    common = [label for label in quick_budgets if label in full_budgets] or [None]
    for label in common:
        q = best_by_strategy(cells_at(quick, quick_budgets[label]) if label else quick["cells"])
        f = best_by_strategy(cells_at(full, full_budgets[label]) if label else full["cells"])
        names = sorted(set(q) & set(f))
        rho = spearman([q[n] for n in names], [f[n] for n in names])
        rows.append({"records": label, "strategies": names,
                     "quick": {n: round(q[n], 4) for n in names},
                     "full": {n: round(f[n], 4) for n in names},
                     "only_quick": sorted(set(q) - set(f)), "only_full": sorted(set(f) - set(q)),
                     "spearman_rho": None if rho is None else round(rho, 3)})
    return rows


def pooled(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """ρ over every (strategy, budget) point of the learning curves at once: does the quick
    bench order the cells — where each strategy stands at each data size — as the full one
    does? A strategy that does not depend on the budget (the same value at every budget in both
    benches: the LM alone) counts once."""
    if len(rows) < 2:
        return None
    points: dict[str, tuple[float, float]] = {}
    for row in rows:
        for name in row["strategies"]:
            flat = all(r["quick"].get(name) == row["quick"][name]
                       and r["full"].get(name) == row["full"][name] for r in rows)
            points[name if flat else f"{name}@{row['records']}"] = (row["quick"][name],
                                                                    row["full"][name])
    names = sorted(points)
    rho = spearman([points[n][0] for n in names], [points[n][1] for n in names])
    return {"points": names, "spearman_rho": None if rho is None else round(rho, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", type=Path, required=True, help="the quick bench's folder")
    parser.add_argument("--full", type=Path, required=True, help="the full bench's folder")
    parser.add_argument("--out", type=Path, help="write the comparison here as JSON")
    args = parser.parse_args()
    quick = json.loads((args.quick / "results.json").read_text())
    full = json.loads((args.full / "results.json").read_text())
    rows = compare(quick, full)
    for row in rows:
        print(f"records {row['records'] or '(not swept)'}: ρ = {row['spearman_rho']} over "
              f"{len(row['strategies'])} strategies")
        for name in row["strategies"]:
            print(f"  {name:22s} quick {row['quick'][name]:.3f}   full {row['full'][name]:.3f}")
        if row["only_quick"] or row["only_full"]:
            print(f"  only in quick: {row['only_quick']}; only in full: {row['only_full']}")
    together = pooled(rows)
    if together:
        print(f"all budgets together: ρ = {together['spearman_rho']} over "
              f"{len(together['points'])} (strategy, budget) points")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"quick": str(args.quick), "full": str(args.full),
                                        "quick_command": quick.get("command"),
                                        "full_command": full.get("command"),
                                        "by_records": rows, "pooled": together},
                                       indent=2) + "\n")


if __name__ == "__main__":
    main()
