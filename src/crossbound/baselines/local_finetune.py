"""``local-finetune``: the data party fine-tunes its small model on its own data; nothing crosses.

The privacy-perfect, LM-free corner of every comparison (the "SM alone" baseline of
arXiv 2504.17421's formulation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from crossbound.baselines import BASELINES
from crossbound.baselines.common import eval_subset, evaluate_on
from crossbound.boundary.contracts import NOTHING
from crossbound.evaluate.utility import headline
from crossbound.models.loading import load_model
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig
from crossbound.training.causal_lm import finetune


@dataclass
class LocalFinetuneConfig(StrategyConfig):
    """Full fine-tuning of the data party's SM on its private split (cross-entropy on answers)."""

    party: int = 0  # which data party trains (its own split only)
    epochs: float = 2.0
    lr: float = 2e-4
    batch_size: int = 8
    max_length: int = 192
    train_limit: int | None = None  # use at most this many private records (None: all)
    eval_limit: int | None = 200  # evaluate on at most this many test records
    save_model: bool = False  # write the tuned SM to OUT/small-model (safetensors)

    def validate(self) -> None:
        super().validate()
        if self.party < 0:
            raise ValueError(f"party must be >= 0, got {self.party}")
        if self.epochs <= 0 or self.lr <= 0:
            raise ValueError("epochs and lr must be > 0")
        if self.batch_size < 1 or self.max_length < 16:
            raise ValueError("batch_size must be >= 1 and max_length >= 16")
        for name in ("train_limit", "eval_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")


@BASELINES.register
class LocalFinetune(Strategy):
    name = "local-finetune"
    direction = "baseline"
    summary = "The data party fine-tunes its SM on its private data alone"
    paper = "arXiv:2504.17421 (SM-only baseline)"
    needs_model_party = "nothing"
    needs_data_party = "an SM and private labelled data"
    crosses = "nothing"
    config_class = LocalFinetuneConfig
    contract = NOTHING

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        assert isinstance(cfg, LocalFinetuneConfig)
        task = ctx.task
        if cfg.party >= len(task.parties):
            raise ValueError(f"party {cfg.party} does not exist: the task has "
                             f"{len(task.parties)} data parties")
        with ctx.step(f"loading small model {ctx.small}"):
            sm = load_model(ctx.small)
        test = eval_subset(task, cfg.eval_limit)
        before = evaluate_on(ctx, "SM before", sm.model, sm.tokenizer, test, cfg.batch_size)
        private = task.parties[cfg.party][: cfg.train_limit]
        pairs = [(task.prompt(ex), task.answer(ex)) for ex in private]
        steps = max(1, round(cfg.epochs * -(-len(pairs) // cfg.batch_size)))
        started = time.perf_counter()
        with ctx.step("SM fine-tuning", steps) as bar:
            stats = finetune(sm.model, sm.tokenizer, pairs, epochs=cfg.epochs, lr=cfg.lr,
                             batch_size=cfg.batch_size, max_length=cfg.max_length,
                             seed=cfg.seed, on_step=lambda _s, _l: bar.advance())
        train_seconds = time.perf_counter() - started
        after = evaluate_on(ctx, "SM after", sm.model, sm.tokenizer, test, cfg.batch_size)
        result = Result(
            strategy=self.name,
            config=cfg.to_dict(),
            task={},
            models={"large": ctx.large, "small": ctx.small},
        )
        result.metrics["utility"] = {
            "sm_before": headline(before, task),
            "sm_after": headline(after, task),
            **after,
            "sm_before_metrics": before,
            "eval_examples": len(test),
        }
        result.metrics["efficiency"].update({
            "train_seconds": round(train_seconds, 3),
            "train_steps": stats.steps,
            "train_tokens": stats.tokens,
            "seconds_per_step": round(train_seconds / stats.steps, 4),
            "train_loss_first": round(stats.first_loss, 4),
            "train_loss_last": round(stats.last_loss, 4),
        })
        result.metrics["privacy"] = {"private_records_sent": 0}
        if cfg.save_model:
            folder = ctx.out_dir / "small-model"
            sm.model.save_pretrained(folder)
            sm.tokenizer.save_pretrained(folder)
            result.artifacts["small_model"] = str(folder)
        return result
