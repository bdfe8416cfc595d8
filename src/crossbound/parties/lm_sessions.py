"""The model party's side of token-level collaboration: KV-cached LM sessions, step by step.

Token-level collaboration (speculative decoding, proxy-tuning) needs the LM once per step,
with its KV cache kept between steps. The model party keeps one
:class:`~crossbound.models.kv.DecodeState` per *session*; the data party drives it with
``lm_step`` requests, one round trip per step (its end is
:class:`~crossbound.inference.remote.RemoteTarget`):

request  ``token_ids``: ``ids`` ``(B, W)`` int32, a ragged block right-aligned with ``mask``
         ``(B, W)`` (1: a token, 0: a hole); optionally ``drop`` ``(B_prev,)`` (rewind each
         row by that many tokens first) and ``select`` ``(B,)`` (then keep those rows, repeats
         allowed). ``meta``: ``op="lm_step"``, ``session``, ``keep`` (positions to return),
         ``reply`` (``argmax`` or ``logits``), ``new`` (start the session afresh), ``close``.
reply    ``token_ids`` ``{"ids": (B, keep)}`` — the LM's argmax, all greedy verification
         needs — or ``logits`` ``{"logits": (B, keep, V)}`` float32 (sampling, proxy-tuning).

A request without ids (shape ``(0, 1)``) only applies ``drop``/``select`` (or closes the
session) and is answered with ``metrics``.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

import torch

from crossbound.boundary.contracts import AccessContract, allow
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.boundary.operations import FLAG, Integer, Name, Operation, one_of, operation
from crossbound.models.kv import DecodeState

OP = "lm_step"
MAX_SESSIONS = 32  # per model party; the least recently used one goes first
MAX_ROWS = 512
MAX_BLOCK_TOKENS = 1 << 16  # B·W of one request
MAX_LOGIT_ROWS = 4096  # B·keep of a logits reply
SESSION_PATTERN = r"[A-Za-z0-9_.-]{1,64}"
SESSION_NAME = re.compile(f"^{SESSION_PATTERN}$")

# One step of a session, every setting it may carry, as access contracts name it.
LM_STEP: Operation = operation(
    OP, session=Name(SESSION_PATTERN), new=FLAG, close=FLAG,
    keep=Integer(1, MAX_BLOCK_TOKENS), reply=one_of("argmax", "logits"))

TOKEN_STEPS = AccessContract(
    "token-steps",
    (
        allow("data", Kind.TOKEN_IDS),
        allow("model", Kind.TOKEN_IDS, Kind.LOGITS, Kind.METRICS),
    ),
    "The data party sends token ids (the context the LM continues: prompts and generated "
    "tokens); the model party returns its next-token argmax ids or logits.",
    operations=(LM_STEP,),
)


class LMSessions:
    """The model party's side: decoding sessions over its LM, keyed by (party, session)."""

    def __init__(self, model: Any, pad_id: int, max_sessions: int = MAX_SESSIONS,
                 vocab: int | None = None) -> None:
        self.model = model
        self.pad_id = pad_id
        self.max_sessions = max_sessions
        # Ids at or past the embedding table's size (or negative) would index out of it.
        self.vocab = vocab if vocab is not None else _vocab_of(model)
        self._states: OrderedDict[tuple[str, str], DecodeState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def handle(self, request: Message) -> tuple[Kind, dict[str, Any], int]:
        """Apply one ``lm_step`` request; return the reply's kind, payload and tokens fed."""
        if request.kind != Kind.TOKEN_IDS:
            raise MessageError(f"{OP} takes token_ids, got {request.kind.value}")
        session = request.meta.get("session")
        if not isinstance(session, str) or not SESSION_NAME.match(session):
            raise MessageError("meta.session must be a name of 1-64 letters, digits, . _ -")
        key = (request.sender, session)
        if request.meta.get("close"):
            self._states.pop(key, None)
            return Kind.METRICS, {"closed": True}, 0
        payload = request.payload
        ids, mask = _block(payload)  # checked before any session state changes
        real = ids[mask.bool()]
        if real.numel() and (int(real.min()) < 0 or int(real.max()) >= self.vocab):
            raise MessageError(f"token ids must lie in 0..{self.vocab - 1} (the LM's vocabulary)")
        state = self._state(key, bool(request.meta.get("new")))
        try:  # the state's own checks (row counts, rewinds past the start) are the sender's fault
            if "drop" in payload:
                state.rewind(_vector(payload["drop"], "drop"))
            if "select" in payload:
                state.select(_vector(payload["select"], "select"))
        except ValueError as exc:
            raise MessageError(f"{OP}: {exc}") from exc
        if ids.numel() == 0:
            return Kind.METRICS, {"rows": state.batch_size if state.started else 0}, 0
        rows = [row[m.bool()].tolist() for row, m in zip(ids, mask, strict=True)]
        keep = request.meta.get("keep", 1)
        reply = request.meta.get("reply", "argmax")
        if reply not in ("argmax", "logits"):
            raise MessageError("meta.reply must be argmax or logits")
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= ids.shape[1]:
            raise MessageError(f"meta.keep must be an integer in 1..{ids.shape[1]}")
        if reply == "logits" and ids.shape[0] * keep > MAX_LOGIT_ROWS:
            raise MessageError(f"a logits reply holds at most {MAX_LOGIT_ROWS} rows × positions")
        try:
            out = state.feed(rows, keep, reply)
        except ValueError as exc:  # e.g. a block whose row count differs from the session's
            raise MessageError(f"{OP}: {exc}") from exc
        tokens = int(mask.sum())
        if reply == "argmax":
            return Kind.TOKEN_IDS, {"ids": out.to(torch.int32).cpu()}, tokens
        return Kind.LOGITS, {"logits": out.cpu()}, tokens

    def _state(self, key: tuple[str, str], new: bool) -> DecodeState:
        if new:
            self._states.pop(key, None)
            while len(self._states) >= self.max_sessions:
                self._states.popitem(last=False)
            self._states[key] = DecodeState(self.model, self.pad_id)
        elif key not in self._states:
            raise MessageError(f"no session {key[1]!r} for {key[0]} (closed, evicted, or never "
                               "started: send meta.new=true first)")
        self._states.move_to_end(key)
        return self._states[key]


def _vocab_of(model: Any) -> int:
    """Rows of the model's input embedding: the ids it can take are 0..rows-1."""
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embeddings is not None and hasattr(embeddings, "num_embeddings"):
        return int(embeddings.num_embeddings)
    return int(model.config.vocab_size)


def _vector(tensor: torch.Tensor, name: str) -> torch.Tensor:
    if tensor.dim() != 1 or tensor.dtype.is_floating_point or tensor.numel() > MAX_ROWS:
        raise MessageError(f"{name} must be a 1-D integer tensor of at most {MAX_ROWS} rows")
    return tensor.long()


def _block(payload: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    ids = payload["ids"]
    if ids.dim() != 2 or ids.dtype.is_floating_point or ids.is_complex():
        raise MessageError("ids must be a 2-D integer tensor (rows, tokens)")
    if ids.shape[0] > MAX_ROWS or ids.numel() > MAX_BLOCK_TOKENS:
        raise MessageError(f"a block holds at most {MAX_ROWS} rows and {MAX_BLOCK_TOKENS} ids")
    mask = payload.get("mask", torch.ones_like(ids))
    if mask.shape != ids.shape or not bool(((mask == 0) | (mask == 1)).all()):
        raise MessageError("mask must be 0/1 and shaped like ids")
    return ids.long(), mask.long()
