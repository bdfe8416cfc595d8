"""crossbound bench / plan / report: cells from the registry, resumability, failures, the
planner's answer on known numbers, and the report as a browser renders it."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import crossbound.bench.run as bench_run
from crossbound.bench.cells import PROFILES, enumerate_cells
from crossbound.bench.normalise import normalise
from crossbound.bench.plan import Budgets, parse_bytes, parse_seconds, plan
from crossbound.bench.run import BenchArgs, run_bench
from crossbound.catalog import all_strategies
from crossbound.cli import app

runner = CliRunner()
TASK = "clinic-triage:n=120,seed=3"
CHROMIUM = Path("/usr/bin/chromium")
REAL_RUN_STRATEGY = bench_run.run_strategy

# Three cells: two cheap real runs and one that fails at once (the task has no party 3).
ONLY = "remote-lm,local-finetune--no-dp,logit-kd"
SETS = ["eval_limit=4", "remote-lm.prompts_per_request=8", "local-finetune.epochs=1",
        "local-finetune.attacks=false", "logit-kd.party=3"]
RECORDS = "16"  # one private-record budget: the swept cells train on 16 records


def bench_args(**changes: Any) -> BenchArgs:
    args = BenchArgs(profile="quick", task=TASK, large="tiny-large", small="tiny-small",
                     only=ONLY.split(","), overrides=list(SETS), records=[RECORDS])
    for key, value in changes.items():
        setattr(args, key, value)
    return args


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bench through the CLI, shared by the tests that only read its outputs."""
    out = tmp_path_factory.mktemp("bench")
    argv = ["bench", "--profile", "quick", "--task", TASK, "--large", "tiny-large",
            "--small", "tiny-small", "--out", str(out), "--only", ONLY, "--records", RECORDS]
    for item in SETS:
        argv += ["--set", item]
    result = runner.invoke(app, argv)
    # A failed cell makes the command exit 1, after every other cell ran and was recorded.
    assert result.exit_code == 1, result.output
    assert "logit-kd--top16-8bit--r16" in result.output and "report:" in result.output
    return out


def cells_by_id(out: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((out / "results.json").read_text())
    return {c["id"]: c for c in data["cells"]}


# ---------------------------------------------------------------- cells from the registry


@pytest.mark.parametrize("profile", PROFILES)
def test_every_strategy_declares_settings_that_build_a_valid_config(profile):
    cells = enumerate_cells(profile, task=TASK, large="tiny-large", small="tiny-small")
    strategies = all_strategies()
    for name, cls in strategies.items():
        for label, overrides in cls.bench_settings(profile):
            config = cls.config_class.from_overrides(overrides)
            assert isinstance(config, cls.config_class), (name, label)
    assert {c.strategy for c in cells} <= set(strategies)
    assert len({c.id for c in cells}) == len(cells)
    # the quick profile still covers every direction the issue asks for
    directions = {c.direction for c in cells}
    assert {"baseline", "downward", "inference"} <= directions
    if profile == "full":
        assert {"local-finetune--no-dp", "local-finetune--dp-eps3", "logit-kd--top8-8bit",
                "private-prompt--perturb-eps16", "cascade--learned"} <= {c.id for c in cells}


def test_cells_validate_overrides_and_only_before_running_anything():
    with pytest.raises(ValueError, match="no such strategy or cell"):
        enumerate_cells("quick", task=TASK, large="a", small="b", only=["nope"])
    with pytest.raises(ValueError, match="no selected strategy has such a setting"):
        enumerate_cells("quick", task=TASK, large="a", small="b", overrides=["typo_limit=3"])
    with pytest.raises(ValueError, match="remote-lm has no setting"):
        enumerate_cells("quick", task=TASK, large="a", small="b",
                        overrides=["remote-lm.epochs=3"])
    with pytest.raises(ValueError, match=r"cell remote-lm--raw-prompts: eval_limit"):
        enumerate_cells("quick", task=TASK, large="a", small="b",
                        overrides=["remote-lm.eval_limit=0"])
    with pytest.raises(ValueError, match="profile must be"):
        enumerate_cells("huge", task=TASK, large="a", small="b")
    cells = enumerate_cells("quick", task=TASK, large="a", small="b", only=["remote-lm"],
                            overrides=["eval_limit=7"])
    assert [c.id for c in cells] == ["remote-lm--raw-prompts"]
    assert cells[0].overrides["eval_limit"] == "7"  # the command line wins over the profile
    # the spec hash follows everything that decides the result, and nothing else
    again = enumerate_cells("quick", task=TASK, large="a", small="b", only=["remote-lm"],
                            overrides=["eval_limit=7"])
    assert again[0].digest() == cells[0].digest()
    other = enumerate_cells("quick", task=TASK, large="a", small="c", only=["remote-lm"],
                            overrides=["eval_limit=7"])
    assert other[0].digest() != cells[0].digest()


# ---------------------------------------------------------------- normalised records


def test_normalised_leakage_and_headline():
    base = {"utility": {"sm_before": 0.2, "sm_after": 0.5, "accuracy": 0.5},
            "privacy": {"pii_crossed": {"occurrences": 0, "canaries_crossed": 0}},
            "efficiency": {"wall_seconds": 3.0, "peak_memory_mb": 10.0,
                           "bytes_crossed": {"total": 30, "by_direction": {
                               "data-party-0->model-party": 10,
                               "model-party->data-party-0": 20}}},
            "exposure": {"bytes_from_model_party": 20, "lm_calls": 1, "lm_tokens": 9}}
    record = normalise(base, private_text_crosses=False)
    assert record["utility"]["headline"] == 0.5 and record["utility"]["headline_key"] == "sm_after"
    assert record["privacy"]["data_leakage"] == 0.0
    assert record["efficiency"]["bytes_to_model_party"] == 10
    assert record["efficiency"]["bytes_from_model_party"] == 20
    # sanitised text that crossed is not "nothing crossed", even when the scan found no PII
    crossing = normalise(base, private_text_crosses=True)["privacy"]
    assert crossing["data_leakage"] is None and crossing["data_leakage_basis"] == (
        "private-text-crosses")
    leaked = json.loads(json.dumps(base))
    leaked["privacy"]["pii_crossed"]["occurrences"] = 2
    assert normalise(leaked, False)["privacy"]["data_leakage_basis"] == "pii-crossed"
    dp = json.loads(json.dumps(base))
    dp["privacy"]["dp"] = {"epsilon": 2.5}
    dp["utility"]["final"] = 0.7
    record = normalise(dp, False)
    assert record["privacy"]["data_leakage"] == 2.5 and record["privacy"]["dp_epsilon"] == 2.5
    assert record["utility"]["headline_key"] == "final"


# ---------------------------------------------------------------- the bench end to end


def test_bench_records_every_cell_and_goes_on_after_a_failure(bench_dir):
    data = json.loads((bench_dir / "results.json").read_text())
    assert data["schema"] == 1 and data["kind"] == "crossbound-bench"
    assert data["args"]["profile"] == "quick" and data["args"]["large"] == "tiny-large"
    assert data["command"].startswith("crossbound bench --profile quick")
    assert "--only" in data["command"] and "torch" in data["versions"]
    assert data["machine"]["cpus"] and data["timings"]["cells_failed"] == 1
    cells = cells_by_id(bench_dir)
    assert set(cells) == {"local-finetune--no-dp--r16", "logit-kd--top16-8bit--r16",
                          "remote-lm--raw-prompts"}
    failed = cells["logit-kd--top16-8bit--r16"]
    assert failed["status"] == "failed" and failed["error"]["type"] == "ValueError"
    assert "party 3" in failed["error"]["message"]
    error = json.loads((bench_dir / "cells/logit-kd--top16-8bit--r16/error.json").read_text())
    assert "Traceback" in error["traceback"] and "check_party" in error["traceback"]
    # remote-lm comes after logit-kd in registry order: the bench went on
    remote, local = cells["remote-lm--raw-prompts"], cells["local-finetune--no-dp--r16"]
    assert remote["status"] == local["status"] == "ok"
    assert remote["record"]["privacy"]["data_leakage"] is None  # raw prompts crossed
    assert remote["record"]["privacy"]["pii_crossed"] > 0
    assert remote["record"]["efficiency"]["bytes_crossed"] > 0
    assert remote["record"]["utility"]["headline_key"] == "accuracy"
    assert local["record"]["privacy"]["data_leakage"] == 0.0
    assert local["record"]["efficiency"]["bytes_crossed"] == 0
    assert local["record"]["utility"]["headline_key"] == "sm_after"
    assert local["config"]["train_limit"] == 16 and local["config"]["attacks"] is False
    # the strategy's own metrics travel along, nested
    assert local["metrics"]["efficiency"]["train_steps"] == 2
    assert local["metrics"] == json.loads(
        (bench_dir / "cells/local-finetune--no-dp--r16/result.json").read_text())["metrics"]
    rows = (bench_dir / "results.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("cell,strategy,direction,setting,status")
    assert any(r.startswith("remote-lm--raw-prompts,") and ",inf," in r for r in rows)
    assert any(r.startswith("logit-kd--top16-8bit--r16,") and "ValueError" in r for r in rows)


def _counting(monkeypatch, interrupt: str | None = None) -> list[str]:
    calls: list[str] = []
    real = REAL_RUN_STRATEGY  # not the attribute: an earlier wrapper may sit there

    def counted(strategy: str, **kwargs: Any) -> Any:
        calls.append(strategy)
        if strategy == interrupt:
            raise KeyboardInterrupt  # as if the bench were killed inside this cell
        return real(strategy, **kwargs)

    monkeypatch.setattr(bench_run, "run_strategy", counted)
    return calls


def test_rerun_recomputes_only_the_missing_cell(bench_dir, tmp_path, monkeypatch):
    out = tmp_path / "bench"
    shutil.copytree(bench_dir, out)
    local = out / "cells/local-finetune--no-dp--r16/result.json"
    before = local.read_bytes()
    (out / "cells/remote-lm--raw-prompts/result.json").unlink()
    calls = _counting(monkeypatch)
    ok_only = ["remote-lm", "local-finetune--no-dp--r16"]
    results = run_bench(bench_args(only=ok_only), out, report=False)
    assert calls == ["remote-lm"]
    assert local.read_bytes() == before  # reused as it was, byte for byte
    cells = {c["id"]: c for c in results["cells"]}
    assert cells["local-finetune--no-dp--r16"]["reused"] is True
    assert cells["remote-lm--raw-prompts"]["reused"] is False
    assert results["timings"]["cells_computed"] == results["timings"]["cells_reused"] == 1
    # a changed setting changes the cell's spec hash: that cell (only) runs again
    calls.clear()
    run_bench(bench_args(only=ok_only, overrides=[*SETS, "remote-lm.eval_limit=3"]), out,
              report=False)
    assert calls == ["remote-lm"] and local.read_bytes() == before


def test_killed_bench_resumes_without_recomputing(bench_dir, tmp_path, monkeypatch):
    out = tmp_path / "bench"
    shutil.copytree(bench_dir, out)
    (out / "cells/remote-lm--raw-prompts/result.json").unlink()
    first = _counting(monkeypatch, interrupt="remote-lm")
    with pytest.raises(KeyboardInterrupt):
        run_bench(bench_args(), out, report=False)
    assert first == ["logit-kd", "remote-lm"]  # the failed cell is retried; then the kill
    cell = json.loads((out / "cells/remote-lm--raw-prompts/cell.json").read_text())
    assert cell["status"] == "running"
    assert not (out / "cells/remote-lm--raw-prompts/result.json").exists()
    second = _counting(monkeypatch)
    results = run_bench(bench_args(), out, report=False)
    assert second == ["logit-kd", "remote-lm"]  # never local-finetune, which had finished
    statuses = {c["id"]: (c["status"], c["reused"]) for c in results["cells"]}
    assert statuses == {"local-finetune--no-dp--r16": ("ok", True),
                        "logit-kd--top16-8bit--r16": ("failed", False),
                        "remote-lm--raw-prompts": ("ok", False)}


# ---------------------------------------------------------------- the planner


def _cell(cell_id: str, utility: float | None, leakage: float | None, crossed: int,
          seconds: float, from_model: int, status: str = "ok") -> dict[str, Any]:
    strategy, _, setting = cell_id.partition("--")
    cell: dict[str, Any] = {"id": cell_id, "strategy": strategy, "setting": setting,
                            "direction": "baseline", "status": status}
    if status != "ok":
        cell["error"] = {"type": "RuntimeError", "message": "out of memory"}
        return cell
    cell["record"] = {
        "utility": {"headline": utility, "headline_key": "sm_after"},
        "privacy": {"data_leakage": leakage,
                    "data_leakage_basis": "dp-epsilon" if leakage else "x"},
        "exposure": {"bytes_from_model_party": from_model},
        "efficiency": {"bytes_crossed": crossed, "wall_seconds": seconds}}
    return cell


HAND_WRITTEN = {"schema": 1, "kind": "crossbound-bench", "cells": [
    _cell("local--plain", 0.50, 0.0, 0, 100.0, 0),
    _cell("local--dp", 0.45, 3.0, 0, 300.0, 0),
    _cell("kd--top16", 0.80, 0.0, 60_000_000, 900.0, 55_000_000),
    _cell("kd--top8", 0.75, 0.0, 30_000_000, 800.0, 28_000_000),
    _cell("remote--raw", 0.90, None, 70_000, 50.0, 10_000),
    _cell("dpsyn--eps8", 0.85, 8.0, 1_000_000, 400.0, 0),
    _cell("worse--x", 0.40, 0.0, 10, 200.0, 0),  # dominated by local--plain
    _cell("none--x", None, 0.0, 0, 1.0, 0),
    _cell("broken--x", None, None, 0, 0.0, 0, status="failed"),
]}


def test_plan_picks_the_best_cell_within_budgets_and_names_broken_ones():
    answer = plan(HAND_WRITTEN, Budgets(max_epsilon=3, max_bytes=parse_bytes("50MB")))
    assert answer.best is not None and answer.best["id"] == "kd--top8"
    reasons = {e["cell"]: e["reasons"] for e in answer.excluded}
    assert [r["budget"] for r in reasons["kd--top16"]] == ["max_bytes"]
    assert reasons["kd--top16"][0]["value"] == 60_000_000
    assert reasons["kd--top16"][0]["limit"] == 50_000_000
    assert reasons["remote--raw"][0]["budget"] == "max_epsilon"
    assert math.isinf(reasons["remote--raw"][0]["value"])
    assert reasons["dpsyn--eps8"][0] == {"budget": "max_epsilon", "name": "data leakage",
                                         "limit": 3, "value": 8.0}
    assert reasons["broken--x"][0]["budget"] == "failed"
    assert reasons["none--x"][0]["budget"] == "utility"
    front = {c["id"] for c in answer.front}
    assert front == {"local--plain", "kd--top16", "kd--top8", "remote--raw", "dpsyn--eps8"}
    # several budgets at once: each broken one is named
    tight = plan(HAND_WRITTEN, Budgets(max_epsilon=0, max_seconds=60, max_lm_exposure=1e6))
    assert tight.best is None
    broken = {e["cell"]: {r["budget"] for r in e["reasons"]} for e in tight.excluded}
    assert broken["kd--top16"] == {"max_seconds", "max_lm_exposure"}
    assert broken["local--dp"] == {"max_epsilon", "max_seconds"}
    assert broken["remote--raw"] == {"max_epsilon"}
    # no budgets: the best utility overall
    assert plan(HAND_WRITTEN, Budgets()).best["id"] == "remote--raw"  # type: ignore[index]


def test_sizes_and_durations_parse_with_units():
    assert parse_bytes("50MB") == 50e6 and parse_bytes("1.5 GiB") == 1.5 * 2**30
    assert parse_bytes("200kB") == 2e5 and parse_bytes("1234") == 1234
    assert math.isinf(parse_bytes("inf"))
    assert parse_seconds("15m") == 900 and parse_seconds("90") == 90
    with pytest.raises(ValueError, match="not a size"):
        parse_bytes("50 parsecs")
    with pytest.raises(ValueError, match="not a duration"):
        parse_seconds("soon")


def test_plan_command_json_and_table(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(HAND_WRITTEN))
    result = runner.invoke(app, ["plan", "--results", str(tmp_path), "--max-epsilon", "3",
                                 "--max-bytes", "50MB", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["best"]["cell"] == "kd--top8"
    excluded = {e["cell"]: e["reasons"] for e in data["excluded"]}
    assert excluded["remote--raw"][0]["value"] == "inf"
    table = runner.invoke(app, ["plan", "--results", str(tmp_path), "--max-epsilon", "3",
                                "--max-bytes", "50MB"])
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())  # rich wraps long lines at the console's width
    assert "best: kd--top8" in text
    assert "excluded kd--top16: bytes crossed 60 MB > 50 MB" in text
    assert "excluded remote--raw: data leakage ∞ > 3" in text
    bad = runner.invoke(app, ["plan", "--results", str(tmp_path), "--max-bytes", "lots"])
    assert bad.exit_code == 1 and "not a size" in " ".join(bad.output.split())
    missing = runner.invoke(app, ["plan", "--results", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no bench results" in " ".join(missing.output.split())


# ---------------------------------------------------------------- the report


def test_report_is_self_contained_with_plots_and_table(bench_dir):
    html = (bench_dir / "report.html").read_text()
    assert html.count('<svg class="plot"') == 3
    for slug in ("utility-vs-leakage", "utility-vs-bytes", "utility-vs-seconds"):
        assert f'id="plot-{slug}"' in html
        png = (bench_dir / "plots" / f"{slug}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000
    # one point per cell with a utility in each plot, one table row per cell
    assert html.count('class="point" data-cell="remote-lm--raw-prompts"') == 3
    assert html.count('class="point" data-cell="local-finetune--no-dp--r16"') == 3
    assert html.count('<tr class="cell-row') == 3
    assert '<tr class="cell-row failed" data-cell="logit-kd--top16-8bit--r16"' in html
    assert 'id="plan-best">local-finetune--no-dp--r16<' in html  # the only leak-free ok cell
    assert "crossbound bench --profile quick" in html and "transformers" in html
    # nothing to fetch: no external URL, stylesheet or script
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script src" not in html and "<img" not in html


def _chromium(*args: str, profile: Path, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(bench_dir, tmp_path):
    url = (bench_dir / "report.html").resolve().as_uri()
    dom = _chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    # the sorting script ran: it marks the table and orders rows by utility, best first
    assert 'data-sorted="utility-desc"' in page
    order = [line.split('data-cell="')[1].split('"')[0]
             for line in page.split('<tr class="cell-row')[1:]]
    utilities = {cid: c["record"]["utility"]["headline"]
                 for cid, c in cells_by_id(bench_dir).items() if c["status"] == "ok"}
    assert utilities[order[0]] == max(utilities.values())
    assert order[-1] == "logit-kd--top16-8bit--r16"  # no utility: sorted last
    assert page.count("<circle") >= 3 * 2 and page.count('<svg class="plot"') == 3
    shot = tmp_path / "report.png"
    taken = _chromium(f"--screenshot={shot}", "--window-size=1300,1400", url,
                      profile=tmp_path / "profile-shot")
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1300, 1400)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # text, plots and table, not a blank page
    inked = sum(n for n, rgb in colours if sum(rgb) < 600)
    assert inked > 0.01 * image.size[0] * image.size[1]
    # the plots' points are drawn in their direction's colour (baseline grey #6b6b6b)
    assert any(rgb == (0x6B, 0x6B, 0x6B) for _, rgb in colours)
