"""The model party's HTTP service: app factory, authentication, limits and error handling.

:func:`create_app` builds the FastAPI app from what the model party holds (the LM, the data
parties' key hashes, the access contract, a transcript) so tests run it in process and
``crossbound serve`` runs the same app under uvicorn. The routes live in
:mod:`crossbound.service.openai_api` and :mod:`crossbound.service.collab`; the pieces they share
(limits, the error type, the per-app state, the authentication dependency) live here.

Every failure a client can cause answers with a 4xx and an OpenAI-style body
``{"error": {"message", "type", "param", "code"}}``, so OpenAI clients surface the message; a
5xx means a bug in this service, never bad input.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from crossbound.boundary.contracts import AccessContract, ContractViolation
from crossbound.boundary.messages import Message
from crossbound.boundary.operations import shown
from crossbound.boundary.transcript import Transcript
from crossbound.models.loading import LoadedModel
from crossbound.parties import ModelParty
from crossbound.service.generation import TokenText
from crossbound.service.keys import KeyStore
from crossbound.service.turns import FairTurns, Ticket, install_preemption, wait_turn

if TYPE_CHECKING:
    from crossbound.service.collab import ArtifactStore

log = logging.getLogger("crossbound.service")

MiB = 1 << 20
M = TypeVar("M", bound=BaseModel)
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


class APIError(Exception):
    """An error answered as ``{"error": {...}}`` with an HTTP status (OpenAI's error shape)."""

    TYPES: ClassVar[dict[int, str]] = {
        400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
        404: "not_found_error", 405: "invalid_request_error", 408: "invalid_request_error",
        413: "invalid_request_error", 415: "invalid_request_error", 422: "invalid_request_error"}

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, type_: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type_ or self.TYPES.get(status, "server_error")

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return error_response(self.status, self.message, self.type, self.param, self.code,
                              headers)


def error_response(status: int, message: str, type_: str, param: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_error(errors: list[Any]) -> APIError:
    """Validation errors as a 400 naming the offending field.

    A value that fits no member of a union (``prompt: str | list[str]``) gives one error per
    member, each with the member's name appended to the field's location; the common prefix
    of those locations is the field, and their messages are joined.
    """
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return APIError(400, f"the request body is not valid JSON: {first.get('msg')}",
                        code="invalid_json")
    locs = [tuple(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
            for e in errors]
    group = [(loc, e) for loc, e in zip(locs, errors, strict=True) if loc[:1] == locs[0][:1]]
    prefix = list(locs[0]) if locs else []
    for loc, _ in group:
        common = 0
        while common < min(len(prefix), len(loc)) and prefix[common] == loc[common]:
            common += 1
        prefix = prefix[:common]
    param = ".".join(prefix) or None
    messages = list(dict.fromkeys(str(e.get("msg", "invalid value")) for _, e in group))
    message = "; or ".join(messages) if messages else "invalid request"
    where = f"{param}: " if param else ""
    return APIError(400, f"{where}{message}", param=param, code="invalid_value")


def parse_body(model: type[M], body: bytes) -> M:
    """Validate a JSON request body against ``model``; any problem is a 400."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise _validation_error(list(exc.errors(include_url=False))) from None


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


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (413) or slower than ``timeout_s`` (408)
    before any route reads them.

    A declared Content-Length over the limit is refused without reading; otherwise the body
    is read here, counting the bytes that actually arrive (chunked uploads declare nothing),
    and handed to the app in one piece. Reading the whole body may take ``timeout_s``: a client
    that trickles bytes (or sends none) cannot hold a connection and a buffer open for ever.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    def _too_large(self) -> JSONResponse:
        return error_response(413, f"the request body exceeds the server's limit of "
                              f"{self.max_bytes} bytes", "invalid_request_error",
                              code="request_too_large")

    def _too_slow(self) -> JSONResponse:
        return error_response(408, f"the request body did not arrive within "
                              f"{self.timeout_s:g} seconds", "invalid_request_error",
                              code="request_timeout", headers={"Connection": "close"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0:
                response = error_response(400, "invalid Content-Length header",
                                          "invalid_request_error", code="invalid_header")
                await response(scope, receive, send)
                return
            if size > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
        chunks: list[bytes] = []
        size, more = 0, True
        with anyio.move_on_after(self.timeout_s) as deadline:
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left; nothing to answer
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_bytes:
                    await self._too_large()(scope, receive, send)
                    return
                chunks.append(chunk)
                more = bool(message.get("more_body", False))
        if deadline.cancelled_caught:
            await self._too_slow()(scope, receive, send)
            return
        body, replayed = b"".join(chunks), False

        async def replay() -> ASGIMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as usual

        await self.app(scope, replay, send)


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON (``application/json`` or ``application/*+json``)."""
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    kind, _, sub = given.partition("/")
    if not (kind == "application" and (sub == "json" or sub.endswith("+json"))):
        raise APIError(415, f"send the request body as JSON with Content-Type: "
                       f"application/json (got {given or 'none'!r})",
                       code="unsupported_media_type")


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route serves at this request's path (for 405's Allow header): each
    method is tried against the routes, as the router itself would match it."""
    allowed = []
    for method in HTTP_METHODS:
        scope = dict(request.scope, method=method)
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, APIError)
        return exc.response()

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation_error(list(exc.errors())).response()

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        type_ = APIError.TYPES.get(exc.status_code, "invalid_request_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method served at this path, not one route's
            headers["Allow"] = ", ".join(_allowed_methods(request)) or headers.get("Allow", "")
        return error_response(exc.status_code, str(exc.detail), type_, code=code,
                              headers=headers or None)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=exc)  # a bug here; the client gets no detail
        return error_response(500, "internal server error", "server_error")

    handlers: dict[type[Exception], Callable[[Request, Exception], Awaitable[JSONResponse]]] = {
        APIError: api_error,
        RequestValidationError: validation_error,
        StarletteHTTPException: http_error,
        Exception: unexpected,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)


def create_app(
    lm: LoadedModel,
    keys: KeyStore,
    contract: AccessContract,
    transcript: Transcript | None,
    limits: Limits | None = None,
    *,
    artifact_dir: str | Path | None = None,
) -> FastAPI:
    """The model party as an ASGI app: OpenAI-compatible routes plus collaboration routes.

    ``app.state.publish(name, message)`` lets the model party offer a ``tensors`` artifact to
    every authenticated party (the contract decides, at download time, whether it may cross).
    ``artifact_dir`` keeps uploaded and published artifacts on disk across restarts.
    """
    # The route modules import this module's shared types, so they are imported here.
    from crossbound.service.collab import ArtifactStore
    from crossbound.service.collab import router as collab_router
    from crossbound.service.openai_api import router as openai_router

    limits = limits or Limits()
    store = ArtifactStore(artifact_dir, limits.max_artifact_bytes)
    state = ServiceState(lm, keys, contract, transcript, limits, store)
    # The OpenAPI schema is public (it holds no secret: routes and body shapes, as in the
    # OpenAI API's own published spec); no interactive docs pages.
    app = FastAPI(title="crossbound model party", version=_version(), docs_url=None,
                  redoc_url=None, openapi_url="/openapi.json")
    app.state.service = state
    app.state.publish = store.publish
    _install_error_handlers(app)
    app.include_router(openai_router)
    app.include_router(collab_router)
    app.openapi = functools.partial(openapi_schema, app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes,
                       timeout_s=limits.body_timeout_s)
    log.info("serving %s to parties %s under contract %r", lm.name, keys.parties, contract.name)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("crossbound")
    except PackageNotFoundError:
        return "0"


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with what the routes read by hand declared: JSON request
    bodies (``json_body``), wire-message bodies, and bearer authentication, so clients and
    fuzzers (schemathesis, hypothesis) can build requests from it. Built once."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                         description="The model party of crossbound: OpenAI-compatible "
                         "routes plus collaboration routes. Every route takes "
                         "'Authorization: Bearer KEY'.")
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {"type": "http",
                                                              "scheme": "bearer"}
    schemas = components.setdefault("schemas", {})
    for model in JSON_BODIES.values():
        if isinstance(model, dict):
            continue
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body.pop("$defs", {}))
        schemas[model.__name__] = body
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            operation["security"] = [{"bearer": []}]
            operation.setdefault("responses", {}).setdefault(
                "4XX", {"description": "an OpenAI-style error: {error: {message, type, "
                        "param, code}}"})
            declared = JSON_BODIES.get((method.upper(), path))
            if declared is not None:
                ref = (declared if isinstance(declared, dict)
                       else {"$ref": f"#/components/schemas/{declared.__name__}"})
                operation["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": ref}}}
            elif (method.upper(), path) in WIRE_BODIES:
                operation["requestBody"] = {"required": True, "content": {
                    "application/x-crossbound-message": {
                        "schema": {"type": "string", "format": "binary"}}}}
    app.openapi_schema = schema
    return schema


# Request bodies the routes parse themselves, by (method, path), for the OpenAPI document;
# the route modules register theirs.
JSON_BODIES: dict[tuple[str, str], type[BaseModel] | dict[str, Any]] = {}
WIRE_BODIES: set[tuple[str, str]] = set()
