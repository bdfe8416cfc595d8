"""fp32 against bf16, side by side in one run: a training step, prefill and decode speed, and
peak memory, for the models crossbound pairs (SmolLM2-135M, Qwen2.5-Coder-0.5B and -1.5B).

Training and inference of each (model, precision) run in fresh subprocesses, so each peak
resident memory is that work's own. What each precision means is what crossbound does with
it (models/precision.py):

- training step: LoRA r16 on every attention and MLP projection (what crossbound trains on
  models this size), AdamW, batch 4 x 64 tokens (loss on the last 16 of each row); for
  "bf16", fp32 master weights for what is trained, frozen weights held in bf16, the step
  under bf16 autocast; for smollm2-135m also every weight (full fine-tuning);
- prefill: a forward pass over batch 4 x 128 tokens, frozen weights in the precision;
- decode: greedy, batch 1, 32 new tokens with the KV cache (HF ``generate``), frozen weights.

Times are medians over repeats after one warm-up. Use the machine alone: other jobs on the
cores skew every ratio.

    python benchmarks/precision.py [--models smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b]
                                   [--threads 2] [--out benchmarks/results/precision.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHILD = r"""
import json, resource, statistics, sys, time
import torch
name, precision, threads, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
from crossbound.models.loading import load_model
from crossbound.models.precision import (hold_frozen_weights_in_scope, precision_scope,
                                         torch_dtype)
from crossbound.training.causal_lm import answer_loss
from crossbound.training.lora import add_lora

def timed(fn, repeats):
    fn()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)

out = {}
gen = torch.Generator().manual_seed(0)
with precision_scope(precision):
    if mode in ("lora", "full"):  # fp32 master weights; bf16 autocast from the scope
        # fp32 load, then the frozen weights converted (crossbound's LoRA runs now load the base
        # frozen, in bf16 from the start, and peak lower: see the README)
        trainee = load_model(name)
        model = trainee.model
        if mode == "full":
            for p in model.parameters():
                p.requires_grad_(True)
        else:
            model = add_lora(model, rank=16)
        params = [p for p in model.parameters() if p.requires_grad]
        hold_frozen_weights_in_scope(model)  # as crossbound's training loops do
        optimizer = torch.optim.AdamW(params, lr=1e-5)
        vocab = trainee.model.config.vocab_size
        ids = torch.randint(100, min(vocab, 30000), (4, 64), generator=gen)
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                 "labels": torch.cat([torch.full((4, 48), -100), ids[:, 48:]], dim=1)}
        model.train()
        def step():
            loss = answer_loss(model, batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        out["train_step_seconds"] = timed(step, 3 if vocab < 100_000 else 2)
        out["train_tokens_per_second"] = ids.numel() / out["train_step_seconds"]
        out["trainable_parameters"] = sum(p.numel() for p in params)
    else:  # frozen weights in the precision: prefill and decode
        lm = load_model(name, frozen=True)
        assert lm.dtype == torch_dtype(precision)
        vocab = lm.model.config.vocab_size
        prompt = torch.randint(100, min(vocab, 30000), (4, 128), generator=gen)
        with torch.inference_mode():
            mask = torch.ones_like(prompt)
            out["prefill_tokens_per_second"] = prompt.numel() / timed(
                lambda: lm.model(input_ids=prompt, attention_mask=mask), 3)
            one = prompt[:1, :32]
            def decode():
                lm.model.generate(one, attention_mask=torch.ones_like(one), max_new_tokens=32,
                                  min_new_tokens=32, do_sample=False,
                                  pad_token_id=lm.tokenizer.pad_token_id)
            out["decode_tokens_per_second"] = 32 / timed(decode, 2)
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run_child(name: str, precision: str, threads: int, mode: str) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-c", CHILD, name, precision, str(threads), mode],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {precision} {mode} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_cell(name: str, precision: str, threads: int, training: str) -> dict[str, Any]:
    """One (model, precision): the training step in one process, inference in another, so
    each peak memory is that work's own."""
    started = time.perf_counter()
    train = run_child(name, precision, threads, training)
    frozen = run_child(name, precision, threads, "frozen")
    return {"model": name, "precision": precision, "training": training,
            **{k: v for k, v in train.items() if k != "peak_rss_mb"},
            "train_peak_rss_mb": train["peak_rss_mb"],
            **{k: v for k, v in frozen.items() if k != "peak_rss_mb"},
            "inference_peak_rss_mb": frozen["peak_rss_mb"],
            "cell_seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+",
                        default=["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/precision.json"))
    args = parser.parse_args()

    import torch

    from crossbound.models import prepare_model
    from crossbound.models.precision import cpu_has_bf16

    for name in args.models:
        prepare_model(name, status=lambda line: print(line, file=sys.stderr))
    cells: list[tuple[str, str]] = [(name, "lora") for name in args.models]
    if "smollm2-135m" in args.models:
        cells.insert(1, ("smollm2-135m", "full"))
    rows = []
    for name, training in cells:
        pair = {p: run_cell(name, p, args.threads, training) for p in ("fp32", "bf16")}
        for precision in ("fp32", "bf16"):
            rows.append(pair[precision])
        speedups = {key: round(pair["bf16"][key] / pair["fp32"][key], 2) for key in (
            "train_tokens_per_second", "prefill_tokens_per_second", "decode_tokens_per_second")}
        for key in ("train_peak_rss_mb", "inference_peak_rss_mb"):
            speedups[key.replace("_peak_rss_mb", "_memory")] = round(
                pair["bf16"][key] / pair["fp32"][key], 2)
        rows[-1]["bf16_over_fp32"] = speedups
        print(f"{name} ({pair['fp32']['training']}): bf16/fp32 {speedups}", file=sys.stderr)
    report = {
        "benchmark": "precision",
        "machine": {"cpu": _cpu_name(), "bf16_instructions": cpu_has_bf16(),
                    "threads": args.threads, "python": platform.python_version(),
                    "torch": torch.__version__},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{'model':<20} {'train':<5} {'prec':<5} {'step s':>7} {'train MB':>9} "
          f"{'prefill tok/s':>13} {'decode tok/s':>12} {'infer MB':>9}")
    for r in rows:
        print(f"{r['model']:<20} {r['training']:<5} {r['precision']:<5} "
              f"{r['train_step_seconds']:>7.2f} {r['train_peak_rss_mb']:>9.0f} "
              f"{r['prefill_tokens_per_second']:>13.1f} {r['decode_tokens_per_second']:>12.2f} "
              f"{r['inference_peak_rss_mb']:>9.0f}")
    print(f"wrote {args.out}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
