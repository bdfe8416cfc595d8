"""Distil a small model from a large one on public text: how a distilled model is built.

A layer-dropped copy of an LM (``smollm2-135m:layers=6``) keeps the tokenizer but loses most
of the LM's behaviour; distilling it from the full model on public text (forward KL on the
whole next-token distribution, the teacher running beside it) recovers much of it. That is the
model speculative decoding drafts with and proxy-tuning steers with. The model party builds it
(it owns the teacher); the recipe (:class:`~crossbound.models.distilled.DistillRecipe`) is
fixed and seeded, so the cached result is reproducible.

The models layer knows a distilled model by its recipe and loads its cache entry; it does not
train. :func:`distill_into` is what builds the entry: ``crossbound models prepare NAME`` passes
it to :func:`~crossbound.models.loading.prepare_model` as ``distil``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from crossbound.evaluate.exposure import next_token_agreement
from crossbound.models.distilled import DistillRecipe, Status
from crossbound.models.loading import load_model
from crossbound.tasks.corpora import load_corpus
from crossbound.training.causal_lm import backbone_and_head, text_batch
from crossbound.training.distill import kd_loss
from crossbound.training.loop import LoopConfig, Shuffled, StepLoss, run_loop


def recipe_texts(recipe: DistillRecipe) -> tuple[list[str], list[str]]:
    """The recipe's public texts, shuffled by its seed: (training texts, held-out texts)."""
    texts = [t for name in recipe.corpora for t in load_corpus(name)]
    random.Random(recipe.seed).shuffle(texts)
    return texts[recipe.held_out :], texts[: recipe.held_out]


def distill_into(recipe: DistillRecipe, folder: Path, status: Status | None = None,
                 on_step: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Distil ``recipe.student`` from ``recipe.teacher`` and save it (HF format) in ``folder``.

    Returns what the cache manifest records: the recipe, agreement with the teacher on
    held-out text before and after, and the time taken.
    """
    started = time.perf_counter()
    torch.manual_seed(recipe.seed)
    teacher = load_model(recipe.teacher)
    student = load_model(recipe.student)
    tok = student.tokenizer
    train, held_out = recipe_texts(recipe)
    texts = [t for t in train
             if len(tok(t, add_special_tokens=False)["input_ids"][: recipe.max_length]) >= 8]
    before = next_token_agreement(student.model, teacher.model, tok, held_out,
                                  max_length=recipe.max_length)
    if status:
        status(f"distilling {recipe.student} from {recipe.teacher}: {recipe.steps} steps on "
               f"{len(texts)} public texts (top-1 agreement before: "
               f"{before['top1_agreement']:.3f})")
    model = student.model
    parts = backbone_and_head(model)
    assert parts is not None, "distillation needs a causal LM with a separable LM head"
    base, head, cap = parts
    sampler = Shuffled(len(texts), recipe.batch_size, random.Random(recipe.seed), fill=False)

    def step_loss(_step: int) -> StepLoss:
        batch = text_batch(tok, [texts[i] for i in sampler.draw()], recipe.max_length)
        ids, mask = batch["input_ids"], batch["attention_mask"]  # (B, T)
        keep = mask[:, 1:].bool()  # (B, T-1): position t has a real next token
        with torch.no_grad():
            t_logits = teacher.model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
        hidden = base(input_ids=ids, attention_mask=mask)[0][:, :-1][keep]  # (N, d)
        s_logits = head(hidden)
        if cap:
            s_logits = torch.tanh(s_logits / cap) * cap
        loss = kd_loss(s_logits, torch.log_softmax(t_logits.float(), -1)).mean()
        return StepLoss(loss, int(mask.sum()))

    config = LoopConfig(steps=recipe.steps, lr=recipe.lr, name="distillation")
    losses = run_loop(model, step_loss, config, on_step=on_step).losses
    after = next_token_agreement(model, teacher.model, tok, held_out,
                                 max_length=recipe.max_length)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    info = {
        "recipe": {**asdict(recipe), "corpora": list(recipe.corpora)},
        "kept_layers": student.kept_layers,
        "parameters": student.parameters,
        "train_texts": len(texts),
        "kd_loss_first": round(losses[0], 4),
        "kd_loss_last": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "held_out_before": before,
        "held_out_after": after,
        "distill_seconds": round(time.perf_counter() - started, 1),
    }
    (folder / "distillation.json").write_text(json.dumps(info, indent=2))
    if status:
        status(f"top-1 agreement with {recipe.teacher} on held-out text: "
               f"{before['top1_agreement']:.3f} → {after['top1_agreement']:.3f}")
    return info
