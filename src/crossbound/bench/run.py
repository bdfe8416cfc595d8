"""``crossbound bench``: run every cell, resumably, and write results, plan and report.

Each cell runs :func:`~crossbound.runner.run_strategy` into ``OUT/cells/<strategy>--<setting>/``
next to a ``cell.json`` that records its spec and the spec's hash. A cell whose
``result.json`` exists under the same hash is reused as it is, so a killed bench restarted
with the same arguments finishes the remaining cells only. A cell that raises is recorded
in its ``error.json`` (type, message, traceback) and the bench goes on; it is retried on the
next run.
"""

from __future__ import annotations

import gc
import json
import shlex
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crossbound.bench.cells import (
    ALL_RECORDS,
    RECORDS_FIELD,
    CellSpec,
    enumerate_cells,
    parse_records,
)
from crossbound.bench.normalise import normalise
from crossbound.bench.report import write_report
from crossbound.bench.results import (
    BENCH_SCHEMA,
    RESULTS_CSV,
    RESULTS_JSON,
    write_csv,
    write_json,
)
from crossbound.bench.shared import BenchShare
from crossbound.catalog import get_strategy
from crossbound.defaults import DEFAULT_LARGE, DEFAULT_SMALL
from crossbound.result import machine, versions
from crossbound.runner import run_strategy
from crossbound.strategy import NullProgress, ProgressFactory
from crossbound.tasks.registry import load_task

CELL_JSON = "cell.json"
ERROR_JSON = "error.json"
RESULT_JSON = "result.json"


@dataclass
class BenchArgs:
    """What a bench run was asked for (recorded in ``results.json``)."""

    profile: str = "quick"
    task: str = "clinic-triage"
    large: str = DEFAULT_LARGE
    small: str = DEFAULT_SMALL
    only: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # --set key=value / strategy.key=value
    # Private-record budgets swept (parse_records); empty: the profile's default.
    records: list[str] = field(default_factory=list)

    def budgets(self) -> tuple[str, ...]:
        return parse_records(self.records, self.profile)

    def command(self, out_dir: Path) -> str:
        """The ``crossbound bench`` command line that asks for exactly this."""
        parts = ["crossbound", "bench", "--profile", self.profile, "--task", self.task,
                 "--large", self.large, "--small", self.small,
                 "--records", ",".join(self.budgets()), "--out", str(out_dir)]
        for name in self.only:
            parts += ["--only", name]
        for item in self.overrides:
            parts += ["--set", item]
        return shlex.join(parts)


@dataclass
class CellOutcome:
    """One cell as this bench run saw it (``reused``: finished by an earlier run)."""

    spec: CellSpec
    status: str  # "ok" or "failed"
    reused: bool
    seconds: float
    folder: Path
    error: dict[str, str] | None = None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def finished(folder: Path, spec: CellSpec) -> dict[str, Any] | None:
    """The cell's ``cell.json`` if it holds a finished run of exactly ``spec``, else None."""
    recorded = _read_json(folder / CELL_JSON)
    if recorded is None or not (folder / RESULT_JSON).is_file():
        return None
    if recorded.get("digest") != spec.digest() or recorded.get("status") != "ok":
        return None
    return recorded


def run_cell(spec: CellSpec, folder: Path, task: Any, progress: ProgressFactory,
             shared: BenchShare | None = None) -> CellOutcome:
    """Run one cell from a clean folder; record success or the error, never raise (except on
    an interrupt, so Ctrl-C and kill stop the bench and leave the cell to be redone)."""
    if folder.exists():  # a stale, failed or half-written cell: start it again from nothing
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    record = {"spec": {**spec.identity(), "direction": spec.direction, "id": spec.id},
              "digest": spec.digest(), "status": "running",
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_json(folder / CELL_JSON, record)
    started = time.perf_counter()
    try:
        run_strategy(spec.strategy, task=task, large=spec.large, small=spec.small,
                     out_dir=folder, config=dict(spec.overrides), overwrite=True,
                     progress=progress,
                     shared=shared if shared is not None and shared.name == spec.large
                     else None)
    except Exception as exc:  # any failure of one cell is that cell's result, not the bench's
        seconds = time.perf_counter() - started
        error = {"type": type(exc).__name__, "message": str(exc),
                 "traceback": traceback.format_exc()}
        write_json(folder / ERROR_JSON, {**error, "cell": spec.id, "digest": spec.digest(),
                                         "seconds": round(seconds, 3)})
        write_json(folder / CELL_JSON, {**record, "status": "failed",
                                        "seconds": round(seconds, 3)})
        return CellOutcome(spec, "failed", False, seconds, folder, error)
    seconds = time.perf_counter() - started
    write_json(folder / CELL_JSON, {**record, "status": "ok", "seconds": round(seconds, 3),
                                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return CellOutcome(spec, "ok", False, seconds, folder)


def records_used(spec: CellSpec, task: Any) -> int | None:
    """How many private records a swept cell's data party trained on (None: not swept)."""
    if spec.records is None:
        return None
    cls = get_strategy(spec.strategy)
    party = int(getattr(cls.config_class.from_overrides(dict(spec.overrides)), "party", 0))
    # a cell asking for a party the task lacks failed; it trained on nothing
    available = len(task.parties[party]) if 0 <= party < len(task.parties) else 0
    return available if spec.records == ALL_RECORDS else min(int(spec.records), available)


def cell_entry(outcome: CellOutcome, task: Any) -> dict[str, Any]:
    """The cell's entry in ``results.json``: spec, status, timing, normalised record and the
    strategy's own metrics and config."""
    spec = outcome.spec
    entry: dict[str, Any] = {
        "id": spec.id, "strategy": spec.strategy, "direction": spec.direction,
        "setting": spec.setting, "overrides": spec.overrides, "digest": spec.digest(),
        "records": records_used(spec, task), "records_label": spec.records,
        "status": outcome.status, "reused": outcome.reused,
        "seconds": round(outcome.seconds, 3), "folder": f"cells/{spec.id}",
    }
    if outcome.status != "ok":
        entry["error"] = {k: v for k, v in (outcome.error or {}).items() if k != "traceback"}
        entry["error"]["details"] = f"cells/{spec.id}/{ERROR_JSON}"
        return entry
    result = json.loads((outcome.folder / RESULT_JSON).read_text())
    cls = get_strategy(spec.strategy)
    entry["record"] = normalise(result["metrics"], cls.private_text_crosses)
    entry["config"] = result.get("config", {})
    entry["metrics"] = result["metrics"]
    entry["notes"] = result.get("notes", [])
    return entry


def run_bench(
    args: BenchArgs,
    out_dir: str | Path,
    *,
    progress: ProgressFactory | None = None,
    on_cell: Callable[[CellOutcome], None] | None = None,
    command: str | None = None,
    report: bool = True,
) -> dict[str, Any]:
    """Run (or reuse) every cell of ``args`` under ``out_dir``; write ``results.json``,
    ``results.csv`` and, with ``report``, ``report.html`` and the PNG plots. Returns the
    results as written."""
    out = Path(out_dir)
    factory = progress or (lambda label, total: NullProgress())
    cells = enumerate_cells(args.profile, task=args.task, large=args.large, small=args.small,
                            only=args.only, overrides=args.overrides, records=args.budgets())
    if not cells:
        raise ValueError(f"profile {args.profile!r} has no cells to run")
    task = load_task(args.task)  # once, and before any cell: a bad name fails now
    (out / "cells").mkdir(parents=True, exist_ok=True)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    started = time.perf_counter()
    outcomes: list[CellOutcome] = []
    # One LM for every cell, its deterministic answers computed once (counted in each cell).
    shared = BenchShare(args.large)
    overall = factory(f"bench ({args.profile}): {len(cells)} cells", len(cells))
    try:
        for spec in cells:
            folder = out / "cells" / spec.id
            done = finished(folder, spec)
            if done is not None:
                outcome = CellOutcome(spec, "ok", True, float(done.get("seconds", 0.0)), folder)
            else:
                outcome = run_cell(spec, folder, task, factory, shared)
                gc.collect()  # let the cell's models go before the next cell measures memory
            outcomes.append(outcome)
            overall.advance()
            if on_cell is not None:
                on_cell(outcome)
    finally:
        overall.close()
    entries = [cell_entry(o, task) for o in outcomes]
    results: dict[str, Any] = {
        "schema": BENCH_SCHEMA,
        "kind": "crossbound-bench",
        "args": {**asdict(args), "records": list(args.budgets())},
        "command": command or args.command(out),
        "versions": versions(),
        "machine": machine(),
        "task": {"name": task.name, "params": task.params, "fingerprint": task.fingerprint(),
                 "metric": task.metric},
        "timings": {
            "started": started_at,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(time.perf_counter() - started, 3),
            "cells_computed": sum(not o.reused for o in outcomes),
            "cells_reused": sum(o.reused for o in outcomes),
            "cells_failed": sum(o.status != "ok" for o in outcomes),
            "cell_seconds_total": round(sum(o.seconds for o in outcomes), 3),
        },
        "notes": [
            "cells run one after another in one process; a cell's peak_memory_mb is this "
            "process's resident memory while it ran, which includes what earlier cells left",
            "a cell is reused while its spec (strategy, setting, overrides, task, models, "
            "profile) hashes the same; delete OUT/cells/<cell> to recompute it after a code "
            "change",
            "the LM is loaded once for the bench and its deterministic answers (label scores, "
            "greedy generations, top-k rows) are computed once per task: a cell that reuses "
            "one is charged the seconds it cost (efficiency.reused_work)",
            f"swept cells train on the first N private records ({RECORDS_FIELD}); the others "
            "use none and apply at every budget",
        ],
        "cells": entries,
    }
    write_json(out / RESULTS_JSON, results)
    write_csv(out / RESULTS_CSV, entries)
    if report:
        write_report(results, out)
    return results
