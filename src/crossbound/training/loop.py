"""The one training loop: every fine-tuning and distillation in the package runs through it.

A caller gives only its loss for a step (drawing its batches from :class:`Shuffled`); the
loop owns the rest, alike for all: AdamW on the trainable parameters, the learning-rate
schedule, the finite-loss check, gradient clipping, train/eval mode, the per-step losses and
progress. DP-SGD (:mod:`crossbound.privacy.dp`) keeps its own loop: Poisson-sampled batches,
per-sample clipping and noise inside Opacus's optimiser, and steps that may draw no record.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from crossbound.models.precision import hold_frozen_weights_in_scope

Schedule = Literal["linear", "constant"]
SCHEDULES: tuple[str, ...] = ("linear", "constant")


@dataclass(frozen=True)
class LoopConfig:
    """How to optimise: ``steps`` AdamW steps at peak learning rate ``lr``."""

    steps: int
    lr: float
    weight_decay: float = 0.01  # AdamW's own default
    # "linear": warm-up over the first max(1, steps // 10) steps, then linear decay to 0.
    schedule: Schedule = "linear"
    max_grad_norm: float = 1.0  # clips the global gradient norm of the trained parameters
    # Under bf16, hold the frozen weights in bf16 (hold_frozen_weights_in_scope). Off where the
    # frozen weights must stay fp32, e.g. an emulator whose adapter blocks are shipped.
    hold_frozen: bool = True
    name: str = "training"  # what the error for a non-finite loss calls the loss

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.lr <= 0 or self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise ValueError(f"lr and max_grad_norm must be > 0 and weight_decay >= 0, got lr="
                             f"{self.lr}, max_grad_norm={self.max_grad_norm}, "
                             f"weight_decay={self.weight_decay}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, "
                             f"got {self.schedule!r}")


@dataclass(frozen=True)
class StepLoss:
    """What a caller's step gives the loop: the scalar loss to minimise, and how many tokens
    the step ran on (for accounting only)."""

    loss: torch.Tensor
    tokens: int = 0


@dataclass(frozen=True)
class LoopStats:
    losses: tuple[float, ...]  # one per step, in order
    tokens: int
    seconds: float

    def tail_mean(self, n: int) -> float:
        """Mean loss over the last ``n`` steps (all of them when there are fewer)."""
        return tail_mean(self.losses, n)


def tail_mean(values: Sequence[float], n: int) -> float:
    """Mean of the last ``n`` values (of all when there are fewer)."""
    tail = values[-n:]
    return sum(tail) / len(tail)


class Shuffled:
    """Seeded batches of indices into ``n`` items: shuffled passes queued one after another and
    cut ``size`` at a time, so a batch may span two passes.

    With ``fill`` (the default) the queue is topped up until it holds a whole batch, so every
    batch has ``size`` indices even when ``n < size``. Without it a batch takes at most one new
    pass, so when ``n < size`` it may hold fewer than ``size``. (The supervised and
    the emulator/model distillation loops have always drawn so; kept so a seed gives the same
    batches.) Several samplers may share one ``rng``; they then draw from it in call order.
    """

    def __init__(self, n: int, size: int, rng: random.Random, *, fill: bool = True) -> None:
        if n < 1 or size < 1:
            raise ValueError(f"need at least one item and a batch size >= 1, got {n} and {size}")
        self.n, self.size, self.rng, self.fill = n, size, rng, fill
        self.order: list[int] = []

    def draw(self) -> list[int]:
        while len(self.order) < self.size:
            fresh = list(range(self.n))
            self.rng.shuffle(fresh)
            self.order.extend(fresh)
            if not self.fill:
                break
        batch, self.order = self.order[: self.size], self.order[self.size :]
        return batch


def trainable_parameters(model: Any) -> list[torch.nn.Parameter]:
    """The parameters that require gradients, in the model's order; an error if there are none."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: add LoRA or unfreeze layers "
                         "first")
    return params


def _scheduler(optimizer: torch.optim.Optimizer,
               config: LoopConfig) -> torch.optim.lr_scheduler.LambdaLR | None:
    if config.schedule == "constant":
        return None
    steps = config.steps
    warmup = max(1, steps // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))


def run_loop(
    model: Any,
    step_loss: Callable[[int], StepLoss],
    config: LoopConfig,
    *,
    on_step: Callable[[int, float], None] | None = None,
) -> LoopStats:
    """Train ``model``'s trainable parameters for ``config.steps`` steps.

    ``step_loss(step)`` draws the step's batch and returns its loss; the loop checks that it
    is finite, back-propagates, clips, steps the optimiser and the schedule, and reports the
    loss to ``on_step(step, loss)``. ``model`` is in train mode while the loop runs and in
    eval mode after it, also when a step raises.
    """
    params = trainable_parameters(model)
    if config.hold_frozen:
        hold_frozen_weights_in_scope(model)  # bf16 runs: frozen weights bf16, trained ones fp32
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _scheduler(optimizer, config)
    losses: list[float] = []
    tokens = 0
    started = time.perf_counter()
    model.train()
    try:
        for step in range(config.steps):
            out = step_loss(step)
            loss = out.loss
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{config.name} loss became {loss.item()} at step {step}")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.item()))
            tokens += out.tokens
            if on_step:
                on_step(step, losses[-1])
    finally:
        model.eval()
    return LoopStats(losses=tuple(losses), tokens=tokens, seconds=time.perf_counter() - started)
