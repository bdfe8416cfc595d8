"""Label scoring with and without ``logits_to_keep=1`` (only the prompt's last position
through the LM head), side by side in one run, twice each, on 24 clinic-triage prompts:

    python benchmarks/last_logits.py [--models smollm2-135m,qwen2.5-coder-1.5b]

Prints the seconds of each pass; fails if the two ways' scores differ.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

import crossbound.evaluate.utility as utility
from crossbound.models.loading import load_model
from crossbound.models.precision import precision_scope
from crossbound.tasks.registry import load_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m,qwen2.5-coder-1.5b")
    args = parser.parse_args()
    task = load_task("clinic-triage")
    assert task.choices is not None
    prompts = [task.prompt(ex) for ex in task.test[:24]]
    last_only = utility._last_logits_only
    ways: dict[str, Callable[[Any], dict[str, int]]] = {
        "all positions": lambda model: {}, "last only": last_only}
    try:
        for name in args.models.split(","):
            with precision_scope("bf16"):
                model = load_model(name, frozen=True)
                scores: dict[str, torch.Tensor] = {}
                for way in list(ways) * 2:  # alternating, so warm-up does not favour one
                    utility._last_logits_only = ways[way]
                    started = time.perf_counter()
                    scores[way] = utility.choice_logprobs(model.model, model.tokenizer,
                                                          prompts, task.choices, 8)
                    print(f"{name}: {way}: {time.perf_counter() - started:.2f} s")
                assert torch.equal(scores["all positions"], scores["last only"]), name
    finally:
        utility._last_logits_only = last_only


if __name__ == "__main__":
    main()
