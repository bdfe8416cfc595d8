"""``local-finetune``: the data party fine-tunes its small model on its own data; nothing crosses.

The privacy-perfect, LM-free corner of every comparison (the "SM alone" baseline of
arXiv 2504.17421's formulation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

from crossbound.baselines.common import (
    QUICK_EVAL_LIMIT,
    QUICK_TRAINING,
    check_party,
    eval_subset,
    evaluate_on,
    evaluate_untuned,
    make_trainable,
    sm_utility,
)
from crossbound.baselines.registry import BASELINES
from crossbound.boundary.contracts import NOTHING
from crossbound.config_checks import (
    check_at_least,
    check_choice,
    check_limits,
    check_sm_training,
)
from crossbound.evaluate.leakage import small_model_leakage
from crossbound.models.loading import load_model
from crossbound.privacy.dp import DPConfig, DPReport, dp_finetune
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig
from crossbound.training.causal_lm import LossOn, finetune, sft_key
from crossbound.training.lora import freeze_embeddings


@dataclass
class LocalFinetuneConfig(StrategyConfig):
    """Fine-tuning of the data party's SM on its private split (cross-entropy on answers).

    ``trainable``: ``full`` (every weight), ``lora`` (PEFT adapters on the projections) or
    ``linear`` (the blocks' linear layers). ``dp_epsilon`` (or ``dp_noise_multiplier``) turns
    on DP-SGD through Opacus; ``full`` then trains every weight but the token embeddings and
    LM head (see ``privacy.dp``); ``batch_size`` is the expected size of a Poisson-sampled
    batch.
    """

    party: int = 0  # which data party trains (its own split only)
    epochs: float = 2.0
    lr: float = 2e-4
    batch_size: int = 8
    max_length: int = 192
    train_limit: int | None = None  # use at most this many private records (None: all)
    eval_limit: int | None = 200  # evaluate on at most this many test records
    save_model: bool = False  # write the tuned SM to OUT/small-model (safetensors)
    trainable: Literal["full", "lora", "linear"] = "full"
    loss_on: LossOn = "answer"  # "record": train on the whole prompt + answer (generative)
    lora_rank: int = 8
    dp_epsilon: float | None = None  # target ε of DP-SGD (None: no DP)
    dp_noise_multiplier: float | None = None  # or a fixed noise multiplier
    dp_max_grad_norm: float = 1.0
    dp_delta: float | None = None  # None: 1 / (10 · records)
    attacks: bool = True  # measure membership inference and canary exposure on the tuned SM
    attack_limit: int = 100  # members (and as many non-members) attacked
    canary_candidates: int = 200  # random secrets each canary is ranked among

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 0, "party")
        check_sm_training(self)
        check_limits(self, "train_limit", "eval_limit")
        check_choice(self, "loss_on", ("answer", "record"))
        check_at_least(self, 2, "attack_limit")
        check_at_least(self, 1, "canary_candidates")

    @property
    def dp(self) -> DPConfig | None:
        if self.dp_epsilon is None and self.dp_noise_multiplier is None:
            return None
        return DPConfig(target_epsilon=self.dp_epsilon, noise_multiplier=self.dp_noise_multiplier,
                        max_grad_norm=self.dp_max_grad_norm, delta=self.dp_delta)


@BASELINES.register
class LocalFinetune(Strategy[LocalFinetuneConfig]):
    name = "local-finetune"
    direction = "baseline"
    summary = "The data party fine-tunes its SM on its private data alone"
    paper = "arXiv:2504.17421 (SM-only baseline)"
    needs_model_party = "nothing"
    needs_data_party = "an SM and private labelled data"
    crosses = "nothing"
    contract = NOTHING

    @classmethod
    def bench_settings(cls, profile: str) -> list[tuple[str, dict[str, str]]]:
        # DP-SGD needs adapters (Opacus cannot take per-sample gradients of the tied
        # embedding); LoRA under DP learns slowly at the default rate, hence lr and batch.
        dp = {"trainable": "lora", "dp_epsilon": "3", "lr": "2e-3", "batch_size": "16"}
        if profile == "quick":
            # 120 records and small attacks: a minute or two a cell. Without DP, two epochs
            # (30 steps) at a higher rate: one epoch leaves the SM near chance.
            limits = {"train_limit": "120", "eval_limit": QUICK_EVAL_LIMIT, "attack_limit": "30",
                      "canary_candidates": "50"}
            # DP-SGD (~10 s a step on 2 cores) is left to the full profile.
            return [("no-dp", {**limits, **QUICK_TRAINING})]
        return [("no-dp", {}), ("dp-eps3", {**dp, "epochs": "3"})]

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        check_party(task, cfg.party)
        with ctx.step(f"loading small model {ctx.small}"):
            # LoRA trains adapters only: the base is frozen, held in the run's precision
            sm = load_model(ctx.small, frozen=cfg.trainable == "lora")
        test = eval_subset(task, cfg.eval_limit)
        before = evaluate_untuned(ctx, sm.model, sm.tokenizer, test, cfg.batch_size)
        private = task.parties[cfg.party][: cfg.train_limit]
        pairs = [(task.prompt(ex), task.answer(ex)) for ex in private]
        steps = max(1, round(cfg.epochs * -(-len(pairs) // cfg.batch_size)))
        model = sm.model
        model = make_trainable(model, cfg.trainable, cfg.lora_rank)
        dp = cfg.dp
        dp_report: DPReport | None = None
        frozen: list[str] = []
        if dp is not None:
            steps = math.ceil(cfg.epochs * len(pairs) / cfg.batch_size)
            if cfg.trainable == "full":
                frozen = freeze_embeddings(model)
        started = time.perf_counter()
        label = "SM fine-tuning" + (" with DP-SGD" if dp else "")
        with ctx.step(label, steps) as bar:
            if dp is None:
                key = sft_key(pairs, trainable=cfg.trainable, lora_rank=cfg.lora_rank,
                              epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                              max_length=cfg.max_length, seed=cfg.seed, loss_on=cfg.loss_on)
                # the SM alone at this budget is the SM the inference strategies route with:
                # a bench trains it once
                stats = ctx.train_once(key, model, lambda: finetune(
                    model, sm.tokenizer, pairs, epochs=cfg.epochs, lr=cfg.lr,
                    batch_size=cfg.batch_size, max_length=cfg.max_length, seed=cfg.seed,
                    loss_on=cfg.loss_on, on_step=lambda _s, _l: bar.advance()))
            else:
                stats, dp_report = dp_finetune(
                    model, sm.tokenizer, pairs, dp, epochs=cfg.epochs, lr=cfg.lr,
                    batch_size=cfg.batch_size, max_length=cfg.max_length, seed=cfg.seed,
                    loss_on=cfg.loss_on, on_step=lambda _s, _l: bar.advance())
        train_seconds = time.perf_counter() - started
        after = evaluate_on(ctx, "SM after", model, sm.tokenizer, test, cfg.batch_size)
        result = Result(
            strategy=self.name,
            config=cfg.to_dict(),
            task={},
            models={"large": ctx.large, "small": ctx.small},
        )
        result.metrics["utility"] = sm_utility(task, before, after, len(test))
        result.metrics["efficiency"].update({
            "train_seconds": round(train_seconds, 3),
            "train_steps": stats.steps,
            "train_tokens": stats.tokens,
            "seconds_per_step": round(train_seconds / stats.steps, 4),
            "train_loss_first": round(stats.first_loss, 4),
            "train_loss_last": round(stats.last_loss, 4),
        })
        result.metrics["privacy"] = {"private_records_sent": 0}
        if dp_report is not None:
            result.metrics["privacy"]["dp"] = {**dp_report.to_dict(),
                                               **({"frozen": frozen} if frozen else {})}
        if cfg.attacks:
            with ctx.step("attacks on the tuned SM (membership, canaries)"):
                # the untuned SM: trained on none of it
                reference = load_model(ctx.small, frozen=True)
                result.metrics["privacy"].update(small_model_leakage(
                    model, sm.tokenizer, task, private, [reference.model],
                    limit=cfg.attack_limit, canary_candidates=cfg.canary_candidates,
                    seed=cfg.seed, max_length=cfg.max_length,
                    scope="sequence" if cfg.loss_on == "record" else "answer"))
        if cfg.save_model:
            folder = ctx.out_dir / "small-model"
            model.save_pretrained(folder)
            sm.tokenizer.save_pretrained(folder)
            result.artifacts["small_model"] = str(folder)
        return result
