"""The model party's core: what it holds, how it answers a request, and the registries through
which each family of operations plugs in next to its own code.

A request names its operation in ``meta.op``; :meth:`ModelParty.handle` looks it up in
:data:`OPERATIONS` (filled by :func:`model_op`). ``meta.model`` names the model that answers:
the LM itself, or one a family made for the requesting party (:func:`served_model`). State a
family keeps per model party (offsite-tuning's bundles sent, upward transfer's tuned copies)
is made on first use by the factory it registered (:func:`party_state`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.logit_codec import VALUE_BITS, TopkCodec
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.boundary.operations import LM
from crossbound.models.loading import LoadedModel

MAX_PROMPTS_PER_REQUEST = 4096
MAX_NEW_TOKENS = 512
DEFAULT_NEW_TOKENS = 48  # of a generate request that names no max_new_tokens
MAX_TOPK = 1024
log = logging.getLogger(__name__)

# Long work at the model party (emulator distillation) reports (label, done, total) here.
ProgressHook = Callable[[str, int, int], None]

MAX_SCORED_TOKENS = 1 << 16  # B·T of one topk_logprobs request

Handler = Callable[["ModelParty", Message], Message]
T = TypeVar("T")
Owner = TypeVar("Owner")  # a family's owner object

# Every operation the model party serves, by the name a request gives in meta.op. Access
# contracts name the ones a data party may ask for; tests enumerate this registry, so an
# operation registered here is tried under every contract.
OPERATIONS: dict[str, Handler] = {}
# The models other than the LM a request may ask for (meta.model): name -> (party, requester).
SERVED_MODELS: dict[str, Callable[[ModelParty, str], Any]] = {}
# What a family keeps per model party: name -> factory, called on the family's first use.
PARTY_STATE: dict[str, Callable[[ModelParty], Any]] = {}


def _registrar(table: dict[str, T], what: str, name: str) -> Callable[[T], T]:
    def register(item: T) -> T:
        if name in table:
            raise ValueError(f"{what} {name!r} is already registered")
        table[name] = item
        return item

    return register


def model_op(name: str) -> Callable[[Handler], Handler]:
    """Register ``handler(party, request) -> reply`` as the operation ``meta.op = name``."""
    return _registrar(OPERATIONS, "a model-party operation", name)


def served_model(name: str) -> Callable[[Callable[[ModelParty, str], Any]],
                                        Callable[[ModelParty, str], Any]]:
    """Register ``model(party, requester)``: the model that answers ``meta.model = name``."""
    return _registrar(SERVED_MODELS, "a served model", name)


def party_state(name: str) -> Callable[[Callable[[ModelParty], Any]],
                                       Callable[[ModelParty], Any]]:
    """Register ``make(party)``: a family's state, made on first ``party.state(name)``."""
    return _registrar(PARTY_STATE, "party state", name)


def owner_family(family: str, make: Callable[[ModelParty], Owner], model: str,
                 model_of: Callable[[Owner, str], Any],
                 ops: Mapping[str, Callable[[Owner, Message], OwnerReply]]) -> None:
    """Register a family whose work one owner object per model party does: ``make(party)``
    builds it on first use (``party.state(family)``); ``model_of(owner, requester)`` answers
    ``meta.model = model``; each of ``ops`` (``meta.op`` → ``method(owner, request)``) is served
    with what the owner answers."""
    party_state(family)(make)
    served_model(model)(lambda party, requester: model_of(party.state(family), requester))
    for op, method in ops.items():
        model_op(op)(_served_by_owner(family, method))


def _served_by_owner(family: str, method: Callable[[Any, Message], OwnerReply]) -> Handler:
    def handler(party: ModelParty, request: Message) -> Message:
        out = method(party.state(family), request)
        return party.reply(request, out.kind, out.payload, out.tokens, out.meta)

    return handler


@dataclass(frozen=True)
class TopkAsk:
    """A checked ``topk_logprobs`` request: k, reply precision and the (B, T) rows."""

    k: int
    bits: int
    vocab: int
    ids: torch.Tensor
    mask: torch.Tensor


@dataclass
class OwnerReply:
    """What a family's owner object answers to one request (see :func:`owner_family`)."""

    kind: Kind
    payload: Any
    tokens: int  # tokens the LM processed for the request
    meta: dict[str, Any]


class ModelParty:
    """Holds the large model; serves the operations strategies ask of it, and counts them."""

    name = MODEL_PARTY

    def __init__(self, lm: LoadedModel, batch_size: int = 8,
                 offsite_policy: Any = None) -> None:
        self.lm = lm
        self.batch_size = batch_size
        self.calls = 0  # LM requests served
        self.tokens = 0  # prompt + generated tokens the LM processed
        # How much of the LM an offsite-tuning bundle may hold (an OffsitePolicy of
        # crossbound.parties.offsite; None: its default) is this party's policy, not the
        # requester's. Typed loosely so that this core does not import the family.
        self.offsite_policy = offsite_policy
        # Where long work reports progress: an in-process run draws it (RunContext sets this);
        # a served party, with no display, logs it.
        self.on_progress: ProgressHook | None = None
        self._state: dict[str, Any] = {}

    def report_progress(self, label: str, done: int, total: int) -> None:
        """``done`` of ``total`` units of ``label`` finished (drawn, or logged every tenth)."""
        if self.on_progress is not None:
            self.on_progress(label, done, total)
        elif done == total or done % max(1, total // 10) == 0:
            log.info("%s: %d/%d", label, done, total)

    def state(self, family: str) -> Any:
        """``family``'s state here (see :data:`PARTY_STATE`), made on first use."""
        if family not in self._state:
            self._state[family] = PARTY_STATE[family](self)
        return self._state[family]

    if not TYPE_CHECKING:
        # party.offsite, party.upward: a family's state by name, as party.state(name). Out of
        # the type checker's sight, so a misspelt attribute elsewhere is still an error there.
        def __getattr__(self, name: str) -> Any:
            if name.startswith("_") or name not in PARTY_STATE:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            return self.state(name)

    def handle(self, request: Message) -> Message:
        op = request.meta.get("op")
        handler = OPERATIONS.get(op) if isinstance(op, str) else None
        if handler is None:
            raise MessageError(f"unknown operation {op!r}; the model party serves "
                               f"{', '.join(OPERATIONS)}")
        return handler(self, request)

    def count_tokens(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self.lm.tokenizer(texts)["input_ids"])

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

    def model_for(self, request: Message) -> Any:
        """The LM itself; or, for the requesting party, the model a family made for it
        (:data:`SERVED_MODELS`: e.g. the LM with its accepted offsite-tuning adapter plugged
        in, ``meta.model = "offsite-plugin"``, or its upward-tuned LoRA copy,
        ``"upward-tuned"``)."""
        which = request.meta.get("model", LM)
        if which == LM:
            return self.lm.model
        model = SERVED_MODELS.get(which) if isinstance(which, str) else None
        if model is None:
            *rest, last = [repr(LM), *map(repr, SERVED_MODELS)]
            named = f"{', '.join(rest)} or {last}" if rest else last
            raise MessageError(f"meta.model must be {named}, got {which!r}")
        return model(self, request.sender)

    def topk_request(self, request: Message) -> TopkAsk:
        """A ``topk_logprobs`` request's checked settings and token rows."""
        if request.kind != Kind.TOKEN_IDS:
            raise MessageError(f"topk_logprobs takes token_ids, got {request.kind.value}")
        vocab = int(self.lm.model.config.vocab_size)
        k = int_meta(request.meta, "k", 1, 1, min(MAX_TOPK, vocab))
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

    def reply(self, request: Message, kind: Kind, payload: Any, tokens: int,
              meta: dict[str, Any] | None = None) -> Message:
        # The reply says how many tokens the LM processed, so the data side can account for
        # LM usage the same way whether the model party is local or remote.
        self.calls += 1
        self.tokens += tokens
        return Message(kind=kind, sender=self.name, receiver=request.sender, payload=payload,
                       meta={"op": request.meta.get("op"), "lm_tokens": tokens, **(meta or {})})


def int_meta(meta: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    """``meta[key]`` (``default`` if absent), an integer in ``low..high``."""
    value = meta.get(key, default)
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
