"""``remote-lm``: the data party sends its raw private prompts to the model party's LM.

The maximum-leakage corner of every comparison (what "just call the vendor's API" costs): the
utility is the LM's, every private record it is asked about crosses the boundary as text.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossbound.baselines.common import (
    QUICK_EVAL_LIMIT,
    eval_subset,
    label_metrics,
    lm_generate,
    lm_label_scores,
    mean_rouge,
)
from crossbound.baselines.registry import BASELINES
from crossbound.boundary.contracts import OPEN_TEXT
from crossbound.config_checks import check_at_least, check_in_range, check_limits
from crossbound.evaluate.utility import headline
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig, cells


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

    bench_cells = cells(quick=[("raw-prompts", {"eval_limit": QUICK_EVAL_LIMIT})],
                        full=[("raw-prompts", {})])

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        ctx.connect_model_party(batch_size=cfg.batch_size)
        test = eval_subset(task, cfg.eval_limit)
        prompts = [task.prompt(ex) for ex in test]
        label = "LM answering over the boundary"
        if task.choices is not None:
            # calibrated by a public content-free prompt that rides along
            metrics = label_metrics(task, test, lm_label_scores(
                ctx, task, prompts, cfg.prompts_per_request, label=label))
        else:
            answers = lm_generate(ctx, prompts, cfg.prompts_per_request, cfg.max_new_tokens,
                                  label=label)
            metrics = {"rouge_l": mean_rouge(answers, test)}
        result = self.new_result(ctx)
        result.metrics["utility"] = {"lm_before": headline(metrics, task), **metrics,
                                     "eval_examples": len(test)}
        # What PII crossed is measured from the transcript by the runner (privacy.pii_crossed).
        result.metrics["privacy"] = {"private_records_sent": len(test)}
        return result
