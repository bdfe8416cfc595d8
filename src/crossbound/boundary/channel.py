"""The in-process transport: the only path from a data party to the model party.

A data party sends a request :class:`Message`; it is serialised, counted, appended to the
transcript, and only the decoded copy reaches the model party's handler; the reply crosses back
the same way. Strategies talk to a :class:`Boundary` and never hold the other party's objects,
so the same strategy code can later run over HTTP or Flower.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

from crossbound.boundary.messages import Message, decode, encode
from crossbound.boundary.transcript import Transcript

DEFAULT_MAX_MESSAGE_BYTES = 1 << 30  # 1 GiB: larger than any adapter or emulator used here


class Handler(Protocol):
    """A party that answers requests (the model party)."""

    name: str

    def handle(self, request: Message) -> Message: ...


class Boundary:
    """Carries messages between parties in one process, recording every crossing."""

    def __init__(
        self,
        transcript: Transcript | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.transcript = transcript
        self.max_message_bytes = max_message_bytes
        self.bytes_by_kind: Counter[str] = Counter()
        self.bytes_by_direction: Counter[str] = Counter()
        self.messages = 0
        self._handlers: dict[str, Handler] = {}

    def attach(self, party: Handler) -> None:
        if party.name in self._handlers:
            raise ValueError(f"a party named {party.name!r} is already attached")
        self._handlers[party.name] = party

    def cross(self, message: Message) -> Message:
        """Serialise, record and deliver one message; return what the receiver gets."""
        wire = encode(message)
        if len(wire) > self.max_message_bytes:
            raise ValueError(
                f"{message.kind.value} message of {len(wire)} bytes exceeds the boundary's "
                f"limit of {self.max_message_bytes} bytes"
            )
        if self.transcript is not None:
            self.transcript.append(message.sender, message.receiver, message.kind.value, wire)
        self.messages += 1
        self.bytes_by_kind[message.kind.value] += len(wire)
        self.bytes_by_direction[f"{message.sender}->{message.receiver}"] += len(wire)
        return decode(wire, self.max_message_bytes)

    def request(self, message: Message) -> Message:
        """Send ``message`` to its receiver's handler and bring the reply back across."""
        handler = self._handlers.get(message.receiver)
        if handler is None:
            raise ValueError(f"no party named {message.receiver!r} is attached to the boundary")
        reply = handler.handle(self.cross(message))
        if reply.receiver != message.sender:
            raise ValueError(f"{handler.name} replied to {reply.receiver!r}, not the requester")
        return self.cross(reply)

    def summary(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "bytes": sum(self.bytes_by_kind.values()),
            "bytes_by_kind": dict(sorted(self.bytes_by_kind.items())),
            "bytes_by_direction": dict(sorted(self.bytes_by_direction.items())),
        }
