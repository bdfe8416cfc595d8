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

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.baselines.common import (
    QUICK_EVAL_LIMIT,
    QUICK_TRAINING,
    QUICK_VALIDATION_LIMIT,
    check_party,
    eval_subset,
)
from crossbound.boundary.contracts import MODEL_PARTY, AccessContract, GuardContext, allow
from crossbound.boundary.messages import Kind, Message
from crossbound.boundary.operations import generate, score_choices
from crossbound.config_checks import check_in_range
from crossbound.evaluate.utility import (
    classification_metrics,
    generate_answers,
    headline,
    rouge_l,
    subgroup_accuracy,
)
from crossbound.inference.querying import (
    GUARD,
    Protector,
    QueryConfig,
    admissible,
    lm_label_logprobs,
    raw_label_reference,
    reference_or_refusal,
    sm_label_logprobs,
    tuned_sm,
)
from crossbound.inference.registry import INFERENCE
from crossbound.naming import DATA_PARTY
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy
from crossbound.tasks.base import Example, Task

PRIVATE_PROMPT = AccessContract(
    "private-prompt",
    (
        # Protected prompts only: the guard refuses word runs of a private record that the data
        # party did not release, and (with the sanitiser installed) any PII it can find.
        allow("data", Kind.TEXT, guards=(GUARD,)),
        allow("model", Kind.TEXT, Kind.TENSORS),
    ),
    "The data party sends sanitised or perturbed prompts; the model party returns label "
    "scores or a draft answer. The final answer is made locally from the raw prompt.",
    operations=(*generate(), score_choices()),
)


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
class PrivatePrompt(Strategy[PrivatePromptConfig]):
    name = "private-prompt"
    direction = "inference"
    summary = "The LM drafts from sanitised or perturbed prompts; the SM answers from the raw one"
    paper = "arXiv:2310.12214 (InferDPT)"
    needs_model_party = "an LM that scores labels or generates"
    needs_data_party = "an SM (tuned locally first by default), private prompts"
    crosses = ("data→model: sanitised or perturbed prompts; model→data: label scores or a "
               "draft answer")
    contract = PRIVATE_PROMPT
    private_text_crosses = True  # protected copies of the private prompts

    @classmethod
    def bench_settings(cls, profile: str) -> list[tuple[str, dict[str, str]]]:
        if profile == "quick":
            # The LM's answer on raw prompts is remote-lm's cell: no reference run here.
            limits = {"sm_epochs": QUICK_TRAINING["epochs"], "lr": QUICK_TRAINING["lr"],
                      "train_limit": "120", "validation_limit": QUICK_VALIDATION_LIMIT,
                      "eval_limit": QUICK_EVAL_LIMIT,
                      "reference_raw": "false"}
            return [("sanitize", {**limits, "protect": "sanitize"})]
        return [("sanitize", {"protect": "sanitize"}),
                ("perturb-eps16", {"protect": "perturb", "epsilon": "16"})]

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        check_party(ctx.task, cfg.party)
        protector = Protector(cfg)
        with protector.guarding(ctx):
            return self._run(ctx, cfg, ctx.task, protector)

    def _run(self, ctx: RunContext, cfg: PrivatePromptConfig, task: Task,
             protector: Protector) -> Result:
        started = time.perf_counter()
        sm = tuned_sm(ctx, cfg, task)
        tuned_seconds = time.perf_counter() - started
        ctx.connect_model_party(batch_size=cfg.lm_batch_size)
        test = list(eval_subset(task, cfg.eval_limit))
        validation = list(task.validation[: cfg.validation_limit]) if task.choices else []
        queries = validation + test
        protected = protector.protect(ctx, sm, [ex.text for ex in queries])
        # Sanitised prompts are what the data party chose to release: their word runs are no
        # longer "raw private text" (the sanitiser half of the guard still checks them).
        # Perturbed-only prompts get no such pass: a long verbatim run is refused.
        released = protected.texts if protector.sanitizer is not None else []
        ctx.boundary.guard_contexts[DATA_PARTY] = GuardContext(
            private_texts=[ex.text for ex in (*task.train, *queries)],
            public_texts=[ex.text for ex in task.public] + released)
        prompts: list[str | None] = []
        for ex, text in zip(queries, protected.texts, strict=True):
            prompt = task.prompt(dataclasses.replace(ex, text=text, pii=(), canary=None))
            prompts.append(prompt if admissible(ctx, prompt) else None)
        withheld = sum(p is None for p in prompts)

        result = Result(strategy=self.name, config=cfg.to_dict(), task={},
                        models={"large": ctx.large, "small": ctx.small})
        if task.choices is not None:
            utility = self._labels(ctx, cfg, task, sm, validation, test, prompts)
        else:
            utility = self._free_text(ctx, cfg, task, sm, test, prompts, protected.restore)
        result.metrics["utility"] = {**utility, "eval_examples": len(test),
                                     "validation_examples": len(validation)}
        result.metrics["privacy"] = {
            "protection": protected.how,
            "prompts_sent": len(prompts) - withheld,
            "prompts_withheld": withheld,
            "pii_replaced_by_kind": dict(sorted(protected.kinds.items())),
            "contract": self.contract.name,
        }
        result.metrics["efficiency"] = {"sm_tuning_seconds": round(tuned_seconds, 3)}
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

        def metrics(scores: torch.Tensor) -> dict[str, float]:
            predicted = [task.choices[i] for i in scores.argmax(-1).tolist()]  # type: ignore[index]
            return {**classification_metrics(predicted, [ex.target for ex in test],
                                             task.choices),  # type: ignore[arg-type]
                    **subgroup_accuracy(predicted, test)}

        final = metrics(fuse(own[n_val:], lm[n_val:], weight))
        sm_alone = metrics(own[n_val:])
        lm_protected = metrics(lm[n_val:])
        utility: dict[str, Any] = {
            "final": headline(final, task), **final,
            "sm_alone": headline(sm_alone, task), "sm_alone_metrics": sm_alone,
            "lm_protected": headline(lm_protected, task), "lm_protected_metrics": lm_protected,
            "fusion_weight": weight, "validation_accuracy_by_weight": by_weight,
        }
        raw = raw_label_reference(ctx, task, test, cfg.prompts_per_request, utility) \
            if cfg.reference_raw else None
        if raw is not None:
            lm_raw = metrics(raw)
            utility.update({"lm_raw": headline(lm_raw, task), "lm_raw_metrics": lm_raw})
        return utility

    def _free_text(self, ctx: RunContext, cfg: PrivatePromptConfig, task: Task, sm: Any,
                   test: list[Example], prompts: list[str | None],
                   restore: list[Callable[[str], str]]) -> dict[str, Any]:
        send = [p for p in prompts if p is not None]
        drafts: list[str] = []
        with ctx.step("LM drafting from protected prompts", len(send)) as bar:
            for start in range(0, len(send), cfg.prompts_per_request):
                chunk = send[start : start + cfg.prompts_per_request]
                reply = ctx.boundary.request(Message(
                    Kind.TEXT, DATA_PARTY, MODEL_PARTY, chunk,
                    {"op": "generate", "max_new_tokens": cfg.max_new_tokens}))
                drafts.extend(reply.payload)
                bar.advance(len(chunk))
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

        def mean_rouge(answers: Sequence[str]) -> float:
            return sum(rouge_l(a, ex.target) for a, ex in zip(answers, test, strict=True)) \
                / len(test)

        utility: dict[str, Any] = {"final": mean_rouge(final), "rouge_l": mean_rouge(final),
                                   "sm_alone": mean_rouge(alone),
                                   "lm_protected": mean_rouge(per_query)}
        if cfg.reference_raw:
            def answer_raw() -> list[str]:
                raw: list[str] = []
                for start in range(0, len(test), cfg.prompts_per_request):
                    chunk = [task.prompt(ex)
                             for ex in test[start : start + cfg.prompts_per_request]]
                    raw.extend(ctx.measure(Message(
                        Kind.TEXT, DATA_PARTY, MODEL_PARTY, chunk,
                        {"op": "generate", "max_new_tokens": cfg.max_new_tokens})).payload)
                return raw

            answers, refused = reference_or_refusal(answer_raw)
            if answers is None:
                utility["lm_raw_refused"] = refused
            else:
                utility["lm_raw"] = mean_rouge(answers)
        return utility
