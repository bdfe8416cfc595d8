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

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import OffsiteSplit


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


def _batch(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """Right-padded ids, mask and next-token labels (-100 on padding). Rows shorter than two
    tokens are dropped by the caller beforehand."""
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"][:max_length] for t in texts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


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
    trainable = [p for block in list(emu_blocks)[b : b + e] for p in block.parameters()]
    for param in trainable:
        param.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    teacher_at = _Capture(decoder_layers(lm)[split.top[0]])
    student_at = _Capture(emu_blocks[b + e])
    rng = random.Random(seed)
    order: list[int] = []
    first = first_mse = last = last_mse = math.nan
    tokens = 0
    started = time.perf_counter()
    emulator.train()
    try:
        for step in range(steps):
            if len(order) < batch_size:
                fresh = list(range(len(texts)))
                rng.shuffle(fresh)
                order.extend(fresh)
            idx, order = order[:batch_size], order[batch_size:]
            batch = _batch(tokenizer, [texts[i] for i in idx], max_length)
            with torch.no_grad():
                lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                target = teacher_at.take().float()  # (B, T, H): the full middle's output
            out = emulator(**batch)
            hidden = student_at.take().float()  # (B, T, H): the emulated middle's output
            keep = batch["attention_mask"].bool()
            scale = target[keep].pow(2).mean().clamp(min=1e-12)
            mse = (hidden[keep] - target[keep]).pow(2).mean() / scale
            loss = mse + lm_weight * out.loss
            if not torch.isfinite(loss):
                raise FloatingPointError(f"emulator distillation loss became {loss.item()} "
                                         f"at step {step}")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            last, last_mse = float(loss.item()), float(mse.item())
            tokens += int(batch["attention_mask"].sum())
            if step == 0:
                first, first_mse = last, last_mse
            if on_step:
                on_step(step, last)
    finally:
        teacher_at.handle.remove()
        student_at.handle.remove()
        emulator.eval()
        for param in emulator.parameters():
            param.requires_grad_(False)
    return DistillStats(steps=steps, first_loss=first, last_loss=last,
                        first_relative_mse=first_mse, last_relative_mse=last_mse,
                        seconds=time.perf_counter() - started, texts=len(texts), tokens=tokens)
