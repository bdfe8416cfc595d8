"""How long a model draft should draft: fixed γ against a confidence stop, simulated.

With greedy decoding the LM's output does not depend on the draft, so a draft policy can be
tried on the LM's own outputs: one pass of the draft over prompt + output gives its greedy
guess and that guess's probability at every position, given the true text so far — which is
what the draft sees while its drafts are being kept. A step drafts from the current position
(``γ`` tokens, or, with a confidence stop ``τ``, until the first guess below ``τ``, at most
``--gamma-max``), keeps the drafts up to the first that differs from the output, and adds
the LM's own token. After a wrong draft the draft would go on from its own wrong token; the
simulation reads the next guesses from the true text instead, which only matters to where a
confidence stop ends a draft that is already lost.

A step is priced in one-token LM passes: each draft pass ``c`` (a one-token pass of the
draft over one of the LM, both timed here at batch 1, median of 12) plus the LM's pass over
the drafts, ``1 + v · drafts`` (``v`` from the LM's passes over 1 and 11 tokens). The
expected speed-up over the LM alone is tokens per unit of that cost. ``LOOKUP+τ`` tries a
lookup first (``--lookups``: ``suffix``, ``suffix:min=2``, ``ngram`` ...; free) and drafts with
the model only where the lookup has nothing (crossbound's ``--draft suffix+model``). Left
out: the draft's first reading of each prompt.

    python benchmarks/draft_policies.py                 # prompts 8-15 of each task (minutes)

Prints one line per task: the draft's agreement with the LM, then speed-up (tokens per LM
pass) per policy. ``SpeculativeSettings.draft_confidence``'s default (0.7) comes from here.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("speculative_bench",
                                               ROOT / "benchmarks" / "speculative.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

from crossbound.inference.drafts import parse_draft  # noqa: E402
from crossbound.inference.generation import (  # noqa: E402
    GenerationSettings,
    direct_generate,
    encode_prompts,
)
from crossbound.inference.sampling import Sampling  # noqa: E402
from crossbound.models.kv import DecodeState  # noqa: E402
from crossbound.models.loading import load_model  # noqa: E402
from crossbound.models.precision import precision_scope  # noqa: E402

# per prompt: the prompt, the LM's output, the draft's guesses and their probabilities
Guesses = list[tuple[list[int], list[int], list[int], list[float]]]


def simulate(rows: Guesses, draft_cost: float, verify_cost: float, gamma: int,
             confidence: float, lookup_first: str | None = None,
             model: bool = True) -> tuple[float, float]:
    """Expected speed-up over the LM alone and tokens per LM pass, batch 1: the model draft,
    or a lookup (``lookup_first``: its ``--draft`` spec) and the model where it has nothing
    (``model`` False: the lookup alone)."""
    cost = tokens = passes = 0.0
    lookup = parse_draft(lookup_first).proposer() if lookup_first else None
    for prompt, out, guess, prob in rows:
        position = 1  # the prefill pass gave the first token (the LM alone pays it too)
        cost, tokens, passes = cost + 1, tokens + len(out), passes + 1
        if lookup is not None:
            lookup.begin([prompt])
            lookup.advance([0], [out[0]])
        while position < len(out):
            room = min(gamma, len(out) - position - 1)
            drafts: list[int] = []
            if lookup is not None and room > 0:
                drafts = lookup.propose(room, Sampling(), None).drafts[0][:room]
            model_passes = 0
            if not drafts and model:
                for j in range(position, position + room):
                    drafts.append(guess[j])
                    model_passes += 1
                    if prob[j] < confidence:
                        break
            kept = 0
            while kept < len(drafts) and drafts[kept] == out[position + kept]:
                kept += 1
            cost += model_passes * draft_cost + 1 + verify_cost * len(drafts)
            if lookup is not None:  # what the row grew by, whoever proposed it
                lookup.follow([[*drafts[:kept], out[position + kept]]])
            position, passes = position + kept + 1, passes + 1
        if lookup is not None:
            lookup.finish([out])
    return tokens / cost, tokens / passes


@torch.no_grad()
def one_token_seconds(model: torch.nn.Module, width: int, reps: int = 12) -> float:
    """Median seconds of a pass over ``width`` new tokens after a 200-token context."""
    context = torch.randint(100, 20_000, (1, 200), generator=torch.Generator().manual_seed(0))
    cache = model(input_ids=context, use_cache=True).past_key_values
    times = []
    for _ in range(reps):
        step = torch.randint(100, 20_000, (1, width))
        begun = time.perf_counter()
        model(input_ids=step, past_key_values=cache, use_cache=True, logits_to_keep=width)
        times.append(time.perf_counter() - begun)
        cache.crop(-width)
    return sorted(times)[reps // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", default="qwen2.5-coder-1.5b")
    parser.add_argument("--draft", default="qwen2.5-coder-0.5b")
    parser.add_argument("--tasks", nargs="+", default=list(bench.TASKS))
    parser.add_argument("--offset", type=int, default=8, help="first test prompt of each task")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--gammas", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--confidences", type=float, nargs="+", default=[0.5, 0.7, 0.8, 0.9])
    parser.add_argument("--gamma-max", type=int, default=10)
    parser.add_argument("--lookups", nargs="+", default=["suffix"],
                        help="lookups tried first, model where they have nothing (--draft specs)")
    args = parser.parse_args()
    with precision_scope("bf16"):
        lm = load_model(args.large, frozen=True)
        draft = load_model(args.draft, frozen=True)
        tok = lm.tokenizer
        lm_one = one_token_seconds(lm.model, 1)
        c = one_token_seconds(draft.model, 1) / lm_one
        v = max(0.0, (one_token_seconds(lm.model, 11) / lm_one - 1) / 10)
        print(f"a draft pass costs {c:.3f} LM passes; each verified draft {v:.3f} more "
              f"(the LM's one-token pass: {lm_one * 1000:.0f} ms)", flush=True)
        for task in args.tasks:
            texts = bench.task_prompts(task, args.offset + args.prompts)[args.offset:]
            prompts = encode_prompts(tok, texts, chat=True)
            outputs = direct_generate(
                DecodeState(lm.model, tok.pad_token_id or 0), tok, prompts,
                GenerationSettings(max_new_tokens=args.max_new_tokens), lm.model).ids
            rows: Guesses = []
            for prompt, out in zip(prompts, outputs, strict=True):
                if not out:
                    continue
                ids = torch.tensor([[*prompt, *out]])
                with torch.no_grad():
                    logits = draft.model(input_ids=ids).logits[0].float()
                # position j's guess: the draft's next token after prompt + out[:j]
                seen = logits[len(prompt) - 1: len(prompt) + len(out) - 1]
                top = torch.softmax(seen, -1).max(-1)
                rows.append((list(prompt), [int(t) for t in out], top.indices.tolist(),
                             top.values.tolist()))
            agree = [g == t for _, out, guess, _ in rows for g, t in zip(guess[1:], out[1:],
                                                                           strict=True)]
            line = [f"{task}: draft agrees on {sum(agree) / max(1, len(agree)):.3f}"]
            for gamma in args.gammas:
                speed, per_pass = simulate(rows, c, v, gamma, 0.0)
                line.append(f"γ {gamma}: {speed:.2f}× ({per_pass:.2f})")
            for tau in args.confidences:
                speed, per_pass = simulate(rows, c, v, args.gamma_max, tau)
                line.append(f"τ {tau:g}: {speed:.2f}× ({per_pass:.2f})")
            for lookup in args.lookups:
                speed, per_pass = simulate(rows, c, v, args.gamma_max, 0.0, lookup, model=False)
                line.append(f"{lookup} alone: {speed:.2f}× ({per_pass:.2f})")
                for tau in args.confidences:
                    speed, per_pass = simulate(rows, c, v, args.gamma_max, tau, lookup)
                    line.append(f"{lookup}+τ {tau:g}: {speed:.2f}× ({per_pass:.2f})")
            print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
