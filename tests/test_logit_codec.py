"""Compressed top-k transport, checked against a slow, plainly correct reference codec."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import torch

from crossbound.boundary import Boundary, Kind, Message, MessageError
from crossbound.boundary.contracts import AccessContract, ContractViolation, allow
from crossbound.boundary.http import HttpTransport, RemoteError
from crossbound.boundary.logit_codec import MAX_SPAN, TopkCodec, bytes_per_token
from crossbound.boundary.messages import (
    decode,
    encode,
    message_bytes_per_token,
    payload_tokens,
    topk_from_message,
    topk_k,
)
from crossbound.boundary.transcript import Transcript
from crossbound.models import load_model
from crossbound.parties import ModelParty
from crossbound.service.app import Limits, create_app
from crossbound.service.keys import KeyStore
from tests.servers import running_server

VOCABS = (2, 260, 49_152, 262_144, 1 << 24)


# ---------------------------------------------------------------- the slow reference


def _ref_pack(numbers: list[int], bits: int) -> bytes:
    """Each number as ``bits`` binary digits, MSB first, concatenated, zero padded to bytes."""
    digits = "".join(format(n, f"0{bits}b") for n in numbers)
    digits += "0" * (-len(digits) % 8)
    return bytes(int(digits[i : i + 8], 2) for i in range(0, len(digits), 8))


def _f16(x: float, down: bool) -> float:
    """The nearest float16 at or below (down) / at or above x."""
    half = np.float16(x)
    if (float(half) > x) if down else (float(half) < x):
        half = np.nextafter(half, np.float16(-np.inf if down else np.inf))
    return float(half)


def _ref_quantise(row: list[float], bits: int) -> tuple[list[float], float]:
    """Decoded values of one token's log-probs and the error bound, one value at a time."""
    levels = 2**bits - 1
    top = max(row)
    row = [max(v, top - MAX_SPAN) for v in row]
    lo, hi = _f16(min(row), down=True), _f16(top, down=False)
    step = (hi - lo) / levels
    codes = [round((v - lo) / step) if step > 0 else 0 for v in row]
    assert all(0 <= c <= levels for c in codes)
    return [lo + c * step for c in codes], step / 2


def _random_topk(shape: tuple[int, ...], vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    values = torch.log_softmax(torch.randn(*shape[:-1], 64, generator=g) * 5, -1)
    values = values.topk(shape[-1], -1).values if shape[-1] <= 64 else torch.cat(
        [values.sort(-1, descending=True).values,
         -20 - torch.rand(*shape[:-1], shape[-1] - 64, generator=g) * 30], -1)
    indices = torch.randint(0, vocab, shape, generator=g)
    indices[..., 0] = vocab - 1  # the largest id must survive too
    return values, indices


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("vocab", VOCABS)
@pytest.mark.parametrize("k", [1, 5, 17])
def test_indices_round_trip_exactly_and_pack_like_the_reference(vocab, k):
    k = min(k, vocab)
    values, indices = _random_topk((2, 3, k), vocab)
    for bits in (4, 8, 16, 32):
        codec = TopkCodec(k=k, value_bits=bits, vocab_size=vocab)
        payload = codec.encode(values, indices)
        assert payload["packed_indices"].shape == (2, 3, math.ceil(k * codec.index_bits / 8))
        for token in range(6):
            ids = indices.reshape(6, k)[token].tolist()
            packed = payload["packed_indices"].reshape(6, -1)[token].numpy().tobytes()
            assert packed == _ref_pack(ids, codec.index_bits)
        back_values, back_indices = codec.decode(payload)
        assert back_indices.dtype == torch.int64 and back_values.dtype == torch.float32
        assert torch.equal(back_indices, indices)


def test_index_width():
    widths = {vocab: TopkCodec(1, 8, vocab).index_bits for vocab in VOCABS}
    assert widths == {2: 1, 260: 9, 49_152: 16, 262_144: 18, 1 << 24: 24}


@pytest.mark.parametrize("bits", [4, 8, 16])
@pytest.mark.parametrize("k", [5, 17, 100])
def test_values_match_the_reference_quantiser(bits, k):
    values, indices = _random_topk((3, 4, k), 49_152, seed=bits + k)
    values[0, 0] = 0.0  # a masked position: all zeros
    values[0, 1, -1] = -math.inf  # a hole in the vocabulary: clamped to top - MAX_SPAN
    values[0, 2, k // 2 :] = -200.0  # far tail: clamped too
    codec = TopkCodec(k=k, value_bits=bits, vocab_size=49_152)
    payload = codec.encode(values, indices)
    assert payload["codes"].shape == (3, 4, math.ceil(k * bits / 8))
    assert payload["scale"].dtype == torch.float16
    decoded, _ = codec.decode(payload)
    for row, got in zip(values.reshape(-1, k).tolist(), decoded.reshape(-1, k).tolist(),
                        strict=True):
        expected, bound = _ref_quantise(row, bits)
        clamped = [max(v, max(row) - MAX_SPAN) for v in row]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
        assert max(abs(g - v) for g, v in zip(got, clamped, strict=True)) <= bound + 1e-5
    assert torch.equal(decoded[0, 0], torch.zeros(k))


def test_value_bits_32_is_exact():
    values, indices = _random_topk((2, 5, 17), 262_144)
    codec = TopkCodec(k=17, value_bits=32, vocab_size=262_144)
    payload = codec.encode(values, indices)
    assert set(payload) == {"codes", "packed_indices"}
    back_values, back_indices = codec.decode(payload)
    assert torch.equal(back_values, values) and torch.equal(back_indices, indices)


def test_kl_after_renormalising_is_small():
    values, indices = _random_topk((4, 32, 20), 49_152)
    p = torch.log_softmax(values.double(), -1)
    kls = {}
    for bits in (4, 8):
        codec = TopkCodec(k=20, value_bits=bits, vocab_size=49_152)
        q = torch.log_softmax(codec.decode(codec.encode(values, indices))[0].double(), -1)
        kls[bits] = float((p.exp() * (p - q)).sum(-1).mean())
    assert kls[8] < 1e-4 and kls[4] < 1e-2 and kls[8] < kls[4] / 50


# ---------------------------------------------------------------- sizes


def test_bytes_per_token():
    sizes = {(k, bits): bytes_per_token(TopkCodec(k, bits, 49_152))
             for k, bits in [(8, 8), (16, 8), (20, 8), (32, 4), (16, 4), (128, 32)]}
    assert sizes == {(8, 8): 28, (16, 8): 52, (20, 8): 64, (32, 4): 84, (16, 4): 44,
                     (128, 32): 768}
    assert bytes_per_token(None, k=128) == 1024
    assert bytes_per_token(TopkCodec(17, 4, 262_144)) == 9 + 39 + 4


@pytest.mark.parametrize(("k", "bits", "vocab"), [(5, 4, 49_152), (17, 8, 262_144),
                                                  (20, 16, 260), (3, 32, 49_152)])
def test_wire_bytes_are_bytes_per_token_times_tokens_plus_headers(k, bits, vocab):
    values, indices = _random_topk((3, 7, k), vocab)
    codec = TopkCodec(k=k, value_bits=bits, vocab_size=vocab)
    message = Message(Kind.TOPK_LOGPROBS, "model-party", "data-party-0",
                      codec.encode(values, indices), {"codec": codec.to_meta()})
    wire = encode(message)
    (head_len,) = struct.unpack("<I", wire[4:8])
    body = wire[8 + head_len :]
    (tensor_header,) = struct.unpack("<Q", body[:8])  # safetensors: u64 header length, header
    assert len(body) - 8 - tensor_header == bytes_per_token(codec) * 21
    assert payload_tokens(message) == 21
    assert message_bytes_per_token(message) == len(wire) / 21
    back = decode(wire)
    assert torch.equal(topk_from_message(back)[1], indices)


# ---------------------------------------------------------------- validation


def test_meta_round_trip_and_refusals():
    codec = TopkCodec(k=17, value_bits=4, vocab_size=262_144)
    assert TopkCodec.from_meta(codec.to_meta()) == codec
    good = codec.to_meta()
    for bad, match in [
        ({**good, "extra": 1}, "unknown keys"),
        ({k: v for k, v in good.items() if k != "k"}, "lacks"),
        ({**good, "format": "other/9"}, "format"),
        ({**good, "value_bits": 12}, "value_bits"),
        ({**good, "value_bits": True}, "value_bits"),
        ({**good, "k": 0}, "k must"),
        ({**good, "k": 1025}, "k must"),
        ({**good, "k": "5"}, "k must be an integer"),
        ({**good, "vocab_size": 1}, "vocab_size"),
        ({**good, "vocab_size": (1 << 24) + 1}, "vocab_size"),
        ({**good, "vocab_size": 4, "k": 5}, "k must"),
        ([1, 2], "JSON object"),
    ]:
        with pytest.raises(MessageError, match=match):
            TopkCodec.from_meta(bad)


def _tampered(payload, name, tensor):
    return {**payload, name: tensor}


def test_decode_refuses_malformed_payloads():
    codec = TopkCodec(k=5, value_bits=4, vocab_size=49_152)  # 16-bit ids: room to overflow
    values, indices = _random_topk((2, 3, 5), 49_152)
    good = codec.encode(values, indices)
    ids, codes, scale = good["packed_indices"], good["codes"], good["scale"]
    nan_scale = scale.clone()
    nan_scale[1, 2, 0] = math.nan
    flipped = scale.flip(-1)
    flipped[..., 0] += 1  # lo > hi
    odd = TopkCodec(k=5, value_bits=8, vocab_size=262_144)  # 90 bits of ids: 6 padding bits
    odd_good = odd.encode(values, indices)
    dirty = odd_good["packed_indices"].clone()
    dirty[0, 0, -1] |= 1
    cases = [
        (codec, _tampered(good, "packed_indices", ids[..., :-1]), "must end in 10"),
        (codec, _tampered(good, "packed_indices", torch.cat([ids, ids[..., :1]], -1)), "end in"),
        (codec, _tampered(good, "packed_indices", torch.full_like(ids, 255)), "vocabulary"),
        (codec, _tampered(good, "codes", codes[:1]), "leading shape"),
        (codec, _tampered(good, "codes", codes.float()), "uint8"),
        (codec, _tampered(good, "scale", nan_scale), "non-finite"),
        (codec, _tampered(good, "scale", flipped), "lo > hi"),
        (codec, {k: v for k, v in good.items() if k != "scale"}, "exactly"),
        (codec, {**good, "values": values}, "exactly"),
        (odd, _tampered(odd_good, "packed_indices", dirty), "padding"),
        (TopkCodec(5, 32, 49_152), {"codes": torch.full((2, 3, 20), 255, dtype=torch.uint8),
                                     "packed_indices": ids}, "non-finite"),
    ]
    for which, payload, match in cases:
        with pytest.raises(MessageError, match=match):
            which.decode(payload)
    # Structural problems are refused as early as building the message, and on the wire.
    with pytest.raises(MessageError, match="must end in"):
        Message(Kind.TOPK_LOGPROBS, "model-party", "data-party-0",
                _tampered(good, "packed_indices", ids[..., :-1]), {"codec": codec.to_meta()})
    wire = encode(Message(Kind.TOPK_LOGPROBS, "model-party", "data-party-0", good,
                          {"codec": codec.to_meta()}))
    bigger = wire.replace(b'"k": 5', b'"k": 6')
    assert bigger != wire
    with pytest.raises(MessageError, match="must end in"):
        decode(bigger)


def test_encode_refuses_what_it_cannot_represent():
    codec = TopkCodec(k=3, value_bits=8, vocab_size=100)
    values, indices = torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="k = 3"):
        codec.encode(values[:, :2], indices[:, :2])
    with pytest.raises(ValueError, match=r"0\.\.99"):
        codec.encode(values, indices + 100)
    with pytest.raises(ValueError, match="NaN"):
        codec.encode(values.fill_(math.nan), indices)


# ---------------------------------------------------------------- messages, contracts, parties


def test_topk_from_message_reads_both_forms_and_contracts_read_k_from_the_codec():
    values, indices = _random_topk((2, 4, 20), 49_152)
    plain = Message(Kind.TOPK_LOGPROBS, "model-party", "data-party-0",
                    {"values": values, "indices": indices.int()})
    codec = TopkCodec(k=20, value_bits=8, vocab_size=49_152)
    packed = Message(Kind.TOPK_LOGPROBS, "model-party", "data-party-0",
                     codec.encode(values, indices), {"codec": codec.to_meta()})
    assert payload_tokens(plain) == payload_tokens(packed) == 8
    assert topk_k(plain) == topk_k(packed) == 20
    for message in (plain, packed):
        got_values, got_indices = topk_from_message(message)
        assert torch.equal(got_indices, indices)
        assert torch.allclose(got_values, values, atol=0.05)
    contract = AccessContract("k16", (allow("model", Kind.TOPK_LOGPROBS, max_topk=16),))
    for message in (plain, packed):
        with pytest.raises(ContractViolation, match="k = 20 exceeds the limit of 16"):
            contract.check(message)
    with pytest.raises(MessageError, match="expected a topk_logprobs"):
        topk_from_message(Message(Kind.TEXT, "a", "b", ["x"]))


@pytest.fixture(scope="module")
def lm():
    return load_model("tiny-large")


def _request(ids, k, **meta):
    return Message(Kind.TOKEN_IDS, "data-party-0", "model-party", {"ids": ids},
                   {"op": "topk_logprobs", "k": k, **meta})


TOKENS_TOPK = AccessContract("tokens-topk", (allow("data", Kind.TOKEN_IDS),
                                             allow("model", Kind.TOPK_LOGPROBS, max_topk=8)))


def test_model_party_replies_compressed_on_request(lm):
    boundary = Boundary(contract=TOKENS_TOPK)
    boundary.attach(ModelParty(lm, batch_size=2))
    ids = torch.randint(0, 250, (3, 9))
    plain = boundary.request(_request(ids, 7))
    assert "codec" not in plain.meta and set(plain.payload) == {"values", "indices"}
    assert boundary.request(_request(ids, 7, value_bits=32)).payload.keys() == plain.payload.keys()
    expected_values, expected_indices = topk_from_message(plain)
    sizes = {}
    for bits, tolerance in [(4, 0.05), (8, 3e-3), (16, 1e-4)]:
        before = boundary.summary()["bytes"]
        reply = boundary.request(_request(ids, 7, value_bits=bits))
        sizes[bits] = boundary.summary()["bytes"] - before
        assert reply.meta["codec"] == TopkCodec(7, bits, lm.model.config.vocab_size).to_meta()
        values, indices = topk_from_message(reply)
        assert torch.equal(indices, expected_indices)
        assert torch.allclose(values, expected_values, atol=tolerance)
    assert sizes[4] < sizes[8] < sizes[16]
    with pytest.raises(ContractViolation, match="k = 9"):
        boundary.request(_request(ids, 9, value_bits=8))


@pytest.mark.parametrize("bits", [0, 12, 64, "8", 8.0, True, None])
def test_model_party_refuses_bad_value_bits(lm, bits):
    party = ModelParty(lm)
    with pytest.raises(MessageError, match=r"meta\.value_bits"):
        party.handle(_request(torch.zeros(1, 3, dtype=torch.long), 2, value_bits=bits))
    assert party.calls == 0


def test_compressed_replies_over_http_equal_in_process(lm, tmp_path):
    key = "key-of-data-party-0-0123456789"
    ids = torch.randint(0, 250, (2, 6))
    local = Boundary(contract=TOKENS_TOPK)
    local.attach(ModelParty(lm))
    expected = local.request(_request(ids, 8, value_bits=4))
    with Transcript(tmp_path / "server.jsonl") as transcript:
        app = create_app(lm, KeyStore.from_keys({"data-party-0": key}), TOKENS_TOPK,
                         transcript, Limits())
        with running_server(app) as url:
            remote = Boundary(contract=TOKENS_TOPK, remote=HttpTransport(url, key))
            got = remote.request(_request(ids, 8, value_bits=4))
            assert got.meta["codec"] == expected.meta["codec"]
            assert all(torch.equal(got.payload[n], expected.payload[n]) for n in got.payload)
            assert remote.summary()["bytes"] == local.summary()["bytes"]
            # The server applies max_topk to the codec's k before it sends the reply.
            with pytest.raises(RemoteError, match=r"403.*k = 9"):
                HttpTransport(url, key).send(encode(_request(ids, 9, value_bits=8)))
