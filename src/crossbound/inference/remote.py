"""The data party's end of a KV-cached LM session at the model party.

:class:`RemoteTarget` implements the engines' :class:`~crossbound.inference.generation.Target`
over ``lm_step`` requests (the protocol and the model party's side are in
:mod:`crossbound.parties.lm_sessions`), so an engine runs unchanged whether the LM is local or
remote, and every step crosses (and is recorded) as a message.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

import torch

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.models.kv import Reply
from crossbound.parties.lm_sessions import OP

# The ids of a request that carries none: (0, 1) rather than (0, 0), which tools that reshape
# id tensors row by row (the transcript's PII scan) can still read.
_NO_TOKENS = torch.zeros((0, 1), dtype=torch.int32)


class RemoteTarget:
    """The data party's handle on an LM session at the model party (a ``Target``).

    ``rewind`` and ``select`` cost no round trip: they travel with the next ``feed``.
    """

    def __init__(self, boundary: Any, sender: str, vocab: int | None = None,
                 session: str | None = None) -> None:
        self.boundary = boundary
        self.sender = sender
        self.vocab = vocab
        # Random and fixed-length: unique per data party, and the same bytes on every run.
        self.session = session or secrets.token_hex(8)
        self.forwards = 0
        self.seconds = 0.0
        self.requests = 0
        self.rows = 0
        self._new = True
        self._drop: torch.Tensor | None = None
        self._select: torch.Tensor | None = None

    def feed(self, rows: Sequence[Sequence[int]], keep: int = 1,
             reply: Reply = "logits") -> torch.Tensor:
        width = max((len(r) for r in rows), default=0)
        if width == 0:
            raise ValueError("feed needs at least one token in some row")
        ids = torch.zeros((len(rows), width), dtype=torch.int32)
        mask = torch.zeros((len(rows), width), dtype=torch.int32)
        for b, row in enumerate(rows):
            if row:
                ids[b, width - len(row):] = torch.as_tensor(list(row), dtype=torch.int32)
                mask[b, width - len(row):] = 1
        started = time.perf_counter()
        answer = self._send({"ids": ids, "mask": mask}, {"keep": keep, "reply": reply})
        self.seconds += time.perf_counter() - started
        self.forwards += 1
        self.rows = len(rows)
        if reply == "argmax":
            if answer.kind != Kind.TOKEN_IDS:
                raise MessageError(f"expected token_ids from the model party, got {answer.kind}")
            return answer.payload["ids"].long()
        if answer.kind != Kind.LOGITS:
            raise MessageError(f"expected logits from the model party, got {answer.kind}")
        logits: torch.Tensor = answer.payload["logits"].float()
        return logits if self.vocab is None else logits[..., : self.vocab]

    def rewind(self, drop: torch.Tensor | Sequence[int]) -> None:
        drop_t = torch.as_tensor(drop, dtype=torch.int32)
        if not bool(drop_t.any()):
            return
        if self._select is not None:
            self.flush()  # a rewind after a selection must reach the rows as selected
        self._drop = drop_t if self._drop is None else self._drop + drop_t

    def select(self, index: torch.Tensor | Sequence[int]) -> None:
        index_t = torch.as_tensor(index, dtype=torch.int32)
        self._select = index_t if self._select is None else self._select[index_t.long()]

    def flush(self) -> None:
        """Send pending rewinds and selections now (a request without tokens)."""
        if self._drop is None and self._select is None:
            return
        self._send({"ids": _NO_TOKENS.clone()}, {})

    def close(self) -> None:
        """Free the session at the model party."""
        if not self._new:
            self._send({"ids": _NO_TOKENS.clone()}, {"close": True})
            self._new = True

    def _send(self, payload: dict[str, torch.Tensor], meta: dict[str, Any]) -> Message:
        if self._drop is not None:
            payload["drop"] = self._drop
        if self._select is not None:
            payload["select"] = self._select
        meta = {"op": OP, "session": self.session, **meta}
        if self._new:
            meta["new"] = True
        reply: Message = self.boundary.request(
            Message(Kind.TOKEN_IDS, self.sender, MODEL_PARTY, payload, meta))
        self._new = bool(meta.get("close"))
        self._drop = self._select = None
        self.requests += 1
        return reply
