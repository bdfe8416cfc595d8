"""Draft-free proposers' tokens per LM pass, simulated on the LM's own greedy outputs.

With greedy decoding the LM's output does not depend on who proposes, so what a lookup
proposer would gain — the tokens it gets accepted per LM pass — can be computed from the
output alone, for any γ and setting, without running the LM again: at each pass the proposer
drafts from the prompt and the text so far (and its corpus of earlier outputs), the drafts
are kept up to the first that differs from the LM's output, and the LM adds its own token.
Beside them, the ceiling of every such proposer (``benchmarks/speculative.py``'s
``lookup_ceiling``). Timing is not simulated: a longer draft costs its verification, which
``benchmarks/speculative.py`` measures.

    python benchmarks/lookup_policies.py                    # prompts 8-15 of each task
    python benchmarks/lookup_policies.py --offset 0 --proposers ngram suffix:factor=2

Generates the outputs once with the LM (``--large``, bf16, 64 new tokens, batch 8; minutes
on 2 cores) and prints one line per task.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
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
from crossbound.inference.proposers import Proposer  # noqa: E402
from crossbound.inference.sampling import Sampling  # noqa: E402
from crossbound.models.kv import DecodeState  # noqa: E402
from crossbound.models.loading import load_model  # noqa: E402
from crossbound.models.precision import precision_scope  # noqa: E402


def simulate(proposer: Proposer, prompts: list[list[int]], outputs: list[list[int]],
             gamma: int) -> tuple[float, float]:
    """Tokens per LM pass and tokens drafted per pass, one row at a time (batch 1), the
    outputs in order (a corpus proposer learns from the earlier ones)."""
    greedy = Sampling()
    passes = tokens = drafted = 0
    for prompt, out in zip(prompts, outputs, strict=True):
        if not out:
            continue
        proposer.begin([prompt])
        proposer.advance([0], [out[0]])  # the prefill pass gives the first token
        position, passes, tokens = 1, passes + 1, tokens + len(out)
        while position < len(out):
            room = min(gamma, len(out) - position - 1)  # no draft past the last token
            drafts = proposer.propose(room, greedy, None).drafts[0][:room] if room > 0 else []
            kept = 0
            while kept < len(drafts) and drafts[kept] == out[position + kept]:
                kept += 1
            drafted += len(drafts)
            proposer.advance([kept], [out[position + kept]])
            position, passes = position + kept + 1, passes + 1
        proposer.finish([out])
    return tokens / max(1, passes), drafted / max(1, passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", default="qwen2.5-coder-1.5b")
    parser.add_argument("--tasks", nargs="+", default=list(bench.TASKS))
    parser.add_argument("--offset", type=int, default=8, help="first test prompt of each task")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--gammas", type=int, nargs="+", default=[10])
    parser.add_argument("--proposers", nargs="+",
                        default=["ngram", "suffix:factor=2", "suffix:factor=4", "suffix"])
    args = parser.parse_args()
    with precision_scope("bf16"):
        lm = load_model(args.large, frozen=True)
        tok = lm.tokenizer
        for task in args.tasks:
            texts = bench.task_prompts(task, args.offset + args.prompts)[args.offset:]
            prompts = encode_prompts(tok, texts, chat=True)
            with torch.no_grad():
                outputs = [list(map(int, ids)) for ids in direct_generate(
                    DecodeState(lm.model, tok.pad_token_id or 0), tok, prompts,
                    GenerationSettings(max_new_tokens=args.max_new_tokens), lm.model).ids]
            ceiling = bench.lookup_ceiling(prompts, outputs, max(args.gammas))
            line = [f"{task}: ceiling {ceiling['own_text']:.2f} "
                    f"({ceiling['with_earlier_outputs']:.2f} with earlier outputs)"]
            for name in args.proposers:
                for gamma in args.gammas:
                    per_pass, drafted = simulate(parse_draft(name).proposer(), prompts,
                                                 outputs, gamma)
                    line.append(f"{name} γ{gamma}: {per_pass:.2f} ({drafted:.1f} drafted)")
            print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
