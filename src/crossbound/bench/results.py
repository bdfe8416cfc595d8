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
    data = json.loads(target.read_text())
    if data.get("schema") != BENCH_SCHEMA or data.get("kind") != "crossbound-bench":
        raise ValueError(f"{target}: not a crossbound bench results file of schema "
                         f"{BENCH_SCHEMA} (kind {data.get('kind')!r}, schema "
                         f"{data.get('schema')!r})")
    return data
