"""The shared training loop: batches by seed, the schedule, the finite-loss check, eval after."""

from __future__ import annotations

import random

import pytest
import torch

from crossbound.training.loop import LoopConfig, Shuffled, StepLoss, run_loop


def test_batches_are_seeded_shuffled_passes_and_fill_tops_up_short_queues():
    a, b = Shuffled(10, 4, random.Random(3)), Shuffled(10, 4, random.Random(3))
    draws = [a.draw() for _ in range(5)]
    assert draws == [b.draw() for _ in range(5)]
    flat = [i for d in draws for i in d]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    assert len(Shuffled(3, 8, random.Random(0)).draw()) == 8  # three passes queued
    short = Shuffled(3, 8, random.Random(0), fill=False)
    assert [sorted(short.draw()) for _ in range(2)] == [[0, 1, 2], [0, 1, 2]]


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1)


def test_the_loop_trains_reports_each_step_and_leaves_the_model_in_eval_mode():
    model, x = _model(), torch.randn(8, 3)
    seen: list[tuple[int, float]] = []

    def step(_s: int) -> StepLoss:
        return StepLoss(model(x).pow(2).mean(), tokens=8)

    stats = run_loop(model, step, LoopConfig(steps=20, lr=0.1),
                     on_step=lambda s, v: seen.append((s, v)))
    assert [s for s, _ in seen] == list(range(20)) and [v for _, v in seen] == list(stats.losses)
    assert stats.losses[-1] < stats.losses[0] and stats.tokens == 160 and not model.training
    assert stats.tail_mean(2) == pytest.approx(sum(stats.losses[-2:]) / 2)


@pytest.mark.parametrize(("schedule", "first_lr"), [("linear", 0.05), ("constant", 0.1)])
def test_the_schedule_warms_up_or_stays_constant(schedule, first_lr):
    # AdamW's first step moves each weight by lr (m / sqrt(v) is the gradient's sign), so the
    # first step's move reads the learning rate: "linear" warms up over steps // 10 = 2 steps.
    model, x = _model(), torch.randn(8, 3)
    before = model.weight.detach().clone()
    moves: list[float] = []

    def step(_s: int) -> StepLoss:
        return StepLoss(model(x).pow(2).mean())

    def watch(s: int, _v: float) -> None:
        if s == 0:
            moves.append(float((model.weight.detach() - before).abs().max()))

    run_loop(model, step, LoopConfig(steps=20, lr=0.1, weight_decay=0.0, schedule=schedule),
             on_step=watch)
    assert moves[0] == pytest.approx(first_lr, rel=1e-3)


def test_a_non_finite_loss_stops_the_loop_and_the_model_is_back_in_eval_mode():
    model = _model()

    def step(s: int) -> StepLoss:
        return StepLoss(model(torch.ones(1, 3)).sum() * (float("nan") if s == 2 else 1.0))

    with pytest.raises(FloatingPointError, match="probe loss became nan at step 2"):
        run_loop(model, step, LoopConfig(steps=5, lr=0.1, name="probe"))
    assert not model.training


def test_config_is_checked_early_and_a_frozen_model_is_refused():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        LoopConfig(steps=0, lr=0.1)
    with pytest.raises(ValueError, match="schedule must be one of"):
        LoopConfig(steps=1, lr=0.1, schedule="cosine")  # type: ignore[arg-type]
    model = _model().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        run_loop(model, lambda s: StepLoss(torch.zeros(())), LoopConfig(steps=1, lr=0.1))


def test_finetune_counts_the_records_it_drew_not_the_batch_size():
    from crossbound.models.loading import load_model
    from crossbound.training.causal_lm import finetune

    lm = load_model("tiny-small")
    pairs = [("a question", "yes"), ("another one", "no"), ("a third", "yes")]
    stats = finetune(lm.model, lm.tokenizer, pairs, epochs=2, batch_size=8, max_length=32)
    assert stats.steps == 2 and stats.examples_seen == 6  # 3 records a batch, not 8
