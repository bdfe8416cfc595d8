"""``private-prompt``: the LM answers a protected copy of each private prompt; the SM decides.

After InferDPT (arXiv:2310.12214). For every query the data party protects the message before
it leaves — Presidio/regex pseudonyms (``sanitize``), metric-DP token replacement at ε
(``perturb``), or both — and asks the model party's LM for a draft: its calibrated label
scores on a classification task, a generated answer on a free-text one. The final answer is
written locally, by the data party's SM, from the *original* prompt plus the LM's draft:

- labels: a product of experts, log p_SM(y | raw prompt) + w · log p_LM(y | protected prompt),
  with w picked on the task's validation split (w = 0 is the SM alone, so the choice can only
  help on that split);
- free text: the SM continues the raw prompt with the LM's draft (placeholders restored
  locally) written in as a hint.

Every protected prompt is pre-flighted against the contract before it is sent; one the guard
would refuse is withheld (the SM answers alone) and counted, never sent. The LM's answer on
the raw prompts, the reference this strategy is compared with, is measured on the run's
separate measurement channel (``measurement-transcript.jsonl``), so the protocol's transcript
and its PII scan show only what the strategy itself sends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.baselines.common import (
    label_metrics,
    lm_generate,
    mean_rouge,
    protected_text_contract,
)
from crossbound.config_checks import check_in_range
from crossbound.evaluate.utility import generate_answers, headline
from crossbound.inference.querying import (
    QUICK_QUERY,
    Protector,
    QueryConfig,
    QueryStrategy,
    lm_label_logprobs,
    reference_or_refusal,
    sm_label_logprobs,
)
from crossbound.inference.registry import INFERENCE
from crossbound.result import Result
from crossbound.strategy import RunContext, cells
from crossbound.tasks.base import Example, Task

PRIVATE_PROMPT = protected_text_contract(
    "private-prompt",
    "The data party sends sanitised or perturbed prompts; the model party returns label "
    "scores or a draft answer. The final answer is made locally from the raw prompt.")


@dataclass
class PrivatePromptConfig(QueryConfig):
    """Protect each prompt (``protect``, see ``QueryConfig``), ask the LM for a draft, let the
    SM answer. ``weights``: the fusion weights w tried on ``validation_limit`` validation
    records. ``max_new_tokens``: the draft's and the answer's length on free-text tasks."""

    weights: str = "0,0.25,0.5,1,2,4"
    max_new_tokens: int = 48

    def validate(self) -> None:
        super().validate()
        if self.protect == "none":
            raise ValueError("private-prompt protects every prompt: protect must be sanitize, "
                             "perturb or sanitize+perturb (remote-lm sends raw prompts)")
        self.fusion_weights()  # raises on a bad list
        check_in_range(self, "max_new_tokens", 1, 512)

    def fusion_weights(self) -> list[float]:
        try:
            values = [float(w) for w in str(self.weights).split(",") if w.strip()]
        except ValueError as exc:
            raise ValueError(f"weights must be comma-separated numbers, got {self.weights!r}"
                             ) from exc
        if not values or any(not w >= 0 for w in values):
            raise ValueError(f"weights must be one or more numbers >= 0, got {self.weights!r}")
        return values


def fuse(sm_logprobs: torch.Tensor, lm_logprobs: torch.Tensor, weight: float) -> torch.Tensor:
    """Product of experts over the labels: log p_SM + w · log p_LM (rows need not be normal)."""
    return sm_logprobs + weight * lm_logprobs


def pick_weight(sm_logprobs: torch.Tensor, lm_logprobs: torch.Tensor, gold: torch.Tensor,
                weights: Sequence[float]) -> tuple[float, dict[str, float]]:
    """The weight with the best accuracy on (validation) rows ``gold``; ties go to the
    smaller weight (less trust in the LM). Returns it and every weight's accuracy."""
    accuracy = {}
    for w in sorted(weights):
        hits = (fuse(sm_logprobs, lm_logprobs, w).argmax(-1) == gold).float().mean()
        accuracy[f"{w:g}"] = round(float(hits), 4)
    best = max(sorted(weights), key=lambda w: (accuracy[f"{w:g}"], -w))
    return best, accuracy


@INFERENCE.register
class PrivatePrompt(QueryStrategy[PrivatePromptConfig]):
    name = "private-prompt"
    direction = "inference"
    summary = "The LM drafts from sanitised or perturbed prompts; the SM answers from the raw one"
    paper = "arXiv:2310.12214 (InferDPT)"
    needs_model_party = "an LM that scores labels or generates"
    needs_data_party = "an SM (tuned locally first by default), private prompts"
    crosses = ("data→model: sanitised or perturbed prompts; model→data: label scores or a "
               "draft answer")
    contract = PRIVATE_PROMPT

    bench_cells = cells(quick=[("sanitize", {**QUICK_QUERY, "protect": "sanitize"})],
                        full=[("sanitize", {"protect": "sanitize"}),
                              ("perturb-eps16", {"protect": "perturb", "epsilon": "16"})])

    def answer(self, ctx: RunContext, sm: Any, test: list[Example],
               protector: Protector) -> Result:
        cfg, task = self.config, ctx.task
        validation = list(task.validation[: cfg.validation_limit]) if task.choices else []
        prompts, protected = protector.prompts(ctx, sm, validation + test)
        withheld = sum(p is None for p in prompts)

        result = self.new_result(ctx)
        if task.choices is not None:
            utility = self._labels(ctx, cfg, task, sm, validation, test, prompts)
        else:
            utility = self._free_text(ctx, cfg, task, sm, test, prompts, protected.restore)
        result.metrics["utility"] = {**utility, "eval_examples": len(test),
                                     "validation_examples": len(validation)}
        result.metrics["privacy"] = {
            **protected.report(),
            "prompts_sent": len(prompts) - withheld,
            "prompts_withheld": withheld,
            "contract": self.contract.name,
        }
        return result

    def _labels(self, ctx: RunContext, cfg: PrivatePromptConfig, task: Task, sm: Any,
                validation: list[Example], test: list[Example],
                prompts: list[str | None]) -> dict[str, Any]:
        assert task.choices is not None
        lm = lm_label_logprobs(ctx, task, prompts, cfg.prompts_per_request,
                               label="LM scoring protected prompts")
        with ctx.step("SM scoring the raw prompts"):
            own = sm_label_logprobs(sm, task, [*validation, *test], cfg.batch_size)
        n_val = len(validation)
        index = {label: i for i, label in enumerate(task.choices)}
        gold_val = torch.tensor([index[ex.target] for ex in validation], dtype=torch.long)
        if n_val:
            weight, by_weight = pick_weight(own[:n_val], lm[:n_val], gold_val,
                                            cfg.fusion_weights())
        else:
            weight, by_weight = 1.0, {}

        final = label_metrics(task, test, fuse(own[n_val:], lm[n_val:], weight))
        sm_alone = label_metrics(task, test, own[n_val:])
        lm_protected = label_metrics(task, test, lm[n_val:])
        utility: dict[str, Any] = {
            "final": headline(final, task), **final,
            "sm_alone": headline(sm_alone, task), "sm_alone_metrics": sm_alone,
            "lm_protected": headline(lm_protected, task), "lm_protected_metrics": lm_protected,
            "fusion_weight": weight, "validation_accuracy_by_weight": by_weight,
        }
        raw = self.raw_reference(ctx, test, utility)
        if raw is not None:
            lm_raw = label_metrics(task, test, raw)
            utility.update({"lm_raw": headline(lm_raw, task), "lm_raw_metrics": lm_raw})
        return utility

    def _free_text(self, ctx: RunContext, cfg: PrivatePromptConfig, task: Task, sm: Any,
                   test: list[Example], prompts: list[str | None],
                   restore: list[Callable[[str], str]]) -> dict[str, Any]:
        drafts = lm_generate(ctx, [p for p in prompts if p is not None],
                             cfg.prompts_per_request, cfg.max_new_tokens,
                             label="LM drafting from protected prompts")
        it = iter(drafts)
        per_query = [next(it) if p is not None else "" for p in prompts]
        if restore:  # put the originals back, locally
            per_query = [undo(d) for undo, d in zip(restore, per_query, strict=True)]
        hinted = [task.prompt(ex) if not d else
                  f"{task.instruction}\n\nMessage: {ex.text}\nDraft answer: {d}\nAnswer:"
                  for ex, d in zip(test, per_query, strict=True)]
        with ctx.step("SM answering", len(test)) as bar:
            final = generate_answers(sm.model, sm.tokenizer, hinted, cfg.max_new_tokens,
                                     cfg.batch_size, bar.advance)
            alone = generate_answers(sm.model, sm.tokenizer, [task.prompt(ex) for ex in test],
                                     cfg.max_new_tokens, cfg.batch_size)

        utility: dict[str, Any] = {"final": mean_rouge(final, test),
                                   "rouge_l": mean_rouge(final, test),
                                   "sm_alone": mean_rouge(alone, test),
                                   "lm_protected": mean_rouge(per_query, test)}
        if cfg.reference_raw:
            answers, refused = reference_or_refusal(lambda: lm_generate(
                ctx, [task.prompt(ex) for ex in test], cfg.prompts_per_request,
                cfg.max_new_tokens, label="LM on the raw prompts (reference)",
                measurement=True))
            if answers is None:
                utility["lm_raw_refused"] = refused
            else:
                utility["lm_raw"] = mean_rouge(answers, test)
        return utility
