"""A draft model that only scores the first ``n`` token ids: a cheaper drafter, still lossless.

A small draft model spends much of each pass in its output layer: SmolLM2's 49,152 × 576
head is more than its six kept blocks together. Drafting over a *shortlist* of the vocabulary
cuts that cost while the LM still verifies every token — output is unchanged (greedy) or still
follows the LM (sampling: the draft distribution is the shortlist's, zero elsewhere, and the
accept/reject rule only needs q to be what the drafts were drawn from). Drafts are lost only
where the LM's token lies outside the shortlist.

The shortlist is the first ``n`` ids: BPE vocabularies number their tokens in merge order,
which follows frequency in the tokenizer's training text (for SmolLM2, ids below 16,384 cover
about 94 % of clinic-triage's tokens and 90 % of a Wikipedia sample's), so no data is needed
to pick it and ids keep their meaning.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from crossbound.training.causal_lm import backbone_and_head


class ShortlistDraft(torch.nn.Module):
    """Wraps a HF causal LM; its forward returns logits over token ids ``0 .. n-1`` only."""

    def __init__(self, model: Any, n: int) -> None:
        super().__init__()
        parts = backbone_and_head(model)
        if parts is None:
            raise ValueError("cannot find this model's backbone and output layer")
        vocab = int(model.config.vocab_size)
        if not 1 <= n <= vocab:
            raise ValueError(f"shortlist size must be in 1..{vocab}, got {n}")
        self.model = model
        self.backbone, head, self.softcap = parts
        self.n = n
        # a view of the first n rows: no copy, and it follows the head if it is tied
        self.weight = head.weight[:n]
        self.bias = head.bias[:n] if getattr(head, "bias", None) is not None else None

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def generation_config(self) -> Any:
        return self.model.generation_config

    def forward(self, input_ids: torch.Tensor, logits_to_keep: int = 0,
                **kwargs: Any) -> SimpleNamespace:
        hidden = self.backbone(input_ids=input_ids, **kwargs)[0]  # (B, W, hidden)
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = torch.nn.functional.linear(hidden, self.weight, self.bias)  # (B, keep, n)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return SimpleNamespace(logits=logits)
