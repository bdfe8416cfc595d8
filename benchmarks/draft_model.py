"""The same-tokenizer draft model: size, speed and agreement with the full model.

Compares, on one machine in one run, the full ``smollm2-135m``, its layer-dropped copy
(``smollm2-135m:layers=6``) and crossbound's distilled ``smollm2-135m-draft`` (same six
blocks, distilled from the full model on public text; built into the cache on first use
here):

- parameters;
- greedy decoding speed (batch 1, KV cache, ``--new-tokens`` tokens after a clinic-triage
  message) and scoring throughput (tokens per second through a batched forward pass);
- next-token top-1 agreement and KL(full ‖ small) on the recipe's held-out public text and on
  ``clinic-triage`` messages (the private domain, never seen while distilling);
- greedy acceptance: along the full model's own greedy continuation, the share of positions
  where the small model's top-1 is the full model's token, and the tokens per verification a
  greedy speculative decoder would then expect with ``--gamma`` drafted tokens,
  (1 - a^(gamma+1)) / (1 - a), treating positions as independent.

    python benchmarks/draft_model.py [--prompts 12] [--new-tokens 48] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

FULL = "smollm2-135m"
SMALL = ("smollm2-135m:layers=6", "smollm2-135m-draft")


def _prompts(n: int) -> list[str]:
    from crossbound.tasks.registry import load_task

    return [ex.text for ex in load_task("clinic-triage").test[:n]]


def greedy(model: Any, ids: torch.Tensor, new_tokens: int) -> tuple[torch.Tensor, float]:
    """The model's greedy continuation of ``ids`` (1, T) and the seconds it took."""
    started = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False, use_cache=True, pad_token_id=0)
    return out[0, ids.shape[1]:], time.perf_counter() - started


def score_throughput(model: Any, tokenizer: Any, texts: list[str], repeats: int = 3) -> float:
    """Tokens per second through one batched forward pass (no gradients)."""
    enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=128)
    tokens = int(enc["attention_mask"].sum())
    with torch.no_grad():
        model(**enc)  # warm-up
        started = time.perf_counter()
        for _ in range(repeats):
            model(**enc)
    return tokens * repeats / (time.perf_counter() - started)


def acceptance(full: Any, small: Any, prompt_ids: torch.Tensor,
               continuation: torch.Tensor) -> tuple[int, int]:
    """Positions of the full model's greedy ``continuation`` that the small model also picks."""
    ids = torch.cat([prompt_ids[0], continuation]).unsqueeze(0)
    with torch.no_grad():
        logits = small(input_ids=ids).logits[0]
    start = prompt_ids.shape[1] - 1  # the logit at t predicts token t + 1
    picks = logits[start : start + len(continuation)].argmax(-1)
    return int((picks == continuation).sum()), len(continuation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--gamma", type=int, default=4)
    parser.add_argument("--domain-texts", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/draft_model.json"))
    args = parser.parse_args()

    from crossbound.evaluate.exposure import next_token_agreement
    from crossbound.models.distilled import DistillRecipe
    from crossbound.models.loading import load_model, prepare_model
    from crossbound.training.distilled_model import distill_into, recipe_texts

    torch.manual_seed(0)
    full = load_model(FULL)
    tok = full.tokenizer
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    _, held_out = recipe_texts(DistillRecipe())
    prompts = _prompts(max(args.prompts, args.domain_texts))
    domain = prompts[: args.domain_texts]
    prompt_ids = [tok(p, return_tensors="pt", add_special_tokens=False)["input_ids"]
                  for p in prompts[: args.prompts]]

    def speed(model: Any) -> dict[str, float]:
        greedy(model, prompt_ids[0], 4)  # warm-up
        seconds = 0.0
        for ids in prompt_ids:
            seconds += greedy(model, ids, args.new_tokens)[1]
        return {"decode_tokens_per_s": round(len(prompt_ids) * args.new_tokens / seconds, 1),
                "score_tokens_per_s": round(score_throughput(model, tok, domain[:16]), 1)}

    results: dict[str, Any] = {FULL: {"parameters": full.parameters, **speed(full.model)}}
    continuations = [greedy(full.model, ids, args.new_tokens)[0] for ids in prompt_ids]
    print(f"{FULL}: {results[FULL]}", flush=True)
    for name in SMALL:
        prepare_model(name, distil=distill_into)  # distils the draft model once
        small = load_model(name)
        row: dict[str, Any] = {"parameters": small.parameters, **speed(small.model)}
        row["speed_vs_full"] = round(row["decode_tokens_per_s"]
                                     / results[FULL]["decode_tokens_per_s"], 2)
        for label, texts in (("public_held_out", held_out), ("clinic_triage", domain)):
            agree = next_token_agreement(small.model, full.model, tok, texts, max_length=128)
            row[label] = {k: round(float(v), 4) if isinstance(v, float) else v
                          for k, v in agree.items()}
        hits = total = 0
        for ids, cont in zip(prompt_ids, continuations, strict=True):
            h, t = acceptance(full.model, small.model, ids, cont)
            hits, total = hits + h, total + t
        alpha = hits / total
        row["greedy_acceptance"] = round(alpha, 4)
        row[f"expected_tokens_per_verify_gamma{args.gamma}"] = round(
            (1 - alpha ** (args.gamma + 1)) / (1 - alpha) if alpha < 1 else args.gamma + 1, 3)
        results[name] = row
        print(f"{name}: {row}", flush=True)

    print()
    print("| model | parameters | decode tok/s (× full) | score tok/s | top-1 agreement public "
          "/ clinic-triage | KL public / clinic-triage | greedy acceptance |")
    print("|---|---|---|---|---|---|---|")
    for name, row in results.items():
        if name == FULL:
            print(f"| {name} | {row['parameters']:,} | {row['decode_tokens_per_s']} (1.0) | "
                  f"{row['score_tokens_per_s']} | — | — | — |")
            continue
        print(f"| {name} | {row['parameters']:,} | {row['decode_tokens_per_s']} "
              f"({row['speed_vs_full']}) | {row['score_tokens_per_s']} | "
              f"{row['public_held_out']['top1_agreement']:.3f} / "
              f"{row['clinic_triage']['top1_agreement']:.3f} | "
              f"{row['public_held_out']['kl_teacher_student']:.2f} / "
              f"{row['clinic_triage']['kl_teacher_student']:.2f} | "
              f"{row['greedy_acceptance']:.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "draft_model",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "results": results,
        "versions": {"torch": torch.__version__},
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
    }, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
