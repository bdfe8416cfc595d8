"""Fairness between parties at the model party's service, and its HTTP hygiene.

Turn-taking is checked by the order of grants and forward passes, never by wall-clock timings
(``benchmarks/fairness.py`` measures latencies).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import torch
from starlette.testclient import TestClient

from crossbound.boundary.contracts import MODEL_PARTY, OPEN_TEXT, AccessContract, allow
from crossbound.boundary.messages import Kind, Message, encode
from crossbound.models.loading import LoadedModel, load_model
from crossbound.parties import ModelParty
from crossbound.service.app import APIError, BodyLimit, Limits, create_app
from crossbound.service.artifacts import ArtifactStore
from crossbound.service.collab import MAX_NESTING, _unencodable
from crossbound.service.keys import KeyStore
from crossbound.service.turns import FairTurns
from tests.servers import running_server

pytestmark = pytest.mark.deployment

KEY_A = "key-of-data-party-a-0123456789"
KEY_B = "key-of-data-party-b-9876543210"
A, B = "data-party-a", "data-party-b"
WIRE = "application/x-crossbound-message"
CONTRACT = AccessContract("test-open", (*OPEN_TEXT.rules, allow("data", Kind.TENSORS)))
LIMITS = Limits(max_body_bytes=256 * 1024, max_tokens=64, max_prompt_tokens=512)


@pytest.fixture(scope="module")
def lm() -> LoadedModel:
    return load_model("tiny-large")


@pytest.fixture(scope="module")
def keys() -> KeyStore:
    return KeyStore.from_keys({A: KEY_A, B: KEY_B})


def _client(app: Any, key: str = KEY_A) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {key}"})


def _message(client: TestClient, message: Message) -> httpx.Response:
    return client.post("/v1/crossbound/message", content=encode(message),
                       headers={"Content-Type": WIRE})


# ---------------------------------------------------------------- the turn scheduler


def test_parties_take_turns_round_robin() -> None:
    turns = FairTurns()
    turns.log = []
    first = turns.ticket(A)  # granted at once: the model is free
    queued = [turns.ticket(A) for _ in range(3)] + [turns.ticket(B), turns.ticket(B)]
    assert first.granted.is_set() and not any(t.granted.is_set() for t in queued)
    order = [first, *[t for t in queued if t.party == A], *[t for t in queued if t.party == B]]
    holders = []
    for _ in order:
        holder = next(t for t in order if t.granted.is_set() and t not in holders)
        holders.append(holder)
        turns.release(holder)
    # A sent four requests before B sent two, yet B waits for one of A's requests, not four
    assert [t.party for t in holders] == [A, B, A, B, A, A]
    assert turns.log == [A, B, A, B, A, A] and turns.holder is None


def test_a_withdrawn_ticket_leaves_the_queue() -> None:
    turns = FairTurns()
    held, waiting, other = turns.ticket(A), turns.ticket(B), turns.ticket(A)
    turns.release(waiting)  # a client that left while waiting
    turns.release(held)
    assert other.granted.is_set() and not waiting.granted.is_set()
    turns.release(other)
    assert turns.holder is None and turns.waiting == {}


def test_a_long_turn_yields_between_forward_passes() -> None:
    """A's request (5 forward passes) is preempted for B's (2), forward pass by forward pass."""
    turns = FairTurns(quantum_s=0.0)
    trace: list[str] = []
    a, b = turns.ticket(A), turns.ticket(B)

    def forwards(ticket: Any, n: int) -> None:
        ticket.granted.wait()
        for i in range(n):
            turns.maybe_yield(ticket)  # what the forward pre-hook does
            trace.append(f"{ticket.party[-1]}{i}")
        turns.release(ticket)

    worker = threading.Thread(target=forwards, args=(a, 5))
    worker.start()
    forwards(b, 2)
    worker.join(10)
    assert trace == ["a0", "b0", "a1", "b1", "a2", "a3", "a4"]
    assert turns.preemptions == 3  # A yielded twice, B once; nobody waited after B left


def test_no_preemption_without_a_waiting_party_or_with_quantum_none() -> None:
    turns = FairTurns(quantum_s=0.0)
    a = turns.ticket(A)
    assert not any(turns.maybe_yield(a) for _ in range(3))  # only A: nothing to yield to
    turns.ticket(A)
    assert not turns.maybe_yield(a)  # A's own later request waits for this one
    never = FairTurns(quantum_s=None)
    held = never.ticket(A)
    never.ticket(B)
    assert not any(never.maybe_yield(held) for _ in range(3))


def test_a_small_request_interleaves_with_a_flood(lm: LoadedModel, keys: KeyStore) -> None:
    """Over HTTP: while A's 16-prompt generation runs, B's chat runs in alternate forward
    passes and is answered before A's request completes."""
    app = create_app(lm, keys, CONTRACT, None, LIMITS)
    turns: FairTurns = app.state.service.turns
    trace: list[str | None] = []
    a_started, b_queued = threading.Event(), threading.Event()

    def record(*_: Any) -> None:  # after the preemption hook: the party now running
        if not trace:  # A's first forward pass: hold it until B's request waits for a turn
            a_started.set()
            deadline = time.monotonic() + 20
            while B not in turns.waiting and time.monotonic() < deadline:
                time.sleep(0.001)
            if B in turns.waiting:
                b_queued.set()
        trace.append(turns.holder)

    hook = lm.model.get_input_embeddings().register_forward_pre_hook(record)
    done: list[str] = []
    flood = Message(Kind.TEXT, A, MODEL_PARTY, [f"Patient {i} reports pain." for i in range(16)],
                    meta={"op": "generate", "max_new_tokens": 32})
    try:
        with running_server(app) as url:
            def party_a() -> None:
                response = httpx.post(f"{url}/v1/crossbound/message", content=encode(flood),
                                      headers={"Authorization": f"Bearer {KEY_A}",
                                               "Content-Type": WIRE}, timeout=60)
                assert response.status_code == 200, response.text
                done.append(A)

            worker = threading.Thread(target=party_a)
            worker.start()
            assert a_started.wait(20)
            chat = httpx.post(f"{url}/v1/chat/completions", timeout=60,
                              headers={"Authorization": f"Bearer {KEY_B}"},
                              json={"messages": [{"role": "user", "content": "hi"}],
                                    "max_tokens": 4, "temperature": 0})
            assert chat.status_code == 200, chat.text
            done.append(B)
            worker.join(60)
    finally:
        hook.remove()
    assert b_queued.is_set() and done == [B, A]  # B was answered while A's flood ran
    first, last = trace.index(B), len(trace) - 1 - trace[::-1].index(B)
    window = trace[first:last + 1]
    assert window.count(B) >= 2 and A in window
    # strict alternation: never two of A's forward passes while B's request waited
    assert all(not (x == y == A) for x, y in itertools.pairwise(window)), window
    assert trace[:first] == [A]  # B waited for exactly one of A's forward passes


# ---------------------------------------------------------------- size caps


@pytest.mark.parametrize(("message", "code"), [
    (Message(Kind.TEXT, A, MODEL_PARTY, ["hi"] * 17, meta={"op": "generate"}),
     "too_many_prompts"),
    (Message(Kind.TEXT, A, MODEL_PARTY, ["hi"] * 17,
             meta={"op": "score_choices", "choices": ["a", "b"]}), "too_many_prompts"),
    (Message(Kind.TEXT, A, MODEL_PARTY, ["hi"], meta={"op": "generate", "max_new_tokens": 65}),
     "max_tokens_too_large"),
    (Message(Kind.TEXT, A, MODEL_PARTY, ["hi"] * 16, meta={"op": "generate",
                                                            "max_new_tokens": 64}),
     "request_too_many_tokens"),
    (Message(Kind.TEXT, A, MODEL_PARTY, ["hi"],
             meta={"op": "score_choices", "choices": [f"c{i}" for i in range(17)]}),
     "too_many_choices"),
    (Message(Kind.TOKEN_IDS, A, MODEL_PARTY, {"ids": torch.ones(4, 300, dtype=torch.int32)},
             meta={"op": "topk_logprobs", "k": 2}), "request_too_many_tokens"),
])
def test_message_requests_are_capped_like_the_openai_routes(
        lm: LoadedModel, keys: KeyStore, message: Message, code: str) -> None:
    limits = Limits(max_tokens=64, max_prompt_tokens=512, max_request_tokens=1000)
    contract = AccessContract("test-ids", (*CONTRACT.rules, allow("data", Kind.TOKEN_IDS)))
    client = _client(create_app(lm, keys, contract, None, limits))
    response = _message(client, message)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_openai_routes_cap_total_tokens(lm: LoadedModel, keys: KeyStore) -> None:
    limits = Limits(max_tokens=64, max_prompt_tokens=512, max_request_tokens=100)
    client = _client(create_app(lm, keys, CONTRACT, None, limits))
    response = client.post("/v1/completions", json={"prompt": ["hi"] * 4, "max_tokens": 30})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request_too_many_tokens"
    small = client.post("/v1/completions", json={"prompt": ["hi"] * 2, "max_tokens": 3})
    assert small.status_code == 200, small.text


# ---------------------------------------------------------------- sessions and artifacts


def _step(sender: str, session: str, new: bool) -> Message:
    ids = torch.tensor([[5, 6, 7]], dtype=torch.int32)
    return Message(Kind.TOKEN_IDS, sender, MODEL_PARTY, {"ids": ids, "mask": torch.ones_like(ids)},
                   meta={"op": "lm_step", "session": session, "new": new})


def test_one_party_opening_sessions_never_evicts_anothers(lm: LoadedModel) -> None:
    party = ModelParty(lm)
    party.handle(_step(B, "mine", new=True))
    for i in range(40):  # more than one party's cap (32)
        party.handle(_step(A, f"s{i}", new=True))
    assert party.handle(_step(B, "mine", new=False)).kind == Kind.TOKEN_IDS
    with pytest.raises(ValueError, match="no session 's0'"):  # A's own oldest went first
        party.handle(_step(A, "s0", new=False))


def _artifact(sender: str, name: str, value: float = 1.0) -> bytes:
    return encode(Message(Kind.TENSORS, sender, MODEL_PARTY, {"w": torch.full((4,), value)},
                          meta={"artifact": name}))


def test_artifact_names_are_scoped_per_party(lm: LoadedModel, keys: KeyStore,
                                             tmp_path: Path) -> None:
    store = tmp_path / "store"
    app = create_app(lm, keys, CONTRACT, None, LIMITS, artifact_dir=store)
    a, b = _client(app, KEY_A), _client(app, KEY_B)
    path = "/v1/crossbound/artifacts/offsite-adapter"
    put = {"headers": {"Content-Type": WIRE}}
    assert a.put(path, content=_artifact(A, "offsite-adapter"), **put).status_code == 201
    # B is not locked out of the name, and learns nothing about A's: absent and "not yours"
    # answer alike
    absent, not_yours = b.get("/v1/crossbound/artifacts/nothing"), b.get(path)
    assert absent.status_code == not_yours.status_code == 404
    assert absent.json()["error"]["code"] == not_yours.json()["error"]["code"]
    assert b.put(path, content=_artifact(B, "offsite-adapter", 2.0), **put).status_code == 201
    # after a restart each party still reads its own, and nobody else's
    again = create_app(lm, keys, CONTRACT, None, LIMITS, artifact_dir=store)
    assert _client(again, KEY_A).get(path).content == _artifact(A, "offsite-adapter")
    assert _client(again, KEY_B).get(path).content == _artifact(B, "offsite-adapter", 2.0)
    assert sorted(p.parent.name for p in store.rglob("*.cbm")) == [A, B]


def test_artifact_quota_is_per_party_and_old_flat_files_load(tmp_path: Path) -> None:
    (tmp_path / "legacy.cbm").write_bytes(_artifact(A, "legacy"))  # an older flat layout
    store = ArtifactStore(tmp_path, max_bytes=len(_artifact(A, "x")) + 100)
    assert store.readable(A, "legacy") is not None and store.readable(B, "legacy") is None
    with pytest.raises(APIError, match="per party"):  # A's own quota is used up
        store.put("x", A, _artifact(A, "x"))
    assert store.put("x", B, _artifact(B, "x"))  # B's is not


def test_unencodable_is_depth_bounded() -> None:
    deep: Any = "x"
    for _ in range(10_000):  # far deeper than the interpreter's recursion limit
        deep = [deep]
    with pytest.raises(APIError, match="nested more than"):
        _unencodable(deep)
    shallow: Any = "\ud800"
    for _ in range(MAX_NESTING - 1):
        shallow = {"k": shallow}
    assert _unencodable(shallow) is True


def test_a_deeply_nested_header_is_a_400(lm: LoadedModel, keys: KeyStore) -> None:
    import struct

    meta = '{"op": "generate", "x": ' + "[" * 500 + "]" * 500 + "}"
    head = ('{"kind": "text", "sender": "data-party-a", "receiver": "model-party", '
            f'"meta": {meta}}}').encode()
    wire = b"CBM1" + struct.pack("<I", len(head)) + head + b'["hi"]'
    client = _client(create_app(lm, keys, CONTRACT, None, LIMITS))
    response = client.post("/v1/crossbound/message", content=wire,
                           headers={"Content-Type": WIRE})
    assert response.status_code == 400, response.text


# ---------------------------------------------------------------- HTTP hygiene


def test_openai_routes_require_json(lm: LoadedModel, keys: KeyStore) -> None:
    client = _client(create_app(lm, keys, CONTRACT, None, LIMITS))
    body = json.dumps({"prompt": "hi", "max_tokens": 2}).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": ctype} if ctype else {}
        for path in ("/v1/completions", "/v1/chat/completions"):
            response = client.post(path, content=body, headers=headers)
            assert response.status_code == 415, (path, ctype, response.text)
            assert response.json()["error"]["code"] == "unsupported_media_type"
    ok = client.post("/v1/completions", content=body,
                     headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 200, ok.text


def test_405_names_the_allowed_methods(lm: LoadedModel, keys: KeyStore) -> None:
    client = _client(create_app(lm, keys, CONTRACT, None, LIMITS))
    wrong = client.get("/v1/completions")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    both = client.delete("/v1/crossbound/artifacts/x")
    assert both.status_code == 405
    assert both.headers["allow"] == "GET, PUT"


def test_openapi_schema_is_served_without_a_key(lm: LoadedModel, keys: KeyStore) -> None:
    client = TestClient(create_app(lm, keys, CONTRACT, None, LIMITS))
    response = client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    text = response.text
    assert KEY_A not in text and KEY_B not in text
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    paths = schema["paths"]
    for path in ("/v1/completions", "/v1/chat/completions", "/v1/models",
                 "/v1/crossbound/message", "/v1/crossbound/artifacts/{name}"):
        assert path in paths, path
    body = paths["/v1/completions"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "prompt" in schema["components"]["schemas"][name]["required"]
    chat = schema["components"]["schemas"]["ChatBody"]["properties"]["messages"]
    assert chat["items"]["$ref"].rsplit("/", 1)[-1] in schema["components"]["schemas"]
    wire = paths["/v1/crossbound/message"]["post"]["requestBody"]["content"]
    assert WIRE in wire
    assert client.get("/docs").status_code == 404  # no interactive pages


def test_a_body_that_never_arrives_is_408() -> None:
    sent: list[dict[str, Any]] = []
    reached: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(True)

    async def receive() -> dict[str, Any]:
        await anyio.sleep(3600)  # a client that sends headers and then nothing
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/completions", "headers": []}
    anyio.run(BodyLimit(app, max_bytes=1000, timeout_s=0.05), scope, receive, send)
    assert not reached and sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_timeout"


@pytest.fixture(autouse=True)
def _no_leftover_hooks(lm: LoadedModel) -> Iterator[None]:
    yield
    # only the service's own preemption hook stays on the embeddings
    assert len(lm.model.get_input_embeddings()._forward_pre_hooks) <= 1
