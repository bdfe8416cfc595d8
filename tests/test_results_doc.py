"""benchmarks/render_results.py: the results tables in the docs are the stored files' numbers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "render_results.py"
spec = importlib.util.spec_from_file_location("render_results", SCRIPT)
assert spec is not None and spec.loader is not None
render_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_results)


@pytest.mark.parametrize("document", render_results.DOCUMENTS)
def test_the_docs_tables_match_their_result_files(document):
    path = ROOT / document
    assert "<!-- results: " in path.read_text(), f"{document} has no generated table"
    assert render_results.stale_tables(path) == [], (
        f"{document} disagrees with its result files: run `python benchmarks/render_results.py`")


def _cell(strategy: str, setting: str, utility: float, label: str | None,
          direction: str = "downward") -> dict[str, Any]:
    return {"strategy": strategy, "setting": setting, "status": "ok", "direction": direction,
            "records_label": label, "records": int(label) if label else None,
            "record": {"utility": {"headline": utility},
                       "efficiency": {"bytes_crossed": 2500},
                       "privacy": {"data_leakage": 0.0, "private_text_crosses": False,
                                   "pii_crossed": 0}}}


def test_a_changed_number_is_caught_and_rendered_back(tmp_path, monkeypatch):
    results = {"args": {"records": ["16", "64"]}, "cells": [
        _cell("local-finetune", "no-dp", 0.60, "16", "baseline"),
        _cell("local-finetune", "no-dp", 0.70, "64", "baseline"),
        _cell("remote-lm", "default", 0.50, None, "baseline"),
        _cell("logit-kd", "top16-8bit", 0.55, "16"),
        _cell("logit-kd", "top16-8bit", 0.75, "64"),
    ]}
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "results.json").write_text(json.dumps(results))
    monkeypatch.setattr(render_results, "ROOT", tmp_path)
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- results: bench bench -->\n<!-- /results -->\nafter\n")
    rendered = render_results.render_document(doc.read_text())
    rows = [line for line in rendered.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| strategy (setting) | direction | 16 records | 64 records |")
    assert rows[1] == ("| SM alone (`local-finetune`, no DP) | baseline | 0.600 | 0.700 | 0 "
                       "| 2.5 kB | 0 |")
    # above both baselines only at 64 records: bold there, plain at 16
    assert rows[3] == ("| `logit-kd` (top-16, 8-bit) | downward | 0.550 | **0.750** | 0 "
                       "| 2.5 kB | 0 |")
    assert rendered.startswith("before\n") and rendered.endswith("<!-- /results -->\nafter\n")

    doc.write_text(rendered.replace("**0.750**", "**0.800**"))
    assert render_results.stale_tables(doc) == ["bench bench"]
    assert render_results.main(["--check", "doc.md"]) == 1
    assert render_results.main(["doc.md"]) == 0
    assert doc.read_text() == rendered


def test_an_unknown_kind_is_refused_by_name():
    with pytest.raises(SystemExit, match="unknown table kind 'charts'"):
        render_results.render_document("<!-- results: charts x -->\n<!-- /results -->\n")
