"""The model party behind an OpenAI-compatible server: exact label scoring from prompt
log-probs, checked against in-process scoring on the same tiny model; the approximation, and
the result saying which; top-k over the API; one prompt per request; quirks and hostile
answers refused.

The server is :mod:`tests.openai_fake` (answers computed from a tiny model, the way vLLM
answers) reached through an in-process ASGI client, and crossbound's own server.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from starlette.testclient import TestClient

from crossbound.boundary.contracts import MODEL_PARTY, OPEN_TEXT
from crossbound.boundary.messages import Kind, Message, MessageError, encode, topk_from_message
from crossbound.boundary.transcript import Transcript
from crossbound.evaluate.utility import choice_logprobs
from crossbound.models.loading import load_model
from crossbound.parties import ModelParty
from crossbound.parties.openai_compatible import OpenAICompatibleParty
from crossbound.parties.openai_probe import probe
from crossbound.parties.openai_scoring import TokenRow, label_logprob
from crossbound.parties.openai_wire import public_url
from crossbound.runner import run_strategy
from crossbound.service.app import Limits, create_app
from crossbound.service.keys import KeyStore
from crossbound.training.topk_transfer import topk_every_position
from tests.openai_fake import KEY, Behaviour, fake_openai_app

TASK = "clinic-triage:n=80,seed=5"
PROMPTS = ["Patient: chest pain since this morning.\nDepartment:",
           "Patient: itchy rash on both arms.\nDepartment:",
           "Patient: ankle swollen after a fall.\nDepartment:"]
LABELS = ["cardiology", "dermatology", "orthopedics"]


@pytest.fixture(scope="module")
def lm():
    return load_model("tiny-large")


@pytest.fixture(scope="module")
def sharp(lm):
    """tiny-large with its logits scaled up: log-probs far apart, so a shift shows."""
    model = copy.deepcopy(lm.model)
    with torch.no_grad():
        model.model.norm.weight.mul_(20.0)
    return model


def party_for(model, tokenizer, behaviour=None, **options):
    behaviour = behaviour or Behaviour()
    client = TestClient(fake_openai_app(model, tokenizer, behaviour))
    party = OpenAICompatibleParty("http://testserver/v1", KEY, "tiny-large", client=client,
                                  **options)
    return party, behaviour


def score(party, prompts=PROMPTS, labels=LABELS):
    reply = party.handle(Message(Kind.TEXT, "data-party-0", MODEL_PARTY, list(prompts),
                                 {"op": "score_choices", "choices": list(labels)}))
    return reply, reply.payload["choice_logprobs"]


def topk_request(ids, mask, k, bits=32):
    meta = {"op": "topk_logprobs", "k": k}
    if bits != 32:
        meta["value_bits"] = bits
    return Message(Kind.TOKEN_IDS, "data-party-0", MODEL_PARTY, {"ids": ids, "mask": mask}, meta)


# ---------------------------------------------------------------- exact scoring


@pytest.mark.parametrize(("behaviour", "method"), [
    (Behaviour(), "echo"),
    (Behaviour(echo=False), "prompt_logprobs"),  # vLLM's prompt_logprobs where echo is refused
])
def test_exact_scores_equal_in_process_choice_logprobs(lm, behaviour, method):
    party, _ = party_for(lm.model, lm.tokenizer, behaviour)
    reply, scores = score(party)
    assert party.scoring.mode == "exact" and party.scoring.method == method
    expected = choice_logprobs(lm.model, lm.tokenizer, PROMPTS, LABELS)
    torch.testing.assert_close(scores, expected, atol=1e-4, rtol=1e-4)
    assert reply.meta["scoring"] == "exact" and reply.meta["lm_tokens"] > 0


def test_exact_scoring_tells_labels_apart_where_the_first_token_cannot(sharp, lm):
    # Labels that share their first token: the approximation gives them one score.
    labels = ["cardiology", "cardiac surgery"]
    exact, _ = party_for(sharp, lm.tokenizer)
    approximate, _ = party_for(sharp, lm.tokenizer, Behaviour(echo=False,
                                                               prompt_logprobs=False))
    _, exact_scores = score(exact, labels=labels)
    _, approximate_scores = score(approximate, labels=labels)
    torch.testing.assert_close(exact_scores,
                               choice_logprobs(sharp, lm.tokenizer, PROMPTS, labels),
                               atol=1e-3, rtol=1e-4)
    assert approximate.scoring.mode == "approximate"
    assert torch.equal(approximate_scores[:, 0], approximate_scores[:, 1])
    assert not torch.equal(exact_scores[:, 0], exact_scores[:, 1])


def test_a_server_without_prompt_logprobs_is_approximate_and_the_result_says_why(lm):
    party, _ = party_for(lm.model, lm.tokenizer, Behaviour(echo=False, prompt_logprobs=False))
    reply, scores = score(party)
    assert scores.shape == (3, 3) and torch.isfinite(scores).all()
    assert reply.meta["scoring"] == "approximate"
    metrics, notes = {}, []
    party.describe_run(metrics, notes)
    assert metrics["scoring"]["mode"] == "approximate"
    assert metrics["scoring"]["method"] == "first-token top-20"
    assert "echo refused (400: echo is not supported)" in metrics["scoring"]["reason"]
    assert "prompt_logprobs" in metrics["scoring"]["reason"]
    assert any("APPROXIMATE" in n and "echo is not supported" in n for n in notes)


def test_the_probe_runs_once_per_server(lm):
    party, behaviour = party_for(lm.model, lm.tokenizer)
    score(party)
    probes = len(behaviour.bodies) - 1
    score(party)
    assert len(behaviour.bodies) == probes + 2  # one request per score_choices afterwards


def test_label_alignment_from_the_end_and_merged_first_tokens():
    row = TokenRow(["<s>", "Dept", ":", " card", "io", "\n"], [None, -1.0, -2.0, -3.0, -5.0,
                                                                 -0.1], [None] * 6, 5)
    assert label_logprob(row, " cardio") == (-4.0, False)
    merged = TokenRow(["<s>", "Dept", ": card", "io", "x"], [None, -1.0, -2.0, -6.0, -0.1],
                      [None] * 5, 4)
    assert label_logprob(merged, " cardio") == (-4.0, True)
    with pytest.raises(MessageError, match="do not spell"):
        label_logprob(row, " neuro")


# ---------------------------------------------------------------- runs and their results


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.deployment
def test_remote_lm_over_an_exact_server_equals_in_process(lm, tmp_path):
    config = {"eval_limit": "12", "prompts_per_request": "5"}
    party, _ = party_for(lm.model, lm.tokenizer)
    remote = run_strategy("remote-lm", task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path / "openai", config=config, model_party=party)
    local = run_strategy("remote-lm", task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "local", config=config)
    assert remote.metrics["utility"] == local.metrics["utility"]
    assert remote.metrics["scoring"]["mode"] == "exact"
    assert remote.metrics["scoring"]["texts_scored"] > 0
    assert remote.metrics["openai_server"]["url"] == "http://testserver/v1"
    written = json.loads((tmp_path / "openai" / "result.json").read_text())
    assert any("exact (echo)" in note for note in written["notes"])
    assert KEY not in (tmp_path / "openai" / "result.json").read_text()
    # the same crossings: who sent what kind, and the same requests byte for byte
    ours, theirs = _rows(tmp_path / "openai" / "transcript.jsonl"), _rows(
        tmp_path / "local" / "transcript.jsonl")
    assert [(r["sender"], r["receiver"], r["kind"]) for r in ours] == [
        (r["sender"], r["receiver"], r["kind"]) for r in theirs]
    assert [r["sha256"] for r in ours if r["sender"] != MODEL_PARTY] == [
        r["sha256"] for r in theirs if r["sender"] != MODEL_PARTY]


@pytest.mark.deployment
def test_crossbound_serve_is_scored_approximately_and_the_result_says_so(lm, tmp_path):
    # crossbound's own server answers echo with a 400 and ignores prompt_logprobs.
    transcript = Transcript(tmp_path / "server.jsonl")
    app = create_app(lm, KeyStore.from_keys({"data-party-0": KEY}), OPEN_TEXT, transcript,
                     Limits())
    party = OpenAICompatibleParty("http://testserver/v1", KEY, "tiny-large",
                                  client=TestClient(app))
    result = run_strategy("remote-lm", task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path / "run", config={"eval_limit": "6"},
                          model_party=party)
    transcript.close()
    assert result.metrics["scoring"]["mode"] == "approximate"
    assert "echo" in result.metrics["scoring"]["reason"]
    assert any("APPROXIMATE" in note for note in result.notes)


# ---------------------------------------------------------------- one prompt per request


def test_a_server_refusing_lists_gets_one_prompt_per_request(lm):
    party, behaviour = party_for(lm.model, lm.tokenizer, Behaviour(lists=False))
    _, scores = score(party)
    torch.testing.assert_close(scores, choice_logprobs(lm.model, lm.tokenizer, PROMPTS, LABELS),
                               atol=1e-4, rtol=1e-4)
    assert party.http.one_prompt and "500" in party.http.one_prompt
    refused = next(i for i, b in enumerate(behaviour.bodies) if isinstance(b["prompt"], list))
    assert all(isinstance(b["prompt"], str) for b in behaviour.bodies[refused + 1:])
    metrics, notes = {}, []
    party.describe_run(metrics, notes)
    assert metrics["openai_server"]["prompts_per_request"] == 1
    assert any("one prompt per request" in n for n in notes)


def test_one_prompt_per_request_when_asked(lm):
    party, behaviour = party_for(lm.model, lm.tokenizer, prompts_per_request=1)
    reply = party.handle(Message(Kind.TEXT, "data-party-0", MODEL_PARTY, PROMPTS,
                                 {"op": "generate", "max_new_tokens": 3}))
    assert len(reply.payload) == 3 and all(isinstance(t, str) for t in reply.payload)
    assert all(isinstance(b["prompt"], str) for b in behaviour.bodies)
    assert "--openai-batch 1" in (party.http.one_prompt or "")


# ---------------------------------------------------------------- quirks


def test_shifted_prompt_logprobs_are_refused_with_a_clear_message(sharp, lm):
    party, _ = party_for(sharp, lm.tokenizer, Behaviour(shift=True))
    reply, _ = score(party)
    assert party.scoring.mode == "approximate" and reply.meta["scoring"] == "approximate"
    assert "misaligned" in party.scoring.reason and "shift" in party.scoring.reason
    ids = torch.tensor([[5, 6, 7, 8]])
    with pytest.raises(MessageError, match="misaligned"):
        party.handle(topk_request(ids, torch.ones_like(ids), 4))


def test_unshifted_sharp_model_passes_the_probe(sharp, lm):
    party, _ = party_for(sharp, lm.tokenizer)
    assert probe(party.http).mode == "exact"


# ---------------------------------------------------------------- top-k


def _rows_and_mask():
    ids = torch.zeros((3, 9), dtype=torch.int32)
    mask = torch.zeros((3, 9), dtype=torch.uint8)
    for b, length in enumerate((9, 4, 6)):
        ids[b, :length] = torch.arange(10 + b, 10 + b + length)
        mask[b, :length] = 1
    return ids, mask


def test_topk_over_the_api_equals_the_in_process_party(lm):
    party, behaviour = party_for(lm.model, lm.tokenizer)
    ids, mask = _rows_and_mask()
    reply = party.handle(topk_request(ids, mask, 5))
    values, indices = topk_from_message(reply)
    expected_values, expected_indices = topk_every_position(lm.model, ids.long(), mask.long(), 5)
    torch.testing.assert_close(values, expected_values, atol=1e-4, rtol=1e-4)
    assert torch.equal(indices, expected_indices.long())
    assert behaviour.bodies[-1]["return_tokens_as_token_ids"] is True
    # Compressed, the reply has the in-process party's size: bytes are counted alike.
    local = ModelParty(lm)
    for bits in (32, 8, 4):
        ours = party.handle(topk_request(ids, mask, 5, bits))
        theirs = local.handle(topk_request(ids, mask, 5, bits))
        assert ours.meta.keys() == theirs.meta.keys()
        assert ours.meta["lm_tokens"] == theirs.meta["lm_tokens"]
        assert len(encode(ours)) == len(encode(theirs))


def test_topk_beyond_the_servers_cap_names_the_flag(lm):
    party, _ = party_for(lm.model, lm.tokenizer, Behaviour(max_logprobs=5))
    ids, mask = _rows_and_mask()
    with pytest.raises(MessageError, match="--max-logprobs 8 or more"):
        party.handle(topk_request(ids, mask, 8))
    told, behaviour = party_for(lm.model, lm.tokenizer, max_logprobs=4)
    with pytest.raises(MessageError, match="--max-logprobs"):
        told.handle(topk_request(ids, mask, 8))
    assert behaviour.bodies == []  # refused before anything was sent


def test_topk_needs_right_padded_rows(lm):
    party, _ = party_for(lm.model, lm.tokenizer)
    ids = torch.tensor([[3, 4, 5]])
    with pytest.raises(MessageError, match="right-padded"):
        party.handle(topk_request(ids, torch.tensor([[0, 1, 1]]), 2))


# ---------------------------------------------------------------- hostile servers


@pytest.mark.parametrize("hostile", ["nan", "positive", "short", "wide", "choices", "huge",
                                     "deep", "usage"])
def test_hostile_answers_are_refused(lm, hostile):
    party, _ = party_for(lm.model, lm.tokenizer, Behaviour(hostile=hostile),
                         max_response_bytes=1 << 20)
    with pytest.raises(MessageError) as raised:
        score(party)
    assert KEY not in str(raised.value)


def test_the_key_never_reaches_an_error_message(lm):
    # a server that repeats the request's Authorization header in its error messages
    party, _ = party_for(lm.model, lm.tokenizer, Behaviour(hostile="leak"))
    with pytest.raises(MessageError) as raised:
        score(party)
    assert "400" in str(raised.value) and "[api key]" in str(raised.value)
    assert KEY not in str(raised.value) and KEY not in party.scoring.reason
    assert KEY not in repr(party) and KEY not in repr(party.http)
    assert public_url("https://user:secret@host:8000/v1?key=abc") == "https://host:8000/v1"


@pytest.mark.deployment
def test_logit_kd_with_topk_from_the_api_crosses_what_in_process_does(lm, tmp_path):
    config = {"eval_limit": "6", "epochs": "0.25", "transfer_limit": "10", "max_length": "48",
              "top_k": "4", "value_bits": "4"}
    party, behaviour = party_for(lm.model, lm.tokenizer)
    remote = run_strategy("logit-kd", task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path / "openai", config=config, model_party=party)
    local = run_strategy("logit-kd", task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "local", config=config)
    assert any(b.get("return_tokens_as_token_ids") for b in behaviour.bodies)
    assert remote.metrics["efficiency"]["bytes_crossed"] == local.metrics["efficiency"][
        "bytes_crossed"]
    assert remote.metrics["efficiency"]["lm_tokens"] == local.metrics["efficiency"]["lm_tokens"]
    ours, theirs = _rows(tmp_path / "openai" / "transcript.jsonl"), _rows(
        tmp_path / "local" / "transcript.jsonl")
    assert [(r["sender"], r["kind"], r["bytes"]) for r in ours] == [
        (r["sender"], r["kind"], r["bytes"]) for r in theirs]
    assert remote.metrics["utility"] == local.metrics["utility"]


@pytest.mark.slow
@pytest.mark.deployment
@pytest.mark.parametrize("strategy", ["cascade", "private-prompt"])
def test_inference_strategies_over_an_exact_server_equal_in_process(lm, strategy, tmp_path):
    config = {"sanitizer": "regex", "sm_epochs": "0", "eval_limit": "10",
              "validation_limit": "8", "prompts_per_request": "4"}
    party, _ = party_for(lm.model, lm.tokenizer)
    remote = run_strategy(strategy, task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path / "openai", config=config, model_party=party)
    local = run_strategy(strategy, task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "local", config=config)
    assert remote.metrics["utility"] == local.metrics["utility"]
    ours, theirs = _rows(tmp_path / "openai" / "transcript.jsonl"), _rows(
        tmp_path / "local" / "transcript.jsonl")
    assert ours and [(r["sender"], r["kind"]) for r in ours] == [
        (r["sender"], r["kind"]) for r in theirs]
    assert [r["sha256"] for r in ours if r["sender"] != MODEL_PARTY] == [
        r["sha256"] for r in theirs if r["sender"] != MODEL_PARTY]
    if "scoring" in remote.metrics:
        assert remote.metrics["scoring"]["mode"] == "exact"


def test_other_models_than_the_lm_are_refused(lm):
    party, _ = party_for(lm.model, lm.tokenizer)
    request = Message(Kind.TEXT, "data-party-0", MODEL_PARTY, PROMPTS,
                      {"op": "score_choices", "choices": LABELS, "model": "upward-tuned"})
    with pytest.raises(MessageError, match="LM only"):
        party.handle(request)


@pytest.mark.deployment
def test_the_cli_runs_against_a_server_one_prompt_at_a_time(lm, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from crossbound.cli import app
    from tests.servers import running_server

    behaviour = Behaviour()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with running_server(fake_openai_app(lm.model, lm.tokenizer, behaviour)) as url:
        result = CliRunner().invoke(app, [
            "run", "remote-lm", "--task", TASK, "--large", "tiny-large", "--small",
            "tiny-small", "--set", "eval_limit=4", "--out", str(tmp_path / "run"),
            "--openai-url", f"{url}/v1", "--openai-batch", "1"])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "run" / "result.json").read_text())
    assert written["metrics"]["scoring"]["mode"] == "exact"
    assert written["metrics"]["openai_server"]["prompts_per_request"] == 1
    assert all(isinstance(b["prompt"], str) for b in behaviour.bodies)
    refused = CliRunner().invoke(app, ["run", "remote-lm", "--openai-batch", "1",
                                       "--out", str(tmp_path / "other")])
    assert refused.exit_code != 0 and "--openai-url" in refused.output
