"""The parties. The model party answers requests with its LM; it never sees a data party's
objects, only the messages that crossed the boundary.
"""

from __future__ import annotations

from typing import Any

import torch

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.evaluate.utility import choice_logprobs, generate_answers
from crossbound.models.loading import LoadedModel

MAX_PROMPTS_PER_REQUEST = 4096
MAX_NEW_TOKENS = 512


class ModelParty:
    """Holds the large model; serves the operations strategies ask of it, and counts them."""

    name = MODEL_PARTY

    def __init__(self, lm: LoadedModel, batch_size: int = 8) -> None:
        self.lm = lm
        self.batch_size = batch_size
        self.calls = 0  # LM requests served
        self.tokens = 0  # prompt + generated tokens the LM processed

    def _count_tokens(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self.lm.tokenizer(texts)["input_ids"])

    def handle(self, request: Message) -> Message:
        op = request.meta.get("op")
        if request.kind != Kind.TEXT:
            raise MessageError(f"the model party expects text requests, got {request.kind.value}")
        prompts: list[str] = request.payload
        if not prompts or len(prompts) > MAX_PROMPTS_PER_REQUEST:
            raise MessageError(f"a request carries 1..{MAX_PROMPTS_PER_REQUEST} prompts")
        if any(not p.strip() for p in prompts):
            raise MessageError("every prompt must contain some text")
        self.calls += 1
        tokens = self._count_tokens(prompts)
        model, tok = self.lm.model, self.lm.tokenizer
        if op == "score_choices":
            choices = request.meta.get("choices")
            if (not isinstance(choices, list) or not choices
                    or not all(isinstance(c, str) and c.strip() for c in choices)):
                raise MessageError("score_choices needs meta.choices, a non-empty list of labels")
            scores = choice_logprobs(model, tok, prompts, choices, self.batch_size)
            return self._reply(request, Kind.TENSORS, {"choice_logprobs": scores.float()},
                               tokens)
        if op == "generate":
            raw = request.meta.get("max_new_tokens", 48)
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise MessageError("max_new_tokens must be an integer")
            max_new = raw
            if not 1 <= max_new <= MAX_NEW_TOKENS:
                raise MessageError(f"max_new_tokens must be in 1..{MAX_NEW_TOKENS}")
            answers = generate_answers(model, tok, prompts, max_new, self.batch_size)
            return self._reply(request, Kind.TEXT, answers, tokens + self._count_tokens(answers))
        raise MessageError(f"unknown operation {op!r}; the model party serves score_choices, "
                           "generate")

    def _reply(self, request: Message, kind: Kind, payload: Any, tokens: int) -> Message:
        # The reply says how many tokens the LM processed, so the data side can account for
        # LM usage the same way whether the model party is local or remote.
        self.tokens += tokens
        return Message(kind=kind, sender=self.name, receiver=request.sender, payload=payload,
                       meta={"op": request.meta.get("op"), "lm_tokens": tokens})


def scores_from(reply: Message) -> torch.Tensor:
    """The (prompts, choices) score tensor of a ``score_choices`` reply."""
    if reply.kind != Kind.TENSORS or "choice_logprobs" not in reply.payload:
        raise MessageError("expected a tensors reply with choice_logprobs")
    scores: torch.Tensor = reply.payload["choice_logprobs"]
    return scores
