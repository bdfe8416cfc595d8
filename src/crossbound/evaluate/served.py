"""Utility of a model the model party serves, measured by the data party that holds the labels.

Used wherever the model party's model itself is what a strategy improves (offsite-tuning's
plug-in, an upward-tuned LM). The test prompts go over the run's *measurement* channel (its own
transcript, not counted as crossed): evaluation, not the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import torch

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message
from crossbound.boundary.replies import scores_from
from crossbound.evaluate.utility import (
    calibrated,
    classification_metrics,
    content_free_prompt,
    rouge_l,
    subgroup_accuracy,
)
from crossbound.tasks.base import Example, Task


class _Progress(Protocol):
    def advance(self, n: int = 1) -> None: ...


class MeasurementChannel(Protocol):
    """What measuring needs of a run (a :class:`~crossbound.strategy.RunContext` is one): its
    task, its measurement channel and a progress step."""

    @property
    def task(self) -> Task: ...

    def measure(self, message: Message) -> Message: ...

    def step(self, label: str, total: int | None = None) -> AbstractContextManager[_Progress]:
        ...


def remote_metrics(ctx: MeasurementChannel, sender: str, examples: Sequence[Example], model: str,
                   prompts_per_request: int, label: str) -> dict[str, float]:
    """The task's metrics for a model the model party serves (``model``: ``lm`` or
    ``offsite-plugin``), asked the way a user of the deployed model would: prompts go out,
    label scores (or answers) come back, the labels stay here."""
    task = ctx.task
    prompts = [task.prompt(ex) for ex in examples]

    # Evaluation, not the protocol: the test prompts go over the measurement channel (its
    # own transcript, not counted as crossed), so the strategy's record shows only what
    # offsite-tuning itself needs to send.
    def ask(chunk: list[str], meta: dict[str, Any]) -> Message:
        return ctx.measure(Message(Kind.TEXT, sender, MODEL_PARTY, chunk,
                                   {**meta, "model": model}))

    with ctx.step(label, len(examples)) as bar:
        if task.choices is None:
            answers: list[str] = []
            for start in range(0, len(prompts), prompts_per_request):
                chunk = prompts[start : start + prompts_per_request]
                answers.extend(ask(chunk, {"op": "generate", "max_new_tokens": 48}).payload)
                bar.advance(len(chunk))
            scores_l = [rouge_l(a, ex.target) for a, ex in zip(answers, examples, strict=True)]
            return {"rouge_l": sum(scores_l) / len(scores_l)}
        meta = {"op": "score_choices", "choices": list(task.choices)}
        # The content-free prompt alone, as local evaluation scores it (calibration).
        free = _scores(ask([content_free_prompt(task)], meta), 1, len(task.choices))[0]
        rows = []
        for start in range(0, len(prompts), prompts_per_request):
            chunk = prompts[start : start + prompts_per_request]
            rows.append(_scores(ask(chunk, meta), len(chunk), len(task.choices)))
            bar.advance(len(chunk))
    best = calibrated(torch.cat(rows), free).argmax(-1).tolist()
    predicted = [task.choices[i] for i in best]
    return {**classification_metrics(predicted, [ex.target for ex in examples], task.choices),
            **subgroup_accuracy(predicted, examples)}


def _scores(reply: Message, prompts: int, choices: int) -> torch.Tensor:
    """A score reply's (prompts, choices) tensor, checked: shape and finite values."""
    scores = scores_from(reply)
    if tuple(scores.shape) != (prompts, choices) or not bool(torch.isfinite(scores).all()):
        raise ValueError(f"the model party's label scores have shape {tuple(scores.shape)} "
                         f"(expected ({prompts}, {choices})) or non-finite values")
    return scores.float()
