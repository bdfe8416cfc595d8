"""Split learning on a real LM: the cut and the activation noise against utility, leakage and cost.

For every cut ``K`` (the data party runs the embeddings and blocks ``0 .. K-1``) and noise
level ``σ`` (each crossed token vector clipped to ``C``, the median per-token norm at the cut on
public text, plus ``N(0, σ²C²)``; the U-shape's returned gradients likewise), one
``split-finetune`` run on the task: the model party's LoRA on blocks ``K .. N-1`` trained
through the split, then the test set label-scored through it. Per cell: accuracy, the
record-level ε where one holds (GDP composition over every vector a record crossed), the
model party's inversion of the hidden states that crossed (nearest embedding, MLP decoder
trained on public text at the same cut, through the same clip and noise), bytes per token each
way, round trips per step, the data party's training memory against fully fine-tuning the LM
(counted once, in the first cell), the share of the LM's parameters shipped, and seconds.

σ is relative to the clip norm: the signal of a clipped vector is about ``C/√d`` per
coordinate, the noise ``σC``, so ``σ ≈ 1/√d`` (0.03 for the 0.5B's d = 896) already drowns a
typical coordinate; the defaults ``0.02`` and ``0.2`` sit either side of that.

Each finished cell is written at once (the JSON doubles as the resume point: a rerun skips
the cells it holds). The summary table is printed at the end.

    python benchmarks/split_sweep.py [--large qwen2.5-coder-0.5b] [--cuts 1 2 4]
        [--sigmas 0 0.02 0.2] [--train-limit 64] [--eval-limit 60] [--epochs 1]
    python benchmarks/split_sweep.py --large tiny-large --quick --out /tmp/split.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from crossbound.result import machine, versions
from crossbound.runner import run_strategy

RESULTS = Path(__file__).parent / "results"
QUICK = {"train_limit": "16", "eval_limit": "6", "epochs": "1", "batch_size": "4",
         "max_length": "96", "attack_tokens": "300", "attack_public_limit": "16",
         "attack_steps": "10"}


def _cell(result: Any, seconds: float) -> dict[str, Any]:
    """The numbers of one run that the sweep compares."""
    m = result.metrics
    u, p, e, x = m["utility"], m["privacy"], m["efficiency"], m["exposure"]
    inversion = p.get("inversion") or {}
    noise = p["activation_noise"]
    return {
        "accuracy": u.get("accuracy"), "final": u.get("final"),
        "lm_before": u.get("lm_before"), "macro_f1": u.get("macro_f1"),
        "epsilon": (p.get("dp") or {}).get("epsilon"),
        "record_level": noise.get("record_level"),
        "per_vector_epsilon": noise.get("per_vector_epsilon"),
        "clip_norm": noise.get("clip_norm"), "grad_clip_norm": noise.get("grad_clip_norm"),
        "token_recovery": inversion.get("token_recovery"),
        "nearest_recovery": (inversion.get("nearest") or {}).get("token_recovery"),
        "mlp_recovery": (inversion.get("mlp") or {}).get("token_recovery"),
        "mlp_word_recovery": (inversion.get("mlp") or {}).get("word_recovery"),
        "tokens_attacked": inversion.get("tokens_attacked"),
        "bytes_per_token_to_model": e.get("bytes_per_token_to_model"),
        "bytes_per_token_from_model": e.get("bytes_per_token_from_model"),
        "round_trips_per_step": e.get("round_trips_per_step"),
        "data_party_memory_mb": e["data_party"]["peak_training_memory_mb"],
        "memory_reduction_vs_full_ft": e.get("memory_reduction_vs_full_ft"),
        "full_finetune_memory_mb": (e.get("full_finetune_memory") or {}).get("total_mb"),
        "share_of_lm_parameters_shipped": x.get("share_of_lm_parameters_shipped"),
        "train_steps": e.get("train_steps"), "seconds_per_step": e.get("seconds_per_step"),
        "train_loss_first": e.get("train_loss_first"),
        "train_loss_last": e.get("train_loss_last"),
        "wall_seconds": e.get("wall_seconds"), "seconds": round(seconds, 1),
    }


def _fmt(value: Any, width: int = 7, digits: int = 3) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:{width}.{digits}g}"
    return str(value).rjust(width)


def _table(cells: dict[str, dict[str, Any]]) -> str:
    head = (f"{'cell':>14} {'acc':>7} {'ε':>9} {'recov':>7} {'near':>7} {'mlp':>7} "
            f"{'B/tok→':>7} {'B/tok←':>7} {'rt/step':>7} {'mem MB':>7} {'×mem':>7} "
            f"{'shipped':>7} {'s':>7}")
    lines = [head, "-" * len(head)]
    for name, c in cells.items():
        if "error" in c:
            lines.append(f"{name:>14}  {c['error'][:100]}")
            continue
        lines.append(" ".join([
            f"{name:>14}", _fmt(c["accuracy"]), _fmt(c["epsilon"], 9, 4),
            _fmt(c["token_recovery"]), _fmt(c["nearest_recovery"]), _fmt(c["mlp_recovery"]),
            _fmt(c["bytes_per_token_to_model"], 7, 4),
            _fmt(c["bytes_per_token_from_model"], 7, 4), _fmt(c["round_trips_per_step"]),
            _fmt(c["data_party_memory_mb"], 7, 4), _fmt(c["memory_reduction_vs_full_ft"]),
            _fmt(c["share_of_lm_parameters_shipped"]), _fmt(c["seconds"], 7, 4)]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", default="qwen2.5-coder-0.5b")
    parser.add_argument("--task", default="clinic-triage")
    parser.add_argument("--cuts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.02, 0.2])
    parser.add_argument("--u-shape", choices=("true", "false"), default="true")
    parser.add_argument("--train-limit", type=int, default=64)
    parser.add_argument("--eval-limit", type=int, default=60)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--wire-dtype", choices=("float32", "bfloat16"), default="bfloat16")
    # The 0.5B's untied embedding and head are 1.2 GB in float32: over the 1 GiB message limit.
    parser.add_argument("--bundle-dtype", choices=("float32", "bfloat16"), default="bfloat16")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (16 records, 6 test queries): a check the script runs")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="default: benchmarks/results/split-sweep-LM-TASK.json")
    parser.add_argument("--runs", type=Path, default=None,
                        help="where each run's folder goes (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task_name = args.task.split(":")[0]
    out = args.out or RESULTS / f"split-sweep-{args.large}-{task_name}.json"
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    cells: dict[str, dict[str, Any]] = report.get("cells", {})
    settings = QUICK if args.quick else {
        "train_limit": str(args.train_limit), "eval_limit": str(args.eval_limit),
        "epochs": str(args.epochs), "batch_size": str(args.batch_size)}
    base = {**settings, "lr": str(args.lr), "u_shape": args.u_shape,
            "wire_dtype": args.wire_dtype, "bundle_dtype": args.bundle_dtype}
    runs = args.runs or Path(tempfile.mkdtemp(prefix="split-sweep-"))
    first = not any("error" not in c for c in cells.values())
    for cut in args.cuts:
        for sigma in args.sigmas:
            name = f"cut{cut}-sigma{sigma:g}"
            if name in cells and "error" not in cells[name]:
                print(f"{name}: done earlier, kept", file=sys.stderr)
                continue
            config = {**base, "cut": str(cut), "noise_sigma": str(sigma),
                      # the untrained LM through the split, once per cut; the full
                      # fine-tuning memory reference, once per sweep
                      "evaluate_before": "true" if sigma == 0 else "false",
                      "compare_full_memory": "true" if first else "false"}
            print(f"{name}: running", file=sys.stderr)
            started = time.perf_counter()
            try:
                result = run_strategy("split-finetune", task=args.task, large=args.large,
                                      small=args.large, out_dir=runs / name, config=config,
                                      overwrite=True)
            except (PermissionError, ValueError, RuntimeError) as exc:
                cells[name] = {"error": f"{type(exc).__name__}: {exc}", "config": config}
            else:
                cells[name] = {**_cell(result, time.perf_counter() - started),
                               "config": config}
                first = False
            report = {"benchmark": "split-sweep", "large": args.large, "task": args.task,
                      "quick": args.quick, "argv": sys.argv[1:] if argv is None else argv,
                      "versions": versions(), "machine": machine(), "cells": cells}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(_table(cells))
    print(f"written: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
