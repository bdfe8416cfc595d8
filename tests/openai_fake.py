"""A fake OpenAI-compatible server for tests: ``/v1/completions`` answered from a tiny model
built in code, the way vLLM answers (``echo``, ``logprobs``, ``prompt_logprobs``,
``return_tokens_as_token_ids``, a ``max_logprobs`` cap), with switches for what other servers
do (no echo, one prompt per request, llama.cpp's shifted prompt log-probs) and for hostile
answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEY = "fake-openai-key-0123456789"


@dataclass
class Behaviour:
    echo: bool = True  # False: 400 for echo (as crossbound serve answers)
    prompt_logprobs: bool = True  # False: the field is ignored (llama.cpp)
    lists: bool = True  # False: 500 for a list of prompts (llama.cpp)
    shift: bool = False  # prompt log-probs one position late (llama.cpp)
    max_logprobs: int = 20  # vLLM's --max-logprobs
    hostile: str | None = None  # see _spoil
    bodies: list[dict[str, Any]] = field(default_factory=list)  # requests received


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "BadRequestError"}}, status)


def fake_openai_app(model: Any, tokenizer: Any, behaviour: Behaviour) -> Starlette:
    """The app; every request needs ``Authorization: Bearer KEY``."""

    def name(token: int, as_ids: bool) -> str:
        return f"token_id:{token}" if as_ids else tokenizer.decode([token])

    @torch.no_grad()
    def answer(ids: list[int], body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        max_tokens = int(body.get("max_tokens", 16))
        generated: list[int] = []
        for _ in range(max_tokens):  # greedy
            logits = model(torch.tensor([ids + generated])).logits[0, -1]
            generated.append(int(logits.argmax()))
            if generated[-1] == tokenizer.eos_token_id:
                break
        full = ids + generated
        logp = torch.log_softmax(model(torch.tensor([full])).logits[0].float(), -1)  # (T, V)
        k, as_ids = body.get("logprobs"), bool(body.get("return_tokens_as_token_ids"))

        def step(t: int, top: int) -> tuple[float, dict[int, float]]:
            """Token t's log-prob and the top ``top`` at its position (with it, vLLM's way)."""
            row = logp[t - 1]
            best = row.topk(top) if top else None
            entries = {full[t]: float(row[full[t]])}
            if best is not None:
                entries.update(zip(best.indices.tolist(), best.values.tolist(), strict=True))
            return float(row[full[t]]), entries

        choice: dict[str, Any] = {"text": tokenizer.decode(generated, skip_special_tokens=True),
                                  "finish_reason": "length"}
        echo = bool(body.get("echo"))
        if echo:
            choice["text"] = tokenizer.decode(ids) + choice["text"]
        if k is not None:
            shown = range(len(full)) if echo else range(len(ids), len(full))
            tokens, values, tops = [], [], []
            for t in shown:
                tokens.append(name(full[t], as_ids))
                if t == 0:
                    values.append(None)
                    tops.append(None)
                    continue
                lp, entries = step(t, k)
                values.append(lp)
                tops.append({name(i, as_ids): v for i, v in entries.items()})
            if echo and behaviour.shift:  # each prompt log-prob one position late
                n = len(ids)
                values[:n] = [None, *values[: n - 1]]
                tops[:n] = [None, *tops[: n - 1]]
            offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
            choice["logprobs"] = {"tokens": tokens, "token_logprobs": values,
                                  "top_logprobs": tops, "text_offset": offsets}
        if body.get("prompt_logprobs") is not None and behaviour.prompt_logprobs:
            entries_at = [None]
            for t in range(1, len(ids)):
                _, entries = step(t, int(body["prompt_logprobs"]))
                entries_at.append({str(i): {"logprob": v, "rank": 1,
                                            "decoded_token": tokenizer.decode([i])}
                                   for i, v in entries.items()})
            if behaviour.shift:
                entries_at = [None, *entries_at[:-1]]
            choice["prompt_logprobs"] = entries_at
        return choice, len(full)

    async def completions(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _error(401, "bad key")
        if behaviour.hostile == "leak":
            return _error(400, f"cannot read a request from {request.headers['authorization']}")
        body = await request.json()
        behaviour.bodies.append(body)
        prompt = body["prompt"]
        if isinstance(prompt, str) or (prompt and isinstance(prompt[0], int)):
            prompts = [prompt]
        else:
            prompts = list(prompt)
            if not behaviour.lists:
                return _error(500, "prompt must be a string")
        if body.get("echo") and not behaviour.echo:
            return _error(400, "echo is not supported")
        for what in ("logprobs", "prompt_logprobs"):
            asked = body.get(what)
            if asked is not None and asked > behaviour.max_logprobs:
                return _error(400, f"Requested {what} of {asked}, which is greater than max "
                              f"allowed: {behaviour.max_logprobs}")
        choices, total = [], 0
        for index, p in enumerate(prompts):
            ids = tokenizer(p)["input_ids"] if isinstance(p, str) else list(p)
            choice, used = answer(ids, body)
            choices.append({"index": index, **choice})
            total += used
        data = {"id": "cmpl-fake", "object": "text_completion", "model": body.get("model"),
                "choices": choices, "usage": {"total_tokens": total}}
        return Response(_spoil(data, behaviour.hostile), media_type="application/json")

    return Starlette(routes=[Route("/v1/completions", completions, methods=["POST"])])


def _spoil(data: dict[str, Any], hostile: str | None) -> bytes:
    """The answer, as a hostile server might send it instead."""
    first = data["choices"][0]
    logprobs = first.get("logprobs") or {}
    if hostile == "nan" and logprobs:
        logprobs["token_logprobs"][-1] = float("nan")
        for top in logprobs["top_logprobs"]:
            if top:
                top[next(iter(top))] = float("nan")
    elif hostile == "positive" and logprobs:
        logprobs["token_logprobs"][-1] = 3.0
        for top in logprobs["top_logprobs"]:
            if top:
                top[next(iter(top))] = 3.0
    elif hostile == "short" and logprobs:
        logprobs["token_logprobs"].pop()
    elif hostile == "wide" and logprobs:
        logprobs["top_logprobs"] = [{f"t{i}": -1.0 for i in range(5000)}
                                    for _ in logprobs["tokens"]]
    elif hostile == "choices":
        data["choices"].append(dict(first))
    elif hostile == "huge":
        data["padding"] = "x" * (4 << 20)
    elif hostile == "deep":
        return b"[" * 100_000 + b"]" * 100_000
    elif hostile == "usage":
        data["usage"] = {"total_tokens": -5}
    return json.dumps(data, allow_nan=True).encode()
