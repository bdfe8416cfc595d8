"""Leakage of a data party's small model after it trained on private records.

Combines the attacks into the ``privacy`` section a strategy reports: membership inference
(members: the records it trained on; non-members: held-out records of the same task) and the
exposure of the canaries planted in its training records.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from crossbound.evaluate.canaries import canary_exposure, task_canaries
from crossbound.evaluate.membership import membership_inference
from crossbound.tasks.base import Example, Task


def small_model_leakage(
    model: Any,
    tokenizer: Any,
    task: Task,
    trained_on: Sequence[Example],
    references: Sequence[Any] = (),
    *,
    limit: int = 100,
    canary_candidates: int = 200,
    seed: int = 0,
    max_length: int = 256,
) -> dict[str, Any]:
    """Membership inference (``limit`` members vs as many non-members) and canary exposure.

    The prompt is scored up to the answer, the way the model was trained (``scope="answer"``);
    canaries are scored in the prompt the model saw around them.
    """
    rng = random.Random(seed)
    held_out = [*task.validation, *task.test]
    n = min(limit, len(trained_on), len(held_out))
    if n < 2:
        return {"skipped": "fewer than 2 members or non-members"}
    members = rng.sample(list(trained_on), n)
    nonmembers = rng.sample(held_out, n)
    mia = membership_inference(model, tokenizer, task, members, nonmembers, references,
                               max_length=max_length)
    report: dict[str, Any] = {"membership": mia}
    trained_ids = {ex.id for ex in trained_on}
    canaries = [c for c in task_canaries(task, render=task.prompt) if c.id in trained_ids]
    if canaries:
        exposure = canary_exposure(model, tokenizer, canaries, n_candidates=canary_candidates,
                                   seed=seed, extraction=False)
        report["canaries"] = {k: v for k, v in exposure.items() if k != "per_canary"}
    return report
