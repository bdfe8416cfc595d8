"""OpenAI-compatible routes: ``/v1/models``, ``/v1/completions``, ``/v1/chat/completions``.

Any OpenAI client (or a tool built on one) can use the model party unchanged, which is what
makes the HTTP transport interchangeable with other OpenAI-compatible LM servers for
text and log-prob strategies. What is served is deliberately narrow (one choice per prompt, no
echo, no penalties): a request for something unsupported gets a 400 naming the parameter rather
than a silently different answer.

Every call crosses the boundary, so each one is checked against the access contract and
recorded: the prompt text as a ``text`` message from the caller to ``model-party``, the answer
as a ``text`` message back, and, when log-probs were returned, a ``topk_logprobs`` message
with the values and token ids that crossed (that is the model exposure a contract limits).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message, encode
from crossbound.service.errors import APIError, parse_body, require_json
from crossbound.service.generation import (
    MAX_TOP_LOGPROBS,
    Completion,
    SamplingParams,
    TextDelta,
    TokenStep,
    chat_logprobs,
    generate_text,
    legacy_logprobs,
)
from crossbound.service.state import (
    JSON_BODIES,
    Party,
    ServiceState,
    check_request_tokens,
    get_state,
    run_turn,
    stream_with_turns,
)

log = logging.getLogger("crossbound.service")
router = APIRouter(prefix="/v1")

DEFAULT_COMPLETION_TOKENS = 16  # the OpenAI default for /v1/completions
MAX_STOP_STRINGS = 4


# ---------------------------------------------------------------- request bodies


class _Body(BaseModel):
    """Unknown fields are ignored, as OpenAI does. Pydantic's JSON parser refuses bad UTF-8
    and lone surrogate escapes, so every string here encodes cleanly."""

    model_config = ConfigDict(extra="ignore")


class StreamOptions(_Body):
    include_usage: bool | None = None


class _SamplingBody(_Body):
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    n: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None


class CompletionBody(_SamplingBody):
    prompt: str | list[str]
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool | None = None
    best_of: int | None = None
    suffix: str | None = None


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]


class ChatBody(_SamplingBody):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)


def _unsupported(body: _SamplingBody) -> None:
    """400 for options this server would otherwise silently ignore."""
    if body.n not in (None, 1):
        raise APIError(400, "only n=1 is supported: send one request per completion",
                       param="n", code="unsupported_value")
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(body, name) not in (None, 0):
            raise APIError(400, f"{name} is not supported", param=name, code="unsupported")
    if body.logit_bias:
        raise APIError(400, "logit_bias is not supported", param="logit_bias", code="unsupported")


def _stops(body: _SamplingBody) -> tuple[str, ...]:
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > MAX_STOP_STRINGS or any(not s for s in stops):
        raise APIError(400, f"stop takes 1..{MAX_STOP_STRINGS} non-empty strings",
                       param="stop", code="invalid_value")
    return tuple(stops)


# ---------------------------------------------------------------- one call


@dataclass
class _Call:
    """One OpenAI request: tokenised prompts, sampling, and its crossings of the boundary."""

    state: ServiceState
    party: str
    op: str
    prompts: list[str]  # the text the model reads (chat: the rendered template)
    params: SamplingParams
    prompt_ids: list[list[int]] = field(default_factory=list)
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))
    special_tokens: bool = True  # False for chat: the template already has any BOS

    def prepare(self, requested_tokens: int | None) -> None:
        """Tokenise, apply the limits, and let the request cross (contract, transcript).

        ``requested_tokens`` None (chat without max_tokens) means as many as fit.
        """
        limits, tok = self.state.limits, self.state.lm.tokenizer
        window = self.state.context_window
        for index, prompt in enumerate(self.prompts):
            ids = list(tok(prompt, add_special_tokens=self.special_tokens)["input_ids"])
            if not ids:
                raise APIError(400, "the prompt is empty", param="prompt", code="empty_prompt")
            if len(ids) > limits.max_prompt_tokens:
                raise APIError(400, f"prompt {index} has {len(ids)} tokens; this server takes "
                               f"at most {limits.max_prompt_tokens}", param="prompt",
                               code="prompt_too_long")
            self.prompt_ids.append(ids)
        longest = max(len(ids) for ids in self.prompt_ids)
        if requested_tokens is None and window is not None:
            budget = min(limits.max_tokens, window - longest)
            self.params = replace(self.params, max_tokens=max(budget, 1))
        if window is not None and longest + self.params.max_tokens > window:
            raise APIError(400, f"the model's context is {window} tokens: a {longest}-token "
                           f"prompt leaves room for {max(window - longest, 0)} more, not "
                           f"{self.params.max_tokens}", param="max_tokens",
                           code="context_length_exceeded")
        check_request_tokens(self.state, sum(len(ids) for ids in self.prompt_ids),
                             len(self.prompt_ids) * self.params.max_tokens)
        request = Message(Kind.TEXT, self.party, MODEL_PARTY, list(self.prompts),
                          meta={"op": self.op})
        wire = encode(request)
        self.state.check(request, len(wire))
        # Fail fast if the answer could not cross back, before any tokens are generated.
        self.state.check(self._answer([""] * len(self.prompts)), None)
        if self.params.top_logprobs is not None:
            k = max(self.params.top_logprobs, 1)
            self.state.check(self._topk(torch.zeros(1, k), torch.zeros(1, k, dtype=torch.long),
                                        [1]), None)
        self.state.record_message(request, wire)

    def _answer(self, texts: list[str]) -> Message:
        return Message(Kind.TEXT, MODEL_PARTY, self.party, texts, meta={"op": self.op})

    def _topk(self, values: torch.Tensor, indices: torch.Tensor, lengths: list[int]) -> Message:
        return Message(Kind.TOPK_LOGPROBS, MODEL_PARTY, self.party,
                       {"values": values, "indices": indices},
                       meta={"op": self.op, "lengths": lengths})

    def deltas(self) -> Generator[tuple[int, TextDelta], None, None]:
        """All prompts' text deltas, in order (the caller holds the model)."""
        lm = self.state.lm
        for index, ids in enumerate(self.prompt_ids):
            for delta in generate_text(lm.model, lm.tokenizer, ids, self.params):
                yield index, delta

    def finish(self, outputs: list[Completion], strict: bool = True) -> None:
        """Let the answer cross: contract check (``strict``: refuse with 403) and transcript.

        A streamed answer has already crossed by the time it is complete, so it is recorded
        whatever the check says; its kind was checked before the first token.
        """
        crossings = [self._answer([o.text for o in outputs])]
        if self.params.top_logprobs is not None and any(o.tokens for o in outputs):
            k = max(self.params.top_logprobs, 1)
            rows = [s for o in outputs for s in o.tokens]
            tops = [list(s.top) or [(s.token_id, s.logprob)] for s in rows]
            values = torch.tensor([[lp for _, lp in t[:k]] for t in tops], dtype=torch.float32)
            indices = torch.tensor([[i for i, _ in t[:k]] for t in tops], dtype=torch.long)
            crossings.append(self._topk(values, indices, [len(o.tokens) for o in outputs]))
        wires = [(m, encode(m)) for m in crossings]
        for message, wire in wires if strict else ():
            self.state.check(message, len(wire))
        for message, wire in wires:
            self.state.record_message(message, wire)

    def usage(self, outputs: list[Completion]) -> dict[str, int]:
        prompt = sum(len(ids) for ids in self.prompt_ids)
        completion = sum(o.completion_tokens for o in outputs)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}

    def head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created,
                "model": self.state.lm.name}


def _params(state: ServiceState, body: _SamplingBody, max_tokens: int | None,
            top_logprobs: int | None) -> SamplingParams:
    _unsupported(body)
    if body.model is not None and body.model != state.lm.name:
        raise APIError(404, f"the model {body.model!r} does not exist; this server serves "
                       f"{state.lm.name!r}", param="model", code="model_not_found")
    limit = state.limits.max_tokens
    if max_tokens is not None and max_tokens > limit:
        raise APIError(400, f"max_tokens is {max_tokens}; this server generates at most "
                       f"{limit} tokens per completion", param="max_tokens",
                       code="max_tokens_too_large")
    temperature = 1.0 if body.temperature is None else body.temperature
    top_p = 1.0 if body.top_p is None else body.top_p
    return SamplingParams(max_tokens or limit, temperature, top_p, body.seed, _stops(body),
                          top_logprobs)


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False, allow_nan=False)}\n\n"


Chunk = Callable[[int, TextDelta, list[int]], dict[str, Any]]


def _stream_events(call: _Call, chunk: Chunk, include_usage: bool) -> Generator[str, None, None]:
    """SSE lines for a streamed call; ``chunk(index, delta, output_before)`` formats one."""
    outputs = [Completion() for _ in call.prompt_ids]
    deltas = call.deltas()
    try:
        for index, delta in deltas:
            before = [s.token_id for s in outputs[index].tokens]
            outputs[index].add(delta)
            if delta.text or delta.tokens or delta.finish_reason:
                yield _sse(chunk(index, delta, before))
        if include_usage:
            kind = "chat.completion.chunk" if call.op == "chat.completions" else "text_completion"
            yield _sse(call.head(kind) | {"choices": [], "usage": call.usage(outputs)})
        yield "data: [DONE]\n\n"
    except Exception as exc:  # the status line has been sent: report in the stream
        log.exception("streamed generation failed")
        message = exc.message if isinstance(exc, APIError) else "generation failed"
        yield _sse({"error": {"message": message, "type": "server_error", "param": None,
                              "code": None}})
    finally:
        deltas.close()
        try:
            call.finish(outputs, strict=False)
        except Exception:
            log.exception("could not record a streamed answer")


async def _run(call: _Call) -> list[Completion]:
    def work() -> list[Completion]:
        outputs = [Completion() for _ in call.prompt_ids]
        for index, delta in call.deltas():
            outputs[index].add(delta)
        call.finish(outputs)
        return outputs

    return await run_turn(call.state, call.party, True, work)


# ---------------------------------------------------------------- routes


def _model_card(state: ServiceState) -> dict[str, Any]:
    return {"id": state.lm.name, "object": "model", "created": 0, "owned_by": MODEL_PARTY}


@router.get("/models")
async def list_models(party: Party, request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [_model_card(get_state(request))]})


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, party: Party, request: Request) -> JSONResponse:
    state = get_state(request)
    if model_id != state.lm.name:
        raise APIError(404, f"the model {model_id!r} does not exist", param="model",
                       code="model_not_found")
    return JSONResponse(_model_card(state))


@router.post("/completions")
async def completions(party: Party, request: Request) -> Any:
    state = get_state(request)
    require_json(request)
    body = parse_body(CompletionBody, await request.body())
    if body.echo:
        raise APIError(400, "echo is not supported", param="echo", code="unsupported")
    if body.best_of not in (None, 1):
        raise APIError(400, "best_of is not supported", param="best_of", code="unsupported")
    if body.suffix:
        raise APIError(400, "suffix is not supported", param="suffix", code="unsupported")
    prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    if not 1 <= len(prompts) <= state.limits.max_prompts:
        raise APIError(400, f"prompt takes 1..{state.limits.max_prompts} strings",
                       param="prompt", code="invalid_value")
    params = _params(state, body, body.max_tokens or DEFAULT_COMPLETION_TOKENS, body.logprobs)
    call = _Call(state, party, "completions", prompts, params,
                 id=f"cmpl-{uuid.uuid4().hex}")
    await run_in_threadpool(call.prepare, params.max_tokens)
    tt = state.token_text

    def logprobs(steps: list[TokenStep], before: list[int]) -> dict[str, Any] | None:
        if body.logprobs is None:
            return None
        return legacy_logprobs(state.lm.tokenizer, tt, steps, before)

    if body.stream:
        def chunk(index: int, delta: TextDelta, before: list[int]) -> dict[str, Any]:
            choice = {"index": index, "text": delta.text,
                      "logprobs": logprobs(delta.tokens, before),
                      "finish_reason": delta.finish_reason}
            return call.head("text_completion") | {"choices": [choice]}

        usage = bool(body.stream_options and body.stream_options.include_usage)
        return stream_with_turns(call.state, call.party, _stream_events(call, chunk, usage))
    outputs = await _run(call)
    choices = [{"index": i, "text": o.text, "logprobs": logprobs(o.tokens, []),
                "finish_reason": o.finish_reason} for i, o in enumerate(outputs)]
    return JSONResponse(call.head("text_completion") | {"choices": choices,
                                                        "usage": call.usage(outputs)})


def _render_chat(state: ServiceState, messages: list[ChatMessage]) -> str:
    tok = state.lm.tokenizer
    if not getattr(tok, "chat_template", None):
        raise APIError(400, f"{state.lm.name} has no chat template; use /v1/completions",
                       code="no_chat_template")
    conversation = []
    for m in messages:
        text = m.content if isinstance(m.content, str) else "".join(p.text for p in m.content)
        role = "system" if m.role == "developer" else m.role
        conversation.append({"role": role, "content": text})
    try:
        rendered = tok.apply_chat_template(conversation, tokenize=False,
                                           add_generation_prompt=True)
    except Exception as exc:  # the template is the model's own code (Jinja): say what it said
        raise APIError(400, f"the chat template refused these messages: {exc}",
                       param="messages", code="invalid_messages") from None
    return str(rendered)


@router.post("/chat/completions")
async def chat_completions(party: Party, request: Request) -> Any:
    state = get_state(request)
    require_json(request)
    body = parse_body(ChatBody, await request.body())
    if body.top_logprobs is not None and not body.logprobs:
        raise APIError(400, "top_logprobs needs logprobs=true", param="top_logprobs",
                       code="invalid_value")
    requested = body.max_completion_tokens or body.max_tokens
    top = (body.top_logprobs or 0) if body.logprobs else None
    params = _params(state, body, requested, top)
    prompt = _render_chat(state, body.messages)
    call = _Call(state, party, "chat.completions", [prompt], params,
                 id=f"chatcmpl-{uuid.uuid4().hex}", special_tokens=False)
    await run_in_threadpool(call.prepare, requested)
    tt = state.token_text

    def logprobs(steps: list[TokenStep]) -> dict[str, Any] | None:
        return {"content": chat_logprobs(tt, steps)} if body.logprobs else None

    if body.stream:
        def chunk(index: int, delta: TextDelta, before: list[int]) -> dict[str, Any]:
            first = {"role": "assistant"} if not before else {}
            choice = {"index": index, "delta": first | {"content": delta.text},
                      "logprobs": logprobs(delta.tokens), "finish_reason": delta.finish_reason}
            return call.head("chat.completion.chunk") | {"choices": [choice]}

        usage = bool(body.stream_options and body.stream_options.include_usage)
        return stream_with_turns(call.state, call.party, _stream_events(call, chunk, usage))
    outputs = await _run(call)
    out = outputs[0]
    choice = {"index": 0, "message": {"role": "assistant", "content": out.text},
              "logprobs": logprobs(out.tokens), "finish_reason": out.finish_reason}
    return JSONResponse(call.head("chat.completion") | {"choices": [choice],
                                                        "usage": call.usage(outputs)})


JSON_BODIES[("POST", "/v1/completions")] = CompletionBody
JSON_BODIES[("POST", "/v1/chat/completions")] = ChatBody
