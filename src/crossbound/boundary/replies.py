"""Reading the model party's replies: the payloads a data party decodes, checked."""

from __future__ import annotations

import torch

from crossbound.boundary.messages import Kind, Message, MessageError


def scores_from(reply: Message) -> torch.Tensor:
    """The (prompts, choices) score tensor of a ``score_choices`` reply."""
    if reply.kind != Kind.TENSORS or "choice_logprobs" not in reply.payload:
        raise MessageError("expected a tensors reply with choice_logprobs")
    scores: torch.Tensor = reply.payload["choice_logprobs"]
    return scores
