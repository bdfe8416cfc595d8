"""Hypothesis strategies for requests to the model party's service, built from its served
OpenAPI document (``/openapi.json``): every operation it lists, bodies drawn from the declared
JSON schemas (mostly valid, sometimes bent), crossbound wire messages (well-formed, mutated or
random bytes), odd paths, methods, content types and keys.

Shared by the suite's bounded fuzz test (``tests/test_service_fuzz.py``) and the longer
``benchmarks/fuzz_service.py``. Nothing here knows what a route should answer: the property is
only "never a 5xx".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import torch
from hypothesis import strategies as st

from crossbound.boundary.contracts import MODEL_PARTY, OPEN_TEXT, AccessContract, allow
from crossbound.boundary.messages import Kind, Message, encode
from crossbound.boundary.operations import topk_logprobs
from crossbound.parties import OPERATIONS
from crossbound.parties.lm_sessions import LM_STEP

KEYS = {"data-party-0": "fuzz-key-of-party-0-0123456789",
        "data-party-1": "fuzz-key-of-party-1-9876543210"}
WIRE = "application/x-crossbound-message"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")

# The open text contract, plus token ids (top-k and decoding steps) and tensor uploads, so
# fuzzed messages reach every plain LM operation rather than stopping at the contract.
FUZZ_CONTRACT = AccessContract(
    "fuzz-open",
    (*OPEN_TEXT.rules, allow("data", Kind.TOKEN_IDS, Kind.TENSORS),
     allow("model", Kind.TOKEN_IDS, Kind.LOGITS)),
    operations=(*(OPEN_TEXT.operations or ()), topk_logprobs(), LM_STEP))


@dataclass
class FuzzRequest:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    operation: str = ""  # "METHOD /path/template" it was drawn from

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return (f"FuzzRequest({self.method} {self.path} headers={self.headers} "
                f"body={self.body[:300] if self.body else None!r})")


# ---------------------------------------------------------------- JSON from a schema

_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                       st.text(max_size=12))
any_json = st.recursive(_json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
short_text = st.text(st.characters(codec="utf-8"), min_size=0, max_size=16)


def from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0
                ) -> st.SearchStrategy[Any]:
    """Values for a JSON schema (the subset pydantic emits), mostly valid: bounds are
    sometimes crossed and, one time in ten, any JSON value stands in."""
    if "$ref" in schema:
        return from_schema(components[schema["$ref"].rsplit("/", 1)[-1]], components, depth)
    if depth > 4:
        return _json_leaf
    bent = any_json
    if "const" in schema:
        return st.one_of(st.just(schema["const"]), short_text)
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), short_text)
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf")
        return st.one_of([from_schema(o, components, depth + 1) for o in options])
    kind = schema.get("type")
    good: st.SearchStrategy[Any]
    if kind == "string":
        good = st.one_of(short_text, st.sampled_from(["hi", "tiny-large", "user", "text"]))
    elif kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        edges = [v for b in (low, high) if b is not None for v in (b - 1, b, b + 1)]
        good = st.one_of(st.integers(-2, 8), st.sampled_from(edges or [0]),
                         st.integers(-(2**70), 2**70))
    elif kind == "number":
        good = st.one_of(st.floats(-3, 3), st.floats(allow_nan=False),
                         st.sampled_from([0, 1e-30, 2, 1e300]))
    elif kind == "boolean":
        good = st.booleans()
    elif kind == "null":
        good = st.none()
    elif kind == "array":
        items = from_schema(schema.get("items", {}), components, depth + 1)
        good = st.lists(items, min_size=0, max_size=min(schema.get("maxItems", 4) + 1, 18))
    elif kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = {k: from_schema(v, components, depth + 1) for k, v in props.items()}
        good = st.fixed_dictionaries(
            {k: s for k, s in fields.items() if k in required},
            optional={k: s for k, s in fields.items() if k not in required})
    else:
        good = any_json
    return st.one_of(good, good, good, good, good, good, good, good, good, bent)


# ---------------------------------------------------------------- wire messages

_meta_values = st.one_of(st.integers(-3, 600), st.sampled_from([0, 1, 2, 4, 8, 16, 32]),
                         st.booleans(), short_text, st.none(),
                         st.lists(short_text, max_size=3))
_meta = st.fixed_dictionaries(
    {"op": st.one_of(st.sampled_from(sorted(OPERATIONS)), short_text)},
    optional={"max_new_tokens": st.one_of(st.integers(-2, 8), st.integers(500, 600)),
              "choices": st.lists(st.sampled_from(["urgent", "routine", "", "a"]), max_size=4),
              "k": st.integers(-1, 30), "value_bits": st.sampled_from([4, 8, 16, 32, 7]),
              "session": st.sampled_from(["s0", "s1", "", "../x", "s" * 70]),
              "new": st.booleans(), "close": st.booleans(),
              "keep": st.integers(-1, 4), "reply": st.sampled_from(["argmax", "logits", "x"]),
              "model": st.sampled_from(["lm", "offsite-plugin", "upward-tuned", "x"]),
              "artifact": st.sampled_from(["adapter", "emulator", "x"]),
              "extra": _meta_values})


@st.composite
def _token_ids(draw: st.DrawFn) -> dict[str, torch.Tensor]:
    rows, width = draw(st.integers(0, 3)), draw(st.integers(0, 8))
    values = draw(st.lists(st.integers(-2, 300), min_size=rows * width,
                           max_size=rows * width))
    dtype = draw(st.sampled_from([torch.int32, torch.int64, torch.float32, torch.uint8]))
    ids = torch.tensor(values, dtype=torch.int64).reshape(rows, width)
    ids = (ids.clamp(min=0) if dtype == torch.uint8 else ids).to(dtype)
    payload = {"ids": ids}
    if draw(st.booleans()):
        payload["mask"] = torch.tensor(draw(st.lists(st.integers(0, 2), min_size=rows * width,
                                                     max_size=rows * width)),
                                       dtype=torch.int32).reshape(rows, width)
    if draw(st.booleans()):
        payload["drop"] = torch.tensor(draw(st.lists(st.integers(-1, 3), max_size=3)),
                                       dtype=torch.int32)
    return payload


@st.composite
def wire_messages(draw: st.DrawFn, party: str) -> bytes:
    """A crossbound wire message: well-formed, mutated, or random bytes."""
    how = draw(st.sampled_from(["valid"] * 6 + ["mutated"] * 3 + ["random"]))
    if how == "random":
        prefix = draw(st.sampled_from([b"", b"CBM1"]))
        return prefix + draw(st.binary(max_size=64))
    kind = draw(st.sampled_from([Kind.TEXT] * 4 + [Kind.TOKEN_IDS] * 2
                                + [Kind.TENSORS, Kind.RECORDS, Kind.METRICS]))
    payload: Any
    if kind == Kind.TEXT:
        payload = draw(st.lists(st.one_of(short_text, st.just("Patient reports pain.")),
                                max_size=18))
    elif kind == Kind.TOKEN_IDS:
        payload = draw(_token_ids())
    elif kind == Kind.TENSORS:
        payload = {"w": torch.randn(draw(st.integers(0, 4)))}
    elif kind == Kind.RECORDS:
        payload = draw(st.lists(st.dictionaries(short_text, short_text, max_size=2),
                                max_size=3))
    else:
        payload = draw(st.dictionaries(short_text, st.floats(-10, 10), max_size=3))
    sender = draw(st.sampled_from([party] * 8 + ["data-party-1", MODEL_PARTY, "x"]))
    receiver = draw(st.sampled_from([MODEL_PARTY] * 8 + ["data-party-0", ""]))
    try:
        wire = encode(Message(kind, sender, receiver, payload, meta=draw(_meta)))
    except (ValueError, TypeError):
        return draw(st.binary(max_size=64))
    if how == "mutated" and wire:
        data = bytearray(wire)
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
        wire = bytes(data)
    return wire


# ---------------------------------------------------------------- whole requests


def operations_of(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path template, operation object) for every operation the document lists."""
    return [(method.upper(), path, op) for path, ops in schema["paths"].items()
            for method, op in ops.items()]


_path_values = st.one_of(
    st.sampled_from(["adapter", "emulator", "offsite-adapter", "tiny-large", "x", "a.b_c-d"]),
    st.text(max_size=20).map(lambda t: quote(t, safe="")),
    st.sampled_from(["..%2F..%2Fetc%2Fpasswd", "%00", "a" * 200, ".hidden", "CON"]))


@st.composite
def requests(draw: st.DrawFn, schema: dict[str, Any]) -> FuzzRequest:
    """One request drawn from ``schema`` (the served OpenAPI document)."""
    components = schema.get("components", {}).get("schemas", {})
    method, template, op = draw(st.sampled_from(operations_of(schema)))
    operation = f"{method} {template}"
    path = re.sub(r"\{[^}]+\}", lambda _: draw(_path_values), template)
    if draw(st.integers(0, 19)) == 0:
        path = draw(st.sampled_from(["/v1/nothing", "/", "/v1", "/v1/crossbound", path + "/x"]))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(METHODS))
    party = draw(st.sampled_from(sorted(KEYS)))
    auth = draw(st.sampled_from(["good"] * 16 + ["wrong", "none", "basic", "empty"]))
    headers = {"good": {"Authorization": f"Bearer {KEYS[party]}"},
               "wrong": {"Authorization": "Bearer not-a-key-0123456789"},
               "none": {}, "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
               "empty": {"Authorization": "Bearer "}}[auth]
    content = op.get("requestBody", {}).get("content", {})
    body: bytes | None = None
    if "application/json" in content:
        value = draw(from_schema(content["application/json"]["schema"], components))
        body = json.dumps(value).encode() if draw(st.integers(0, 14)) else draw(st.binary(
            max_size=40))
        ctype = draw(st.sampled_from(["application/json"] * 12 + [
            "text/plain", WIRE, "application/json; charset=utf-8", ""]))
    elif WIRE in content:
        body = draw(wire_messages(party))
        ctype = draw(st.sampled_from([WIRE] * 12 + ["application/octet-stream",
                                                    "application/json", ""]))
    else:
        ctype = ""
        if method in ("POST", "PUT", "PATCH") or draw(st.integers(0, 9)) == 0:
            body = draw(st.binary(max_size=32))
    if ctype:
        headers["Content-Type"] = ctype
    return FuzzRequest(method, path, headers, body, operation)
