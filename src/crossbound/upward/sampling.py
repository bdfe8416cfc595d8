"""Sampled continuations from a model the data party holds (synthetic records)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


@torch.no_grad()
def sample_continuations(model: Any, tokenizer: Any, prompts: Sequence[str],
                         max_new_tokens: int, *, temperature: float = 1.0, top_p: float = 0.95,
                         batch_size: int = 16,
                         on_batch: Callable[[int], None] | None = None) -> list[str]:
    """One sampled continuation per prompt (temperature / nucleus sampling; seed the global
    torch RNG first for a repeatable draw). The text after the prompt, special tokens removed."""
    if temperature <= 0 or not 0 < top_p <= 1:
        raise ValueError("temperature must be > 0 and top_p in (0, 1]")
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    out: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = list(prompts[start : start + batch_size])
            enc = tokenizer(chunk, return_tensors="pt", padding=True,
                            padding_side="left").to(device)
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True,
                                 temperature=temperature, top_p=top_p, top_k=0,
                                 pad_token_id=pad)
            width = enc["input_ids"].shape[1]
            out.extend(tokenizer.decode(row[width:], skip_special_tokens=True) for row in ids)
            if on_batch:
                on_batch(len(chunk))
    finally:
        model.train(was_training)
    return out
