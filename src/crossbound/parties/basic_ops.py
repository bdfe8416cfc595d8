"""The plain LM operations every family shares: ``score_choices``, ``generate``,
``topk_logprobs`` and ``lm_step`` (one step of a KV-cached decoding session)."""

from __future__ import annotations

from typing import Any

import torch

from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.evaluate.utility import choice_logprobs, generate_answers
from crossbound.parties.lm_sessions import LMSessions
from crossbound.parties.model_party import (
    DEFAULT_NEW_TOKENS,
    MAX_NEW_TOKENS,
    ModelParty,
    int_meta,
    model_op,
    party_state,
)
from crossbound.training.topk_transfer import topk_every_position


@model_op("score_choices")
def score_choices(party: ModelParty, request: Message) -> Message:
    prompts = party.prompts_of(request)
    choices = request.meta.get("choices")
    if (not isinstance(choices, list) or not choices
            or not all(isinstance(c, str) and c.strip() for c in choices)):
        raise MessageError("score_choices needs meta.choices, a non-empty list of labels")
    scores = choice_logprobs(party.model_for(request), party.lm.tokenizer, prompts, choices,
                             party.batch_size)
    return party.reply(request, Kind.TENSORS, {"choice_logprobs": scores.float()},
                       party.count_tokens(prompts))


@model_op("generate")
def generate(party: ModelParty, request: Message) -> Message:
    prompts = party.prompts_of(request)
    max_new = int_meta(request.meta, "max_new_tokens", DEFAULT_NEW_TOKENS, 1, MAX_NEW_TOKENS)
    answers = generate_answers(party.model_for(request), party.lm.tokenizer, prompts,
                               max_new, party.batch_size)
    tokens = party.count_tokens(prompts) + party.count_tokens(answers)
    return party.reply(request, Kind.TEXT, answers, tokens)


@model_op("topk_logprobs")
@torch.no_grad()
def topk_logprobs(party: ModelParty, request: Message) -> Message:
    """Top-k next-token log-probs at every position of a batch of token sequences.

    Request: ``token_ids`` with ``ids`` (B, T) and optional ``mask`` (B, T) of 0/1;
    ``meta.k``. Reply: ``topk_logprobs`` with ``values`` (B, T, k) float32 and
    ``indices`` (B, T, k) int32; masked positions are zero. With ``meta.value_bits`` 4, 8 or
    16 the reply is compressed instead (:mod:`crossbound.boundary.logit_codec`, described by
    the reply's ``meta.codec``); 32 or absent: the plain reply. Read either form with
    :func:`~crossbound.boundary.messages.topk_from_message`.
    """
    ask = party.topk_request(request)
    values, indices = topk_every_position(party.model_for(request), ask.ids, ask.mask,
                                          ask.k, party.batch_size)
    return party.topk_reply(request, ask, values, indices)


@party_state("lm_sessions")
def _no_sessions(party: ModelParty) -> dict[str, Any]:
    # KV-cached decoding sessions (parties.lm_sessions), per data party, made on demand: each
    # party has its own cap, so one party opening sessions never evicts another's.
    return {}


@model_op("lm_step")
def lm_step(party: ModelParty, request: Message) -> Message:
    """One step of a KV-cached decoding session (speculative decoding, proxy-tuning)."""
    by_party: dict[str, Any] = party.state("lm_sessions")
    sessions = by_party.get(request.sender)
    if sessions is None:
        pad = party.lm.tokenizer.pad_token_id
        sessions = LMSessions(party.lm.model, pad if pad is not None else 0)
        by_party[request.sender] = sessions
    kind, payload, tokens = sessions.handle(request)
    return party.reply(request, kind, payload, tokens)
