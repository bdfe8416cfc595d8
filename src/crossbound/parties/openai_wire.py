"""The HTTP end of an OpenAI-compatible model party: ``/v1/completions`` requests, and the
server's answers read as untrusted input.

An answer is read up to a byte limit (a server cannot make the data party buffer gigabytes),
parsed as strict JSON (no ``NaN`` / ``Infinity``, bounded nesting), and its ``choices`` checked
for shape (one per prompt, each index once) before anything reads them. The API key goes in a
header and nowhere else: it is scrubbed from every error message, and :attr:`where` (what
results record) is the URL without credentials or query.

Servers differ in what a request may carry: llama.cpp's takes one prompt per request (a list
gives a 500). :meth:`CompletionsClient.complete` sends lists while the server takes them; on a
refusal of a list it retries the first prompt alone, and when that is answered it goes on one
prompt per request and says why in :attr:`one_prompt` (a run's notes show it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from crossbound.boundary.errors import MessageError

MAX_RESPONSE_BYTES = 64 << 20  # top-20 at 2^16 positions is ~40 MB of JSON: room, not more
MAX_REPORTED_TOKENS = 1 << 40  # usage counts beyond this are not counts
ERROR_EXCERPT = 300  # characters of a server's error message repeated in ours
# Statuses after which a list of prompts is retried one prompt at a time (llama.cpp's server
# answers a list with 500); 401/403/404/429 mean something else and are never retried.
LIST_REFUSALS = frozenset({400, 413, 422, 500})

Prompt = str | list[int]  # a text, or token ids (the OpenAI API takes either)


class ServerError(MessageError):
    """The server answered a request with an error status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the OpenAI-compatible endpoint answered {status}: {detail}")
        self.status = status
        self.detail = detail


class Unreachable(MessageError):
    """The server could not be reached (connection, timeout)."""


@dataclass
class Completions:
    """What a batch of prompts got: one ``choices`` entry per prompt, in prompt order, and the
    tokens the server says it processed (``usage.total_tokens``, summed)."""

    choices: list[dict[str, Any]]
    tokens: int


def public_url(url: str) -> str:
    """``url`` without user, password, query or fragment: what a result may record."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> dict[str, Any]:
    """A server's answer as a JSON object; NaN, Infinity and over-deep nesting refused."""
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MessageError(f"the OpenAI-compatible endpoint's answer is not valid JSON "
                           f"({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise MessageError("the OpenAI-compatible endpoint's answer is not a JSON object")
    return data


def is_number(value: Any) -> bool:
    """A finite JSON number (not a bool)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


class CompletionsClient:
    """Requests to one server's ``/v1/completions``, for one model.

    ``prompts_per_request``: at most this many prompts per request (None: as many as the
    caller sends; 1: one prompt per request from the start, ``--openai-batch 1``).
    """

    def __init__(self, base_url: str, api_key: str, model: str, *, timeout: float = 600.0,
                 client: Any = None, prompts_per_request: int | None = None,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        if prompts_per_request is not None and prompts_per_request < 1:
            raise ValueError(f"prompts_per_request must be at least 1, got {prompts_per_request}")
        if client is None:
            client = httpx.Client(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.where = public_url(self.base_url)
        self.model = model
        self.prompts_per_request = prompts_per_request
        self.max_response_bytes = max_response_bytes
        self._client = client
        self._key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"}
        # Why this client sends one prompt per request (None: it sends lists).
        self.one_prompt: str | None = (
            "asked for (--openai-batch 1)" if prompts_per_request == 1 else None)
        self.requests = 0  # HTTP requests answered (any status)

    def __repr__(self) -> str:  # never the key
        return f"CompletionsClient({self.where!r}, model={self.model!r})"

    def scrub(self, text: str) -> str:
        """``text`` without the API key (a server may echo a request's headers back)."""
        return text.replace(self._key, "[api key]") if len(self._key) >= 4 else text

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """One request; its answer as a checked JSON object, or :class:`ServerError`."""
        try:
            with self._client.stream("POST", f"{self.base_url}/completions", json=body,
                                     headers=self._headers) as response:
                status = response.status_code
                raw = self._read(response.headers, response.iter_bytes())
        except httpx.HTTPError as exc:
            raise Unreachable(f"could not reach the OpenAI-compatible endpoint {self.where}: "
                               f"{type(exc).__name__}: {self.scrub(str(exc))[:ERROR_EXCERPT]}"
                               ) from None
        self.requests += 1
        if status != 200:
            raise ServerError(status, self._error_text(raw))
        return parse_json(raw)

    def _read(self, headers: Any, chunks: Iterator[bytes]) -> bytes:
        limit = self.max_response_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise MessageError(f"the OpenAI-compatible endpoint announced an answer of "
                               f"{declared} bytes; the limit is {limit}: refused")
        parts, size = [], 0
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise MessageError(f"the OpenAI-compatible endpoint's answer exceeds {limit} "
                                   "bytes: refused (raise max_response_bytes if a genuine "
                                   "answer is this large)")
            parts.append(chunk)
        return b"".join(parts)

    def _error_text(self, raw: bytes) -> str:
        text = raw[:4096].decode("utf-8", errors="replace")
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict):  # {"error": {"message": ...}} (OpenAI, vLLM), {"detail": ...}
            inner = data.get("error", data)
            message = inner.get("message", inner.get("detail")) if isinstance(inner, dict) \
                else inner
            if isinstance(message, str):
                text = message
        text = "".join(c if c.isprintable() else " " for c in text)
        return self.scrub(text)[:ERROR_EXCERPT]

    def complete(self, prompts: Sequence[Prompt], **params: Any) -> Completions:
        """``/v1/completions`` for every prompt (greedy), in as few requests as the server
        takes; the choices in prompt order."""
        choices: list[dict[str, Any]] = []
        tokens, start = 0, 0
        while start < len(prompts):
            size = 1 if self.one_prompt else (self.prompts_per_request or len(prompts))
            chunk = list(prompts[start : start + size])
            try:
                got = self._request(chunk, params)
            except ServerError as exc:
                if len(chunk) == 1 or exc.status not in LIST_REFUSALS:
                    raise
                refused, chunk = len(chunk), chunk[:1]
                got = self._request(chunk, params)  # its own error if one prompt fails too
                self.one_prompt = (f"the server refused a list of {refused} prompts "
                                   f"({exc.status}: {exc.detail[:120]}) and answered one")
            choices.extend(got.choices)
            tokens += got.tokens
            start += len(chunk)
        return Completions(choices, tokens)

    def _request(self, chunk: list[Prompt], params: dict[str, Any]) -> Completions:
        body = {"model": self.model, "prompt": chunk[0] if len(chunk) == 1 else chunk,
                "temperature": 0.0, **params}
        data = self.post(body)
        return Completions(checked_choices(data, len(chunk)), usage_tokens(data))


def checked_choices(data: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """``data["choices"]``: exactly one object per prompt, each index 0..n-1 once; in order."""
    choices = data.get("choices")
    if not isinstance(choices, list) or len(choices) != n:
        got = len(choices) if isinstance(choices, list) else type(choices).__name__
        raise MessageError(f"the OpenAI-compatible endpoint answered {got} choices for {n} "
                           "prompts")
    ordered: list[dict[str, Any] | None] = [None] * n
    for choice in choices:
        index = choice.get("index") if isinstance(choice, dict) else None
        if (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n
                or ordered[index] is not None):
            raise MessageError(f"the OpenAI-compatible endpoint's choices must each be an "
                               f"object with an index in 0..{n - 1}, each index once")
        ordered[index] = choice
    return [c for c in ordered if c is not None]


def usage_tokens(data: dict[str, Any]) -> int:
    """``usage.total_tokens`` (0 where the server gives none), checked."""
    usage = data.get("usage")
    if usage is None:
        return 0
    total = usage.get("total_tokens", 0) if isinstance(usage, dict) else None
    if total is None:
        return 0
    if (not isinstance(total, int) or isinstance(total, bool)
            or not 0 <= total <= MAX_REPORTED_TOKENS):
        raise MessageError(f"the OpenAI-compatible endpoint's usage.total_tokens is not a "
                           f"token count: {str(total)[:40]}")
    return total
