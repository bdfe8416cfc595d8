"""Access contracts: default-deny, limits, guards, refusal before anything is recorded."""

from __future__ import annotations

import pytest
import torch

from crossbound.boundary import Boundary, Kind, Message, Transcript
from crossbound.boundary.contracts import (
    NOTHING,
    AccessContract,
    ContractViolation,
    GuardContext,
    allow,
    get_guard,
    register_guard,
    verbatim_private_text,
)
from crossbound.boundary.logit_codec import TopkCodec

TOPK = AccessContract("topk", (
    allow("data", Kind.TEXT, guards=("no-raw-private-text",)),
    allow("model", Kind.TOPK_LOGPROBS, max_topk=128),
    allow("model", Kind.TENSORS, artifacts={"emulator", "adapter"}),
    allow("data", Kind.TENSORS, artifacts={"adapter"}, max_bytes=10_000),
))


def _topk(k):
    return Message(Kind.TOPK_LOGPROBS, "model-party", "data-party-0",
                   {"values": torch.zeros(2, k), "indices": torch.zeros(2, k, dtype=torch.long)})


def test_default_deny_names_what_is_allowed():
    with pytest.raises(ContractViolation, match="does not let the data party send records"):
        TOPK.check(Message(Kind.RECORDS, "data-party-0", "model-party", [{"a": "b"}]))
    with pytest.raises(ContractViolation, match="nothing may cross"):
        NOTHING.check(Message(Kind.TEXT, "data-party-0", "model-party", ["hi"]))


def test_topk_limit():
    TOPK.check(_topk(128))
    with pytest.raises(ContractViolation, match="k = 129 exceeds the limit of 128"):
        TOPK.check(_topk(129))


def test_topk_limit_applies_to_compressed_replies():
    # A compressed reply's last dimension counts bytes, not entries: k comes from meta.codec.
    def compressed(k):
        codec = TopkCodec(k=k, value_bits=4, vocab_size=49_152)
        payload = codec.encode(torch.zeros(2, k), torch.zeros(2, k, dtype=torch.long))
        return Message(Kind.TOPK_LOGPROBS, "model-party", "data-party-0", payload,
                       {"codec": codec.to_meta()})

    assert compressed(200).payload["codes"].shape[-1] == 100  # below the limit, k is not
    TOPK.check(compressed(128))
    with pytest.raises(ContractViolation, match="k = 200 exceeds the limit of 128"):
        TOPK.check(compressed(200))
    tampered = compressed(128)
    tampered.meta["codec"]["value_bits"] = 3
    with pytest.raises(ContractViolation, match=r"unreadable top-k: meta\.codec"):
        TOPK.check(tampered)


def test_artifact_and_size_rules():
    weights = {"w": torch.zeros(4)}
    TOPK.check(Message(Kind.TENSORS, "model-party", "data-party-0", weights,
                       {"artifact": "emulator"}))
    with pytest.raises(ContractViolation, match="artifact 'full-model'"):
        TOPK.check(Message(Kind.TENSORS, "model-party", "data-party-0", weights,
                           {"artifact": "full-model"}))
    adapter = Message(Kind.TENSORS, "data-party-0", "model-party", weights,
                      {"artifact": "adapter"})
    TOPK.check(adapter, wire_bytes=9_000)
    with pytest.raises(ContractViolation, match="exceed the limit"):
        TOPK.check(adapter, wire_bytes=20_000)


def test_private_text_guard_refuses_verbatim_records():
    private = ["Hello, this is Maria Okafor, I have had chest tightness since Tuesday and "
               "I am worried about it"]
    context = GuardContext(private_texts=private)
    TOPK.check(Message(Kind.TEXT, "data-party-0", "model-party",
                       ["Which department treats chest tightness?"]), context)
    leak = Message(Kind.TEXT, "data-party-0", "model-party",
                   ["Summarise: this is Maria Okafor, I have had chest tightness since Tuesday"])
    with pytest.raises(ContractViolation, match="no-raw-private-text"):
        TOPK.check(leak, context)


def test_custom_guard_plugs_in():
    register_guard("no-digits", lambda m, c: "digits" if any(
        ch.isdigit() for t in m.payload for ch in t) else None)
    contract = AccessContract("x", (allow("data", Kind.TEXT, guards=("no-digits",)),))
    contract.check(Message(Kind.TEXT, "data-party-0", "model-party", ["fine"]))
    with pytest.raises(ContractViolation, match="digits"):
        contract.check(Message(Kind.TEXT, "data-party-0", "model-party", ["call 555"]))
    with pytest.raises(ValueError, match="already registered"):
        register_guard("no-digits", lambda m, c: None)


class Echo:
    name = "model-party"

    def handle(self, request):
        return Message(Kind.TEXT, self.name, request.sender, request.payload)


def test_refused_message_is_neither_recorded_nor_delivered(tmp_path):
    with Transcript(tmp_path / "t.jsonl") as transcript:
        boundary = Boundary(transcript, contract=NOTHING)
        boundary.attach(Echo())
        with pytest.raises(ContractViolation):
            boundary.request(Message(Kind.TEXT, "data-party-0", "model-party", ["hi"]))
        assert transcript.summary()["entries"] == 0 and boundary.messages == 0


def test_the_guard_reads_token_ids_inside_tensors_messages():
    # Transfer rows with top-k targets (mutual-kt's lm_distill) carry text as token ids.
    from crossbound.models.loading import load_tokenizer

    tok = load_tokenizer("tiny-large")
    private = ["Hello, this is Maria Okafor, I have had chest tightness since Tuesday and "
               "I am worried about it"]
    contract = AccessContract("rows", (allow("data", Kind.TENSORS,
                                             guards=("no-raw-private-text",)),))

    def rows(text):
        ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
        return Message(Kind.TENSORS, "data-party-0", "model-party",
                       {"ids": ids, "mask": torch.ones_like(ids), "codes": torch.zeros(1, 2)})

    context = GuardContext(private_texts=private, decode=tok.decode)
    contract.check(rows("Which department treats chest tightness?"), context)
    with pytest.raises(ContractViolation, match="no-raw-private-text"):
        contract.check(rows("this is Maria Okafor, I have had chest tightness since Tuesday"),
                       context)
    with pytest.raises(ContractViolation, match="cannot be checked"):
        contract.check(rows("hello"), GuardContext(private_texts=private))


# ---------------------------------------------------------------- per-boundary guard overrides

GUARDED = AccessContract("guarded-text", (
    allow("data", Kind.TEXT, guards=("no-raw-private-text",)), allow("model", Kind.TEXT)))
PRIVATE = ("Hello, this is Maria Okafor, I have had chest tightness since Tuesday and I am "
           "worried about it")


def _no_digits_either(message, context):
    """A stronger check under the registered name: the verbatim check, then no digits."""
    reason = verbatim_private_text(message, context)
    if reason is not None:
        return reason
    return "digits" if any(ch.isdigit() for t in message.payload for ch in t) else None


def _text(*payload):
    return Message(Kind.TEXT, "data-party-0", "model-party", list(payload))


def test_a_guard_override_holds_on_its_own_boundary_only():
    registered = get_guard("no-raw-private-text")
    strict, plain = Boundary(contract=GUARDED), Boundary(contract=GUARDED)
    strict.attach(Echo())
    plain.attach(Echo())
    phone = _text("call me on 555-0192")
    with strict.override_guard("no-raw-private-text", _no_digits_either):
        with pytest.raises(ContractViolation, match="guard no-raw-private-text: digits"):
            strict.request(phone)
        assert not strict.admits(phone) and strict.messages == 0  # the pre-flight agrees
        # Another boundary in the same process, at the same time, runs the registered guard
        assert plain.admits(phone)
        assert plain.request(phone).payload == ["call me on 555-0192"]
        assert get_guard("no-raw-private-text") is registered  # the registry is untouched
    assert strict.guard_overrides == {}  # the block's end takes the override back out
    assert strict.request(phone).payload == ["call me on 555-0192"]


def _refuse_all(message, context):
    return "nothing today"


def test_overrides_nest_and_name_registered_guards_only():
    boundary = Boundary(contract=GUARDED)
    with boundary.override_guard("no-raw-private-text", _no_digits_either):
        with boundary.override_guard("no-raw-private-text", _refuse_all):
            assert not boundary.admits(_text("fine"))
        assert boundary.admits(_text("fine")) and not boundary.admits(_text("555"))
    assert boundary.guard_overrides == {}
    with (pytest.raises(ValueError, match="no guard named 'no-raw-private-txt'"),
          boundary.override_guard("no-raw-private-txt", _refuse_all)):
        pass
    with pytest.raises(ValueError, match="override it there"):  # the registry takes no swaps
        register_guard("no-raw-private-text", _refuse_all)


class Wire:
    """A remote transport that must never be reached."""

    def __init__(self):
        self.sent = []

    def send(self, wire):
        self.sent.append(wire)
        raise AssertionError("a refused message reached the transport")


def test_an_overriding_boundary_still_refuses_hostile_messages_before_sending(tmp_path):
    # A data party trying to slip content past the stronger check: what the override refuses,
    # and what the registered check it builds on refuses (a private record verbatim), are
    # refused before anything is recorded or sent, in process or to a remote party.
    with Transcript(tmp_path / "t.jsonl") as transcript:
        wire = Wire()
        remote = Boundary(transcript, contract=GUARDED, remote=wire)
        local = Boundary(transcript, contract=GUARDED)
        local.attach(Echo())
        for boundary in (remote, local):
            boundary.guard_contexts["data-party-0"] = GuardContext(private_texts=[PRIVATE])
            with boundary.override_guard("no-raw-private-text", _no_digits_either):
                for hostile in (_text("fine", "MRN 4829-117"), _text(f"Summarise: {PRIVATE}")):
                    with pytest.raises(ContractViolation, match="no-raw-private-text"):
                        boundary.request(hostile)
                    with pytest.raises(ContractViolation, match="no-raw-private-text"):
                        boundary.cross(hostile)
        assert wire.sent == [] and transcript.summary()["entries"] == 0
        assert remote.messages == local.messages == 0
