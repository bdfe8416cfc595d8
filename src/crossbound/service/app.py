"""The model party's HTTP service: the app factory, body limits and error handling.

:func:`create_app` builds the FastAPI app from what the model party holds (the LM, the data
parties' key hashes, the access contract, a transcript) so tests run it in process and
``crossbound serve`` runs the same app under uvicorn. The routes live in
:mod:`crossbound.service.openai_api` and :mod:`crossbound.service.collab`; the pieces they share
live below them: limits, the per-app state, turns and authentication in
:mod:`~crossbound.service.state`, the error type in :mod:`~crossbound.service.errors`, the
artifact store in :mod:`~crossbound.service.artifacts`.

Every failure a client can cause answers with a 4xx and an OpenAI-style body
``{"error": {"message", "type", "param", "code"}}``, so OpenAI clients surface the message; a
5xx means a bug in this service, never bad input.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from crossbound.boundary.contracts import AccessContract
from crossbound.boundary.transcript import Transcript
from crossbound.models.loading import LoadedModel
from crossbound.service.artifacts import ArtifactStore
from crossbound.service.collab import router as collab_router
from crossbound.service.errors import APIError, error_response, validation_error
from crossbound.service.keys import KeyStore
from crossbound.service.openai_api import router as openai_router
from crossbound.service.state import JSON_BODIES, WIRE_BODIES, Limits, ServiceState

__all__ = ["APIError", "BodyLimit", "Limits", "create_app", "openapi_schema"]

log = logging.getLogger("crossbound.service")


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

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error(list(exc.errors())).response()

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
        RequestValidationError: invalid_request,
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
