"""Emulator distillation for offsite-tuning (arXiv:2302.04870, §3.3): train the layer-dropped
middle so that it imitates the LM's full middle on public text.

Only the emulator's kept middle blocks train; the adapter blocks, embeddings, norms and head
stay exactly the LM's. The loss on a batch of public text is

    relative MSE(emulated middle's output, full middle's output) + lm_weight · next-token CE

where the middle's output is the hidden state entering the first top-adapter block (captured
with a forward pre-hook, so no architecture-specific names are needed), and the CE runs the
emulated model end to end (its frozen top adapter, final norm and head). The MSE is divided by
the LM's mean squared hidden value, so it does not depend on the hidden states' scale (Llama
and Gemma residual streams differ by orders of magnitude).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import OffsiteSplit
from crossbound.training.causal_lm import text_batch
from crossbound.training.loop import LoopConfig, Shuffled, StepLoss, run_loop


@dataclass(frozen=True)
class DistillStats:
    steps: int
    first_loss: float
    last_loss: float
    first_relative_mse: float
    last_relative_mse: float
    seconds: float
    texts: int
    tokens: int  # tokens of public text each model ran on (the LM's work, for accounting)

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in vars(self).items()}


class _Capture:
    """Keeps the hidden state entering one block on each forward pass."""

    def __init__(self, block: torch.nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self.handle = block.register_forward_pre_hook(self._grab, with_kwargs=True)

    def _grab(self, _module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.value = args[0] if args else kwargs["hidden_states"]

    def take(self) -> torch.Tensor:
        if self.value is None:
            raise RuntimeError("the block was not run")  # pragma: no cover
        value, self.value = self.value, None
        return value


def distill_emulator(
    emulator: Any,
    lm: Any,
    tokenizer: Any,
    texts: Sequence[str],
    split: OffsiteSplit,
    *,
    steps: int,
    lr: float = 1e-4,
    batch_size: int = 4,
    max_length: int = 128,
    lm_weight: float = 1.0,
    seed: int = 0,
    on_step: Callable[[int, float], None] | None = None,
) -> DistillStats:
    """Train ``emulator``'s middle blocks in place for ``steps`` AdamW steps on ``texts``."""
    texts = [t for t in texts if len(tokenizer(t, add_special_tokens=False)["input_ids"]) >= 2]
    if not texts:
        raise ValueError("no public text of two or more tokens to distil the emulator on")
    if not split.middle_kept:
        raise ValueError("the emulator keeps no middle block: there is nothing to distil")
    if steps < 1 or lr <= 0 or batch_size < 1 or lm_weight < 0:
        raise ValueError("steps and batch_size must be >= 1, lr > 0 and lm_weight >= 0")
    b, e = len(split.bottom), len(split.middle_kept)
    emu_blocks = decoder_layers(emulator)
    for param in emulator.parameters():
        param.requires_grad_(False)
    for block in list(emu_blocks)[b : b + e]:
        block.requires_grad_(True)  # the kept middle blocks: the loop trains these alone
    teacher_at = _Capture(decoder_layers(lm)[split.top[0]])
    student_at = _Capture(emu_blocks[b + e])
    sampler = Shuffled(len(texts), batch_size, random.Random(seed), fill=False)
    mses: list[float] = []

    def step_loss(_step: int) -> StepLoss:
        batch = text_batch(tokenizer, [texts[i] for i in sampler.draw()], max_length)
        with torch.no_grad():
            lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            target = teacher_at.take().float()  # (B, T, H): the full middle's output
        out = emulator(**batch)
        hidden = student_at.take().float()  # (B, T, H): the emulated middle's output
        keep = batch["attention_mask"].bool()
        scale = target[keep].pow(2).mean().clamp(min=1e-12)
        mse = (hidden[keep] - target[keep]).pow(2).mean() / scale
        mses.append(float(mse.item()))
        return StepLoss(mse + lm_weight * out.loss, int(batch["attention_mask"].sum()))

    # Constant learning rate, no weight decay; the frozen weights stay fp32 (the emulator's
    # adapter blocks are what the data party fine-tunes).
    config = LoopConfig(steps=steps, lr=lr, weight_decay=0.0, schedule="constant",
                        hold_frozen=False, name="emulator distillation")
    try:
        run = run_loop(emulator, step_loss, config, on_step=on_step)
    finally:
        teacher_at.handle.remove()
        student_at.handle.remove()
        for param in emulator.parameters():
            param.requires_grad_(False)
    return DistillStats(steps=steps, first_loss=run.losses[0], last_loss=run.losses[-1],
                        first_relative_mse=mses[0], last_relative_mse=mses[-1],
                        seconds=run.seconds, texts=len(texts), tokens=run.tokens)
