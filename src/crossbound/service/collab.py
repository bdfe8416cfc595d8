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
model party offers). A data party's artifact is its own: only it may read or replace it. The
model party's published artifacts may be read by every party, if the contract lets the model
party send that artifact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from crossbound.boundary.contracts import MODEL_PARTY, ContractViolation, role_of
from crossbound.boundary.messages import Kind, Message, MessageError, decode, encode
from crossbound.boundary.signing import SignedHead
from crossbound.service.app import APIError, Party, ServiceState, get_state, model_turn

log = logging.getLogger("crossbound.service")
router = APIRouter(prefix="/v1/crossbound")

CONTENT_TYPE = "application/x-crossbound-message"
ACCEPTED_TYPES = {CONTENT_TYPE, "application/octet-stream"}
ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SUFFIX = ".cbm"


# ---------------------------------------------------------------- artifact store


@dataclass(frozen=True)
class Artifact:
    name: str
    owner: str
    wire: bytes


class ArtifactStore:
    """Named ``tensors`` messages in memory, optionally mirrored as ``NAME.cbm`` files.

    The owner of a stored artifact is the sender of its message, so a store reloaded from its
    folder knows whose each artifact is without a separate index.
    """

    def __init__(self, folder: str | Path | None, max_bytes: int) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.max_bytes = max_bytes
        self._items: dict[str, Artifact] = {}
        self._lock = threading.Lock()
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._load(self.folder)

    def _load(self, folder: Path) -> None:
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            wire = path.read_bytes()
            try:
                message = decode(wire)
            except MessageError as exc:
                log.warning("skipping artifact file %s: %s", path, exc)
                continue
            if ARTIFACT_NAME.match(name) and message.meta.get("artifact") == name:
                self._items[name] = Artifact(name, message.sender, wire)
            else:
                log.warning("skipping artifact file %s: its name does not match its message",
                            path)

    @property
    def total_bytes(self) -> int:
        return sum(len(a.wire) for a in self._items.values())

    def get(self, name: str) -> Artifact | None:
        return self._items.get(name)

    def put(self, name: str, owner: str, wire: bytes) -> bool:
        """Store (or replace) an artifact of ``owner``; True when it is new."""
        with self._lock:
            old = self._items.get(name)
            if old is not None and old.owner != owner:
                raise APIError(403, f"artifact {name!r} belongs to another party",
                               code="not_owner")
            size = self.total_bytes - (len(old.wire) if old else 0) + len(wire)
            if size > self.max_bytes:
                raise APIError(413, f"the artifact store would hold {size} bytes, over its "
                               f"limit of {self.max_bytes}", code="store_full")
            if self.folder is not None:
                path = self.folder / f"{name}{SUFFIX}"
                partial = path.with_name(path.name + ".partial")
                partial.write_bytes(wire)
                os.replace(partial, path)  # atomic: a crash leaves the old or the new file
            self._items[name] = Artifact(name, owner, wire)
            return old is None

    def publish(self, name: str, message: Message) -> None:
        """The model party offers ``message`` (kind ``tensors``) to every party as ``name``."""
        if message.sender != MODEL_PARTY or role_of(message.receiver) != "data":
            raise ValueError(f"published artifacts are sent by {MODEL_PARTY!r} to the data "
                             "parties (use a receiver such as 'data-parties')")
        _check_artifact_message(name, message)
        try:
            self.put(name, MODEL_PARTY, encode(message))
        except APIError as exc:  # a data party's name, or a full store
            raise ValueError(exc.message) from None


def _check_artifact_message(name: str, message: Message) -> None:
    if not ARTIFACT_NAME.match(name):
        raise ValueError(f"artifact name {name!r} is invalid: use letters, digits, '.', '_' "
                         "or '-' (at most 128 characters)")
    if message.kind != Kind.TENSORS:
        raise ValueError(f"an artifact is a tensors message, not {message.kind.value}")
    if message.meta.get("artifact") != name:
        raise ValueError(f"the message's meta['artifact'] must be {name!r}, the name it is "
                         f"stored under (got {message.meta.get('artifact')!r})")


# ---------------------------------------------------------------- helpers


def _check_content_type(request: Request) -> None:
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if given not in ACCEPTED_TYPES:
        raise APIError(415, f"send crossbound wire bytes with Content-Type: {CONTENT_TYPE} "
                       f"(got {given or 'none'!r})", code="unsupported_media_type")


def _unencodable(value: Any) -> bool:
    """Whether a decoded JSON value holds a string that is not valid Unicode text.

    JSON may escape lone surrogates (``"\\ud800"``); Python decodes them into strings that no
    tokenizer or encoder accepts, so they are refused at the door.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unencodable(k) or _unencodable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unencodable(v) for v in value)
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


def _check_request_limits(state: ServiceState, message: Message) -> None:
    """The service's limits on model-party operations (prompt length, tokens generated)."""
    if message.kind != Kind.TEXT or not message.payload:
        return  # the model party refuses these with its own message
    limits = state.limits
    for index, ids in enumerate(state.lm.tokenizer(message.payload)["input_ids"]):
        if not ids:  # a model cannot run on zero tokens
            raise APIError(400, f"prompt {index} is empty", code="empty_prompt")
        if len(ids) > limits.max_prompt_tokens:
            raise APIError(400, f"prompt {index} has {len(ids)} tokens; this server takes at "
                           f"most {limits.max_prompt_tokens}", code="prompt_too_long")
    if "max_new_tokens" in message.meta:
        try:  # the model party reads it with int(), so the limit does too
            wanted = int(message.meta["max_new_tokens"])
        except (TypeError, ValueError, OverflowError):
            raise APIError(400, "meta.max_new_tokens must be an integer",
                           code="invalid_value") from None
        if wanted > limits.max_tokens:
            raise APIError(400, f"max_new_tokens is {wanted}; this server generates at most "
                           f"{limits.max_tokens}", code="max_tokens_too_large")


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
    async with model_turn(state):
        wire = await run_in_threadpool(_answer, state, message)
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
        _check_artifact_message(name, message)
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_artifact") from None
    existing = state.artifacts.get(name)
    if existing is not None and existing.owner != party:
        raise APIError(403, f"artifact {name!r} belongs to another party", code="not_owner")
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
    artifact = state.artifacts.get(_artifact_name(name))
    if artifact is None:
        raise APIError(404, f"no artifact named {name!r}", param="name", code="not_found")
    if artifact.owner == party:
        # A party reading back its own upload: nothing it did not already hold crosses.
        return Response(artifact.wire, media_type=CONTENT_TYPE)
    if artifact.owner != MODEL_PARTY:
        raise APIError(403, f"artifact {name!r} belongs to another party", code="not_owner")
    message = await run_in_threadpool(decode, artifact.wire)
    state.check(message, len(artifact.wire))
    await run_in_threadpool(state.record, MODEL_PARTY, party, message.kind.value, artifact.wire)
    return Response(artifact.wire, media_type=CONTENT_TYPE)
