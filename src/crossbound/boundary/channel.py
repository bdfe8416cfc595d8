"""The in-process transport: the only path from a data party to the model party.

A data party sends a request :class:`Message`; it is serialised, counted, appended to the
transcript, and only the decoded copy reaches the model party's handler; the reply crosses back
the same way. Strategies talk to a :class:`Boundary` and never hold the other party's objects,
so the same strategy code can later run over HTTP or Flower.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from crossbound.boundary.contracts import (
    AccessContract,
    ContractViolation,
    Guard,
    GuardContext,
    get_guard,
)
from crossbound.boundary.messages import Message, decode, encode
from crossbound.boundary.transcript import Transcript

DEFAULT_MAX_MESSAGE_BYTES = 1 << 30  # 1 GiB: larger than any adapter or emulator used here


class Handler(Protocol):
    """A party that answers requests (the model party)."""

    name: str

    def handle(self, request: Message) -> Message: ...


class Transport(Protocol):
    """Carries wire bytes to a remote party and brings its reply's wire bytes back."""

    def send(self, wire: bytes) -> bytes: ...


class Boundary:
    """Carries messages between parties in one process, recording every crossing."""

    def __init__(
        self,
        transcript: Transcript | None = None,
        contract: AccessContract | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        remote: Transport | None = None,
    ) -> None:
        self.transcript = transcript
        self.remote = remote  # where requests go for parties not attached in process
        self.contract = contract
        self.guard_contexts: dict[str, GuardContext] = {}  # party -> what its guards consult
        # Guard name -> the stronger check this boundary runs under that name (see
        # override_guard); other boundaries in the process keep the registered guard.
        self.guard_overrides: dict[str, Guard] = {}
        self.max_message_bytes = max_message_bytes
        self.bytes_by_kind: Counter[str] = Counter()
        self.bytes_by_direction: Counter[str] = Counter()
        self.messages = 0
        self.lm_calls = 0  # requests the model party answered
        self.lm_tokens = 0  # tokens its LM processed for them (it reports them in its replies)
        self._handlers: dict[str, Handler] = {}

    def attach(self, party: Handler) -> None:
        if party.name in self._handlers:
            raise ValueError(f"a party named {party.name!r} is already attached")
        self._handlers[party.name] = party

    def share_parties(self, other: Boundary) -> None:
        """Reach the same parties as ``other`` (in process or remote), now and when attached
        later: used for a second, separately recorded channel to the same model party."""
        self._handlers = other._handlers
        self.remote = other.remote

    def reaches(self, party: str) -> bool:
        """Whether requests to ``party`` have somewhere to go (attached, or remote)."""
        return party in self._handlers or self.remote is not None

    @contextmanager
    def override_guard(self, name: str, guard: Guard) -> Iterator[None]:
        """Run ``guard`` wherever a contract rule names the registered guard ``name``, on this
        boundary only and while the block runs (then the previous one is back).

        A run that needs a stronger check (a sanitiser that refuses any PII under
        ``no-raw-private-text``) installs it here rather than in the process-wide registry,
        which other runs in the process (the service's, a bench's) resolve names through.
        """
        get_guard(name)  # only a registered name: a typo would add a check no rule names
        previous = self.guard_overrides.get(name)
        self.guard_overrides[name] = guard
        try:
            yield
        finally:
            if previous is None:
                del self.guard_overrides[name]
            else:
                self.guard_overrides[name] = previous

    def admits(self, message: Message) -> bool:
        """Whether the contract's message rules (kinds, limits, guards) would let ``message``
        cross, checked as :meth:`cross` checks them (this boundary's guard contexts and
        overrides); nothing is sent or recorded. A data party's pre-flight."""
        if self.contract is None:
            return True
        try:
            self.contract.check(message, self.guard_contexts.get(message.sender),
                                guards=self.guard_overrides)
        except ContractViolation:
            return False
        return True

    def cross(self, message: Message) -> Message:
        """Check, serialise, record and deliver one message; return what the receiver gets.

        A message the contract refuses (its kind, limits, guards, or the operation it asks for)
        raises ``ContractViolation`` and is neither recorded nor delivered.
        """
        return decode(self._admit(message), self.max_message_bytes)

    def _admit(self, message: Message, wire: bytes | None = None) -> bytes:
        """Check ``message`` (serialised as ``wire``) against limits and contract; record it."""
        wire = encode(message) if wire is None else wire
        if len(wire) > self.max_message_bytes:
            # A float32 weights bundle (offsite-tuning, split learning) is the usual cause.
            hint = ("; a float32 weights bundle halves in bf16 (--set bundle_dtype=bfloat16)"
                    if message.meta.get("artifact") and message.meta.get("dtype") == "float32"
                    else "")
            raise ValueError(
                f"{message.kind.value} message of {len(wire)} bytes exceeds the boundary's "
                f"limit of {self.max_message_bytes} bytes{hint}"
            )
        if self.contract is not None:
            # Kinds, limits and guards, and the operation a data party's request asks for
            context = self.guard_contexts.get(message.sender)
            self.contract.enforce(message, context, wire_bytes=len(wire),
                                  guards=self.guard_overrides)
        if self.transcript is not None:
            self.transcript.append(message.sender, message.receiver, message.kind.value, wire)
        self.messages += 1
        self.bytes_by_kind[message.kind.value] += len(wire)
        self.bytes_by_direction[f"{message.sender}->{message.receiver}"] += len(wire)
        return wire

    def request(self, message: Message) -> Message:
        """Send ``message`` to its receiver and bring the reply back across.

        The receiver is a handler attached in process, or else the remote transport's party;
        both paths check, count and record the same bytes.
        """
        handler = self._handlers.get(message.receiver)
        if handler is not None:
            reply = self.cross(handler.handle(self.cross(message)))
        elif self.remote is not None:
            reply_wire = self.remote.send(self._admit(message))
            reply = decode(reply_wire, self.max_message_bytes)
            self._admit(reply, reply_wire)
        else:
            raise ValueError(f"no party named {message.receiver!r} is attached to the boundary")
        if reply.sender != message.receiver or reply.receiver != message.sender:
            raise ValueError(f"{message.receiver} replied as {reply.sender!r} to "
                             f"{reply.receiver!r}, not to the requester")
        self.lm_calls += 1
        self.lm_tokens += int(reply.meta.get("lm_tokens", 0))
        return reply

    def summary(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "bytes": sum(self.bytes_by_kind.values()),
            "bytes_by_kind": dict(sorted(self.bytes_by_kind.items())),
            "bytes_by_direction": dict(sorted(self.bytes_by_direction.items())),
        }
