"""The model party's operations, checked against plain computations on a tiny model."""

from __future__ import annotations

import pytest
import torch

from crossbound.boundary import Boundary, Kind, Message, MessageError
from crossbound.boundary.contracts import AccessContract, ContractViolation, allow
from crossbound.boundary.http import HttpTransport, RemoteError
from crossbound.boundary.messages import encode
from crossbound.boundary.transcript import Transcript
from crossbound.models import load_model
from crossbound.parties import ModelParty
from crossbound.service.app import Limits, create_app
from crossbound.service.keys import KeyStore
from tests.servers import running_server

TOKENS_TOPK = AccessContract("tokens-topk", (
    allow("data", Kind.TOKEN_IDS),
    allow("model", Kind.TOPK_LOGPROBS, max_topk=8),
))
KEY = "key-of-data-party-0-0123456789"


@pytest.fixture(scope="module")
def lm():
    return load_model("tiny-large")


def _request(ids, k, mask=None):
    payload = {"ids": ids} if mask is None else {"ids": ids, "mask": mask}
    return Message(Kind.TOKEN_IDS, "data-party-0", "model-party", payload,
                   {"op": "topk_logprobs", "k": k})


def test_topk_logprobs_match_the_full_distribution(lm):
    party = ModelParty(lm, batch_size=2)
    ids = torch.randint(0, 250, (3, 9))
    mask = torch.ones_like(ids)
    mask[2, 6:] = 0  # a right-padded row
    reply = party.handle(_request(ids, 5, mask))
    assert reply.kind == Kind.TOPK_LOGPROBS and reply.meta["lm_tokens"] == int(mask.sum())
    values, indices = reply.payload["values"], reply.payload["indices"]
    assert values.shape == (3, 9, 5) and indices.dtype == torch.int32
    with torch.no_grad():
        full = torch.log_softmax(lm.model(ids[:2]).logits, dim=-1)
        row2 = torch.log_softmax(lm.model(ids[2:, :6]).logits, dim=-1)
    expected = full.topk(5, dim=-1)
    assert torch.allclose(values[:2], expected.values, atol=1e-5)
    assert torch.equal(indices[:2].long(), expected.indices)
    assert torch.allclose(values[2, :6], row2[0].topk(5, dim=-1).values, atol=1e-5)
    assert torch.all(values[2, 6:] == 0)


@pytest.mark.parametrize(("payload", "meta", "message"), [
    ({"ids": torch.zeros(2, 3, 4, dtype=torch.long)}, {"k": 2}, "2-D"),
    ({"ids": torch.zeros(2, 3)}, {"k": 2}, "integer"),
    ({"ids": torch.full((1, 3), 10_000)}, {"k": 2}, "must lie in"),
    ({"ids": torch.zeros(1, 3, dtype=torch.long)}, {"k": 0}, "meta.k"),
    ({"ids": torch.zeros(1, 3, dtype=torch.long)}, {"k": "5"}, "meta.k"),
    ({"ids": torch.zeros(1, 3, dtype=torch.long), "mask": torch.zeros(1, 3)}, {"k": 2}, "0/1"),
    ({"ids": torch.zeros(1, 3, dtype=torch.long), "mask": torch.ones(1, 4)}, {"k": 2}, "shape"),
])
def test_bad_topk_requests_are_refused(lm, payload, meta, message):
    party = ModelParty(lm)
    request = Message(Kind.TOKEN_IDS, "data-party-0", "model-party", payload,
                      {"op": "topk_logprobs", **meta})
    with pytest.raises(MessageError, match=message):
        party.handle(request)
    assert party.calls == 0


def test_topk_over_http_equals_in_process_and_the_contract_caps_k(lm, tmp_path):
    ids = torch.randint(0, 250, (2, 6))
    local = Boundary(contract=TOKENS_TOPK)
    local.attach(ModelParty(lm))
    expected = local.request(_request(ids, 4))
    with Transcript(tmp_path / "server.jsonl") as transcript:
        app = create_app(lm, KeyStore.from_keys({"data-party-0": KEY}), TOKENS_TOPK,
                         transcript, Limits())
        with running_server(app) as url:
            remote = Boundary(contract=TOKENS_TOPK, remote=HttpTransport(url, KEY))
            got = remote.request(_request(ids, 4))
            assert torch.equal(got.payload["indices"], expected.payload["indices"])
            assert torch.allclose(got.payload["values"], expected.payload["values"])
            assert remote.summary()["bytes"] == local.summary()["bytes"]
            # An answer with more log-probs than the contract allows is refused on both sides:
            # in process when the reply would cross, by the server before it sends it.
            with pytest.raises(ContractViolation, match="k = 9"):
                local.request(_request(ids, 9))
            with pytest.raises(RemoteError, match=r"403.*k = 9"):
                HttpTransport(url, KEY).send(encode(_request(ids, 9)))
