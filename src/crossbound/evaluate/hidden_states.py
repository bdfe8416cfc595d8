"""Hidden states of texts at chosen block outputs: what a split-inference message carries, and
what an inversion attacker (:mod:`crossbound.evaluate.inversion`) trains on and attacks.

One row per real (non-pad) token, texts in order. Only the blocks up to the deepest layer
asked for run, on a shallow copy of the decoder that shares every weight.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from crossbound.models.derived import decoder_layers


@dataclass
class Activations:
    """Hidden states of some texts at some layers, one row per real (non-pad) token."""

    hidden: dict[int, Tensor]  # layer -> (N, d) float32, rows in text order
    ids: Tensor  # (N,) int64 token ids
    lengths: list[int]  # tokens per text (after truncation); sums to N

    def __len__(self) -> int:
        return int(self.ids.numel())


def num_blocks(model: Any) -> int:
    """How many transformer blocks the model has; valid layers are ``0 .. num_blocks``."""
    return len(decoder_layers(model))


def check_texts(texts: Sequence[str], what: str) -> list[str]:
    """``texts`` as a list, refused early (naming ``what``) if empty, one string, or not text."""
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a sequence of texts, not one string")
    texts = list(texts)
    if not texts:
        raise ValueError(f"{what} is empty: give at least one text")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{what}[{bad[0]}] is {type(texts[bad[0]]).__name__}, not str")
    return texts


def check_layer(layer: int, total: int) -> None:
    """Refuse a ``layer`` outside ``0 .. total`` (``total`` blocks) with what the range means."""
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= total:
        raise ValueError(f"layer must be an integer in 0..{total} (0 = embedding output, "
                         f"{total} = last block, after the final norm), got {layer!r}")


def _truncated_decoder(model: Any, blocks: int) -> Any:
    """The model's decoder (no LM head) running only its first ``blocks`` blocks.

    A shallow copy that shares every weight, so ``model`` itself is never changed. HF applies
    the final norm to the last entry of ``hidden_states``; keeping one block past the deepest
    layer asked for leaves that layer's entry raw, exactly as in the full model.
    """
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = decoder_layers(model)
    if blocks >= len(layers):
        return decoder
    for name, child in decoder.named_children():
        if child is layers:
            trunc = copy.copy(decoder)
            trunc._modules = dict(decoder._modules)  # the copy gets its own child table
            trunc._modules[name] = torch.nn.ModuleList(list(layers)[:blocks])
            return trunc
    return decoder  # blocks not a direct child of the decoder: run them all (slower, same result)


@torch.no_grad()
def collect_activations(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    layers: Sequence[int],
    *,
    max_length: int = 128,
    batch_size: int = 8,
) -> Activations:
    """Hidden states at block outputs ``layers`` (0 = embedding output) for every real token.

    Each text is tokenised as the model would see it alone (the tokenizer's own special tokens,
    cut to ``max_length``) and batched with right padding, so positions start at 0 as they
    would for that text alone; texts are batched by length to waste little on padding. Only
    the blocks up to the deepest layer asked for (plus one) run.
    """
    texts = check_texts(texts, "texts")
    total = num_blocks(model)
    wanted = sorted(set(layers))
    if not wanted:
        raise ValueError("layers is empty: give at least one layer")
    for layer in wanted:
        check_layer(layer, total)
    if max_length < 1 or batch_size < 1:
        raise ValueError(f"max_length and batch_size must be >= 1, got {max_length}, {batch_size}")
    encoded = [list(tokenizer(t, truncation=True, max_length=max_length)["input_ids"])
               for t in texts]
    if not any(encoded):
        raise ValueError("no text has any token: nothing to collect")
    decoder = _truncated_decoder(model, wanted[-1] + 1)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted((i for i in range(len(texts)) if encoded[i]), key=lambda i: len(encoded[i]))
    per_text: dict[int, dict[int, Tensor]] = {}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, i in enumerate(rows):
            input_ids[j, : len(encoded[i])] = torch.tensor(encoded[i])
            mask[j, : len(encoded[i])] = 1
        out = decoder(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                      output_hidden_states=True, use_cache=False)
        states = out.hidden_states  # blocks + 1 tensors of (B, T, d)
        for j, i in enumerate(rows):
            n = len(encoded[i])
            per_text[i] = {layer: states[layer][j, :n].float().cpu() for layer in wanted}
    kept = [i for i in range(len(texts)) if encoded[i]]
    hidden = {layer: torch.cat([per_text[i][layer] for i in kept]) for layer in wanted}
    ids = torch.tensor([t for seq in encoded for t in seq], dtype=torch.long)
    return Activations(hidden=hidden, ids=ids, lengths=[len(seq) for seq in encoded])


def collect_hidden(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    layer: int,
    *,
    max_length: int = 128,
    batch_size: int = 8,
) -> tuple[Tensor, Tensor]:
    """Hidden states ``(N, d)`` float32 at block output ``layer`` and token ids ``(N,)`` int64.

    One row per real (non-pad) token, texts in order; ``layer`` 0 is the embedding output and
    ``num_blocks(model)`` the last block (after the final norm, as HF reports it).
    """
    acts = collect_activations(model, tokenizer, texts, [layer], max_length=max_length,
                               batch_size=batch_size)
    return acts.hidden[layer], acts.ids


def context_features(hidden: Tensor, lengths: Sequence[int], window: int = 1) -> Tensor:
    """Each row with its neighbours in the same text: ``(N, (2·window+1)·d)``, zeros past the ends.

    Column blocks are ``h_{t-window} .. h_t .. h_{t+window}``.
    """
    n, d = hidden.shape
    if sum(lengths) != n:
        raise ValueError(f"lengths sum to {sum(lengths)} but hidden has {n} rows")
    seq_start = torch.repeat_interleave(
        torch.cumsum(torch.tensor([0, *lengths[:-1]]), 0), torch.tensor(list(lengths)))  # (N,)
    seq_len = torch.repeat_interleave(torch.tensor(list(lengths)), torch.tensor(list(lengths)))
    rows = torch.arange(n)
    pos = rows - seq_start  # (N,) position within its text
    blocks = []
    for offset in range(-window, window + 1):
        block = hidden.new_zeros((n, d))
        valid = (pos + offset >= 0) & (pos + offset < seq_len)
        block[valid] = hidden[rows[valid] + offset]
        blocks.append(block)
    return torch.cat(blocks, dim=1)
