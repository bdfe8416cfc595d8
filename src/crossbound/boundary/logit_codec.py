"""Compact transport for top-k log-probs: quantised values and bit-packed token ids.

A plain ``topk_logprobs`` reply costs 8 bytes per entry (float32 value, int32 index). A
:class:`TopkCodec` shrinks it; downward (LM → SM distillation) and upward (SM → LM) strategies
share it. Payload of a compressed reply for ``(*lead, k)`` top-k (usually ``lead = (B, T)``)::

    codes           uint8   (*lead, ceil(k·value_bits/8))  value codes, bit-packed MSB first
    packed_indices  uint8   (*lead, ceil(k·index_bits/8))  token ids, index_bits = ⌈log2 V⌉ each
    scale           float16 (*lead, 2)                      [lo, hi] per token (not for 32 bits)

and ``meta["codec"]`` (:meth:`TopkCodec.to_meta`) says how to read it. Values: per token, ``lo``
and ``hi`` are the smallest and largest kept log-probs rounded outwards to float16, and each value
is the nearest of ``2^bits`` evenly spaced levels from ``lo`` to ``hi``, so the error is at most
``(hi - lo) / (2·(2^bits - 1))``. With ``value_bits = 32`` the codes are the exact float32
values (little-endian) and there is no scale: lossless values, packed ids.

Measured on the top-k of SmolLM2-135M and Gemma-3-270M over 1,024 tokens of English text
(mean KL of the renormalised top-k, true ‖ decoded; max abs log-prob error):

    k = 20:  4 bits  KL 1.4e-3, max 0.48     8 bits  KL 4.7e-6, max 0.026
    k = 128: 4 bits  KL 4.4e-3, max 0.60     8 bits  KL 1.5e-5, max 0.035

Storing ``hi`` beats assuming ``hi = 0`` (about 2-3× lower KL at 4 bits), and uniform levels beat
square-root or log companding towards the top-1 (lower KL *and* lower max error).

Log-probs more than :data:`MAX_SPAN` nats below a token's top-1 (``-inf`` included) are raised to
that floor: they are at most e^-64 of the top-1's probability, and an unbounded span would cost
every other entry of the token its resolution.

Decoding reads data from another party, so :meth:`TopkCodec.decode` checks everything (codec,
shapes, dtypes, padding bits, ids < vocabulary, finite scales) and raises
:class:`~crossbound.boundary.errors.MessageError`. :class:`~crossbound.boundary.messages.Message`
checks a compressed payload's structure with :func:`check_payload`; reading a reply in either
form is :func:`crossbound.boundary.messages.topk_from_message`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crossbound.boundary.errors import MessageError

FORMAT = "crossbound-topk/1"
VALUE_BITS = (4, 8, 16, 32)
MAX_K = 1024
MAX_VOCAB = 1 << 24
MAX_SPAN = 64.0  # nats below the top-1 that values are kept within
_META_KEYS = frozenset({"format", "k", "value_bits", "vocab_size"})
_CHUNK_BITS = 1 << 23  # bits unpacked at once: bounds the (rows, k·bits) bit matrix


@dataclass(frozen=True)
class TopkCodec:
    """How a top-k reply is compressed: k entries per token, value and index widths."""

    k: int
    value_bits: int
    vocab_size: int

    def __post_init__(self) -> None:
        for name in ("k", "value_bits", "vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"codec {name} must be an integer, got {value!r}")
        if self.value_bits not in VALUE_BITS:
            raise ValueError(f"codec value_bits must be one of {VALUE_BITS}, got {self.value_bits}")
        if not 2 <= self.vocab_size <= MAX_VOCAB:
            raise ValueError(f"codec vocab_size must lie in 2..{MAX_VOCAB}, got {self.vocab_size}")
        if not 1 <= self.k <= min(MAX_K, self.vocab_size):
            raise ValueError(f"codec k must lie in 1..{min(MAX_K, self.vocab_size)} "
                             f"(at most {MAX_K} and the vocabulary size), got {self.k}")

    @property
    def index_bits(self) -> int:
        return (self.vocab_size - 1).bit_length()

    @property
    def code_bytes(self) -> int:
        return math.ceil(self.k * self.value_bits / 8)

    @property
    def index_bytes(self) -> int:
        return math.ceil(self.k * self.index_bits / 8)

    @property
    def keys(self) -> frozenset[str]:
        """The payload's tensor names."""
        base = {"codes", "packed_indices"}
        return frozenset(base if self.value_bits == 32 else base | {"scale"})

    def to_meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "k": self.k, "value_bits": self.value_bits,
                "vocab_size": self.vocab_size}

    @classmethod
    def from_meta(cls, meta: Any) -> TopkCodec:
        """The codec a message's ``meta["codec"]`` describes; refuses anything unexpected."""
        if not isinstance(meta, dict):
            raise MessageError(f"meta.codec must be a JSON object, got {type(meta).__name__}")
        unknown, missing = set(meta) - _META_KEYS, _META_KEYS - set(meta)
        if unknown or missing:
            raise MessageError(f"meta.codec has unknown keys {sorted(map(str, unknown))} or "
                               f"lacks {sorted(missing)}; expected {sorted(_META_KEYS)}")
        if meta["format"] != FORMAT:
            raise MessageError(f"meta.codec format {meta['format']!r} is not {FORMAT!r}")
        try:
            return cls(k=meta["k"], value_bits=meta["value_bits"], vocab_size=meta["vocab_size"])
        except ValueError as exc:
            raise MessageError(f"meta.codec: {exc}") from exc

    # ------------------------------------------------------------------ encode

    def encode(self, values: torch.Tensor, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compress top-k ``values`` (*lead, k) float and ``indices`` (*lead, k) int."""
        if values.shape != indices.shape or values.dim() == 0 or values.shape[-1] != self.k:
            raise ValueError(f"values {tuple(values.shape)} and indices {tuple(indices.shape)} "
                             f"must have one shape ending in k = {self.k}")
        if not values.is_floating_point() or indices.is_floating_point():
            raise ValueError("values must be floating point and indices integers")
        lead = tuple(values.shape[:-1])
        ids = indices.detach().cpu().reshape(-1, self.k).numpy().astype(np.int64)  # (N, k)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"indices must lie in 0..{self.vocab_size - 1}")
        vals = values.detach().cpu().reshape(-1, self.k).double().numpy()  # (N, k)
        if np.isnan(vals).any():
            raise ValueError("values contain NaN")
        payload = {"packed_indices": _pack(ids.astype(np.uint32), self.index_bits)}
        if self.value_bits == 32:
            if not np.isfinite(vals).all():
                raise ValueError("value_bits = 32 keeps values exactly: they must be finite")
            payload["codes"] = vals.astype("<f4").view(np.uint8)  # (N, 4k)
        else:
            codes, scale = _quantise(vals, self.value_bits)
            payload["codes"] = _pack(codes, self.value_bits)
            payload["scale"] = scale
        return {name: torch.from_numpy(np.ascontiguousarray(array)).reshape(*lead, -1)
                for name, array in payload.items()}

    # ------------------------------------------------------------------ decode

    def check(self, payload: Any) -> tuple[int, ...]:
        """Structural checks (names, dtypes, shapes) without reading the data; the lead shape."""
        if not isinstance(payload, dict) or set(payload) != self.keys:
            names = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
            raise MessageError(f"compressed topk_logprobs payload must hold exactly "
                               f"{sorted(self.keys)}, got {names}")
        widths = {"codes": (torch.uint8, self.code_bytes),
                  "packed_indices": (torch.uint8, self.index_bytes),
                  "scale": (torch.float16, 2)}
        lead: tuple[int, ...] | None = None
        for name in sorted(self.keys):
            tensor, (dtype, width) = payload[name], widths[name]
            if not isinstance(tensor, torch.Tensor) or tensor.dtype != dtype:
                raise MessageError(f"{name} must be a {dtype} tensor")
            if tensor.dim() == 0 or tensor.shape[-1] != width:
                raise MessageError(f"{name} must end in {width} (codec k = {self.k}, "
                                   f"value_bits = {self.value_bits}, vocab_size = "
                                   f"{self.vocab_size}), got shape {tuple(tensor.shape)}")
            if lead is None:
                lead = tuple(tensor.shape[:-1])
            elif tuple(tensor.shape[:-1]) != lead:
                raise MessageError(f"{name} leading shape {tuple(tensor.shape[:-1])} differs "
                                   f"from the other tensors' {lead}")
        assert lead is not None
        return lead

    def decode(self, payload: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Values float32 (*lead, k) and indices int64 (*lead, k) of a compressed payload."""
        lead = self.check(payload)
        packed = _rows(payload["packed_indices"], self.index_bytes)
        ids = _unpack(packed, self.k, self.index_bits, "packed_indices")  # (N, k)
        if ids.size and int(ids.max()) >= self.vocab_size:
            raise MessageError(f"packed_indices hold a token id ≥ the vocabulary size "
                               f"{self.vocab_size}")
        raw = _rows(payload["codes"], self.code_bytes)
        if self.value_bits == 32:
            values = raw.view("<f4").astype(np.float32)  # (N, k)
            if not np.isfinite(values).all():
                raise MessageError("codes hold a non-finite float32 value")
        else:
            scale = _rows(payload["scale"], 2).astype(np.float64)  # (N, 2)
            if not np.isfinite(scale).all():
                raise MessageError("scale holds a non-finite value")
            if (scale[:, 0] > scale[:, 1]).any():
                raise MessageError("scale holds a token with lo > hi")
            codes = _unpack(raw, self.k, self.value_bits, "codes")
            values = _dequantise(codes, scale, self.value_bits)
        shape = (*lead, self.k)
        return (torch.from_numpy(values).reshape(shape),
                torch.from_numpy(ids.astype(np.int64)).reshape(shape))


def bytes_per_token(codec: TopkCodec | None, k: int | None = None) -> float:
    """Payload bytes per token, without the fixed headers; ``None`` with ``k``: the plain form."""
    if codec is None:
        if k is None:
            raise ValueError("the plain form needs k")
        return 8.0 * k  # float32 value + int32 index
    scale = 0 if codec.value_bits == 32 else 4
    return float(codec.code_bytes + codec.index_bytes + scale)


def check_payload(meta: Any, payload: Any) -> None:
    """What :class:`Message` checks of a compressed payload (names, dtypes, shapes)."""
    TopkCodec.from_meta(meta).check(payload)


# ---------------------------------------------------------------------- helpers


def _rows(tensor: torch.Tensor, width: int) -> np.ndarray:
    """A (*lead, width) tensor as a C-contiguous (N, width) array on the CPU."""
    return np.ascontiguousarray(tensor.detach().cpu().reshape(-1, width).numpy())


def _round_f16(x: np.ndarray, down: bool) -> np.ndarray:
    """float16 values ≤ x (down) or ≥ x (up), as float64, so [lo, hi] still covers x."""
    half = x.astype(np.float16)
    wrong = half.astype(np.float64) > x if down else half.astype(np.float64) < x
    half[wrong] = np.nextafter(half[wrong], np.float16(-np.inf if down else np.inf))
    return half.astype(np.float64)


def _quantise(values: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes (N, k) uint32 in 0..2^bits-1 and scale (N, 2) float16 of values (N, k) float64."""
    levels = (1 << bits) - 1
    top = values.max(axis=-1, keepdims=True)  # (N, 1)
    if not np.isfinite(top).all() or np.abs(top).max(initial=0.0) > 60_000:
        raise ValueError("every token needs a finite top value within the float16 range")
    values = np.maximum(values, top - MAX_SPAN)
    hi = _round_f16(top, down=False)  # (N, 1)
    lo = _round_f16(values.min(axis=-1, keepdims=True), down=True)
    step = (hi - lo) / levels
    codes = np.rint((values - lo) / np.where(step > 0, step, 1.0))
    scale = np.concatenate([lo, hi], axis=-1).astype(np.float16)
    return np.clip(codes, 0, levels).astype(np.uint32), scale


def _dequantise(codes: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    """float32 (N, k) values of codes (N, k) and scale (N, 2) float64."""
    lo, hi = scale[:, :1], scale[:, 1:]
    step = (hi - lo) / ((1 << bits) - 1)
    return (lo + codes * step).astype(np.float32)


def _pack(values: np.ndarray, bits: int) -> np.ndarray:
    """(N, k) unsigned ints < 2^bits → (N, ceil(k·bits/8)) uint8, MSB first, zero padded."""
    n, k = values.shape
    if bits % 8 == 0:  # byte aligned: the low bytes of big-endian words
        width = bits // 8
        words = values.astype(">u4").view(np.uint8).reshape(n, k, 4)
        return np.ascontiguousarray(words[:, :, 4 - width:]).reshape(n, k * width)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)  # (bits,)
    out = np.empty((n, math.ceil(k * bits / 8)), dtype=np.uint8)
    rows = max(1, _CHUNK_BITS // (k * bits))
    for start in range(0, n, rows):
        chunk = values[start : start + rows]
        matrix = ((chunk[:, :, None] >> shifts) & 1).astype(np.uint8)  # (rows, k, bits)
        out[start : start + rows] = np.packbits(matrix.reshape(len(chunk), k * bits), axis=-1)
    return out


def _unpack(packed: np.ndarray, k: int, bits: int, name: str) -> np.ndarray:
    """Inverse of :func:`_pack`: (N, ceil(k·bits/8)) uint8 → (N, k) uint32."""
    n = packed.shape[0]
    if bits % 8 == 0:
        width = bits // 8
        words = np.zeros((n, k, 4), dtype=np.uint8)
        words[:, :, 4 - width:] = packed.reshape(n, k, width)
        return words.view(">u4").reshape(n, k).astype(np.uint32)
    pad = packed.shape[1] * 8 - k * bits
    if pad and n and (packed[:, -1] & ((1 << pad) - 1)).any():
        raise MessageError(f"{name} has non-zero padding bits (not a canonical encoding)")
    weights = np.left_shift(np.uint32(1), np.arange(bits - 1, -1, -1, dtype=np.uint32))
    out = np.empty((n, k), dtype=np.uint32)
    rows = max(1, _CHUNK_BITS // (k * bits))
    for start in range(0, n, rows):
        chunk = packed[start : start + rows]
        matrix = np.unpackbits(chunk, axis=-1, count=k * bits).reshape(len(chunk), k, bits)
        out[start : start + rows] = matrix.astype(np.uint32) @ weights  # (rows, k)
    return out
