"""Pieces the baseline strategies share: evaluation subsets and metric bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crossbound.evaluate.utility import evaluate_model
from crossbound.strategy import RunContext
from crossbound.tasks.base import Example, Task


def eval_subset(task: Task, limit: int | None) -> tuple[Example, ...]:
    """The first ``limit`` test examples (the test split is already shuffled by its builder)."""
    return task.test if limit is None else task.test[:limit]


def evaluate_on(ctx: RunContext, label: str, model: Any, tokenizer: Any,
                examples: Sequence[Example], batch_size: int) -> dict[str, float]:
    with ctx.step(label, len(examples)) as bar:
        return evaluate_model(model, tokenizer, ctx.task, examples, batch_size, bar.advance)
