"""The parties. The model party answers requests with its LM; it never sees a data party's
objects, only the messages that crossed the boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.logit_codec import VALUE_BITS, TopkCodec
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.evaluate.utility import choice_logprobs, generate_answers
from crossbound.models.loading import LoadedModel
from crossbound.offsite_party import PLUGIN_MODEL, OffsiteOwner, OffsitePolicy
from crossbound.training.topk_transfer import topk_every_position
from crossbound.upward_party import UPWARD_MODEL, UpwardOwner

MAX_PROMPTS_PER_REQUEST = 4096
MAX_NEW_TOKENS = 512
DEFAULT_NEW_TOKENS = 48  # of a generate request that names no max_new_tokens
MAX_TOPK = 1024
MAX_SCORED_TOKENS = 1 << 16  # B·T of one topk_logprobs request


@dataclass(frozen=True)
class TopkAsk:
    """A checked ``topk_logprobs`` request: k, reply precision and the (B, T) rows."""

    k: int
    bits: int
    vocab: int
    ids: torch.Tensor
    mask: torch.Tensor


class ModelParty:
    """Holds the large model; serves the operations strategies ask of it, and counts them."""

    name = MODEL_PARTY

    def __init__(self, lm: LoadedModel, batch_size: int = 8,
                 offsite_policy: OffsitePolicy | None = None) -> None:
        self.lm = lm
        self.batch_size = batch_size
        self.calls = 0  # LM requests served
        self.tokens = 0  # prompt + generated tokens the LM processed
        # Offsite-tuning: emulator bundles sent and adapters plugged in, per data party; how
        # much of the LM a bundle may hold is this party's policy, not the requester's.
        self.offsite = OffsiteOwner(lm, policy=offsite_policy)
        # Upward transfer: a LoRA copy of the LM per data party, tuned on what it sends.
        self.upward = UpwardOwner(lm)
        # KV-cached decoding sessions (inference.remote), per data party, made on demand: each
        # party has its own cap, so one party opening sessions never evicts another's.
        self._sessions: dict[str, Any] = {}

    def count_tokens(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self.lm.tokenizer(texts)["input_ids"])

    def handle(self, request: Message) -> Message:
        op = request.meta.get("op")
        handler = OPERATIONS.get(op) if isinstance(op, str) else None
        if handler is None:
            raise MessageError(f"unknown operation {op!r}; the model party serves "
                               f"{', '.join(OPERATIONS)}")
        return handler(self, request)

    def prompts_of(self, request: Message) -> list[str]:
        if request.kind != Kind.TEXT:
            raise MessageError(f"{request.meta.get('op')} takes a text request, "
                               f"got {request.kind.value}")
        prompts: list[str] = request.payload
        if not prompts or len(prompts) > MAX_PROMPTS_PER_REQUEST:
            raise MessageError(f"a request carries 1..{MAX_PROMPTS_PER_REQUEST} prompts")
        if any(not p.strip() for p in prompts):
            raise MessageError("every prompt must contain some text")
        return prompts

    def _score_choices(self, request: Message) -> Message:
        prompts = self.prompts_of(request)
        choices = request.meta.get("choices")
        if (not isinstance(choices, list) or not choices
                or not all(isinstance(c, str) and c.strip() for c in choices)):
            raise MessageError("score_choices needs meta.choices, a non-empty list of labels")
        scores = choice_logprobs(self._model_for(request), self.lm.tokenizer, prompts, choices,
                                 self.batch_size)
        return self.reply(request, Kind.TENSORS, {"choice_logprobs": scores.float()},
                           self.count_tokens(prompts))

    def _generate(self, request: Message) -> Message:
        prompts = self.prompts_of(request)
        max_new = int_meta(request, "max_new_tokens", DEFAULT_NEW_TOKENS, 1, MAX_NEW_TOKENS)
        answers = generate_answers(self._model_for(request), self.lm.tokenizer, prompts,
                                   max_new, self.batch_size)
        tokens = self.count_tokens(prompts) + self.count_tokens(answers)
        return self.reply(request, Kind.TEXT, answers, tokens)

    @torch.no_grad()
    def _topk_logprobs(self, request: Message) -> Message:
        """Top-k next-token log-probs at every position of a batch of token sequences.

        Request: ``token_ids`` with ``ids`` (B, T) and optional ``mask`` (B, T) of 0/1;
        ``meta.k``. Reply: ``topk_logprobs`` with ``values`` (B, T, k) float32 and
        ``indices`` (B, T, k) int32; masked positions are zero. With ``meta.value_bits`` 4, 8 or
        16 the reply is compressed instead (:mod:`crossbound.boundary.logit_codec`, described by
        the reply's ``meta.codec``); 32 or absent: the plain reply. Read either form with
        :func:`~crossbound.boundary.logit_codec.topk_from_message`.
        """
        ask = self.topk_request(request)
        values, indices = topk_every_position(self._model_for(request), ask.ids, ask.mask,
                                              ask.k, self.batch_size)
        return self.topk_reply(request, ask, values, indices)

    def topk_request(self, request: Message) -> TopkAsk:
        """A ``topk_logprobs`` request's checked settings and token rows."""
        if request.kind != Kind.TOKEN_IDS:
            raise MessageError(f"topk_logprobs takes token_ids, got {request.kind.value}")
        vocab = int(self.lm.model.config.vocab_size)
        k = int_meta(request, "k", 1, 1, min(MAX_TOPK, vocab))
        bits = request.meta.get("value_bits", 32)
        if not isinstance(bits, int) or isinstance(bits, bool) or bits not in VALUE_BITS:
            raise MessageError(f"meta.value_bits must be one of {', '.join(map(str, VALUE_BITS))}"
                               f" (32: plain float32), got {bits!r}")
        ids, mask = checked_ids(request.payload, vocab)
        return TopkAsk(k=k, bits=bits, vocab=vocab, ids=ids, mask=mask)

    def topk_reply(self, request: Message, ask: TopkAsk, values: torch.Tensor,
                   indices: torch.Tensor) -> Message:
        """The reply to ``request``: plain float32, or compressed as it asked."""
        tokens = int(ask.mask.sum())
        if ask.bits == 32:
            return self.reply(request, Kind.TOPK_LOGPROBS,
                              {"values": values, "indices": indices}, tokens)
        codec = TopkCodec(k=ask.k, value_bits=ask.bits, vocab_size=ask.vocab)
        return self.reply(request, Kind.TOPK_LOGPROBS, codec.encode(values, indices),
                          tokens, {"codec": codec.to_meta()})

    def _lm_step(self, request: Message) -> Message:
        """One step of a KV-cached decoding session (speculative decoding, proxy-tuning)."""
        sessions = self._sessions.get(request.sender)
        if sessions is None:
            # Imported here: the inference family imports this module for its strategies.
            from crossbound.inference.remote import LMSessions

            pad = self.lm.tokenizer.pad_token_id
            sessions = LMSessions(self.lm.model, pad if pad is not None else 0)
            self._sessions[request.sender] = sessions
        kind, payload, tokens = sessions.handle(request)
        return self.reply(request, kind, payload, tokens)

    def _model_for(self, request: Message) -> Any:
        """The LM itself; or, for the requesting party, the LM with its accepted
        offsite-tuning adapter plugged in (``meta.model = "offsite-plugin"``) or its
        upward-tuned LoRA copy (``"upward-tuned"``)."""
        which = request.meta.get("model", "lm")
        if which == "lm":
            return self.lm.model
        if which == PLUGIN_MODEL:
            return self.offsite.plugin(request.sender)
        if which == UPWARD_MODEL:
            return self.upward.model(request.sender)
        raise MessageError(f"meta.model must be 'lm', {PLUGIN_MODEL!r} or {UPWARD_MODEL!r}, "
                           f"got {which!r}")

    def _offsite_bundle(self, request: Message) -> Message:
        out = self.offsite.bundle(request)
        return self.reply(request, out.kind, out.payload, out.tokens, out.meta)

    def _offsite_adapter(self, request: Message) -> Message:
        out = self.offsite.accept(request)
        return self.reply(request, out.kind, out.payload, out.tokens, out.meta)

    def _lm_finetune(self, request: Message) -> Message:
        out = self.upward.finetune(request)
        return self.reply(request, out.kind, out.payload, out.tokens, out.meta)

    def _lm_distill(self, request: Message) -> Message:
        out = self.upward.distill(request)
        return self.reply(request, out.kind, out.payload, out.tokens, out.meta)

    def reply(self, request: Message, kind: Kind, payload: Any, tokens: int,
               meta: dict[str, Any] | None = None) -> Message:
        # The reply says how many tokens the LM processed, so the data side can account for
        # LM usage the same way whether the model party is local or remote.
        self.calls += 1
        self.tokens += tokens
        return Message(kind=kind, sender=self.name, receiver=request.sender, payload=payload,
                       meta={"op": request.meta.get("op"), "lm_tokens": tokens, **(meta or {})})


# Every operation the model party serves, by the name a request gives in meta.op. Access
# contracts name the ones a data party may ask for; tests enumerate this registry, so an
# operation added here is tried under every contract.
OPERATIONS: dict[str, Callable[[ModelParty, Message], Message]] = {
    "score_choices": ModelParty._score_choices,
    "generate": ModelParty._generate,
    "topk_logprobs": ModelParty._topk_logprobs,
    "lm_step": ModelParty._lm_step,
    "offsite_bundle": ModelParty._offsite_bundle,
    "offsite_adapter": ModelParty._offsite_adapter,
    "lm_finetune": ModelParty._lm_finetune,
    "lm_distill": ModelParty._lm_distill,
}


def int_meta(request: Message, key: str, default: int, low: int, high: int) -> int:
    value = request.meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MessageError(f"meta.{key} must be an integer in {low}..{high}, got {value!r}")
    return value


def checked_ids(payload: dict[str, torch.Tensor],
                 vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate (B, T) token ids and their 0/1 mask; return them as int64."""
    ids = payload["ids"]
    if ids.dim() != 2 or ids.numel() == 0 or ids.dtype.is_floating_point or ids.is_complex():
        raise MessageError("ids must be a non-empty 2-D integer tensor (batch, tokens)")
    if ids.numel() > MAX_SCORED_TOKENS:
        raise MessageError(f"{ids.numel()} tokens exceed the limit of {MAX_SCORED_TOKENS}")
    ids = ids.long()
    if int(ids.min()) < 0 or int(ids.max()) >= vocab:
        raise MessageError(f"token ids must lie in 0..{vocab - 1}")
    mask = payload.get("mask")
    if mask is None:
        return ids, torch.ones_like(ids)
    if mask.shape != ids.shape:
        raise MessageError(f"mask shape {tuple(mask.shape)} differs from ids {tuple(ids.shape)}")
    mask = mask.long()
    if not bool(((mask == 0) | (mask == 1)).all()) or not bool(mask.any(-1).all()):
        raise MessageError("mask must be 0/1 with at least one 1 in every row")
    return ids, mask


def scores_from(reply: Message) -> torch.Tensor:
    """The (prompts, choices) score tensor of a ``score_choices`` reply."""
    if reply.kind != Kind.TENSORS or "choice_logprobs" not in reply.payload:
        raise MessageError("expected a tensors reply with choice_logprobs")
    scores: torch.Tensor = reply.payload["choice_logprobs"]
    return scores
