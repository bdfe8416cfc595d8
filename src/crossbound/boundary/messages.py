"""Typed messages and their wire format (safetensors for tensors, JSON for the rest; never pickle).

Wire format of one message::

    b"CBM1" | u32 header length | header (UTF-8 JSON) | body

The header names the kind, sender, receiver and metadata; the body is a safetensors blob for
tensor kinds and UTF-8 JSON otherwise. Every message is serialised even in process, so the byte
count is exact and the receiver gets a copy, never the sender's objects.

A ``topk_logprobs`` reply comes plain or compressed (:mod:`~crossbound.boundary.logit_codec`);
:func:`topk_from_message` and :func:`topk_k` read either form.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import torch

from crossbound.boundary.errors import MessageError
from crossbound.boundary.logit_codec import TopkCodec, check_payload

MAGIC = b"CBM1"
MAX_HEADER_BYTES = 1 << 20
# How deeply a header or JSON body may nest. Real messages nest a few levels (records hold
# objects that hold lists); a crafted one nested ~1,000 deep would otherwise exhaust Python's
# recursion limit in the parser or in whatever walks it next (the transcript, the PII scan).
MAX_JSON_DEPTH = 32


class Kind(StrEnum):
    TEXT = "text"  # list of strings
    TOKEN_IDS = "token_ids"  # {"ids": int tensor}
    TOPK_LOGPROBS = "topk_logprobs"  # {"values": float, "indices": int} or a logit_codec payload
    LOGITS = "logits"  # {"logits": float tensor}, full vocabulary
    HIDDEN_STATES = "hidden_states"  # {"hidden": float tensor}
    TENSORS = "tensors"  # named tensors: adapter or emulator weights
    RECORDS = "records"  # list of JSON objects, e.g. synthetic data
    METRICS = "metrics"  # a JSON object of numbers and strings


TENSOR_KINDS = {Kind.TOKEN_IDS, Kind.TOPK_LOGPROBS, Kind.LOGITS, Kind.HIDDEN_STATES, Kind.TENSORS}


@dataclass(frozen=True)
class Message:
    kind: Kind
    sender: str
    receiver: str
    payload: Any  # list[str] | dict[str, Tensor] | list[dict] | dict
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))
        _check_payload(self.kind, self.payload, self.meta)


def _check_payload(kind: Kind, payload: Any, meta: dict[str, Any]) -> None:
    if kind in TENSOR_KINDS:
        if not isinstance(payload, dict) or not payload:
            raise MessageError(f"{kind.value}: payload must be a non-empty dict of tensors")
        for name, value in payload.items():
            if not isinstance(name, str) or not isinstance(value, torch.Tensor):
                raise MessageError(f"{kind.value}: {name!r} is not a named torch.Tensor")
        if kind == Kind.TOPK_LOGPROBS and "codec" in meta:
            # Compressed top-k: meta.codec says which tensors (see boundary.logit_codec).
            check_payload(meta["codec"], payload)
            return
        required = {
            Kind.TOKEN_IDS: {"ids"},
            Kind.TOPK_LOGPROBS: {"values", "indices"},
            Kind.LOGITS: {"logits"},
            Kind.HIDDEN_STATES: {"hidden"},
        }.get(kind, set())
        missing = required - set(payload)
        if missing:
            hint = " (a compressed payload needs meta.codec)" if kind == Kind.TOPK_LOGPROBS else ""
            raise MessageError(f"{kind.value}: payload lacks {sorted(missing)}{hint}")
    elif kind == Kind.TEXT:
        if not isinstance(payload, list) or not all(isinstance(t, str) for t in payload):
            raise MessageError("text: payload must be a list of strings")
    elif kind == Kind.RECORDS:
        if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
            raise MessageError("records: payload must be a list of JSON objects")
    elif kind == Kind.METRICS and not isinstance(payload, dict):
        raise MessageError("metrics: payload must be a JSON object")


def encode(message: Message) -> bytes:
    """Serialise a message to bytes (safe formats only)."""
    header = {
        "kind": message.kind.value,
        "sender": message.sender,
        "receiver": message.receiver,
        "meta": message.meta,
    }
    if message.kind in TENSOR_KINDS:
        from safetensors.torch import save

        tensors = {k: v.detach().contiguous().cpu() for k, v in message.payload.items()}
        body = save(tensors)
    else:
        body = json.dumps(message.payload, ensure_ascii=False, allow_nan=False).encode()
    head = json.dumps(header, ensure_ascii=False, allow_nan=False, sort_keys=True).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + body


def decode(data: bytes, max_bytes: int | None = None) -> Message:
    """Parse bytes from :func:`encode`, validating framing, header and payload type."""
    if max_bytes is not None and len(data) > max_bytes:
        raise MessageError(f"message of {len(data)} bytes exceeds the limit of {max_bytes}")
    if len(data) < 8 or data[:4] != MAGIC:
        raise MessageError("not a crossbound message (bad magic)")
    (head_len,) = struct.unpack("<I", data[4:8])
    if head_len > MAX_HEADER_BYTES or 8 + head_len > len(data):
        raise MessageError("message header length is out of range")
    try:
        header = _loads(data[8 : 8 + head_len], "header")
        kind = Kind(header["kind"])
        sender, receiver = header["sender"], header["receiver"]
        meta = header.get("meta") or {}
        if not isinstance(sender, str) or not isinstance(receiver, str) or not sender:
            raise TypeError("sender and receiver must be non-empty strings")
        if not isinstance(meta, dict):
            raise TypeError("meta must be a JSON object")
    except (ValueError, KeyError, TypeError) as exc:
        raise MessageError(f"bad message header: {exc}") from exc
    body = data[8 + head_len :]
    try:
        if kind in TENSOR_KINDS:
            from safetensors.torch import load

            payload: Any = load(body)
        else:
            payload = _loads(body, "body")
    except MessageError:
        raise
    except Exception as exc:  # safetensors raises its own error types
        raise MessageError(f"bad {kind.value} body: {exc}") from exc
    if kind not in TENSOR_KINDS:
        _check_encodable(payload)
    return Message(kind=kind, sender=sender, receiver=receiver, payload=payload, meta=meta)


def _loads(raw: bytes, what: str) -> Any:
    """Parse JSON, refusing anything nested deeper than :data:`MAX_JSON_DEPTH`."""
    try:
        value = json.loads(raw)
    except RecursionError:  # nested deeper than the parser's own limit
        raise MessageError(f"message {what} nests deeper than {MAX_JSON_DEPTH} levels") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise MessageError(f"message {what} nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_JSON_DEPTH:
                return deepest  # enough to refuse; no need to walk the rest
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _check_encodable(value: Any) -> None:
    """Refuse strings with lone surrogates (JSON allows ``\\ud800``; no tokenizer does)."""
    stack = [value]  # iterative: depth is bounded by decode, but this also serves other callers
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise MessageError(f"text is not valid Unicode: {exc.reason}") from exc
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())


def payload_tokens(message: Message) -> int:
    """Number of tokens a message carries, where that is defined (token ids, log-probs)."""
    if message.kind == Kind.TOKEN_IDS:
        return int(message.payload["ids"].numel())
    if message.kind == Kind.TOPK_LOGPROBS:
        # Plain values (…, k) or compressed codes (…, bytes): one row per token either way.
        first = message.payload["codes" if "codec" in message.meta else "values"]
        return int(first.shape[:-1].numel())
    return 0


def message_bytes_per_token(message: Message) -> float:
    """Bytes a message really takes on the wire (headers included) per token it carries."""
    tokens = payload_tokens(message)
    if tokens == 0:
        raise ValueError(f"a {message.kind.value} message carries no tokens")
    return len(encode(message)) / tokens


def topk_k(message: Message) -> int:
    """k of a ``topk_logprobs`` message in either form (the codec's, or the last dimension)."""
    if "codec" in message.meta:
        return TopkCodec.from_meta(message.meta["codec"]).k
    values = message.payload["values"]
    return int(values.shape[-1]) if values.dim() else 1


def topk_from_message(message: Message) -> tuple[torch.Tensor, torch.Tensor]:
    """Values float32 (*lead, k) and indices int64 (*lead, k) of a reply in either form."""
    if message.kind != Kind.TOPK_LOGPROBS:
        raise MessageError(f"expected a topk_logprobs message, got {message.kind.value}")
    if "codec" in message.meta:
        return TopkCodec.from_meta(message.meta["codec"]).decode(message.payload)
    values, indices = message.payload["values"], message.payload["indices"]
    if values.shape != indices.shape or values.dim() == 0:
        raise MessageError(f"values {tuple(values.shape)} and indices {tuple(indices.shape)} "
                           "must have one shape (…, k)")
    if not values.is_floating_point() or indices.is_floating_point() or indices.is_complex():
        raise MessageError("values must be floating point and indices integers")
    if indices.numel() and int(indices.min()) < 0:
        raise MessageError("indices must not be negative")
    return values.float(), indices.long()
