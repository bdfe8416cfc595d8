"""Collaboration routes: crossbound messages and artifacts over HTTP.

``POST /v1/crossbound/message`` carries exactly the wire bytes the in-process boundary would
carry (``Content-Type: application/x-crossbound-message``), so a strategy counts the same
bytes whichever transport it runs on. The server decodes the request, insists that its sender
is the authenticated party (a key is an identity: one party cannot speak for another), checks
the access contract, records the exact request bytes, lets the :class:`ModelParty` answer,
checks and records the reply, and returns the reply's bytes. ``POST /v1/crossbound/checkpoint``
countersigns a data party's transcript head (``crossbound.boundary.signing.SignedHead``) and
keeps it beside the server's transcript, so neither side can later rewrite its copy unseen.

Artifacts are ``tensors`` messages stored by name (adapters a data party tuned, emulators the
model party offers). Names are scoped per party: a data party's ``PUT /artifacts/NAME`` stores
its own ``NAME``, which only it reads, and never collides with another party's ``NAME``. A read
of ``NAME`` finds the reader's own artifact, else the model party's published one (if the
contract lets the model party send it), else 404 — the same 404 whether nobody holds ``NAME``
or another party does, so names tell nothing about other parties
(:class:`~crossbound.service.artifacts.ArtifactStore` keeps them).

The model's work for a request runs in the requesting party's turns
(:mod:`crossbound.service.turns`): the plain LM operations are preempted between forward
passes while another party waits, and their sizes are capped like the OpenAI routes'.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from crossbound.boundary.contracts import MODEL_PARTY, ContractViolation
from crossbound.boundary.messages import Kind, Message, MessageError, decode, encode
from crossbound.boundary.signing import SignedHead
from crossbound.parties import DEFAULT_NEW_TOKENS
from crossbound.service.artifacts import ARTIFACT_NAME, check_artifact_message
from crossbound.service.errors import APIError
from crossbound.service.state import (
    JSON_BODIES,
    WIRE_BODIES,
    Party,
    ServiceState,
    check_request_tokens,
    get_state,
    run_turn,
)

log = logging.getLogger("crossbound.service")
router = APIRouter(prefix="/v1/crossbound")

CONTENT_TYPE = "application/x-crossbound-message"
ACCEPTED_TYPES = {CONTENT_TYPE, "application/octet-stream"}


# ---------------------------------------------------------------- helpers


def _check_content_type(request: Request) -> None:
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if given not in ACCEPTED_TYPES:
        raise APIError(415, f"send crossbound wire bytes with Content-Type: {CONTENT_TYPE} "
                       f"(got {given or 'none'!r})", code="unsupported_media_type")


MAX_NESTING = 64  # levels of lists and objects in a message's header or JSON payload


def _unencodable(value: Any, max_depth: int = MAX_NESTING) -> bool:
    """Whether a decoded JSON value holds a string that is not valid Unicode text.

    JSON may escape lone surrogates (``"\\ud800"``); Python decodes them into strings that no
    tokenizer or encoder accepts, so they are refused at the door. Walked with an explicit
    stack, not recursion: a value nested deeper than ``max_depth`` lists or objects is a 400
    (no message needs that, and a deep one must not exhaust the interpreter's stack).
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise APIError(400, f"not a valid crossbound message: lists or objects nested "
                               f"more than {max_depth} levels deep", code="invalid_message")
            children = (list(item) + list(item.values()) if isinstance(item, dict) else item)
            stack.extend((child, depth + 1) for child in children)
    return False


def _decode(state: ServiceState, body: bytes) -> Message:
    try:
        message = decode(body, state.limits.max_body_bytes)
    except MessageError as exc:
        raise APIError(400, f"not a valid crossbound message: {exc}",
                       code="invalid_message") from None
    if not isinstance(message.meta, dict):
        raise APIError(400, "not a valid crossbound message: meta must be a JSON object",
                       code="invalid_message")
    texts = message.payload if message.kind in (Kind.TEXT, Kind.RECORDS, Kind.METRICS) else []
    if _unencodable([message.sender, message.receiver, message.meta, texts]):
        raise APIError(400, "not a valid crossbound message: a string in it is not valid "
                       "Unicode text (lone surrogate)", code="invalid_message")
    return message


def _check_parties(message: Message, party: str) -> None:
    if message.sender != party:
        raise APIError(403, f"the message claims sender {message.sender!r}, but the API key "
                       f"belongs to {party!r}", code="sender_mismatch")
    if message.receiver != MODEL_PARTY:
        raise APIError(400, f"this server is {MODEL_PARTY!r}; the message is addressed to "
                       f"{message.receiver!r}", code="wrong_receiver")


# The plain LM operations: they only read the LM, so a turn running one may be preempted
# between forward passes (service.turns); training and adapter operations run to the end.
PREEMPTIBLE_OPS = frozenset({"generate", "score_choices", "topk_logprobs", "lm_step"})
PROMPT_OPS = frozenset({"generate", "score_choices"})


def _preemptible(message: Message) -> bool:
    return (message.meta.get("op") in PREEMPTIBLE_OPS
            and message.meta.get("model", "lm") == "lm")


def _tokens(state: ServiceState, texts: list[str]) -> list[list[int]]:
    return [list(ids) for ids in state.lm.tokenizer(texts)["input_ids"]]


def _check_request_limits(state: ServiceState, message: Message) -> None:
    """The service's caps on the plain LM operations, the same as the OpenAI routes': prompts
    per request, tokens per prompt, new tokens, and all tokens of the request together."""
    op, limits = message.meta.get("op"), state.limits
    if message.kind == Kind.TOKEN_IDS and op in PREEMPTIBLE_OPS:
        ids = message.payload.get("ids") if isinstance(message.payload, dict) else None
        if ids is not None:
            check_request_tokens(state, int(ids.numel()), 0)
        return
    if message.kind != Kind.TEXT or op not in PROMPT_OPS or not message.payload:
        return  # the model party refuses malformed requests with its own message
    prompts: list[str] = message.payload
    if len(prompts) > limits.max_prompts:
        raise APIError(400, f"the request carries {len(prompts)} prompts; this server takes "
                       f"at most {limits.max_prompts} per request (as on /v1/completions): "
                       "send several requests", code="too_many_prompts")
    lengths = [len(ids) for ids in _tokens(state, prompts)]
    for index, length in enumerate(lengths):
        if not length:  # a model cannot run on zero tokens
            raise APIError(400, f"prompt {index} is empty", code="empty_prompt")
        if length > limits.max_prompt_tokens:
            raise APIError(400, f"prompt {index} has {length} tokens; this server takes at "
                           f"most {limits.max_prompt_tokens}", code="prompt_too_long")
    if op == "score_choices":
        choices = message.meta.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            return  # the model party names the problem
        if len(choices) > limits.max_prompts:
            raise APIError(400, f"score_choices takes at most {limits.max_prompts} choices",
                           code="too_many_choices")
        # every prompt is read once per choice, followed by that choice
        choice_tokens = sum(len(ids) for ids in _tokens(state, choices)) if choices else 0
        check_request_tokens(state, sum(lengths) * max(len(choices), 1),
                             len(prompts) * choice_tokens)
        return
    wanted = message.meta.get("max_new_tokens", DEFAULT_NEW_TOKENS)
    try:  # the model party reads it as an integer, so the limit does too
        wanted = int(wanted)
    except (TypeError, ValueError, OverflowError):
        raise APIError(400, "meta.max_new_tokens must be an integer",
                       code="invalid_value") from None
    if wanted > limits.max_tokens and "max_new_tokens" in message.meta:
        raise APIError(400, f"max_new_tokens is {wanted}; this server generates at most "
                       f"{limits.max_tokens}", code="max_tokens_too_large")
    check_request_tokens(state, sum(lengths), len(prompts) * max(wanted, 0))


def _answer(state: ServiceState, request: Message) -> bytes:
    """Run the model party on a request that has crossed; return the reply's wire bytes."""
    try:
        reply = state.party.handle(request)
    except ContractViolation as exc:  # the model party's own policy refused (offsite bundles)
        raise state.refusal(request, exc) from None
    except (ValueError, TypeError, OverflowError) as exc:  # MessageError is a ValueError
        raise APIError(422, f"the model party cannot serve this request: {exc}",
                       code="unprocessable_message") from None
    wire = encode(reply)
    state.check(reply, len(wire))
    state.record_message(reply, wire)
    return wire


def _artifact_name(name: str) -> str:
    if not ARTIFACT_NAME.match(name):
        raise APIError(400, f"artifact name {name!r} is invalid: use letters, digits, '.', "
                       "'_' or '-' (at most 128 characters)", param="name",
                       code="invalid_name")
    return name


# ---------------------------------------------------------------- routes


@router.post("/message")
async def message_route(party: Party, request: Request) -> Response:
    state = get_state(request)
    _check_content_type(request)
    body = await request.body()
    message = _decode(state, body)
    _check_parties(message, party)
    state.check(message, len(body))
    await run_in_threadpool(_check_request_limits, state, message)
    await run_in_threadpool(state.record_message, message, body)  # the exact bytes received
    wire = await run_turn(state, party, _preemptible(message), _answer, state, message)
    return Response(wire, media_type=CONTENT_TYPE)


@router.post("/checkpoint")
async def checkpoint_route(party: Party, request: Request) -> JSONResponse:
    """Countersign a data party's transcript head and keep it, so that party cannot later
    present a rewritten copy (``SERVER_TRANSCRIPT.checkpoints.jsonl``; see the threat model
    in :mod:`crossbound.boundary.transcript`)."""
    state = get_state(request)
    if state.transcript is None or not state.transcript.authenticated:
        raise APIError(409, "this server keeps no authenticated transcript, so it countersigns "
                       "no heads (start it with --transcript)", code="no_transcript")
    body = await request.body()
    try:
        head = SignedHead.from_dict(json.loads(body))
    except (ValueError, RecursionError) as exc:
        raise APIError(400, f"not a signed transcript head: {exc}", code="invalid_head") from None

    def countersign() -> SignedHead:
        assert state.transcript is not None
        with state.transcript_lock:
            return state.transcript.countersign(head, holder=party, party=MODEL_PARTY)

    signed = await run_in_threadpool(countersign)
    return JSONResponse(signed.to_dict())


@router.put("/artifacts/{name}")
async def put_artifact(name: str, party: Party, request: Request) -> JSONResponse:
    state = get_state(request)
    _artifact_name(name)
    _check_content_type(request)
    body = await request.body()
    message = _decode(state, body)
    _check_parties(message, party)
    try:
        check_artifact_message(name, message)
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_artifact") from None
    state.check(message, len(body))

    def store() -> bool:
        created = state.artifacts.put(name, party, body)
        state.record_message(message, body)
        return created

    created = await run_in_threadpool(store)
    info: dict[str, Any] = {"name": name, "owner": party, "bytes": len(body),
                            "sha256": hashlib.sha256(body).hexdigest()}
    return JSONResponse(info, status_code=201 if created else 200)


@router.get("/artifacts/{name}")
async def get_artifact(name: str, party: Party, request: Request) -> Response:
    state = get_state(request)
    artifact = state.artifacts.readable(party, _artifact_name(name))
    if artifact is None:  # the same answer whether nobody or another party holds the name
        raise APIError(404, f"you have no artifact named {name!r} and the model party "
                       "publishes none", param="name", code="not_found")
    if artifact.owner == party:
        # A party reading back its own upload: nothing it did not already hold crosses.
        return Response(artifact.wire, media_type=CONTENT_TYPE)
    message = await run_in_threadpool(decode, artifact.wire)
    state.check(message, len(artifact.wire))
    await run_in_threadpool(state.record, MODEL_PARTY, party, message.kind.value, artifact.wire)
    return Response(artifact.wire, media_type=CONTENT_TYPE)


WIRE_BODIES.update({("POST", "/v1/crossbound/message"),
                    ("PUT", "/v1/crossbound/artifacts/{name}")})
JSON_BODIES[("POST", "/v1/crossbound/checkpoint")] = {
    "type": "object", "description": "a signed transcript head "
    "(crossbound.boundary.signing.SignedHead.to_dict())"}
