"""The service's error answers, and the request checks that raise them.

Every failure a client can cause answers with a 4xx and an OpenAI-style body
``{"error": {"message", "type", "param", "code"}}`` (:class:`APIError`), so OpenAI clients
surface the message; a 5xx means a bug in the service, never bad input.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


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


def validation_error(errors: list[Any]) -> APIError:
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
        raise validation_error(list(exc.errors(include_url=False))) from None


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON (``application/json`` or ``application/*+json``)."""
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    kind, _, sub = given.partition("/")
    if not (kind == "application" and (sub == "json" or sub.endswith("+json"))):
        raise APIError(415, f"send the request body as JSON with Content-Type: "
                       f"application/json (got {given or 'none'!r})",
                       code="unsupported_media_type")
