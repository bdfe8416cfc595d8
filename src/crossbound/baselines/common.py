"""Pieces the baseline strategies share: evaluation subsets and metric bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crossbound.evaluate.utility import evaluate_model, headline
from crossbound.strategy import RunContext
from crossbound.tasks.base import Example, Task


def eval_subset(task: Task, limit: int | None) -> tuple[Example, ...]:
    """The first ``limit`` test examples (the test split is already shuffled by its builder)."""
    return task.test if limit is None else task.test[:limit]


def evaluate_on(ctx: RunContext, label: str, model: Any, tokenizer: Any,
                examples: Sequence[Example], batch_size: int) -> dict[str, float]:
    with ctx.step(label, len(examples)) as bar:
        return evaluate_model(model, tokenizer, ctx.task, examples, batch_size, bar.advance)


def evaluate_untuned(ctx: RunContext, model: Any, tokenizer: Any,
                     examples: Sequence[Example], batch_size: int) -> dict[str, float]:
    """The SM as loaded (before any tuning) on ``examples``: the same in every cell of a
    bench, so a bench computes it once (``ctx.compute_once``)."""
    dtype = str(next(model.parameters()).dtype)  # frozen bf16 and fp32 weights may differ
    key = {"kind": "untuned-sm-eval", "examples": [ex.id for ex in examples],
           "batch_size": batch_size, "weights": dtype}
    return ctx.compute_once(key, lambda: evaluate_on(ctx, "SM before", model, tokenizer,
                                                     examples, batch_size))


def make_trainable(model: Any, trainable: str, lora_rank: int) -> Any:
    """Set up what trains: ``full`` (as is), ``lora`` (returns the PEFT-wrapped model) or
    ``linear`` (the blocks' linear layers only)."""
    from crossbound.training.lora import add_lora, freeze_all_but_linear

    if trainable == "lora":
        return add_lora(model, rank=lora_rank)
    if trainable == "linear":
        freeze_all_but_linear(model)
    elif trainable != "full":
        raise ValueError(f"trainable must be full, lora or linear, got {trainable!r}")
    return model


def sm_utility(task: Task, before: dict[str, float], after: dict[str, float],
               examples: int) -> dict[str, Any]:
    """The ``utility`` section of a strategy that tunes the SM: headline before and after, the
    full metrics after (and before), and how many test examples they rest on."""
    return {"sm_before": headline(before, task), "sm_after": headline(after, task), **after,
            "sm_before_metrics": before, "eval_examples": examples}


def check_party(task: Task, party: int) -> None:
    """Refuse a data-party index the task does not have, saying how many it has."""
    if not 0 <= party < len(task.parties):
        raise ValueError(f"party {party} does not exist: the task has {len(task.parties)} "
                         "data parties (choose one with --set party=N, or split the task "
                         "with TASK:parties=N)")


# The quick bench's SM training (same in every cell that tunes the SM, so cells compare): the
# full profile's own settings, 2 epochs at lr 2e-4, so quick and full rank alike. lr 1e-3 (the
# rate the earlier 6-block SM needed) took the whole SmolLM2-135M to 0.220 on 16 clinic-triage
# records, below its zero-shot 0.280, where 2e-4 over the same 4 steps reached 0.667.
QUICK_TRAINING = {"epochs": "2", "lr": "2e-4"}
# The quick bench's evaluation: the first 50 test records in every cell (so cells compare and
# the LM's answers are shared), 20 validation records where a router or a calibration needs
# them. Sized so the quick profile on the default pair fits 15 minutes on 2 cores.
QUICK_EVAL_LIMIT = "50"
QUICK_VALIDATION_LIMIT = "20"
