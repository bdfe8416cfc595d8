"""Speculative decoding: crossbound's engine against the LM alone and Hugging Face's.

On the same prompts (``clinic-triage`` test messages: a reply asked for in the SmolLM2 chat
template, or the routing prompt continued plain)
and the same pair (``smollm2-135m`` verifying, ``smollm2-135m-draft`` drafting), in one
process, greedy:

- ``hf-generate``: the LM alone, ``model.generate`` (batched with left padding);
- ``hf-assisted``: ``model.generate(assistant_model=draft)`` (batch 1 only: HF refuses more);
- ``cb-direct``: the LM alone through crossbound's KV decoding state (its own overhead);
- ``cb-speculative``: crossbound's speculative decoding (adaptive γ unless ``--gamma-fixed``);
- ``cb-speculative-shortlist``: the same, the draft scoring only the first ``--draft-vocab``
  token ids (0: this row is skipped).

Per engine and batch size: tokens, tokens/s, speed-up over ``hf-generate`` at the same batch
size, whether the tokens equal ``hf-generate``'s; for crossbound's speculative decoding also
the acceptance rate, α, mean accepted drafts per verification, mean γ, the draft/verify cost
ratio c it measured, and the speed-up Leviathan et al.'s Theorem 3.8 predicts from them,
(1 − α^{γ+1}) / ((1 − α)(γc + 1)). ``c_single_token`` is c measured apart: one draft forward
over one LM forward, one token, batch 1.

    python benchmarks/speculative.py [--prompts 8] [--new-tokens 64] [--batch-sizes 1 8]
        [--format chat|plain] [--gamma 4] [--gamma-fixed] [--draft-vocab 16384] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from crossbound.inference.generation import (
    GenerationSettings,
    direct_generate,
    encode_prompts,
    expected_speedup,
    merge_stats,
)
from crossbound.inference.kv import DecodeState
from crossbound.inference.speculative import (
    SpeculativeSettings,
    speculative_generate,
)
from crossbound.inference.stopping import eos_ids
from crossbound.models.loading import load_model, prepare_model
from crossbound.result import machine, versions
from crossbound.tasks.registry import load_task
from crossbound.training.distilled_model import distill_into

REPLY = "Write a short, kind reply to this patient message:\n\n{text}"


def _prompts(tokenizer: Any, n: int, form: str) -> list[list[int]]:
    """``chat``: a reply to the message, asked in a user turn (the LM writes several
    sentences); ``plain``: the task's routing prompt, continued as plain text."""
    task = load_task("clinic-triage")
    examples = task.test[:n]
    if form == "chat":
        return encode_prompts(tokenizer, [REPLY.format(text=ex.text) for ex in examples],
                              chat=True)
    return encode_prompts(tokenizer, [task.prompt(ex) for ex in examples])


def _trim(ids: list[int], eos: set[int]) -> list[int]:
    """Generated ids up to and including the first EOS (HF pads finished rows after it)."""
    for i, token in enumerate(ids):
        if token in eos:
            return ids[: i + 1]
    return ids


@torch.no_grad()
def hf_generate(lm: Any, tok: Any, prompts: list[list[int]], batch: int, new: int,
                eos: set[int], assistant: Any = None) -> tuple[list[list[int]], float]:
    out: list[list[int]] = []
    started = time.perf_counter()
    for start in range(0, len(prompts), batch):
        chunk = prompts[start: start + batch]
        width = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for b, p in enumerate(chunk):
            ids[b, width - len(p):] = torch.tensor(p)
            mask[b, width - len(p):] = 1
        extra = {"assistant_model": assistant} if assistant is not None else {}
        gen = lm.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new,
                          do_sample=False, pad_token_id=tok.pad_token_id, **extra)
        out.extend(_trim(row.tolist(), eos) for row in gen[:, width:])
    return out, time.perf_counter() - started


@torch.no_grad()
def single_token_cost(model: Any, prompt: list[int], steps: int = 8) -> float:
    """Seconds per one-token forward with a KV cache, batch 1 (after a prefill)."""
    out = model(input_ids=torch.tensor([prompt]), use_cache=True)
    cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    started = time.perf_counter()
    for _ in range(steps):
        out = model(input_ids=token, past_key_values=cache, use_cache=True)
        token = out.logits[:, -1:].argmax(-1)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", default="smollm2-135m")
    parser.add_argument("--draft", default="smollm2-135m-draft")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--format", choices=("chat", "plain"), default="chat")
    parser.add_argument("--gamma", type=int, default=4)
    parser.add_argument("--gamma-fixed", action="store_true", help="no adaptive γ")
    parser.add_argument("--draft-vocab", type=int, default=16384,
                        help="shortlist size of the extra speculative row (0: no such row)")
    parser.add_argument("--no-assisted", action="store_true", help="skip HF assisted decoding")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/speculative.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    prepare_model(args.draft, distil=distill_into)  # a distilled draft is built once
    lm, draft = load_model(args.large), load_model(args.draft)
    tok = lm.tokenizer
    eos = eos_ids(tok, lm.model)
    prompts = _prompts(tok, args.prompts, args.format)
    settings = GenerationSettings(max_new_tokens=args.new_tokens)
    spec = SpeculativeSettings(gamma=args.gamma, adaptive=not args.gamma_fixed,
                               gamma_max=max(args.gamma, 10))
    # warm-up: first calls allocate and dispatch; keep them out of the timings
    hf_generate(lm.model, tok, prompts[:1], 1, 4, eos)
    speculative_generate(DecodeState(lm.model, tok.pad_token_id), draft.model, tok, prompts[:1],
                         GenerationSettings(max_new_tokens=4), spec, lm_model=lm.model)
    cost = {"lm": single_token_cost(lm.model, prompts[0]),
            "draft": single_token_cost(draft.model, prompts[0])}
    c_single = cost["draft"] / cost["lm"]
    rows: list[dict[str, Any]] = []
    for batch in args.batch_sizes:
        reference, seconds = hf_generate(lm.model, tok, prompts, batch, args.new_tokens, eos)
        base_tps = sum(map(len, reference)) / seconds
        print(f"batch {batch}: hf-generate {base_tps:.2f} tokens/s", flush=True)

        def row(engine: str, ids: list[list[int]], secs: float, extra: dict[str, Any],
                batch: int = batch, base: float = base_tps,
                ref: list[list[int]] = reference) -> dict[str, Any]:
            tokens = sum(map(len, ids))
            same = sum(a == b for a, b in zip(ids, ref, strict=True))
            entry = {"engine": engine, "batch": batch, "tokens": tokens,
                     "seconds": round(secs, 3), "tokens_per_second": round(tokens / secs, 3),
                     "speedup_vs_hf_generate": round(tokens / secs / base, 3),
                     "identical_to_hf_generate": f"{same}/{len(ids)}", **extra}
            print(f"batch {batch}: {engine} {entry['tokens_per_second']:.2f} tokens/s "
                  f"({entry['speedup_vs_hf_generate']:.2f}x)", flush=True)
            return entry

        rows.append(row("hf-generate", reference, seconds, {}))
        if batch == 1 and not args.no_assisted:
            ids, secs = hf_generate(lm.model, tok, prompts, 1, args.new_tokens, eos,
                                    assistant=draft.model)
            rows.append(row("hf-assisted", ids, secs, {
                "num_assistant_tokens": draft.model.generation_config.num_assistant_tokens,
                "schedule": draft.model.generation_config.num_assistant_tokens_schedule}))
        engines = ["cb-direct", "cb-speculative"] + (
            ["cb-speculative-shortlist"] if args.draft_vocab else [])
        for engine in engines:
            engine_spec = (dataclasses.replace(spec, draft_vocab=args.draft_vocab)
                           if engine.endswith("shortlist") else spec)
            outs = []
            started = time.perf_counter()
            for start in range(0, len(prompts), batch):
                chunk = prompts[start: start + batch]
                state = DecodeState(lm.model, tok.pad_token_id)
                outs.append(direct_generate(state, tok, chunk, settings, lm.model)
                            if engine == "cb-direct" else
                            speculative_generate(state, draft.model, tok, chunk, settings,
                                                 engine_spec, lm_model=lm.model))
            secs = time.perf_counter() - started
            stats = merge_stats([o.stats for o in outs]).to_dict()
            extra: dict[str, Any] = {}
            if engine.startswith("cb-speculative"):
                gamma = max(1, round(stats["mean_gamma"]))
                theory = expected_speedup(stats["alpha"], gamma, stats["cost_ratio"])
                extra = {k: stats[k] for k in ("acceptance_rate", "alpha",
                                                "mean_accepted_length", "tokens_per_lm_pass",
                                                "mean_gamma", "cost_ratio", "lm_forward_passes",
                                                "sm_forward_passes")}
                extra["theoretical_speedup"] = round(theory, 3)
                extra["theoretical_speedup_c_single_token"] = round(
                    expected_speedup(stats["alpha"], gamma, c_single), 3)
            entry = row(engine, [i for o in outs for i in o.ids], secs, extra)
            if engine.startswith("cb-speculative"):
                # realised share of the predicted speed-up, against the LM alone on the same
                # KV machinery (what the theorem compares), and against hf-generate
                direct = next(r for r in rows if r["engine"] == "cb-direct"
                              and r["batch"] == batch)
                real = entry["tokens_per_second"] / direct["tokens_per_second"]
                entry["speedup_vs_cb_direct"] = round(real, 3)
                entry["share_of_theoretical"] = round(real / max(1e-9, theory), 3)
            rows.append(entry)
    report = {"benchmark": "speculative", "commit": _commit(),
              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "single_token_seconds": {k: round(v, 5) for k, v in cost.items()},
              "c_single_token": round(c_single, 4), "results": rows,
              "note": "timings from one run on the machine described below; compare engines "
                      "within this file, not across machines",
              "versions": versions(), "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    _print_table(rows, c_single)


def _commit() -> str:
    """The checkout's commit (``+dirty`` with uncommitted changes), for reading results later."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _print_table(rows: list[dict[str, Any]], c_single: float) -> None:
    def cell(row: dict[str, Any], key: str, fmt: str = "{:.2f}") -> str:
        return fmt.format(row[key]) if key in row else "—"

    print()
    print(f"c (one draft forward / one LM forward, 1 token, batch 1): {c_single:.3f}")
    print()
    print("| batch | engine | tokens/s | vs HF generate | identical | acceptance | α | "
          "accepted/step | mean γ | c | theoretical | realised / theoretical |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch']} | {r['engine']} | {r['tokens_per_second']:.2f} | "
              f"{r['speedup_vs_hf_generate']:.2f}× | {r['identical_to_hf_generate']} | "
              f"{cell(r, 'acceptance_rate')} | {cell(r, 'alpha')} | "
              f"{cell(r, 'mean_accepted_length')} | {cell(r, 'mean_gamma', '{:.1f}')} | "
              f"{cell(r, 'cost_ratio', '{:.3f}')} | {cell(r, 'theoretical_speedup', '{:.2f}×')} | "
              f"{cell(r, 'share_of_theoretical')} |")


if __name__ == "__main__":
    main()
