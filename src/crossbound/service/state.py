"""What the routes share within one app: its limits and state, turns at the model, the
authentication dependency, and the request bodies the OpenAPI document declares.

:func:`~crossbound.service.app.create_app` builds one :class:`ServiceState` per app; the
route modules (:mod:`~crossbound.service.openai_api`, :mod:`~crossbound.service.collab`) reach
it through :func:`get_state` and run the model's work in a party's turns (:func:`run_turn`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from crossbound.boundary.contracts import AccessContract, ContractViolation
from crossbound.boundary.messages import Message
from crossbound.boundary.operations import shown
from crossbound.boundary.transcript import Transcript
from crossbound.models.loading import LoadedModel
from crossbound.parties import ModelParty
from crossbound.service.artifacts import ArtifactStore
from crossbound.service.errors import APIError
from crossbound.service.generation import TokenText
from crossbound.service.keys import KeyStore
from crossbound.service.turns import FairTurns, Ticket, install_preemption, wait_turn

log = logging.getLogger("crossbound.service")

MiB = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server; larger requests get a 4xx, not a slow answer.

    The same caps hold on the OpenAI routes and on ``/v1/crossbound/message``'s plain LM
    operations (``generate``, ``score_choices``, ``topk_logprobs``, ``lm_step``), so no route
    lets a party ask for more model work in one request than another.
    """

    max_body_bytes: int = 8 * MiB  # request bodies, checked before the app reads them (413)
    max_tokens: int = 512  # tokens one completion may generate (400 above)
    max_prompt_tokens: int = 4096  # tokens of one prompt (400 above)
    max_prompts: int = 16  # prompts in one request (400 above)
    max_request_tokens: int = 1 << 15  # prompt + generated (or scored) tokens of one request
    max_artifact_bytes: int = 1 << 30  # all stored artifacts of one party together (413 above)
    body_timeout_s: float = 30.0  # reading one request body may take this long (408 after)
    # How long a turn at the model lasts while another party waits (service.turns): 0 hands
    # the model over before every forward pass; None never preempts a request.
    turn_quantum_s: float | None = 0.0

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_tokens", "max_prompt_tokens", "max_prompts",
                     "max_request_tokens", "max_artifact_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"limit {name} must be a positive integer")
        if not self.body_timeout_s > 0:
            raise ValueError("limit body_timeout_s must be a positive number of seconds")
        if self.turn_quantum_s is not None and not self.turn_quantum_s >= 0:
            raise ValueError("limit turn_quantum_s must be ≥ 0 seconds (or None)")


@dataclass
class ServiceState:
    """What the routes share: the model party, its contract and transcript, the turns.

    ``turns`` hands the model to one request at a time, round-robin between parties and
    preemptible between forward passes (:mod:`crossbound.service.turns`); the service runs
    one worker, and a CPU model gains nothing from running two forward passes at once.
    ``transcript_lock`` keeps the hash chain in order when requests record from different
    threads.
    """

    lm: LoadedModel
    keys: KeyStore
    contract: AccessContract
    transcript: Transcript | None
    limits: Limits
    artifacts: ArtifactStore
    party: ModelParty = field(init=False)
    token_text: TokenText = field(init=False)  # token names and bytes, cached across requests
    turns: FairTurns = field(init=False)
    transcript_lock: threading.Lock = field(default_factory=threading.Lock)
    refused: Counter[str] = field(default_factory=Counter)  # refusals per sending party

    def __post_init__(self) -> None:
        self.party = ModelParty(self.lm)
        self.token_text = TokenText(self.lm.tokenizer)
        self.turns = FairTurns(self.limits.turn_quantum_s)
        install_preemption(self.lm.model)

    @property
    def context_window(self) -> int | None:
        value = getattr(self.lm.model.config, "max_position_embeddings", None)
        return int(value) if isinstance(value, int) else None

    def check(self, message: Message, wire_bytes: int | None) -> None:
        """Refuse (403) what the contract does not allow — a kind, a limit, or the operation a
        data party's request asks for and its settings; nothing is recorded then."""
        try:
            self.contract.enforce(message, None, wire_bytes=wire_bytes)
        except ContractViolation as exc:
            raise self.refusal(message, exc) from None

    def refusal(self, message: Message, exc: ContractViolation) -> APIError:
        """The 403 for a refused message, counted per sender and logged: a refusal is not a
        crossing (the transcript records what crossed), but the operator sees who was refused
        what, e.g. a data party asking for the LM's weights."""
        self.refused[message.sender] += 1
        log.warning("refused %s (op %s) from %s: %s", message.kind.value,
                    shown(message.meta.get("op")), message.sender, exc)
        return APIError(403, str(exc), code="contract_violation")

    def record(self, sender: str, receiver: str, kind: str, wire: bytes) -> None:
        """Append one crossing (its exact wire bytes) to the transcript, if there is one."""
        if self.transcript is not None:
            with self.transcript_lock:
                self.transcript.append(sender, receiver, kind, wire)

    def record_message(self, message: Message, wire: bytes) -> None:
        self.record(message.sender, message.receiver, message.kind.value, wire)


@asynccontextmanager
async def model_turn(state: ServiceState, party: str) -> AsyncIterator[Ticket]:
    """Wait for ``party``'s turn at the model without occupying a worker thread, then hold
    it; the turn passes on however the block ends (a client leaving included)."""
    ticket = state.turns.ticket(party)
    try:
        await wait_turn(ticket)
        yield ticket
    finally:
        state.turns.release(ticket)


async def run_turn(state: ServiceState, party: str, preemptible: bool,
                   fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread during one of ``party``'s turns at the model.

    ``preemptible``: ``fn`` only reads the LM, so its forward passes may hand the model to
    another party's request in between (see :mod:`crossbound.service.turns`).
    """
    async with model_turn(state, party) as ticket:
        return await run_in_threadpool(state.turns.call, ticket, preemptible, fn, *args)


def stream_with_turns(state: ServiceState, party: str,
                      events: Generator[str, None, None]) -> StreamingResponse:
    """Stream server-sent ``events``, each computed in a worker thread during a turn at the
    model; between events (while the client reads) the model is free for others.

    ``events`` is closed however the response ends (a client leaving early included), so its
    own cleanup (recording the answer) always runs.
    """

    async def body() -> AsyncIterator[str]:
        try:
            while (chunk := await run_turn(state, party, True, next, events, None)) is not None:
                yield chunk
        finally:
            events.close()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def check_request_tokens(state: ServiceState, prompt_tokens: int, new_tokens: int) -> None:
    """400 when one request would have the model read and write more tokens than the
    server's ``max_request_tokens`` (the same cap on every route)."""
    total, limit = prompt_tokens + new_tokens, state.limits.max_request_tokens
    if total > limit:
        raise APIError(400, f"the request asks the model for {total} tokens ({prompt_tokens} "
                       f"to read, {new_tokens} to generate or score); this server takes at "
                       f"most {limit} per request: split it into smaller requests",
                       code="request_too_many_tokens")


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


async def authenticate(request: Request) -> str:
    """The party whose key is in ``Authorization: Bearer KEY``, or a 401.

    The key itself is never logged or echoed; the returned party name is what the server
    records as the sender of everything in this request.
    """
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise APIError(401, "missing API key: send 'Authorization: Bearer KEY'",
                       code="missing_api_key")
    party = get_state(request).keys.party_for(key.strip())
    if party is None:
        raise APIError(401, "incorrect API key", code="invalid_api_key")
    request.state.party = party
    return party


Party = Annotated[str, Depends(authenticate)]


# Request bodies the routes parse themselves, by (method, path), for the OpenAPI document;
# the route modules register theirs.
JSON_BODIES: dict[tuple[str, str], type[BaseModel] | dict[str, Any]] = {}
WIRE_BODIES: set[tuple[str, str]] = set()
