"""Supervised fine-tuning of a causal LM on (prompt, answer) pairs, loss on the answer only."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from crossbound.training.loop import LoopConfig, Shuffled, StepLoss, run_loop


@dataclass(frozen=True)
class TrainStats:
    steps: int
    examples_seen: int
    first_loss: float
    last_loss: float  # mean over the last epoch's batches
    tokens: int
    lr: float | None = None  # the rate it trained at (a config may leave it to the model size)


LossOn = Literal["answer", "record"]


def build_batch(
    tokenizer: Any, pairs: Sequence[tuple[str, str]], max_length: int,
    loss_on: LossOn = "answer",
) -> dict[str, torch.Tensor]:
    """Right-padded ids with labels masked (-100) on the padding and, for ``loss_on="answer"``,
    on the prompt. ``"record"`` trains on every token of prompt + answer: a generative model of
    the records, which is what can memorise a secret inside the message text.

    When a pair is longer than ``max_length`` the prompt is cut from the left, so the answer
    is kept whole.
    """
    if loss_on not in ("answer", "record"):
        raise ValueError(f"loss_on must be 'answer' or 'record', got {loss_on!r}")
    rows: list[tuple[list[int], list[int]]] = []
    eos = tokenizer.eos_token_id
    for prompt, answer in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if eos is not None:
            a = [*a, eos]  # teach the model to stop after the answer
        a = a[:max_length - 1]
        p = p[-(max_length - len(a)):]
        rows.append((p + a, (p if loss_on == "record" else [-100] * len(p)) + a))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def text_batch(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """Plain texts, each cut to ``max_length`` tokens: right-padded ids, mask and next-token
    labels (-100 on padding). A text needs two or more tokens to give a label; callers drop
    shorter ones beforehand."""
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


def answer_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy on the answer tokens, running the LM head only where it is needed.

    The vocabulary projection dominates a small model's cost (SmolLM2: 49,152 × 576 per token,
    more than all 6 blocks of a layer-dropped copy), and the loss needs it only on the few
    answer positions. Equal to ``model(**batch).loss`` (tests check it); models whose parts
    cannot be found fall back to that.
    """
    parts = backbone_and_head(model)
    if parts is None:
        return model(**batch).loss
    return answer_token_losses(parts, batch)[0].mean()


def backbone_and_head(model: Any) -> tuple[Any, Any, float | None] | None:
    """(decoder backbone, LM head, logit soft-cap) of a HF causal LM, PEFT-wrapped or not."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    base = getattr(inner, "base_model", None)
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    if base is None or base is inner or head is None:
        return None
    return base, head, getattr(inner.config, "final_logit_softcapping", None)


def answer_token_losses(parts: tuple[Any, Any, float | None],
                        batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy at each answer position ``(N,)`` and the row each belongs to ``(N,)``."""
    base, head, cap = parts
    hidden = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    targets = batch["labels"][:, 1:]  # (B, T-1): position t predicts token t + 1
    keep = targets != -100
    logits = head(hidden[:, :-1][keep])  # (N, V) for the N answer positions only
    if cap:
        logits = torch.tanh(logits / cap) * cap
    losses = torch.nn.functional.cross_entropy(logits.float(), targets[keep], reduction="none")
    rows = keep.nonzero()[:, 0]
    return losses, rows


def sft_key(pairs: Sequence[tuple[str, str]], **settings: Any) -> dict[str, Any]:
    """What decides a supervised fine-tuning's outcome, besides the model and the task: the
    training pairs (hashed) and every setting — for sharing one tuned SM between runs."""
    digest = hashlib.sha256(json.dumps(list(pairs)).encode()).hexdigest()
    return {"kind": "sft", "pairs": digest, "count": len(pairs), **settings}


def finetune(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    epochs: float = 1.0,
    lr: float = 1e-4,
    batch_size: int = 8,
    max_length: int = 256,
    weight_decay: float = 0.0,
    seed: int = 0,
    loss_on: LossOn = "answer",
    on_step: Callable[[int, float], None] | None = None,
) -> TrainStats:
    """AdamW with linear warm-up/decay over ``epochs`` passes (fractions allowed)."""
    if not pairs:
        raise ValueError("no training pairs")
    if epochs <= 0 or lr <= 0 or batch_size < 1:
        raise ValueError("epochs and lr must be > 0 and batch_size >= 1")
    device = next(model.parameters()).device
    batches_per_epoch = math.ceil(len(pairs) / batch_size)
    total_steps = max(1, round(epochs * batches_per_epoch))
    sampler = Shuffled(len(pairs), batch_size, random.Random(seed), fill=False)
    seen = 0  # batches hold fewer than batch_size records when there are fewer records

    def step_loss(_step: int) -> StepLoss:
        nonlocal seen
        drawn = sampler.draw()
        seen += len(drawn)
        batch = build_batch(tokenizer, [pairs[i] for i in drawn], max_length, loss_on)
        batch = {k: v.to(device) for k, v in batch.items()}
        return StepLoss(answer_loss(model, batch), int(batch["attention_mask"].sum()))

    config = LoopConfig(steps=total_steps, lr=lr, weight_decay=weight_decay)
    run = run_loop(model, step_loss, config, on_step=on_step)
    return TrainStats(
        steps=total_steps,
        examples_seen=seen,
        first_loss=run.losses[0],
        last_loss=run.tail_mean(batches_per_epoch),
        tokens=run.tokens,
        lr=lr,
    )
