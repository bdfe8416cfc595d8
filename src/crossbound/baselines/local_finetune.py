"""``local-finetune``: the data party fine-tunes its small model on its own data; nothing crosses.

The privacy-perfect, LM-free corner of every comparison (the "SM alone" baseline of
arXiv 2504.17421's formulation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from crossbound.baselines.common import (
    QUICK_EVAL_LIMIT,
    QUICK_TRAINING,
    answer_pairs,
    eval_subset,
    evaluate_on,
    evaluate_untuned,
    load_sm_to_tune,
    make_trainable,
    private_records,
    sm_finetune,
    sm_utility,
    train_report,
)
from crossbound.baselines.registry import BASELINES
from crossbound.boundary.contracts import NOTHING
from crossbound.config_checks import Attacks, Records, SMFineTuning
from crossbound.privacy.dp import DPConfig, DPReport, dp_finetune
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig, cells
from crossbound.training.causal_lm import LossOn
from crossbound.training.lora import freeze_embeddings


@dataclass
class LocalFinetuneConfig(Attacks, SMFineTuning, Records, StrategyConfig):
    """Fine-tuning of the data party's SM on its private split (cross-entropy on answers).

    ``trainable``: ``full`` (every weight), ``lora`` (PEFT adapters on the projections) or
    ``linear`` (the blocks' linear layers). ``dp_epsilon`` (or ``dp_noise_multiplier``) turns
    on DP-SGD through Opacus; ``full`` then trains every weight but the token embeddings and
    LM head (see ``privacy.dp``); ``batch_size`` is the expected size of a Poisson-sampled
    batch. ``attacks`` (on by default here): the runner measures membership inference and canary
    exposure on the tuned SM.
    """

    save_model: bool = False  # write the tuned SM to OUT/small-model (safetensors)
    loss_on: LossOn = "answer"  # "record": train on the whole prompt + answer (generative)
    dp_epsilon: float | None = None  # target ε of DP-SGD (None: no DP)
    dp_noise_multiplier: float | None = None  # or a fixed noise multiplier
    dp_max_grad_norm: float = 1.0
    dp_delta: float | None = None  # None: 1 / (10 · records)

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

    bench_cells = cells(
        # 120 records and small attacks: a minute or two a cell. Without DP, two epochs (30
        # steps) at a higher rate: one epoch leaves the SM near chance. DP-SGD (~10 s a step on
        # 2 cores) is left to the full profile.
        quick=[("no-dp", {"train_limit": "120", "eval_limit": QUICK_EVAL_LIMIT,
                          "attack_limit": "30", "canary_candidates": "50", **QUICK_TRAINING})],
        # DP-SGD needs adapters (Opacus cannot take per-sample gradients of the tied
        # embedding); LoRA under DP learns slowly at the default rate, hence lr and batch.
        full=[("no-dp", {}), ("dp-eps3", {"trainable": "lora", "dp_epsilon": "3", "lr": "2e-3",
                                          "batch_size": "16", "epochs": "3"})],
    )

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        private = private_records(task, cfg)
        sm = load_sm_to_tune(ctx, cfg.trainable)
        test = eval_subset(task, cfg.eval_limit)
        before = evaluate_untuned(ctx, sm.model, sm.tokenizer, test, cfg.batch_size)
        pairs = answer_pairs(task, private)
        model = make_trainable(sm.model, cfg.trainable, cfg.lora_rank)
        dp = cfg.dp
        dp_report: DPReport | None = None
        frozen: list[str] = []
        started = time.perf_counter()
        if dp is None:
            # the SM alone at this budget is the SM the inference strategies route with: a
            # bench trains it once
            stats = sm_finetune(ctx, "SM fine-tuning", model, sm.tokenizer, pairs, cfg,
                                epochs=cfg.epochs, seed=cfg.seed, loss_on=cfg.loss_on,
                                share=True)
        else:
            if cfg.trainable == "full":
                frozen = freeze_embeddings(model)
            steps = math.ceil(cfg.epochs * len(pairs) / cfg.batch_size)
            with ctx.step("SM fine-tuning with DP-SGD", steps) as bar:
                stats, dp_report = dp_finetune(
                    model, sm.tokenizer, pairs, dp, epochs=cfg.epochs, lr=cfg.rate_for(model),
                    batch_size=cfg.batch_size, max_length=cfg.max_length, seed=cfg.seed,
                    loss_on=cfg.loss_on, on_step=lambda _s, _l: bar.advance())
        train_seconds = time.perf_counter() - started
        after = evaluate_on(ctx, "SM after", model, sm.tokenizer, test, cfg.batch_size)
        result = self.new_result(ctx)
        result.metrics["utility"] = sm_utility(task, before, after, len(test))
        result.metrics["efficiency"].update(train_report(stats, train_seconds))
        result.metrics["privacy"] = {"private_records_sent": 0}
        if dp_report is not None:
            result.metrics["privacy"]["dp"] = {**dp_report.to_dict(),
                                               **({"frozen": frozen} if frozen else {})}
        ctx.offer_tuned_sm(model, sm.tokenizer, private, max_length=cfg.max_length,
                           scope="sequence" if cfg.loss_on == "record" else "answer")
        if cfg.save_model:
            ctx.save_small_model(result, model, sm.tokenizer)
        return result
