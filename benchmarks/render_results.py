"""Render the results tables in the docs from the stored result files, so they cannot drift.

    python benchmarks/render_results.py            # rewrite every generated table in place
    python benchmarks/render_results.py --check    # exit 1 and name each table that differs

A generated table sits between two HTML comments (invisible in rendered Markdown):

    <!-- results: KIND ARG ... -->
    | ... |
    <!-- /results -->

KIND says how to read the files named by the ARGs (paths relative to the repository root):

- ``bench DIR``: a bench's learning curves — one row per strategy (its best ok cell per
  budget, as the planner compares them), the two baselines first, the other strategies by
  their best utility; a utility that beats both baselines at its budget is bold.
- ``quick-vs-full FILE``: the per-strategy utilities ``benchmarks/quick_vs_full.py`` ranked.
- ``runs FILE ...``: one row per ``crossbound run`` result: task, model, strategy, utility.
- ``domains FILE``: a cascade result's accuracy over the whole mix and per domain.
- ``precision FILE``: ``benchmarks/precision.py``'s bf16-against-fp32 table.
- ``split FILE``: ``benchmarks/split_sweep.py``'s cells by cut and activation noise.
- ``proxy FILE``: a ``proxy-tuning`` result per α: accuracy and the share of the gap to the
  fine-tuned LM closed.
- ``sanitizer FILE DATASET``: ``benchmarks/sanitizer_eval.py``'s recall per kind, precision,
  F2, content kept and time per message for each system on one of its datasets.

The prose around a table is written by hand; the numbers in the table come from the files.
tests/test_results_doc.py fails when a document and its files disagree.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossbound.bench.records import (
    LM_ALONE_STRATEGY,
    SM_ALONE_SETTING,
    SM_ALONE_STRATEGY,
    cells_at,
    record_budgets,
)

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/results.md", "docs/split.md")
BLOCK = re.compile(r"(<!-- results: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- /results -->)",
                   re.DOTALL)

Renderer = Callable[[list[str]], list[str]]


def _load(path: str) -> dict[str, Any]:
    file = ROOT / path
    if file.is_dir():
        file = file / "results.json"
    if not file.is_file():
        raise SystemExit(f"render_results: {path} names no result file")
    loaded: dict[str, Any] = json.loads(file.read_text())
    return loaded


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _kilobytes(count: int | float | None) -> str:
    if count is None:
        return "—"
    return "0" if count == 0 else f"{count / 1000:.1f} kB"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# ---------------------------------------------------------------- bench learning curves

# How the tables name a strategy's setting (the bench's setting ids are for machines).
_STRATEGY_NAMES = {
    (SM_ALONE_STRATEGY, SM_ALONE_SETTING): "SM alone (`local-finetune`, no DP)",
    (LM_ALONE_STRATEGY, None): "LM alone (`remote-lm`, raw prompts; no records)",
}


_SETTING_NAMES = {
    "top16-8bit": "top-16, 8-bit",
    "sanitize": "sanitised",
    "sanitized-seeds": "sanitised seeds",
    "max-prob": "max-prob router",
    "learned": "learned router",
}


def _strategy_name(strategy: str, setting: str | None) -> str:
    known = _STRATEGY_NAMES.get((strategy, setting)) or _STRATEGY_NAMES.get((strategy, None))
    if known:
        return known
    if not setting:
        return f"`{strategy}`"
    return f"`{strategy}` ({_SETTING_NAMES.get(setting, setting)})"


def _headline(cell: dict[str, Any]) -> float | None:
    value = ((cell.get("record") or {}).get("utility") or {}).get("headline")
    return float(value) if cell.get("status") == "ok" and isinstance(value, int | float) else None


def _leakage(cell: dict[str, Any]) -> str:
    privacy = cell["record"]["privacy"]
    if privacy.get("data_leakage") is not None:
        return f"{privacy['data_leakage']:g}"
    return "∞ (text crosses)" if privacy.get("private_text_crosses") else "∞"


def _direction(cell: dict[str, Any]) -> str:
    if (cell["strategy"], cell.get("setting")) == (SM_ALONE_STRATEGY, SM_ALONE_SETTING):
        return "baseline"
    return "baseline" if cell["strategy"] == LM_ALONE_STRATEGY else str(cell["direction"])


def render_bench(args: list[str]) -> list[str]:
    """One row per strategy: its best ok cell's utility at each budget, then the leakage, the
    bytes crossed and the PII crossed of the cell at the largest budget."""
    results = _load(args[0])
    budgets = record_budgets(results)
    best: dict[str, dict[str, dict[str, Any]]] = {}  # strategy -> budget label -> cell
    for budget in budgets:
        for cell in cells_at(results, budget):
            if _headline(cell) is None:
                continue
            held = best.setdefault(cell["strategy"], {}).get(budget.label)
            if held is None or _headline(cell) > _headline(held):  # type: ignore[operator]
                best[cell["strategy"]][budget.label] = cell

    def baseline_at(strategy: str, label: str) -> float:
        cell = best.get(strategy, {}).get(label)
        return -1.0 if cell is None else _headline(cell) or -1.0

    def order(strategy: str) -> tuple[int, float]:
        rank = {SM_ALONE_STRATEGY: 0, LM_ALONE_STRATEGY: 1}.get(strategy, 2)
        return rank, -max(_headline(c) or 0.0 for c in best[strategy].values())

    largest = budgets[-1].label
    header = ["strategy (setting)", "direction"] + [f"{b.tick} records" for b in budgets]
    header += ["data leakage", f"bytes crossed ({budgets[-1].tick})", "PII crossed"]
    rows = []
    for strategy in sorted(best, key=order):
        cells = best[strategy]
        last = cells.get(largest) or next(iter(cells.values()))
        row = [_strategy_name(strategy, last.get("setting")), _direction(last)]
        for budget in budgets:
            at_budget = cells.get(budget.label)
            value = None if at_budget is None else _headline(at_budget)
            text = _score(value)
            bar = max(baseline_at(SM_ALONE_STRATEGY, budget.label),
                      baseline_at(LM_ALONE_STRATEGY, budget.label))
            if value is not None and _direction(last) != "baseline" and value > bar:
                text = f"**{text}**"
            row.append(text)
        row += [_leakage(last), _kilobytes(last["record"]["efficiency"]["bytes_crossed"]),
                str(last["record"]["privacy"]["pii_crossed"])]
        rows.append(row)
    return _table(header, rows)


# ---------------------------------------------------------------- other kinds


def render_quick_vs_full(args: list[str]) -> list[str]:
    compared = _load(args[0])
    by_records = compared["by_records"]
    strategies = sorted({s for entry in by_records for s in entry["strategies"]},
                        key=lambda s: ({SM_ALONE_STRATEGY: 0, LM_ALONE_STRATEGY: 1}.get(s, 2), s))
    header = ["strategy"]
    for entry in by_records:
        header += [f"quick {entry['records']}", f"full {entry['records']}"]
    rows = []
    for strategy in strategies:
        name = {SM_ALONE_STRATEGY: "SM alone", LM_ALONE_STRATEGY: "LM alone"}.get(strategy,
                                                                                strategy)
        row = [name]
        for entry in by_records:
            row += [_score(entry["quick"].get(strategy)), _score(entry["full"].get(strategy))]
        rows.append(row)
    rows.append(["Spearman's ρ"] + [f"{entry['spearman_rho']:.3f}" if j == 0 else ""
                                    for entry in by_records for j in range(2)])
    return _table(header, rows)


def _how(result: dict[str, Any]) -> str:
    config = result["config"]
    if result["strategy"] == "local-finetune":
        epochs = f"{config['epochs']:g}"
        return f"fine-tuned, {epochs} epoch{'s' if epochs != '1' else ''}"
    return "zero-shot" if result["strategy"] == "remote-lm" else f"`{result['strategy']}`"


def render_runs(args: list[str]) -> list[str]:
    header = ["task", "model", "how", "accuracy", "macro-F1", "seen / held-out phrasing",
              "bytes crossed"]
    rows = []
    for path in args:
        result = _load(path)
        utility = result["metrics"]["utility"]
        model = result["models"]["large" if result["strategy"] == "remote-lm" else "small"]
        accuracy = _score(utility["accuracy"])
        before = utility.get("sm_before")
        if before is not None:
            accuracy = f"**{accuracy}** (from {before:.3f})"
        seen = utility.get("accuracy_phrasing_seen")
        held = utility.get("accuracy_phrasing_held_out")
        phrasing = "—" if seen is None else f"{seen:.3f} / {held:.3f}"
        crossed = result["metrics"]["efficiency"]["bytes_crossed"]
        total = crossed["total"] if isinstance(crossed, dict) else crossed
        rows.append([result["task"]["name"], model, _how(result), accuracy,
                     _score(utility["macro_f1"]), phrasing, f"{total:,}"])
    return _table(header, rows)


def render_domains(args: list[str]) -> list[str]:
    result = _load(args[0])
    utility = result["metrics"]["utility"]
    domains = utility["by_domain"]
    header = [" ", f"all {utility['eval_examples']}"]
    header += [f"{name} ({domains[name]['queries']})" for name in sorted(domains)]

    def row(label: str, key: str) -> list[str]:
        return [label, _score(utility[key])] + [_score(domains[name][key])
                                               for name in sorted(domains)]

    final = row(f"cascade, {utility['router'].replace('_', '-')} router", "final")
    final[1] += f" at {utility['share_to_lm']:.0%} LM calls"
    return _table(header, [row("SM alone", "sm_alone"),
                           row("LM always (sanitised prompts)", "lm_always"), final])


def render_precision(args: list[str]) -> list[str]:
    rows_in = _load(args[0])["rows"]
    header = ["model", "training", "precision", "train step", "train peak", "prefill", "decode",
              "inference peak"]
    rows = []
    for row in rows_in:
        rows.append([row["model"], "LoRA r16" if row["training"] == "lora" else "full",
                     row["precision"], f"{row['train_step_seconds']:.2f} s",
                     f"{row['train_peak_rss_mb'] / 1024:.1f} GB",
                     f"{row['prefill_tokens_per_second']:.0f} tok/s",
                     f"{row['decode_tokens_per_second']:.1f} tok/s",
                     f"{row['inference_peak_rss_mb'] / 1024:.1f} GB"])
        ratio = row.get("bf16_over_fp32")
        if ratio:
            rows.append(["", "", "**bf16 / fp32**",
                         f"**{ratio['train_tokens_per_second']:.2f}×**",
                         f"{ratio['train_memory']:.2f}",
                         f"**{ratio['prefill_tokens_per_second']:.2f}×**",
                         f"**{ratio['decode_tokens_per_second']:.2f}×**",
                         f"{ratio['inference_memory']:.2f}"])
    return _table(header, rows)


def render_proxy(args: list[str]) -> list[str]:
    """The LM alone, the tuned expert alone, proxy-tuning per α and the fine-tuned LM.

    A second file lends the fine-tuned LM (the oracle) from an earlier run on the same test
    records (``lm_reference=true`` costs the 1.5B's fine-tuning): the gap closed is computed
    against it, and the LM alone must score the same in both or nothing is rendered."""
    result = _load(args[0])
    utility = result["metrics"]["utility"]
    models = result["models"]
    reference, closed_by = utility.get("lm_finetuned"), utility.get("gap_closed_by_alpha", {})
    trainable = result["config"]["lm_trainable"]
    if len(args) > 1:
        lender = _load(args[1])
        theirs = lender["metrics"]["utility"]
        same = (theirs["lm_before"], theirs["eval_examples"], lender["task"]) == (
            utility["lm_before"], utility["eval_examples"], result["task"])
        if not same or lender["models"]["large"] != models["large"]:
            raise SystemExit(f"{args[1]} is not on the same LM and test records as {args[0]}")
        reference, trainable = theirs["lm_finetuned"], lender["config"]["lm_trainable"]
        gap = reference - utility["lm_before"]
        closed_by = {a: (v - utility["lm_before"]) / gap for a, v in utility["by_alpha"].items()
                     } if gap else {}  # no gap to close: the column says "—"
    rows = [[f"{models['large']} alone (zero-shot)", _score(utility["lm_before"]), "0 %"],
            [f"{models['small']} untuned", _score(utility["sm_before"]), ""],
            [f"{models['small']} fine-tuned (the expert)", _score(utility["sm_after"]), ""]]
    for alpha in sorted(utility["by_alpha"], key=float):
        closed = closed_by.get(alpha)
        rows.append([f"proxy-tuning, α = {alpha}", _score(utility["by_alpha"][alpha]),
                     "—" if closed is None else f"{100 * closed:.0f} %"])
    if reference is not None:
        rows.append([f"{models['large']} fine-tuned ({trainable}; the reference)",
                     _score(reference), "100 %"])
    return _table(["model", "accuracy", "gap closed"], rows)


_SYSTEM_NAMES = {"crossbound": "crossbound", "presidio": "vanilla Presidio",
                 "crossbound-regex": "crossbound's own recognisers only"}


def render_sanitizer(args: list[str]) -> list[str]:
    """Rows: each PII kind's recall (gold spans counted), then the totals; a column a system."""
    dataset = _load(args[0])["datasets"][args[1]]
    systems = dataset["systems"]
    names = list(systems)
    kinds = [kind for kind, row in systems[names[0]]["kinds"].items() if row["gold"]]
    header = [f"{args[1]} ({dataset['messages']} messages)", "gold spans"]
    header += [_SYSTEM_NAMES.get(name, name) for name in names]
    rows = [[f"{kind} recall", str(systems[names[0]]["kinds"][kind]["gold"])]
            + [_score(systems[name]["kinds"][kind]["recall"]) for name in names]
            for kind in kinds]
    for key, label in (("precision", "precision"), ("f2", "F2"),
                       ("content_kept", "content kept")):
        rows.append([label, ""] + [_score(systems[name][key]) for name in names])
    rows.append(["ms per message", ""] + [f"{systems[name]['ms_per_message']:.1f}"
                                          for name in names])
    return _table(header, rows)


def render_split(args: list[str]) -> list[str]:
    """``benchmarks/split_sweep.py``'s cells, by cut then σ: accuracy, the model party's token
    recovery (nearest embedding, MLP decoder), the record-level ε, bytes per token each way."""
    cells = _load(args[0])["cells"]
    done = [(int(c["config"]["cut"]), float(c["config"]["noise_sigma"]), c)
            for c in cells.values() if "error" not in c]
    rows = []
    for cut, sigma, c in sorted(done, key=lambda item: item[:2]):
        eps = c.get("epsilon")
        rows.append([str(cut), f"{sigma:g}", _score(c["accuracy"]),
                     _score(c["nearest_recovery"]), _score(c["mlp_recovery"]),
                     "—" if eps is None else f"{eps:,.0f}",
                     f"{c['bytes_per_token_to_model']:,.0f}",
                     f"{c['bytes_per_token_from_model']:,.0f}"])
    return _table(["cut K", "σ", "accuracy", "recovered: nearest", "recovered: MLP",
                   "record ε", "B/token →", "B/token ←"], rows)


_ENGINE_NAMES = {"hf-generate": "HF `generate` (the LM alone)",
                 "hf-prompt-lookup": "HF prompt lookup", "hf-assisted": "HF assisted (0.5B)",
                 "cb-direct": "crossbound, LM alone", "cb-model": "crossbound, 0.5B draft",
                 "cb-ngram": "crossbound, `ngram`", "cb-suffix": "crossbound, `suffix`",
                 "cb-suffix+model": "crossbound, `suffix` then the 0.5B"}


def _ratio(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return "—" if value is None else f"{value:.2f}×"


def render_speculative(args: list[str]) -> list[str]:
    """``benchmarks/speculative.py``: ``local`` (every task, batch and engine: tokens/s — with
    ``--repeats``, the median and the runs' range — the speed-up over HF ``generate``, over
    crossbound's LM alone and over HF prompt lookup, tokens per LM pass, acceptance,
    outputs identical to HF ``generate``) or ``remote`` (the LM behind ``crossbound serve``
    at each added latency: the speed-up over the remote LM alone, round trips per token)."""
    rows_in = _load(args[0])["results"]
    remote = len(args) > 1 and args[1] == "remote"
    rows = []
    for row in rows_in:
        if ("latency_ms" in row) != remote:
            continue
        name = _ENGINE_NAMES.get(row["engine"], row["engine"])
        acceptance = row.get("acceptance_rate")
        accepted = "—" if acceptance is None else _score(acceptance)
        if remote:
            rows.append([row["task"], f"{row['latency_ms']:g}", name,
                         f"{row['tokens_per_second']:.2f}", _ratio(row, "speedup_vs_cb-direct"),
                         f"{row['round_trips_per_token']:.2f}",
                         row.get("identical_to_cb-direct", "—")])
        else:
            speed = f"{row['tokens_per_second']:.2f}"
            runs = row.get("tokens_per_second_runs")
            if runs:  # the median of interleaved runs, and their range
                speed += f" ({min(runs):.2f}–{max(runs):.2f})"
            rows.append([row["task"], str(row["batch"]), name, speed,
                         _ratio(row, "speedup_vs_hf-generate"),
                         _ratio(row, "speedup_vs_cb-direct"),
                         _ratio(row, "speedup_vs_hf-prompt-lookup"),
                         f"{row['tokens_per_lm_forward']:.2f}", accepted,
                         row.get("identical_to_hf-generate", "—")])
    if remote:
        return _table(["task", "added RTT ms", "engine", "tokens/s", "× LM alone (remote)",
                       "round trips / token", "same output"], rows)
    return _table(["task", "batch", "engine", "tokens/s", "× HF generate",
                   "× crossbound LM alone", "× HF lookup", "tokens / LM pass", "acceptance",
                   "same output as HF generate"], rows)


RENDERERS: dict[str, Renderer] = {
    "bench": render_bench,
    "quick-vs-full": render_quick_vs_full,
    "runs": render_runs,
    "domains": render_domains,
    "precision": render_precision,
    "proxy": render_proxy,
    "sanitizer": render_sanitizer,
    "split": render_split,
    "speculative": render_speculative,
}


def render_document(text: str) -> str:
    """``text`` with every generated table rendered again from its files."""

    def replace(match: re.Match[str]) -> str:
        kind, *args = match["spec"].split()
        if kind not in RENDERERS:
            raise SystemExit(f"render_results: unknown table kind {kind!r} "
                             f"(known: {', '.join(sorted(RENDERERS))})")
        return match[1] + "\n".join(RENDERERS[kind](args)) + "\n" + match[4]

    return BLOCK.sub(replace, text)


def stale_tables(path: Path) -> list[str]:
    """The specs of the tables in ``path`` that differ from what their files say."""
    text = path.read_text()
    fresh = render_document(text)
    old = {m["spec"]: m["body"] for m in BLOCK.finditer(text)}
    new = {m["spec"]: m["body"] for m in BLOCK.finditer(fresh)}
    return [spec for spec in old if old[spec] != new[spec]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a generated table differs from its files")
    parser.add_argument("documents", nargs="*", default=list(DOCUMENTS),
                        help="Markdown files, relative to the repository root")
    args = parser.parse_args(argv)
    stale = 0
    for name in args.documents:
        path = ROOT / name
        if args.check:
            for spec in stale_tables(path):
                print(f"{name}: the table `{spec}` differs from its files", file=sys.stderr)
                stale += 1
        else:
            text = path.read_text()
            fresh = render_document(text)
            if fresh != text:
                path.write_text(fresh)
                print(f"rewrote {name}")
    if stale:
        print("run `python benchmarks/render_results.py` to render them again", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
