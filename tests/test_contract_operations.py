"""Contracts govern operations: no data party obtains a model tensor outside its contract.

Every operation the model party knows (its registry, ``crossbound.parties.OPERATIONS``: a new
operation is tried here automatically) is requested, with settings the model party would
serve, under every contract ``crossbound serve --contract NAME`` accepts (the named ones and
each strategy's); all but the contract's own are refused, before the model party sees them.
The request that returned every tensor of the LM (an offsite bundle whose emulator keeps the
whole middle) is refused under every contract, in process and over HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import torch
from fastapi.testclient import TestClient

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import (
    MODEL_PARTY,
    OPEN_TEXT,
    AccessContract,
    ContractViolation,
    OperationRefused,
)
from crossbound.boundary.http import HttpTransport, RemoteError
from crossbound.boundary.messages import Kind, Message, MessageError, encode
from crossbound.boundary.operations import (
    CheckedBy,
    Integer,
    Labels,
    Name,
    Number,
    OneOf,
    Setting,
)
from crossbound.catalog import all_strategies
from crossbound.downward.offsite import OFFSITE
from crossbound.downward.offsite_data import receive_bundle
from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import adapter_state
from crossbound.models.loading import LoadedModel, load_model
from crossbound.parties import OPERATIONS, ModelParty
from crossbound.parties.offsite import ADAPTER_ARTIFACT, OffsitePolicy
from crossbound.parties.split import ACTIVATIONS, GRADIENTS
from crossbound.service.app import Limits, create_app
from crossbound.service.keys import KeyStore
from crossbound.service.serve import CONTRACTS, contract_named
from crossbound.training.distill import TransferRow
from crossbound.training.topk_transfer import transfer_payload
from tests.servers import running_server

DATA = "data-party-0"
KEY = "key-of-data-party-0-0123456789"
WIRE = "application/x-crossbound-message"
# The probe's request (issue 23): against tiny-large (4 blocks) it returned all 39 tensors.
FULL_MODEL = {"op": "offsite_bundle", "adapter_bottom": 1, "adapter_top": 1,
              "emulator_layers": 2}
# Every contract a model party serves under by name: the named ones, then each strategy's.
SERVE_NAMES = [*CONTRACTS, *all_strategies()]
# Operations the service answers itself (the OpenAI routes), besides the model party's.
OPENAI_OPERATIONS = ("completions", "chat.completions")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lms() -> dict[str, LoadedModel]:
    return {name: load_model(name) for name in ("tiny-large", "tiny-small", "tiny-other")}


# ---------------------------------------------------------------- valid requests, per operation


@dataclass
class Case:
    """A request the model party serves; ``setup`` (if any) is what must reach it first."""

    request: Message
    setup: Message | None = None
    then: tuple[Message, ...] = ()  # further setup, after ``setup``

    def prepare(self, channel: Boundary) -> None:
        """Send the setup messages, in order, over ``channel``."""
        for message in ([self.setup] if self.setup is not None else []) + list(self.then):
            channel.request(message)


def _text(op: str, texts: list[str], **meta: Any) -> Message:
    return Message(Kind.TEXT, DATA, MODEL_PARTY, texts, {"op": op, **meta})


def _ids() -> torch.Tensor:
    return torch.tensor([[5, 6, 7, 8]], dtype=torch.int32)  # (B, T)


def _distill(lm: LoadedModel) -> Message:
    g = torch.Generator().manual_seed(0)
    row = TransferRow(ids=_ids()[0].long(), positions=torch.tensor([0, 1]),
                      values=torch.randn(2, 2, generator=g).log_softmax(-1),
                      indices=torch.tensor([[1, 2], [3, 4]]))
    payload, codec = transfer_payload([row], 8, int(lm.model.config.vocab_size))
    return Message(Kind.TENSORS, DATA, MODEL_PARTY, payload, {
        "op": "lm_distill", "codec": codec.to_meta(), "steps": 1, "lora_rank": 2,
        "batch_size": 1, "max_length": 32})


def _bundle_request() -> Message:
    return _text("offsite_bundle", [], adapter_bottom=1, adapter_top=1, emulator_layers=1)


def _adapter(lm: LoadedModel) -> Case:
    # The adapter of a bundle the party received earlier (the setup crosses first).
    party = ModelParty(lm)
    received = receive_bundle(party.handle(_bundle_request()))
    adapter = adapter_state(received.model, received.adapter_positions)
    return Case(Message(Kind.TENSORS, DATA, MODEL_PARTY, adapter,
                        {"op": "offsite_adapter", "artifact": ADAPTER_ARTIFACT}),
                setup=_bundle_request())


def _split(op: str, u_shape: bool) -> Callable[[LoadedModel], Case]:
    """A split request of ``op`` after a bundle of the right shape (and, for the U-shape's
    backward pass, a training forward pass)."""

    def build(lm: LoadedModel) -> Case:
        width = int(lm.model.config.hidden_size)
        hidden = {"hidden": torch.zeros(1, 4, width), "mask": torch.ones(1, 4, dtype=torch.long)}
        targets = torch.tensor([[-100, -100, 5, 6]])
        bundle = _text("split_bundle", [], cut=1, u_shape=u_shape)
        forward = Message(Kind.TENSORS, DATA, MODEL_PARTY, hidden,
                          {"op": "split_forward", "artifact": ACTIVATIONS, "train": True})
        if op == "split_forward":
            return Case(forward, setup=bundle)
        if op == "split_backward":
            return Case(Message(Kind.TENSORS, DATA, MODEL_PARTY,
                                {"grad": torch.zeros(1, 4, width)},
                                {"op": op, "artifact": GRADIENTS}), setup=bundle, then=(forward,))
        return Case(Message(Kind.TENSORS, DATA, MODEL_PARTY, {**hidden, "targets": targets},
                            {"op": op, "artifact": ACTIVATIONS}), setup=bundle)

    return build


BUILDERS: dict[str, Callable[[LoadedModel], Case]] = {
    "split_bundle": lambda lm: Case(_text("split_bundle", [], cut=1)),
    "split_forward": _split("split_forward", True),
    "split_backward": _split("split_backward", True),
    "split_step": _split("split_step", False),
    "split_score": _split("split_score", False),
    "score_choices": lambda lm: Case(_text("score_choices", ["Route: a rash on my arm"],
                                           choices=["cardiology", "dermatology"])),
    "generate": lambda lm: Case(_text("generate", ["Route: a rash"], max_new_tokens=2)),
    "topk_logprobs": lambda lm: Case(Message(Kind.TOKEN_IDS, DATA, MODEL_PARTY,
                                             {"ids": _ids()}, {"op": "topk_logprobs", "k": 2})),
    "lm_step": lambda lm: Case(Message(
        Kind.TOKEN_IDS, DATA, MODEL_PARTY, {"ids": _ids(), "mask": torch.ones_like(_ids())},
        {"op": "lm_step", "session": "contract-test", "new": True, "keep": 1,
         "reply": "argmax"})),
    "offsite_bundle": lambda lm: Case(_bundle_request()),
    "offsite_adapter": _adapter,
    "lm_finetune": lambda lm: Case(Message(
        Kind.RECORDS, DATA, MODEL_PARTY, [{"prompt": "Route: a rash", "answer": "dermatology"}],
        {"op": "lm_finetune", "epochs": 0.01, "batch_size": 1, "max_length": 32,
         "lora_rank": 2})),
    "lm_distill": lambda lm: Case(_distill(lm)),
}


def valid_case(op: str, lm: LoadedModel) -> Case:
    if op in OPENAI_OPERATIONS:  # no settings in meta: the route's own limits bound it
        return Case(_text(op, ["Route: a rash"]))
    assert op in BUILDERS, (f"the model party serves {op!r}, but this test cannot build a "
                            "valid request for it: add one to BUILDERS")
    return BUILDERS[op](lm)


def _with_meta(message: Message, **meta: Any) -> Message:
    return Message(message.kind, message.sender, message.receiver, message.payload,
                   {**message.meta, **meta})


def _channels(party: ModelParty, contract: AccessContract | None) -> tuple[Boundary, Boundary]:
    """An ungoverned channel (for setup) and one governed by ``contract``, to ``party``."""
    open_channel = Boundary()
    open_channel.attach(party)
    governed = Boundary(contract=contract)
    governed.share_parties(open_channel)
    return open_channel, governed


# ---------------------------------------------------------------- every operation, every contract


@pytest.mark.parametrize("name", SERVE_NAMES)
def test_every_served_contract_names_its_operations(name):
    contract = contract_named(name)
    names = contract.operation_names()
    assert names is not None, f"contract {contract.name!r} does not govern operations"
    assert names <= set(OPERATIONS) | set(OPENAI_OPERATIONS), names - set(OPERATIONS)


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_each_valid_request_is_one_the_model_party_serves(op, lms):
    """The requests below are refused for what they ask, not for being malformed."""
    party = ModelParty(lms["tiny-large"])
    case = valid_case(op, lms["tiny-large"])
    channel, _ = _channels(party, None)
    case.prepare(channel)
    reply = channel.request(case.request)
    assert reply.sender == MODEL_PARTY and reply.receiver == DATA


@pytest.mark.parametrize("op", sorted(OPERATIONS))
@pytest.mark.parametrize("name", SERVE_NAMES)
def test_only_the_contracts_operations_are_served(name, op, lms):
    contract = contract_named(name)
    party = ModelParty(lms["tiny-large"])
    case = valid_case(op, lms["tiny-large"])
    channel, governed = _channels(party, contract)
    case.prepare(channel)  # the party's state is ready: only the contract decides
    calls = party.calls
    allowed = contract.operation_names() or frozenset()
    if op in allowed:
        reply = governed.request(case.request)
        assert reply.sender == MODEL_PARTY and party.calls == calls + 1
        return
    with pytest.raises(ContractViolation):
        governed.request(case.request)
    # refused before it reached the model party, and not recorded as a crossing
    assert party.calls == calls and governed.messages == 0
    # the operation rule alone refuses it, whatever the kind rules say
    with pytest.raises(OperationRefused, match=f"does not let {DATA} request operation '{op}'"):
        contract.check_operation(case.request)


# ---------------------------------------------------------------- the whole model


@pytest.mark.parametrize("model", ["tiny-large", "tiny-small"])
@pytest.mark.parametrize("name", SERVE_NAMES)
def test_the_full_model_request_is_refused_under_every_contract(name, model, lms):
    party = ModelParty(lms[model])
    _, governed = _channels(party, contract_named(name))
    with pytest.raises((ContractViolation, MessageError)) as refused:
        governed.request(_text("offsite_bundle", [], **{k: v for k, v in FULL_MODEL.items()
                                                        if k != "op"}))
    if model == "tiny-large":  # it has a middle to emulate: a refusal, not a malformed request
        assert isinstance(refused.value, ContractViolation), refused.value
    assert party.calls == 0 and not party.offsite.sessions  # nothing was built or sent


@pytest.mark.parametrize("model", ["tiny-large", "tiny-other", "tiny-small"])
def test_no_bundle_holds_every_block_whatever_is_asked(model, lms):
    """Every split a request can name, under the contract that allows bundles."""
    lm = lms[model]
    total = len(decoder_layers(lm.model))
    party = ModelParty(lm)
    _, governed = _channels(party, OFFSITE)
    served = 0
    for bottom in range(1, total + 2):
        for top in range(1, total + 2):
            for kept in (None, *range(total + 2)):
                meta = {"adapter_bottom": bottom, "adapter_top": top, "emulator_layers": kept}
                try:
                    reply = governed.request(_text("offsite_bundle", [], **meta))
                except (ContractViolation, MessageError):
                    continue
                served += 1
                middle = total - bottom - top
                assert reply.meta["config"]["num_hidden_layers"] < total
                assert len(reply.meta["split"]["middle_kept"]) <= middle // 2
                shipped = {n.split(".")[2] for n in reply.payload if n.startswith("model.layers.")}
                assert len(shipped) < total
    # tiny-large: a bundle with half its middle is still served; tiny-small has no middle
    assert served > 0 if model != "tiny-small" else served == 0


def test_the_policy_keeps_a_share_of_every_lm_with_its_owner():
    policy = OffsitePolicy()
    for total in (3, 4, 5, 6, 7, 8, 12, 24, 28, 30, 32, 40):
        for bottom in range(1, total // 2 + 2):
            for top in range(1, total // 2 + 2):
                middle = total - bottom - top
                for kept in {None, 0, max(middle, 0) // 2, max(middle, 0) // 2 + 1, middle}:
                    try:
                        split = policy.plan(total, bottom, top, kept)
                    except (OperationRefused, MessageError):
                        continue
                    withheld = total - len(split.kept)
                    assert withheld >= 1, (total, bottom, top, kept)
                    if total >= 4:
                        assert withheld >= total / 4, (total, bottom, top, kept)
    # the strategy's defaults (2 + 2 adapter blocks, emulator unset) on the default LM depths
    for total in (28, 30):
        split = policy.plan(total, 2, 2, None)
        assert len(split.middle_kept) == (total - 4) // 2
    with pytest.raises(ValueError, match="whole middle"):
        OffsitePolicy(emulator_share=1.0)
    with pytest.raises(ValueError, match="nothing to emulate"):
        OffsitePolicy(adapter_end_share=0.5)


# ---------------------------------------------------------------- settings out of range


def invalid_values(setting: Setting) -> list[Any]:
    """Values ``setting`` must refuse (by its type: a new Setting type must be taught here)."""
    if isinstance(setting, Integer):
        return [setting.low - 1, setting.high + 1, 1.5, True, "1",
                *([] if setting.optional else [None])]
    if isinstance(setting, Number):
        below = setting.low if setting.open_low else setting.low - 1
        above = [setting.high * 2 + 1] if math.isfinite(setting.high) else []
        return [below, *above, math.nan, math.inf, True, "1", None]
    if isinstance(setting, OneOf):  # type included: 1 is not true, 8.0 is not 8
        candidates = ("not-one-of-these", 10**9, None, 1, 8.0, "true")
        return [v for v in candidates
                if not any(type(v) is type(x) and v == x for x in setting.values)]
    if isinstance(setting, Name):
        return ["", "a name with spaces!", "x" * 1000, 5, None]
    if isinstance(setting, Labels):
        return [[], "cardiology", [1, 2], ["x" * (setting.max_chars + 1)],
                ["a"] * (setting.max_items + 1), None]
    if isinstance(setting, CheckedBy):
        return ["a codec", [1, 2], 3, None]
    raise AssertionError(f"no invalid values for {setting!r}: teach this test its Setting type")


@pytest.mark.parametrize("name", SERVE_NAMES)
def test_out_of_range_settings_are_refused(name, lms):
    contract = contract_named(name)
    for operation in contract.operations or ():
        base = valid_case(operation.name, lms["tiny-large"]).request
        contract.check_operation(base)  # the valid request passes
        for key, setting in operation.settings:
            for bad in invalid_values(setting):
                with pytest.raises(OperationRefused, match=f"meta.{key} "):
                    contract.check_operation(_with_meta(base, **{key: bad}))
        with pytest.raises(OperationRefused, match="'temperature_x' is not one"):
            contract.check_operation(_with_meta(base, temperature_x=0.5))


@pytest.mark.parametrize(("name", "op", "meta", "match"), [
    ("raw-text-to-lm", "generate", {"max_new_tokens": 100_000}, "max_new_tokens"),
    ("raw-text-to-lm", "score_choices", {"model": "offsite-plugin"}, "model"),
    ("remote-lm", "generate", {"temperature": 0.7}, "'temperature' is not one"),
    ("logit-kd", "topk_logprobs", {"k": 2048}, "meta.k"),
    ("speculative", "lm_step", {"reply": "hidden"}, "meta.reply"),
    ("offsite-tuning", "offsite_bundle", {"adapter_bottom": 9}, "meta.adapter_bottom"),
    ("offsite-tuning", "offsite_adapter", {"artifact": "full-model"}, "artifact"),
    ("mutual-kt", "lm_distill", {"lora_rank": 100_000}, "meta.lora_rank"),
])
def test_the_contract_refuses_before_the_model_party_sees_it(name, op, meta, match, lms):
    party = ModelParty(lms["tiny-large"])
    case = valid_case(op, lms["tiny-large"])
    channel, governed = _channels(party, contract_named(name))
    case.prepare(channel)
    calls = party.calls
    with pytest.raises(ContractViolation, match=match):
        governed.request(_with_meta(case.request, **meta))
    assert party.calls == calls and governed.messages == 0


@pytest.mark.parametrize(("meta", "match"), [
    (FULL_MODEL, "keeps at most 1 of the 2 middle blocks"),
    ({"adapter_bottom": 2, "adapter_top": 1}, "at most 1 adapter block"),
    ({"adapter_bottom": 1, "adapter_top": 2, "emulator_layers": 0}, "at most 1 adapter block"),
])
def test_the_model_party_decides_how_much_of_its_lm_a_bundle_holds(meta, match, lms):
    """Within the contract's ranges, but beyond the model party's policy for its LM."""
    party = ModelParty(lms["tiny-large"])
    _, governed = _channels(party, OFFSITE)
    request = _text("offsite_bundle", [], **{k: v for k, v in meta.items() if k != "op"})
    OFFSITE.enforce(request)  # the contract's ranges let it through...
    with pytest.raises(OperationRefused, match=match):
        governed.request(request)  # ...the model party does not serve it
    assert governed.messages == 1 and not party.offsite.sessions  # the request, no bundle
    # unset, the emulator gets the policy's ceiling: half the middle
    reply = governed.request(_text("offsite_bundle", [], adapter_bottom=1, adapter_top=1))
    assert reply.meta["split"]["middle_kept"] == [2]


# ---------------------------------------------------------------- over HTTP


def _post(url: str, message: Message) -> httpx.Response:
    return httpx.post(f"{url}/v1/crossbound/message", content=encode(message), timeout=30,
                      headers={"Authorization": f"Bearer {KEY}", "Content-Type": WIRE})


def test_over_http_the_full_model_request_is_a_403(lms):
    keys = KeyStore.from_keys({DATA: KEY})
    attack = _text("offsite_bundle", [], **{k: v for k, v in FULL_MODEL.items() if k != "op"})
    # The default contract refuses the operation; offsite-tuning's model party refuses the
    # split (its policy). Either way a 403, nothing served, the refusal counted.
    for contract in (OPEN_TEXT, OFFSITE):
        app = create_app(lms["tiny-large"], keys, contract, None, Limits())
        state = app.state.service
        with running_server(app) as url:
            response = _post(url, attack)
            assert response.status_code == 403, response.text
            error = response.json()["error"]
            assert error["code"] == "contract_violation" and error["type"] == "permission_error"
            # a data party's own client reports it as the server's refusal
            with pytest.raises(RemoteError, match="403"):
                Boundary(remote=HttpTransport(url, KEY)).request(attack)
            # a request the contract allows still works
            allowed = valid_case("score_choices", lms["tiny-large"]).request
            assert _post(url, allowed).status_code == 200
        assert state.refused[DATA] == 2 and not state.party.offsite.sessions
        assert state.party.calls == 1  # only the allowed request was served


@pytest.mark.parametrize("name", SERVE_NAMES)
def test_openai_routes_are_operations_too(name, lms):
    contract = contract_named(name)
    app = create_app(lms["tiny-large"], KeyStore.from_keys({DATA: KEY}), contract, None,
                     Limits(max_tokens=2))
    client = TestClient(app, headers={"Authorization": f"Bearer {KEY}"})
    allowed = contract.operation_names() or frozenset()
    for op, path, body in (
            ("completions", "/v1/completions", {"prompt": "Route: a rash", "max_tokens": 1}),
            ("chat.completions", "/v1/chat/completions",
             {"messages": [{"role": "user", "content": "Route: a rash"}], "max_tokens": 1})):
        response = client.post(path, json=body)
        assert response.status_code == (200 if op in allowed else 403), response.text
