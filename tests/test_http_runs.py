"""A strategy run over HTTP crosses, counts and records exactly what the in-process run does."""

from __future__ import annotations

import dataclasses
import json

import pytest
from starlette.testclient import TestClient

from crossbound.boundary.contracts import OPEN_TEXT, AccessContract, register_guard
from crossbound.boundary.http import HttpTransport, RemoteError
from crossbound.boundary.transcript import Transcript, verify_transcript
from crossbound.models.loading import load_model
from crossbound.parties.openai_compatible import OpenAICompatibleParty, label_scores
from crossbound.privacy.sanitizer import GUARD_NAME, Sanitizer, sanitizer_guard
from crossbound.runner import run_strategy
from crossbound.service.app import Limits, create_app
from crossbound.service.keys import KeyStore
from tests.servers import running_server

KEY = "key-of-data-party-0-0123456789"
TASK = "clinic-triage:n=80,seed=5"
CONFIG = {"eval_limit": "12", "prompts_per_request": "5"}

# A model party that screens what it receives for PII, under its own contract and its own
# guard. A data party's sanitiser guard binds its own boundary only (Boundary.override_guard),
# so it never reaches a service, not even one served from the same process as here.
SERVER_PII_SCREEN = "test-server-pii-screen"
register_guard(SERVER_PII_SCREEN, sanitizer_guard(Sanitizer(presidio=False)))


def _screening(contract: AccessContract) -> AccessContract:
    """``contract`` with the server's PII screen where the data party's guard stood."""
    rules = tuple(dataclasses.replace(rule, guards=tuple(
        SERVER_PII_SCREEN if name == GUARD_NAME else name for name in rule.guards))
        for rule in contract.rules)
    return dataclasses.replace(contract, rules=rules)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    transcript = Transcript(tmp_path_factory.mktemp("srv") / "server.jsonl")
    app = create_app(load_model("tiny-large"), KeyStore.from_keys({"data-party-0": KEY}),
                     OPEN_TEXT, transcript, Limits())
    with running_server(app) as url:
        yield url, transcript, app
    transcript.close()


def _openai_parties(service):
    """The same OpenAI-compatible party twice: over HTTP, and in process (the same app
    called through an in-process ASGI client, no socket)."""
    url, _, app = service
    return (OpenAICompatibleParty(f"{url}/v1", KEY, "tiny-large"),
            OpenAICompatibleParty("http://testserver/v1", KEY, "tiny-large",
                                  client=TestClient(app)))


def _kinds_and_sizes(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [(r["sender"], r["receiver"], r["kind"], r["bytes"], r["sha256"]) for r in rows]


@pytest.mark.deployment
def test_remote_lm_over_http_equals_in_process(service, tmp_path):
    url, server_transcript, _ = service
    local = run_strategy("remote-lm", task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "local", config=CONFIG)
    before = server_transcript.summary()["entries"]
    remote = run_strategy("remote-lm", task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path / "http", config=CONFIG,
                          remote=HttpTransport(url, KEY))
    assert remote.metrics["utility"] == local.metrics["utility"]
    for key in ("bytes_crossed", "lm_calls", "lm_tokens"):
        assert remote.metrics["efficiency"][key] == local.metrics["efficiency"][key]
    client_rows = _kinds_and_sizes(tmp_path / "http" / "transcript.jsonl")
    assert client_rows == _kinds_and_sizes(tmp_path / "local" / "transcript.jsonl")
    # The server recorded the same crossings, byte for byte.
    server_rows = _kinds_and_sizes(server_transcript.path)[before:]
    assert server_rows == client_rows
    assert verify_transcript(tmp_path / "http" / "transcript.jsonl").ok


@pytest.mark.deployment
def test_a_wrong_key_is_refused_with_a_clear_error(service, tmp_path):
    url, _, _ = service
    with pytest.raises(RemoteError, match="401"):
        run_strategy("remote-lm", task=TASK, large="tiny-large", small="tiny-small",
                     out_dir=tmp_path, config=CONFIG,
                     remote=HttpTransport(url, "not-the-right-key-000000"))


@pytest.mark.deployment
def test_openai_compatible_party_serves_remote_lm(service, tmp_path):
    over_http, in_process = _openai_parties(service)
    result, local = [run_strategy("remote-lm", task=TASK, large="tiny-large", small="tiny-small",
                                  out_dir=tmp_path / name, config=CONFIG, model_party=party)
                     for name, party in (("http", over_http), ("local", in_process))]
    assert result.metrics["efficiency"]["lm_calls"] == 3
    assert result.metrics["efficiency"]["lm_tokens"] > 0
    # HTTP changes nothing: the same accuracy (and every other number) as in process
    assert result.metrics["utility"]["accuracy"] == local.metrics["utility"]["accuracy"]
    assert result.metrics["utility"] == local.metrics["utility"]
    assert result.metrics["efficiency"]["lm_tokens"] == local.metrics["efficiency"]["lm_tokens"]


def test_label_scores_from_top_logprobs():
    top = {" card": -0.5, " derm": -1.5, "x": -4.0}
    scores = label_scores(top, ["cardiology", "dermatology", "neurology"]).tolist()
    assert scores == [-0.5, -1.5, -5.0]


def _over_http_and_in_process(strategy, config, contract, tmp_path):
    """Run ``strategy`` against a served tiny LM under ``contract`` (client transcript in
    ``tmp_path/http``, server's in ``tmp_path/server.jsonl``), then in process (``local``)."""
    transcript = Transcript(tmp_path / "server.jsonl")
    app = create_app(load_model("tiny-large"), KeyStore.from_keys({"data-party-0": KEY}),
                     contract, transcript, Limits())
    with running_server(app) as url:
        remote = run_strategy(strategy, task=TASK, large="tiny-large", small="tiny-small",
                              out_dir=tmp_path / "http", config=config,
                              remote=HttpTransport(url, KEY))
    transcript.close()
    local = run_strategy(strategy, task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "local", config=config)
    return remote, local


@pytest.mark.deployment
def test_logit_kd_over_http_equals_in_process(tmp_path):
    from crossbound.downward.logit_kd import LOGITS_DOWN

    config = {"eval_limit": "6", "epochs": "0.25", "transfer_limit": "10", "max_length": "48",
              "top_k": "4", "value_bits": "4"}
    remote, local = _over_http_and_in_process("logit-kd", config, LOGITS_DOWN, tmp_path)
    assert remote.metrics["utility"] == local.metrics["utility"]
    assert remote.metrics["efficiency"]["bytes_crossed"] == local.metrics["efficiency"][
        "bytes_crossed"]
    client_rows = _kinds_and_sizes(tmp_path / "http" / "transcript.jsonl")
    assert client_rows == _kinds_and_sizes(tmp_path / "local" / "transcript.jsonl")
    assert _kinds_and_sizes(tmp_path / "server.jsonl") == client_rows


@pytest.mark.deployment
@pytest.mark.parametrize("strategy", ["private-prompt", "cascade"])
def test_inference_strategies_over_http_equal_in_process(strategy, tmp_path):
    from crossbound.catalog import get_strategy

    config = {"sanitizer": "regex", "sm_epochs": "0", "eval_limit": "10",
              "validation_limit": "8", "prompts_per_request": "4"}
    # The server screens for PII itself (its own guard): the data party's sanitiser guard
    # binds the data party's boundary only.
    remote, local = _over_http_and_in_process(
        strategy, config, _screening(get_strategy(strategy).contract), tmp_path)
    same = {k for k in local.metrics["utility"] if not k.startswith("lm_raw")}
    assert {k: remote.metrics["utility"].get(k) for k in same} == {
        k: local.metrics["utility"][k] for k in same}
    assert remote.metrics["efficiency"]["bytes_crossed"] == local.metrics["efficiency"][
        "bytes_crossed"]
    client_rows = _kinds_and_sizes(tmp_path / "http" / "transcript.jsonl")
    assert client_rows and client_rows == _kinds_and_sizes(tmp_path / "local" /
                                                           "transcript.jsonl")
    # the server recorded every crossing of the protocol, and of the measurement channel
    # only what its contract accepted (the client records a request before it is refused)
    measured = _kinds_and_sizes(tmp_path / "http" / "measurement-transcript.jsonl") if (
        tmp_path / "http" / "measurement-transcript.jsonl").exists() else []
    server = _kinds_and_sizes(tmp_path / "server.jsonl")
    assert set(client_rows) <= set(server) <= set(client_rows + measured)
    if strategy == "private-prompt":
        # the server's PII screen refuses raw prompts, even for a reference: the run says so
        assert "refused" in remote.metrics["utility"]["lm_raw_refused"]
        assert "lm_raw" not in remote.metrics["utility"] and "lm_raw" in local.metrics[
            "utility"]


@pytest.mark.deployment
def test_private_prompt_with_an_openai_compatible_party(service, tmp_path):
    over_http, in_process = _openai_parties(service)
    config = {"sanitizer": "regex", "sm_epochs": "0", "eval_limit": "8",
              "validation_limit": "6", "reference_raw": "false"}
    result, local = [run_strategy("private-prompt", task=TASK, large="tiny-large",
                                  small="tiny-small", out_dir=tmp_path / name, config=config,
                                  model_party=party)
                     for name, party in (("http", over_http), ("local", in_process))]
    assert result.metrics["efficiency"]["lm_calls"] > 0
    assert result.metrics["utility"]["final"] == local.metrics["utility"]["final"]
    assert result.metrics["utility"] == local.metrics["utility"]
    assert result.metrics["privacy"]["pii_crossed"]["occurrences"] == 0


@pytest.mark.slow
@pytest.mark.deployment
@pytest.mark.parametrize(("strategy", "config"), [
    ("dp-synthetic-data", {"per_label": "2", "min_chars": "1", "min_words": "1",
                           "eval_limit": "8", "max_new_tokens": "16", "sm_batch_size": "8"}),
    ("mutual-kt", {"rounds": "2", "transfer_limit": "8", "eval_limit": "8",
                   "train_limit": "16", "compare_local": "false", "max_length": "512"}),
])
def test_upward_strategies_over_http_equal_in_process(strategy, config, tmp_path):
    from crossbound.catalog import get_strategy

    remote, local = _over_http_and_in_process(strategy, config,
                                              get_strategy(strategy).contract, tmp_path)
    # The LM learns over HTTP what it learns in process, and the measurement agrees.
    def untimed(utility):
        rounds = [{k: v for k, v in r.items() if k != "protocol_seconds"}
                  for r in utility.get("per_round", [])]
        return {**utility, "per_round": rounds}

    assert untimed(remote.metrics["utility"]) == untimed(local.metrics["utility"])
    assert remote.metrics["efficiency"]["bytes_crossed"] == local.metrics["efficiency"][
        "bytes_crossed"]
    client_rows = _kinds_and_sizes(tmp_path / "http" / "transcript.jsonl")
    assert client_rows == _kinds_and_sizes(tmp_path / "local" / "transcript.jsonl")
    measured = _kinds_and_sizes(tmp_path / "http" / "measurement-transcript.jsonl")
    assert measured  # the test prompts went over the measurement channel, and were accepted
    # the server recorded every crossing of both channels (its contract let them all in)
    assert sorted(_kinds_and_sizes(tmp_path / "server.jsonl")) == sorted(client_rows + measured)
