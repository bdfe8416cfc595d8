"""``remote-lm``: the data party sends its raw private prompts to the model party's LM.

The maximum-leakage corner of every comparison (what "just call the vendor's API" costs): the
utility is the LM's, every private record it is asked about crosses the boundary as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from crossbound.baselines.common import QUICK_EVAL_LIMIT, eval_subset
from crossbound.baselines.registry import BASELINES
from crossbound.boundary.contracts import MODEL_PARTY, OPEN_TEXT
from crossbound.boundary.messages import Kind, Message
from crossbound.config_checks import check_at_least, check_in_range, check_limits
from crossbound.evaluate.utility import (
    calibrated,
    classification_metrics,
    content_free_prompt,
    headline,
    rouge_l,
    subgroup_accuracy,
)
from crossbound.naming import DATA_PARTY
from crossbound.parties import scores_from
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig


@dataclass
class RemoteLMConfig(StrategyConfig):
    """The LM answers the data party's private test prompts, sent as plain text."""

    prompts_per_request: int = 16
    batch_size: int = 8  # the model party's batch size (in process)
    max_new_tokens: int = 48  # free-text tasks
    eval_limit: int | None = 200

    def validate(self) -> None:
        super().validate()
        check_in_range(self, "prompts_per_request", 1, 1024)
        check_at_least(self, 1, "batch_size")
        check_in_range(self, "max_new_tokens", 1, 512)
        check_limits(self, "eval_limit")


@BASELINES.register
class RemoteLM(Strategy[RemoteLMConfig]):
    name = "remote-lm"
    direction = "baseline"
    summary = "The LM answers the data party's raw private prompts"
    paper = "arXiv:2504.17421 (LM-only baseline)"
    needs_model_party = "an LM that scores labels or generates"
    needs_data_party = "private prompts"
    crosses = "data→model: raw private text; model→data: label scores or answers"
    contract = OPEN_TEXT
    private_text_crosses = True

    @classmethod
    def bench_settings(cls, profile: str) -> list[tuple[str, dict[str, str]]]:
        if profile == "quick":
            return [("raw-prompts", {"eval_limit": QUICK_EVAL_LIMIT})]
        return [("raw-prompts", {})]

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        ctx.connect_model_party(batch_size=cfg.batch_size)
        test = eval_subset(task, cfg.eval_limit)
        predictions: list[str] = []
        raw_scores: list[torch.Tensor] = []
        with ctx.step("LM answering over the boundary", len(test)) as bar:
            for start in range(0, len(test), cfg.prompts_per_request):
                chunk = test[start : start + cfg.prompts_per_request]
                prompts = [task.prompt(ex) for ex in chunk]
                if start == 0 and task.choices is not None:
                    # One public content-free prompt rides along for label calibration.
                    prompts.append(content_free_prompt(task))
                meta: dict[str, Any]
                if task.choices is not None:
                    meta = {"op": "score_choices", "choices": list(task.choices)}
                else:
                    meta = {"op": "generate", "max_new_tokens": cfg.max_new_tokens}
                reply = ctx.boundary.request(
                    Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, prompts, meta)
                )
                if task.choices is not None:
                    raw_scores.append(scores_from(reply))
                else:
                    predictions.extend(reply.payload)
                bar.advance(len(chunk))
        if task.choices is not None:
            scores = torch.cat(raw_scores)
            # The content-free row is the last one of the first request; move it out.
            first = min(cfg.prompts_per_request, len(test))
            free = scores[first]
            rows = torch.cat([scores[:first], scores[first + 1 :]])
            best = calibrated(rows, free)
            predictions = [task.choices[i] for i in best.argmax(-1).tolist()]
            metrics = {**classification_metrics(predictions, [ex.target for ex in test],
                                                task.choices),
                       **subgroup_accuracy(predictions, test)}
        else:
            rouge = [rouge_l(p, ex.target) for p, ex in zip(predictions, test, strict=True)]
            metrics = {"rouge_l": sum(rouge) / len(rouge)}
        result = Result(strategy=self.name, config=cfg.to_dict(), task={},
                        models={"large": ctx.large, "small": ctx.small})
        result.metrics["utility"] = {"lm_before": headline(metrics, task), **metrics,
                                     "eval_examples": len(test)}
        # What PII crossed is measured from the transcript by the runner (privacy.pii_crossed).
        result.metrics["privacy"] = {"private_records_sent": len(test)}
        return result
