"""The model party over HTTP: the official OpenAI client against a real uvicorn server on
127.0.0.1, the collaboration and artifact routes, authentication, limits and bad input.

Every response the service gives in this file passes through :class:`StatusSpy`; a 5xx anywhere
fails the test that caused it (bad input must always be a 4xx).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import torch
from starlette.testclient import TestClient
from typer.testing import CliRunner

from crossbound.boundary.contracts import (
    MODEL_PARTY,
    NOTHING,
    OPEN_TEXT,
    AccessContract,
    allow,
)
from crossbound.boundary.messages import Kind, Message, decode, encode
from crossbound.boundary.transcript import Transcript, verify_transcript
from crossbound.cli import app as cli_app
from crossbound.models.loading import LoadedModel, load_model
from crossbound.parties import ModelParty
from crossbound.service.app import Limits, create_app
from crossbound.service.generation import SamplingParams, generate_text, token_steps
from crossbound.service.keys import KeyFileError, KeyStore
from tests.servers import running_server

pytestmark = pytest.mark.deployment

KEY0 = "key-of-data-party-0-0123456789"
KEY1 = "key-of-data-party-1-9876543210"
P0, P1 = "data-party-0", "data-party-1"
WIRE = "application/x-crossbound-message"
# The open text contract, plus data parties uploading tensors (adapters) as artifacts.
CONTRACT = AccessContract("test-open", (*OPEN_TEXT.rules, allow("data", Kind.TENSORS)))
LIMITS = Limits(max_body_bytes=256 * 1024, max_tokens=64, max_prompt_tokens=512)

STATUSES: list[int] = []


class StatusSpy:
    """ASGI wrapper noting the status of every response the app sends."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                STATUSES.append(message["status"])
            await send(message)

        await self.app(scope, receive, spy)


@pytest.fixture(autouse=True)
def no_server_errors() -> Iterator[None]:
    STATUSES.clear()
    yield
    assert not [s for s in STATUSES if s >= 500], f"server errors: {STATUSES}"


@pytest.fixture(scope="module")
def lm() -> LoadedModel:
    return load_model("tiny-large")


@pytest.fixture(scope="module")
def keys() -> KeyStore:
    return KeyStore.from_keys({P0: KEY0, P1: KEY1})


@dataclass
class Server:
    url: str
    app: Any
    transcript: Transcript

    def client(self, key: str = KEY0) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0,
                             timeout=30)

    def post(self, path: str, key: str | None = KEY0, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.post(f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.transcript.path.read_text().splitlines()]


@pytest.fixture(scope="module")
def server(lm: LoadedModel, keys: KeyStore, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    transcript = Transcript(tmp_path_factory.mktemp("service") / "server.jsonl")
    app = create_app(lm, keys, CONTRACT, transcript, LIMITS)
    with running_server(StatusSpy(app)) as url:
        yield Server(url, app, transcript)
    transcript.close()
    assert verify_transcript(transcript.path).ok


def greedy(lm: LoadedModel, prompt_ids: list[int], n: int) -> list[int]:
    ids = torch.tensor([prompt_ids])
    out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                            max_new_tokens=n)
    generated: list[int] = out[0, len(prompt_ids):].tolist()
    return generated


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["message"]
    return dict(body["error"])


# ---------------------------------------------------------------- generation


@pytest.mark.parametrize("prompt", ["Hello there, patient", "The quick brown fox", "a"])
def test_greedy_generation_equals_model_generate(lm: LoadedModel, prompt: str) -> None:
    ids = lm.tokenizer(prompt)["input_ids"]
    mine = [s.token_id for s in token_steps(lm.model, ids, SamplingParams(24, temperature=0))]
    assert mine == greedy(lm, ids, 24)
    # top-p that keeps only the most likely token is greedy too, whatever the temperature
    narrow = SamplingParams(24, temperature=1.5, top_p=1e-9, seed=3)
    assert [s.token_id for s in token_steps(lm.model, ids, narrow)] == mine


def test_stop_strings_are_cut_and_deltas_add_up(lm: LoadedModel) -> None:
    ids = lm.tokenizer("Stop me if you can")["input_ids"]
    full = "".join(d.text for d in generate_text(lm.model, lm.tokenizer, ids,
                                                 SamplingParams(20, temperature=0.9, seed=1)))
    stop = full[5:7]
    deltas = list(generate_text(lm.model, lm.tokenizer, ids,
                                SamplingParams(20, temperature=0.9, seed=1, stop=(stop,))))
    assert "".join(d.text for d in deltas) == full[: full.find(stop)]
    assert deltas[-1].finish_reason == "stop"
    assert all(d.finish_reason is None for d in deltas[:-1])


# ---------------------------------------------------------------- OpenAI client


def test_models_and_greedy_completion(server: Server, lm: LoadedModel) -> None:
    client = server.client()
    assert [m.id for m in client.models.list().data] == ["tiny-large"]
    assert client.models.retrieve("tiny-large").owned_by == MODEL_PARTY
    prompt = "The patient reports"
    done = client.completions.create(model="tiny-large", prompt=prompt, max_tokens=10,
                                     temperature=0)
    expected = greedy(lm, lm.tokenizer(prompt)["input_ids"], 10)
    assert done.choices[0].text == lm.tokenizer.decode(expected, skip_special_tokens=True)
    assert done.choices[0].finish_reason in {"length", "stop"}
    assert done.usage is not None
    assert done.usage.prompt_tokens == len(lm.tokenizer(prompt)["input_ids"])
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    # the call crossed the boundary: prompt and answer are in the server's transcript
    request, answer = server.entries()[-2:]
    sent = Message(Kind.TEXT, P0, MODEL_PARTY, [prompt], meta={"op": "completions"})
    assert (request["sender"], request["receiver"], request["kind"]) == (P0, MODEL_PARTY, "text")
    assert request["bytes"] == len(encode(sent))
    assert (answer["sender"], answer["receiver"]) == (MODEL_PARTY, P0)


def test_completion_logprobs_come_from_the_unmodified_distribution(
        server: Server, lm: LoadedModel) -> None:
    prompt = "Logprobs, please"
    done = server.client().completions.create(
        model="tiny-large", prompt=prompt, max_tokens=6, temperature=1.3, top_p=0.9, seed=11,
        logprobs=3)
    lp = done.choices[0].logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs
    assert lp.text_offset is not None
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs)
    assert all(3 <= len(top) <= 4 for top in lp.top_logprobs)  # top 3, plus the chosen one
    assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)
    ids = torch.tensor([lm.tokenizer(prompt)["input_ids"]])
    first = torch.log_softmax(lm.model(ids).logits[0, -1].float(), dim=-1)
    assert math.isclose(lp.top_logprobs[0][lp.tokens[0]], lp.token_logprobs[0])
    assert math.isclose(max(lp.top_logprobs[0].values()), first.max().item(), abs_tol=1e-4)
    (chosen,) = lm.tokenizer(lp.tokens[0], add_special_tokens=False)["input_ids"]
    assert math.isclose(lp.token_logprobs[0], first[chosen].item(), abs_tol=1e-4)
    scaled = torch.log_softmax(lm.model(ids).logits[0, -1].float() / 1.3, dim=-1)
    assert not math.isclose(lp.token_logprobs[0], scaled[chosen].item(), abs_tol=1e-4)
    assert server.entries()[-1]["kind"] == "topk_logprobs"  # the log-probs crossed too


def test_chat_with_top_logprobs(server: Server, lm: LoadedModel) -> None:
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Triage: cough for two days."}]
    done = server.client().chat.completions.create(
        model="tiny-large", messages=messages, max_tokens=8, temperature=0, logprobs=True,
        top_logprobs=2)  # type: ignore[arg-type]
    rendered = lm.tokenizer.apply_chat_template(messages, tokenize=False,
                                                add_generation_prompt=True)
    expected = greedy(lm, lm.tokenizer(rendered, add_special_tokens=False)["input_ids"], 8)
    choice = done.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == lm.tokenizer.decode(expected, skip_special_tokens=True)
    assert choice.logprobs is not None and choice.logprobs.content
    for entry in choice.logprobs.content:
        assert entry.bytes and len(entry.top_logprobs) == 2 and entry.logprob <= 0
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob


def test_streaming_matches_non_streaming(server: Server) -> None:
    client = server.client()
    args: dict[str, Any] = {"model": "tiny-large", "max_tokens": 12, "temperature": 0.8,
                            "seed": 5}
    whole = client.completions.create(prompt="Stream this", **args).choices[0].text
    chunks = list(client.completions.create(prompt="Stream this", stream=True, **args))
    assert "".join(c.choices[0].text for c in chunks) == whole
    assert chunks[-1].choices[0].finish_reason in {"length", "stop"}

    messages = [{"role": "user", "content": "Stream a chat answer"}]
    chat = client.chat.completions.create(messages=messages, **args)  # type: ignore[arg-type]
    stream = client.chat.completions.create(
        messages=messages, stream=True, stream_options={"include_usage": True},
        logprobs=True, **args)  # type: ignore[arg-type]
    parts = list(stream)
    assert all(p.object == "chat.completion.chunk" for p in parts)
    assert parts[0].choices[0].delta.role == "assistant"
    text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
    assert text == chat.choices[0].message.content
    assert parts[-1].usage is not None and parts[-1].usage.completion_tokens > 0
    finish = [p.choices[0].finish_reason for p in parts if p.choices]
    assert finish[-1] in {"length", "stop"} and set(finish[:-1]) == {None}


def test_seed_reproducibility_and_stop(server: Server) -> None:
    client = server.client()

    def sample(seed: int, **extra: Any) -> Any:
        return client.completions.create(model="tiny-large", prompt="Roll the dice",
                                         max_tokens=16, temperature=1.0, seed=seed,
                                         **extra).choices[0]

    first, again, other = sample(7), sample(7), sample(8)
    assert first.text == again.text and first.text != other.text
    stop = first.text[6:8]
    cut = sample(7, stop=[stop])
    assert cut.text == first.text[: first.text.find(stop)] and cut.finish_reason == "stop"


def test_concurrent_requests_are_served_one_at_a_time(server: Server, lm: LoadedModel) -> None:
    # Requests interleave at the model (service.turns), but forward passes never overlap.
    active, most = [0], [0]

    def enter(*_: Any) -> None:
        active[0] += 1
        most[0] = max(most[0], active[0])

    def leave(*_: Any) -> None:
        active[0] -= 1

    hooks = [lm.model.register_forward_pre_hook(enter), lm.model.register_forward_hook(leave)]
    client = server.client(KEY1)

    def run(i: int) -> str:
        if i % 2:
            stream = client.completions.create(model="tiny-large", prompt=f"request {i % 2}",
                                               max_tokens=8, temperature=0, stream=True)
            return "".join(c.choices[0].text for c in stream)
        return client.completions.create(model="tiny-large", prompt=f"request {i % 2}",
                                         max_tokens=8, temperature=0).choices[0].text

    try:
        with ThreadPoolExecutor(6) as pool:
            texts = list(pool.map(run, range(6)))
    finally:
        for hook in hooks:
            hook.remove()
    assert most[0] == 1  # never two forward passes at once
    assert len({texts[0], texts[2], texts[4]}) == 1 and len({texts[1], texts[3], texts[5]}) == 1


def test_a_client_leaving_mid_stream_releases_the_model(server: Server) -> None:
    before = len(server.entries())
    body = {"prompt": "A long answer", "max_tokens": 64, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {KEY0}"}) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # one event, then hang up
    done = server.client().completions.create(model="tiny-large", prompt="next", max_tokens=4,
                                              temperature=0)
    assert done.choices[0].finish_reason in {"length", "stop"}
    kinds = [(e["sender"], e["receiver"]) for e in server.entries()[before:]]
    assert kinds.count((MODEL_PARTY, P0)) == 2  # the cut-off answer was recorded too


# ---------------------------------------------------------------- auth and bad input


def test_authentication(server: Server) -> None:
    assert server.post("/v1/completions", key=None, json={"prompt": "x"}).status_code == 401
    bad = server.post("/v1/completions", key="not-a-key-of-anyone", json={"prompt": "x"})
    assert bad.status_code == 401 and error_of(bad)["code"] == "invalid_api_key"
    assert "not-a-key" not in bad.text
    unauthorised = httpx.get(f"{server.url}/v1/models")
    assert unauthorised.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        server.client("wrong-key-wrong-key").models.list()
    # malformed JSON without a key is still a 401, not a 400: nothing is read for strangers
    assert server.post("/v1/completions", key=None, content=b"{").status_code == 401


@pytest.mark.parametrize(("body", "param"), [
    (b"{not json", None),
    (b"\xff\xfe\x00garbage", None),
    (b"[1, 2]", None),
    (b'{"prompt": 123}', "prompt"),
    (b'{"prompt": "hi", "max_tokens": "lots"}', "max_tokens"),
    (b'{"prompt": "hi", "max_tokens": -3}', "max_tokens"),
    (b'{"prompt": "hi", "max_tokens": 1000}', "max_tokens"),
    (b'{"prompt": "hi", "n": 2}', "n"),
    (b'{"prompt": "hi", "temperature": -1}', "temperature"),
    (b'{"prompt": "hi", "top_p": 0}', "top_p"),
    (b'{"prompt": "hi", "top_p": 1.5}', "top_p"),
    (b'{"prompt": "hi", "logprobs": 21}', "logprobs"),
    (b'{"prompt": "hi", "echo": true}', "echo"),
    (b'{"prompt": "hi", "stop": [""]}', "stop"),
    (b'{"prompt": ""}', "prompt"),
    (b'{"prompt": []}', "prompt"),
    (b'{"prompt": "\\ud800"}', None),
    (b'{"max_tokens": 4}', "prompt"),
    (b'{"prompt": "' + b"x" * 600 + b'"}', "prompt"),  # over max_prompt_tokens
])
def test_bad_completion_requests_are_400(server: Server, body: bytes, param: str | None
                                         ) -> None:
    response = server.post("/v1/completions", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    error = error_of(response)
    if param is not None:
        assert error["param"] == param


@pytest.mark.parametrize("body", [
    {"messages": []},
    {"messages": [{"role": "user"}]},
    {"messages": [{"role": "robot", "content": "hi"}]},
    {"messages": "hello"},
    {"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2},
    {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 0},
    {"messages": [{"role": "user", "content": "hi"}], "n": 3},
])
def test_bad_chat_requests_are_400(server: Server, body: dict[str, Any]) -> None:
    response = server.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error_of(response)


def test_unknown_model_and_route(server: Server) -> None:
    unknown = server.post("/v1/completions", json={"model": "gpt-9", "prompt": "hi"})
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "model_not_found"
    assert server.post("/v1/nothing-here", json={}).status_code == 404


def test_oversized_bodies_are_413(server: Server, lm: LoadedModel, keys: KeyStore) -> None:
    big = b"x" * (LIMITS.max_body_bytes + 1)
    response = server.post("/v1/crossbound/message", content=big,
                           headers={"Content-Type": WIRE})
    assert response.status_code == 413 and error_of(response)["code"] == "request_too_large"
    # a chunked upload declares no length: the bytes actually read count
    client = TestClient(StatusSpy(server.app))

    def pieces() -> Iterator[bytes]:
        for _ in range(5):
            yield b"y" * (LIMITS.max_body_bytes // 4)

    chunked = client.post("/v1/completions", content=pieces(),
                          headers={"Authorization": f"Bearer {KEY0}"})
    assert chunked.status_code == 413


# ---------------------------------------------------------------- collaboration


def _score_request(sender: str = P0) -> Message:
    return Message(Kind.TEXT, sender, MODEL_PARTY, ["Cough and fever.", "Chest pain."],
                   meta={"op": "score_choices", "choices": ["urgent", "routine"]})


def test_message_round_trip_records_exact_bytes(server: Server, lm: LoadedModel) -> None:
    request = _score_request()
    wire = encode(request)
    before = len(server.entries())
    response = server.post("/v1/crossbound/message", content=wire,
                           headers={"Content-Type": WIRE})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == WIRE
    reply = decode(response.content)
    assert reply.kind == Kind.TENSORS and reply.receiver == P0
    local = ModelParty(lm).handle(request).payload["choice_logprobs"]
    assert torch.allclose(reply.payload["choice_logprobs"], local)
    entries = server.entries()
    assert len(entries) == before + 2
    sent, back = entries[-2:]
    assert sent["bytes"] == len(wire) and back["bytes"] == len(response.content)
    assert sent["sha256"] == hashlib.sha256(wire).hexdigest()
    assert back["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert (sent["sender"], back["sender"]) == (P0, MODEL_PARTY)


def test_message_refusals(server: Server) -> None:
    def post(body: bytes, key: str = KEY0, ctype: str = WIRE) -> httpx.Response:
        return server.post("/v1/crossbound/message", key=key, content=body,
                           headers={"Content-Type": ctype})

    before = len(server.entries())
    spoofed = post(encode(_score_request(sender=P1)))  # party 0's key, party 1's name
    assert spoofed.status_code == 403 and error_of(spoofed)["code"] == "sender_mismatch"
    assert post(b"CBM1 garbage").status_code == 400
    assert post(b"\x00" * 40).status_code == 400
    assert post(encode(_score_request()), ctype="application/json").status_code == 415
    elsewhere = Message(Kind.TEXT, P0, "data-party-1", ["hi"], meta={"op": "generate"})
    assert post(encode(elsewhere)).status_code == 400
    unknown_op = Message(Kind.TEXT, P0, MODEL_PARTY, ["hi"], meta={"op": "fine-tune"})
    assert post(encode(unknown_op)).status_code == 422
    assert len(server.entries()) == before + 1  # only the well-formed unknown op crossed


def _raw_wire(header: str, body: bytes) -> bytes:
    head = header.encode()
    return b"CBM1" + struct.pack("<I", len(head)) + head + body


_HEAD = '{"kind": "text", "sender": "data-party-0", "receiver": "model-party", "meta": %s}'


@pytest.mark.parametrize(("wire", "status"), [
    (_raw_wire(_HEAD % '{"op": "generate"}', b'["\\ud800"]'), 400),  # lone surrogate
    (_raw_wire(_HEAD % '{"op": "score_choices", "choices": ["\\udc00"]}', b'["a"]'), 400),
    (_raw_wire(_HEAD % "[1, 2]", b'["hi"]'), 400),
    (_raw_wire(_HEAD % '{"op": "generate", "max_new_tokens": Infinity}', b'["hi"]'), 400),
    (_raw_wire(_HEAD % '{"op": "generate", "max_new_tokens": 1000}', b'["hi"]'), 400),
    (_raw_wire(_HEAD % '{"op": "generate", "max_new_tokens": 2}', b'[""]'), 400),
    (_raw_wire(_HEAD % '{"op": "generate"}', b"[]"), 422),
    (_raw_wire(_HEAD % '{"op": "score_choices", "choices": []}', b'["hi"]'), 422),
    (_raw_wire("[1]", b'["hi"]'), 400),
    (b"CBM1" + struct.pack("<I", 1 << 31) + b"{}", 400),
    (_raw_wire(_HEAD.replace("text", "tensors") % "{}", b"not safetensors"), 400),
])
def test_malformed_messages_are_4xx(server: Server, wire: bytes, status: int) -> None:
    response = server.post("/v1/crossbound/message", content=wire,
                           headers={"Content-Type": WIRE})
    assert response.status_code == status, response.text
    error_of(response)


def test_extreme_sampling_values_are_served(server: Server) -> None:
    for extra in ({"seed": 10**30}, {"seed": -5}, {"temperature": 1e-30},
                  {"temperature": 2, "top_p": 1e-300}, {"logprobs": 0}):
        body = {"prompt": "hi", "max_tokens": 3} | extra
        assert server.post("/v1/completions", json=body).status_code == 200, extra


def test_artifacts(server: Server) -> None:
    weights = {"lora_a": torch.randn(4, 8), "lora_b": torch.zeros(8, 4)}
    mine = encode(Message(Kind.TENSORS, P0, MODEL_PARTY, weights, meta={"artifact": "adapter"}))
    path = "/v1/crossbound/artifacts/adapter"

    def call(method: str, name: str, key: str, body: bytes | None = None) -> httpx.Response:
        return httpx.request(method, f"{server.url}/v1/crossbound/artifacts/{name}",
                             content=body, headers={"Authorization": f"Bearer {key}",
                                                    "Content-Type": WIRE}, timeout=30)

    created = call("PUT", "adapter", KEY0, mine)
    assert created.status_code == 201, created.text
    assert created.json()["bytes"] == len(mine)
    assert call("PUT", "adapter", KEY0, mine).status_code == 200  # the owner may replace it
    got = call("GET", "adapter", KEY0)
    assert got.status_code == 200 and got.content == mine
    # another party's name is invisible: the same 404 as a name nobody holds
    not_yours, absent = call("GET", "adapter", KEY1), call("GET", "missing", KEY1)
    assert not_yours.status_code == absent.status_code == 404
    assert error_of(not_yours)["code"] == error_of(absent)["code"] == "not_found"
    # ... and names are scoped per party: party 1 stores its own "adapter" beside party 0's
    theirs = encode(Message(Kind.TENSORS, P1, MODEL_PARTY, {"w": torch.ones(2)},
                            meta={"artifact": "adapter"}))
    assert call("PUT", "adapter", KEY1, theirs).status_code == 201
    assert call("GET", "adapter", KEY1).content == theirs
    assert call("GET", "adapter", KEY0).content == mine
    assert httpx.get(f"{server.url}{path}").status_code == 401
    misnamed = encode(Message(Kind.TENSORS, P0, MODEL_PARTY, weights, meta={"artifact": "x"}))
    assert call("PUT", "adapter", KEY0, misnamed).status_code == 400
    # the model party publishes for everyone; the download crosses and is recorded
    emulator = Message(Kind.TENSORS, MODEL_PARTY, "data-parties", {"w": torch.ones(3)},
                       meta={"artifact": "emulator"})
    server.app.state.publish("emulator", emulator)
    public = call("GET", "emulator", KEY1)
    assert public.status_code == 200 and decode(public.content).payload["w"].sum() == 3
    last = server.entries()[-1]
    assert (last["sender"], last["receiver"], last["bytes"]) == (MODEL_PARTY, P1,
                                                                 len(public.content))


# ---------------------------------------------------------------- contracts (in process)


def test_nothing_crosses_refuses_everything(lm: LoadedModel, keys: KeyStore,
                                            tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "nothing.jsonl")
    app = create_app(lm, keys, NOTHING, transcript, LIMITS)
    client = TestClient(StatusSpy(app), headers={"Authorization": f"Bearer {KEY0}"})
    refused = client.post("/v1/crossbound/message", content=encode(_score_request()),
                          headers={"Content-Type": WIRE})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "contract_violation"
    assert "nothing-crosses" in refused.json()["error"]["message"]
    chat = client.post("/v1/chat/completions",
                       json={"messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 403
    app.state.publish("emulator", Message(Kind.TENSORS, MODEL_PARTY, "all", {"w": torch.ones(1)},
                                          meta={"artifact": "emulator"}))
    assert client.get("/v1/crossbound/artifacts/emulator").status_code == 403
    transcript.close()
    assert verify_transcript(transcript.path).entries == 0  # nothing crossed


def test_contract_names_the_artifacts_that_may_cross(lm: LoadedModel, keys: KeyStore,
                                                      tmp_path: Path) -> None:
    contract = AccessContract("emulator-only", (allow("model", Kind.TENSORS,
                                                      artifacts={"emulator"}),))
    app = create_app(lm, keys, contract, None, LIMITS, artifact_dir=tmp_path / "store")
    for name in ("emulator", "full-weights"):
        app.state.publish(name, Message(Kind.TENSORS, MODEL_PARTY, "all", {"w": torch.ones(2)},
                                        meta={"artifact": name}))
    client = TestClient(StatusSpy(app), headers={"Authorization": f"Bearer {KEY1}"})
    assert client.get("/v1/crossbound/artifacts/emulator").status_code == 200
    assert client.get("/v1/crossbound/artifacts/full-weights").status_code == 403
    # the folder keeps them: a restarted service still serves the emulator
    again = TestClient(StatusSpy(create_app(lm, keys, contract, None, LIMITS,
                                            artifact_dir=tmp_path / "store")),
                       headers={"Authorization": f"Bearer {KEY1}"})
    assert again.get("/v1/crossbound/artifacts/emulator").status_code == 200


# ---------------------------------------------------------------- keys and the command


def test_key_store(tmp_path: Path) -> None:
    store = KeyStore.from_keys({P0: KEY0, P1: KEY1})
    assert store.party_for(KEY0) == P0 and store.party_for(KEY1) == P1
    assert store.party_for("x" * 20) is None
    assert KEY0 not in repr(store)
    with pytest.raises(KeyFileError, match="shorter than 16"):
        KeyStore.from_keys({P0: "short"})
    with pytest.raises(KeyFileError, match="share one key"):
        KeyStore.from_keys({P0: KEY0, P1: KEY0})
    with pytest.raises(KeyFileError, match="server itself"):
        KeyStore.from_keys({MODEL_PARTY: KEY0})
    good = tmp_path / "keys.toml"
    good.write_text(f'[keys]\n{P0} = "{KEY0}"\n')
    assert KeyStore.from_file(good).parties == [P0]
    for text in ("not toml = = =", "[other]\na = 1\n", "[keys]\n"):
        good.write_text(text)
        with pytest.raises(KeyFileError):
            KeyStore.from_file(good)


def test_serve_refuses_to_start_without_valid_keys(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli_app, ["serve", "--model", "tiny-large", "--keys",
                                      str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "no such key file" in missing.output
    short = tmp_path / "short.toml"
    short.write_text('[keys]\ndata-party-0 = "tooshort"\n')
    refused = runner.invoke(cli_app, ["serve", "--model", "tiny-large", "--keys", str(short)])
    assert refused.exit_code == 2 and "shorter than 16" in refused.output
    assert "tooshort" not in refused.output
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys]\n{P0} = "{KEY0}"\n')
    bad_contract = runner.invoke(cli_app, ["serve", "--model", "tiny-large", "--keys",
                                           str(keys), "--contract", "anything-goes"])
    assert bad_contract.exit_code == 2 and "unknown contract" in bad_contract.output
