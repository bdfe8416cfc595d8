"""The bench's outputs: ``results.json`` (versioned, self-describing) and ``results.csv``.

``results.json`` holds the bench's arguments and exact command, package versions, the
machine, timings, and per cell its spec, status, the normalised record the planner reads and
the strategy's full metrics. The CSV is one row per cell of the normalised numbers.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

BENCH_SCHEMA = 1
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"

CSV_COLUMNS = (
    ("cell", lambda c, r: c["id"]),
    ("strategy", lambda c, r: c["strategy"]),
    ("direction", lambda c, r: c["direction"]),
    ("setting", lambda c, r: c["setting"]),
    ("status", lambda c, r: c["status"]),
    ("reused", lambda c, r: c.get("reused")),
    ("utility", lambda c, r: r["utility"]["headline"]),
    ("utility_key", lambda c, r: r["utility"]["headline_key"]),
    ("sm_before", lambda c, r: r["utility"].get("sm_before")),
    ("sm_after", lambda c, r: r["utility"].get("sm_after")),
    ("lm_before", lambda c, r: r["utility"].get("lm_before")),
    ("lm_after", lambda c, r: r["utility"].get("lm_after")),
    ("data_leakage", lambda c, r: _inf(r["privacy"]["data_leakage"])),
    ("data_leakage_basis", lambda c, r: r["privacy"]["data_leakage_basis"]),
    ("dp_epsilon", lambda c, r: r["privacy"]["dp_epsilon"]),
    ("pii_crossed", lambda c, r: r["privacy"]["pii_crossed"]),
    ("canaries_crossed", lambda c, r: r["privacy"]["canaries_crossed"]),
    ("membership_auc_max", lambda c, r: r["privacy"]["membership_auc_max"]),
    ("canary_exposure_gain", lambda c, r: r["privacy"]["canary_exposure_gain"]),
    ("inversion_token_recovery", lambda c, r: r["privacy"].get("inversion_token_recovery")),
    ("bytes_crossed", lambda c, r: r["efficiency"]["bytes_crossed"]),
    ("bytes_to_model_party", lambda c, r: r["efficiency"]["bytes_to_model_party"]),
    ("bytes_from_model_party", lambda c, r: r["exposure"]["bytes_from_model_party"]),
    ("lm_calls", lambda c, r: r["exposure"]["lm_calls"]),
    ("lm_tokens", lambda c, r: r["exposure"]["lm_tokens"]),
    ("top1_agreement_with_lm", lambda c, r: r["exposure"]["top1_agreement_with_lm"]),
    ("wall_seconds", lambda c, r: r["efficiency"]["wall_seconds"]),
    ("peak_memory_mb", lambda c, r: r["efficiency"]["peak_memory_mb"]),
    ("cell_seconds", lambda c, r: c.get("seconds")),
)


def _inf(value: float | None) -> float:
    return math.inf if value is None else value


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a reader (or a killed bench) never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_csv(path: Path, cells: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([name for name, _ in CSV_COLUMNS] + ["error"])
        for cell in cells:
            record = cell.get("record")
            if record is None:  # a failed cell: its identity and the error only
                row: list[Any] = [cell["id"], cell["strategy"], cell["direction"],
                                  cell["setting"], cell["status"], cell.get("reused")]
                row += [""] * (len(CSV_COLUMNS) - len(row))
            else:
                row = [_cell_text(get(cell, record)) for _, get in CSV_COLUMNS]
            error = cell.get("error") or {}
            row.append(f"{error.get('type', '')}: {error.get('message', '')}" if error else "")
            writer.writerow(row)
    os.replace(tmp, path)


def _cell_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return value


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a bench's ``results.json`` (give the file or the bench's folder)."""
    target = Path(path)
    if target.is_dir():
        target = target / RESULTS_JSON
    if not target.is_file():
        raise FileNotFoundError(f"{target}: no bench results here (run `crossbound bench "
                                f"--out DIR` first, then pass --results DIR)")
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{target}: not UTF-8 text, so not a results.json ({exc.reason})") \
            from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{target}: not valid JSON ({exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno})") from exc
    except RecursionError:
        raise ValueError(f"{target}: not a results file (JSON nested too deeply)") from None
    if not isinstance(data, dict):
        raise ValueError(f"{target}: not a crossbound bench results file (a JSON "
                         f"{type(data).__name__}, not an object)")
    if data.get("schema") != BENCH_SCHEMA or data.get("kind") != "crossbound-bench":
        raise ValueError(f"{target}: not a crossbound bench results file of schema "
                         f"{BENCH_SCHEMA} (kind {data.get('kind')!r}, schema "
                         f"{data.get('schema')!r})")
    problem = _shape_problem(data)
    if problem is not None:
        raise ValueError(f"{target}: malformed bench results: {problem} (rerun `crossbound "
                         "bench` to write it afresh)")
    return data


# What the planner reads of each finished cell's record: section -> fields that must be a
# number or null (None), and fields that must be present (any value).
_NUMBERS = {"utility": ("headline",), "privacy": ("data_leakage",),
            "efficiency": ("bytes_crossed", "wall_seconds"),
            "exposure": ("bytes_from_model_party",)}
_PRESENT = {"utility": ("headline_key",), "privacy": ("data_leakage_basis",)}


def _shape_problem(data: dict[str, Any]) -> str | None:
    """The first thing the planner would trip over in ``data``, in words; None if none."""
    cells = data.get("cells")
    if not isinstance(cells, list):
        return f"'cells' must be a list, got {type(cells).__name__}"
    for i, cell in enumerate(cells):
        where = f"cells[{i}]"
        if not isinstance(cell, dict):
            return f"{where} must be an object, got {type(cell).__name__}"
        if not isinstance(cell.get("id"), str):
            return f"{where}.id must be a string, got {cell.get('id')!r}"
        where = f"cell {cell['id']!r}"
        if cell.get("status") != "ok":
            if not isinstance(cell.get("error") or {}, dict):
                return f"{where}: 'error' must be an object"
            continue
        for key in ("strategy", "setting"):
            if key not in cell:
                return f"{where} lacks {key!r}"
        record = cell.get("record")
        if record is None:
            continue  # an ok cell without a record is excluded as having no utility
        if not isinstance(record, dict):
            return f"{where}: 'record' must be an object, got {type(record).__name__}"
        for section in ("utility", "privacy", "efficiency", "exposure"):
            part = record.get(section)
            if not isinstance(part, dict):
                return f"{where}: record.{section} must be an object, got {type(part).__name__}"
            for key in (*_PRESENT.get(section, ()), *_NUMBERS[section]):
                if key not in part:
                    return f"{where}: record.{section} lacks {key!r}"
            for key in _NUMBERS[section]:
                value = part.get(key)
                if value is not None and (isinstance(value, bool)
                                          or not isinstance(value, int | float)):
                    return (f"{where}: record.{section}.{key} must be a number or null, "
                            f"got {value!r}")
    return None
