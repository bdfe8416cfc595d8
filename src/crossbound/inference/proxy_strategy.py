"""``proxy-tuning``: the LM, steered by what fine-tuning on private data did to the SM.

The data party fine-tunes a copy of its SM on its private split; at test time the next-token
logits are ``LM + α·(SM_tuned − SM_base)`` (arXiv:2401.08565). The LM's part comes over the
boundary through a KV-cached session (token ids over, logits back); the SMs and the private
training data stay with the data party. Classification tasks are scored by label
log-probability under the combined logits (as :mod:`crossbound.evaluate.utility` scores a
single model, calibrated the same way); free-text tasks by ROUGE-L of proxy-tuned greedy
answers.

The reference the method is judged by — how much of the LM → LM-fine-tuned gap it closes —
needs the LM fine-tuned on the private data, which the protocol never allows: with
``lm_reference`` the run builds that oracle locally (it needs the LM's weights here) and
reports ``gap_closed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from crossbound.baselines.common import (
    answer_pairs,
    eval_subset,
    evaluate_on,
    finetuned,
    label_metrics,
    mean_rouge,
    private_records,
)
from crossbound.config_checks import (
    Records,
    SMTraining,
    check_at_least,
    check_in_range,
    check_positive,
)
from crossbound.evaluate.utility import calibrated, content_free_prompt, headline
from crossbound.inference.generation import GenerationSettings, Target, encode_prompts
from crossbound.inference.proxy_tuning import (
    check_same_tokenizer,
    proxy_choice_scores,
    proxy_generate,
)
from crossbound.inference.registry import INFERENCE
from crossbound.inference.remote import RemoteTarget
from crossbound.models.loading import LoadedModel, load_model, load_tokenizer
from crossbound.naming import DATA_PARTY
from crossbound.parties.lm_sessions import TOKEN_STEPS
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig, cells
from crossbound.tasks.base import Example, Task


@dataclass
class ProxyTuningConfig(SMTraining, Records, StrategyConfig):
    """Proxy-tune the LM with the data party's SM (tuned on party ``party``'s private split).

    ``alpha``: the strength of the SM's difference; ``alphas``: more values (comma-separated)
    scored from the same pass, for the sweep in the result. ``sm_epochs`` etc.: the SM's
    local fine-tuning. ``lm_reference``: also fine-tune the LM itself (an oracle: needs the
    LM's weights in this process) and report the share of the gap closed; ``lm_trainable``:
    how (LoRA of rank ``lm_lora_rank`` by default: full fine-tuning of a 1.5B LM needs ~28 GB
    of weights, gradients and AdamW state).
    """

    eval_limit: int | None = 60
    alpha: float = 1.0
    alphas: str = "0.5,1,2"
    sm_epochs: float = 1.0
    lm_epochs: float = 1.0
    lm_reference: bool = False
    lm_trainable: Literal["full", "lora"] = "lora"
    lm_lora_rank: int = 16
    max_new_tokens: int = 32  # free-text tasks

    def validate(self) -> None:
        super().validate()
        if not math.isfinite(self.alpha):
            raise ValueError(f"alpha must be finite, got {self.alpha}")
        self.alpha_values()
        check_positive(self, "sm_epochs", "lm_epochs")
        check_in_range(self, "max_new_tokens", 1, 512)
        check_at_least(self, 1, "lm_lora_rank")

    def alpha_values(self) -> list[float]:
        """``alpha`` first, then the sweep's other values."""
        try:
            extra = [float(a) for a in self.alphas.split(",") if a.strip()]
        except ValueError:
            raise ValueError(f"alphas must be comma-separated numbers, got {self.alphas!r}") \
                from None
        values = [self.alpha]
        for value in extra:
            if not math.isfinite(value):
                raise ValueError(f"alphas must be finite, got {value}")
            if value not in values:
                values.append(value)
        return values


@INFERENCE.register
class ProxyTuning(Strategy[ProxyTuningConfig]):
    name = "proxy-tuning"
    direction = "inference"
    summary = "LM logits + α·(tuned SM − base SM): the LM adapted without touching it"
    paper = "arXiv:2401.08565 (proxy-tuning); arXiv:2310.12962 (emulated fine-tuning)"
    needs_model_party = "an LM serving KV-cached decoding sessions with logits (lm_step)"
    needs_data_party = "a small model with the LM's tokenizer, private labelled data"
    prefers_lm_tokenizer = True
    crosses = "data→model: token ids (test prompts, labels or answers); model→data: logits"
    contract = TOKEN_STEPS
    private_text_crosses = True  # the test prompts, as token ids

    # Full profile only: it tunes an SM and runs three models per token, and the inference
    # direction is in the quick bench already (private-prompt, cascade, speculative).
    bench_cells = cells(full=[("alpha-1", {}), ("alpha-1-oracle", {"lm_reference": "true"})])

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        private = private_records(task, cfg)
        with ctx.step(f"loading small model {ctx.small} (base and to tune)"):
            # Both in the same precision, so that tuned - base is what training changed and
            # not also the difference between bf16 weights and fp32 ones under autocast.
            base, tuned = load_model(ctx.small), load_model(ctx.small)
            tokenizer = load_tokenizer(ctx.large)
        check_same_tokenizer(tokenizer, base.tokenizer, "proxy-tuning's LM and SM")
        tuned.model = self._finetune(ctx, tuned, task, private, cfg.sm_epochs, "SM",
                                     cfg.trainable, cfg.lora_rank)
        ctx.connect_model_party()
        test = eval_subset(task, cfg.eval_limit)
        if task.choices is not None:
            metrics = self._classify(ctx, task, test, tokenizer, tuned, base)
        else:
            metrics = self._free_text(ctx, task, test, tokenizer, tuned, base)
        alpha_key = f"proxy@{cfg.alpha:g}"
        heads = {k: headline(m, task) for k, m in metrics.items()}
        utility: dict[str, Any] = {
            "final": heads[alpha_key],  # the proxy-tuned LM's answers are what the run serves
            "lm_before": heads["lm"], "lm_after": heads[alpha_key],
            "sm_before": heads["base"], "sm_after": heads["tuned"],
            **metrics[alpha_key],
            "by_alpha": {k.split("@")[1]: v for k, v in heads.items() if k.startswith("proxy@")},
            "lm_metrics": metrics["lm"], "eval_examples": len(test),
        }
        if cfg.lm_reference:
            reference = self._lm_reference(ctx, task, private, test)
            utility["lm_finetuned"] = reference
            gap = reference - heads["lm"]
            # Only meaningful when fine-tuning the LM helped at all.
            utility["gap_closed"] = (heads[alpha_key] - heads["lm"]) / gap if gap > 0 else None
            utility["gap_closed_by_alpha"] = {
                k.split("@")[1]: ((v - heads["lm"]) / gap if gap > 0 else None)
                for k, v in heads.items() if k.startswith("proxy@")}
        result = self.new_result(ctx)
        result.metrics["utility"] = utility
        result.metrics["privacy"] = {"private_records_sent": len(test),
                                     "training_records_sent": 0}
        return result

    # ------------------------------------------------------------ pieces

    def _finetune(self, ctx: RunContext, loaded: LoadedModel, task: Task,
                  private: tuple[Example, ...], epochs: float, who: str,
                  trainable: str, lora_rank: int) -> Any:
        return finetuned(ctx, f"{who} fine-tuning on private data", loaded,
                         answer_pairs(task, private), self.config, epochs=epochs,
                         seed=self.config.seed, trainable=trainable, lora_rank=lora_rank)

    @staticmethod
    def _lm_target(ctx: RunContext) -> RemoteTarget:
        return RemoteTarget(ctx.boundary, DATA_PARTY)

    def _classify(self, ctx: RunContext, task: Task, test: tuple[Example, ...],
                  tokenizer: Any, tuned: LoadedModel,
                  base: LoadedModel) -> dict[str, dict[str, float]]:
        cfg = self.config
        assert task.choices is not None
        # The content-free prompt (public) rides along last, for calibration.
        prompts = [task.prompt(ex) for ex in test] + [content_free_prompt(task)]
        with ctx.step("scoring labels: LM (over the boundary) + SMs", len(prompts)) as bar:
            scores = proxy_choice_scores(
                lambda: self._lm_target(ctx), tuned.model, base.model, tokenizer, prompts,
                task.choices, cfg.alpha_values(), cfg.batch_size, bar.advance, close=_close)
        return {key: label_metrics(task, test, calibrated(table[:-1], table[-1]))
                for key, table in scores.items()}

    def _free_text(self, ctx: RunContext, task: Task, test: tuple[Example, ...],
                   tokenizer: Any, tuned: LoadedModel,
                   base: LoadedModel) -> dict[str, dict[str, float]]:
        cfg = self.config
        prompts = encode_prompts(tokenizer, [task.prompt(ex) for ex in test])
        settings = GenerationSettings(max_new_tokens=cfg.max_new_tokens, stop=("\n",),
                                      seed=cfg.seed)
        # α = 0 is the LM alone (the SMs' difference vanishes); it is generated once.
        by_alpha: dict[float, dict[str, float]] = {}
        for alpha in [0.0, *cfg.alpha_values()]:
            if alpha in by_alpha:
                continue
            answers: list[str] = []
            with ctx.step(f"generating (α = {alpha:g})", len(prompts)) as bar:
                for start in range(0, len(prompts), cfg.batch_size):
                    chunk = prompts[start: start + cfg.batch_size]
                    target = self._lm_target(ctx)
                    out = proxy_generate(target, tuned.model, base.model, tokenizer, chunk,
                                         settings, alpha)
                    target.close()
                    answers.extend(t.strip() for t in out.texts)
                    bar.advance(len(chunk))
            by_alpha[alpha] = {"rouge_l": mean_rouge(answers, test)}
        metrics = {"lm": by_alpha[0.0],
                   **{f"proxy@{a:g}": by_alpha[a] for a in cfg.alpha_values()}}
        for key, loaded in (("tuned", tuned), ("base", base)):
            metrics[key] = evaluate_on(ctx, f"SM {key}", loaded.model, loaded.tokenizer, test,
                                       cfg.batch_size)
        return metrics

    def _lm_reference(self, ctx: RunContext, task: Task, private: tuple[Example, ...],
                      test: tuple[Example, ...]) -> float:
        """The oracle: the LM itself fine-tuned on the private split, evaluated locally."""
        cfg = self.config
        with ctx.step(f"loading {ctx.large} locally (oracle reference)"):
            lm = load_model(ctx.large)
        lm.model = self._finetune(ctx, lm, task, private, cfg.lm_epochs,
                                  f"LM (oracle, {cfg.lm_trainable})", cfg.lm_trainable,
                                  cfg.lm_lora_rank)
        with torch.no_grad():
            metrics = evaluate_on(ctx, "LM fine-tuned (oracle)", lm.model, lm.tokenizer, test,
                                  cfg.batch_size)
        return headline(metrics, task)


def _close(target: Target) -> None:
    if isinstance(target, RemoteTarget):
        target.close()  # frees the session at the model party
