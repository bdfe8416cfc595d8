"""Leakage of a data party's small model after it trained on private records.

Combines the attacks into the ``privacy`` section a strategy reports: membership inference
(members: the records it trained on; non-members: held-out records of the same task) and the
exposure of the canaries planted in its training records.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from crossbound.evaluate.canaries import canary_exposure, task_canaries
from crossbound.evaluate.membership import Scope, as_model_pair, membership_inference
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
    scope: Scope = "answer",
) -> dict[str, Any]:
    """Membership inference (``limit`` members vs as many non-members) and canary exposure.

    ``scope`` is what the model was trained on: ``"answer"`` scores the answer given the
    prompt, ``"sequence"`` the whole prompt + answer (``loss_on="record"``). Canaries are
    scored in the prompt the model saw around them.

    Non-members are matched to the members on ``meta["phrasing"]`` where the task has it: a
    clinic-triage test record mostly uses phrasings training never shows, and an attack would
    otherwise score that distribution shift rather than membership.
    """
    rng = random.Random(seed)
    held_out = [*task.validation, *task.test]
    phrasings = {ex.meta.get("phrasing") for ex in trained_on}
    matched = None
    if None not in phrasings:
        same = [ex for ex in held_out if ex.meta.get("phrasing") in phrasings]
        if len(same) >= 2:
            held_out, matched = same, "phrasing"
    n = min(limit, len(trained_on), len(held_out))
    if n < 2:
        return {"skipped": "fewer than 2 members or non-members"}
    members = rng.sample(list(trained_on), n)
    nonmembers = rng.sample(held_out, n)
    mia = membership_inference(model, tokenizer, task, members, nonmembers, references,
                               scope=scope, max_length=max_length)
    mia["nonmembers_matched_on"] = matched
    report: dict[str, Any] = {"membership": mia}
    trained_ids = {ex.id for ex in trained_on}
    canaries = [c for c in task_canaries(task, render=task.prompt) if c.id in trained_ids]
    if canaries:
        exposure = canary_exposure(model, tokenizer, canaries, n_candidates=canary_candidates,
                                   seed=seed, extraction=False)
        report["canaries"] = {k: v for k, v in exposure.items() if k != "per_canary"}
        if references:
            # One canary's exposure varies by bits with the base model's prior alone (some
            # random numbers read more naturally than others); the gain over a model that never
            # saw the canaries isolates what training added.
            ref_model, ref_tok = as_model_pair(references[0], tokenizer)
            base = canary_exposure(ref_model, ref_tok, canaries,
                                   n_candidates=canary_candidates, seed=seed, extraction=False)
            gains = [t["exposure"] - b["exposure"] for t, b in
                     zip(exposure["per_canary"], base["per_canary"], strict=True)]
            report["canaries"].update({
                "reference_mean_exposure": base["mean_exposure"],
                "mean_exposure_gain": float(np.mean(gains)),
                "max_exposure_gain": float(np.max(gains)),
            })
    return report
