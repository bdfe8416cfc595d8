"""Split learning and split inference: the cut, the sessions, hostile tensors, noise, runs."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from crossbound.bench.normalise import normalise
from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import MODEL_PARTY, ContractViolation, OperationRefused
from crossbound.boundary.http import HttpTransport
from crossbound.boundary.messages import Kind, Message, MessageError, decode
from crossbound.boundary.transcript import Transcript
from crossbound.models.loading import load_model
from crossbound.models.split_parts import decoder_view
from crossbound.naming import DATA_PARTY
from crossbound.parties import ModelParty
from crossbound.parties.split import ACTIVATIONS, GRADIENTS, MAX_BATCH
from crossbound.privacy.clipped_noise import (
    clip_and_noise,
    composed_mu,
    gaussian_epsilon,
    noised_norm_bound,
)
from crossbound.runner import run_strategy
from crossbound.service.app import Limits, create_app
from crossbound.service.keys import KeyStore
from crossbound.split.data_party import Crossed, SplitClient, receive_bottom, rows_from_labels
from crossbound.split.settings import split_contract
from crossbound.split.strategies import SplitFinetune
from crossbound.training.causal_lm import build_batch
from tests.servers import running_server

TASK = "clinic-triage:n=80,seed=5"
KEY = "key-of-data-party-0-0123456789"
OTHER = "data-party-1"
# Small enough for seconds a run: 16 records, one epoch of batches of 4, 6 test queries.
CONFIG = {"cut": "2", "train_limit": "16", "eval_limit": "6", "epochs": "1", "batch_size": "4",
          "max_length": "96", "lr": "1e-2", "attack_tokens": "300",
          "attack_public_limit": "16", "attack_steps": "10"}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lm():
    return load_model("tiny-large", frozen=True)


def _bundle(party: ModelParty, sender: str = DATA_PARTY, **meta) -> Message:
    return party.handle(Message(Kind.TEXT, sender, MODEL_PARTY, [],
                                {"op": "split_bundle", "cut": 2, **meta}))


def _rows(lm, texts=("Route: chest pain since Monday", "Route: a rash")):
    pairs = [(t, " cardiology") for t in texts]
    return rows_from_labels(build_batch(lm.tokenizer, pairs, 64), ["train:a", "train:b"])


def _acts(sender=DATA_PARTY, op="split_forward", **payload) -> Message:
    meta = {"op": op, "artifact": GRADIENTS if op == "split_backward" else ACTIVATIONS}
    return Message(Kind.TENSORS, sender, MODEL_PARTY, payload, meta)


# ---------------------------------------------------------------- the cut


def test_the_bundle_ships_the_bottom_and_the_head_only_in_u_shape(lm):
    party = ModelParty(lm)
    u = _bundle(party, u_shape=True)
    layers = {n.split(".")[2] for n in u.payload if n.startswith("model.layers.")}
    assert layers == {"0", "1"} and "model.norm.weight" in u.payload
    flat = _bundle(party, u_shape=False)
    assert "model.norm.weight" not in flat.payload and "model.embed_tokens.weight" in flat.payload
    params = u.meta["parameters"]
    assert 0 < params["shipped"] < params["lm"] and u.meta["config"]["num_hidden_layers"] == 2
    with pytest.raises(OperationRefused, match="at most 2 of its 4 blocks"):
        _bundle(party, cut=3)  # the model party's policy: at most half its blocks


@pytest.mark.parametrize("name, cut", [("tiny-large", 2), ("tiny-other", 1)])
def test_bottom_then_top_then_head_is_the_lm(name, cut):
    """The split model, before training, computes exactly what the LM does (Llama, and
    Gemma-3 with its per-block attention types)."""
    lm = load_model(name, frozen=True)
    party = ModelParty(lm)
    bottom = receive_bottom(_bundle(party, u_shape=True, cut=cut))
    rows = _rows(lm)
    client = SplitClient(Boundary(), DATA_PARTY, bottom, sigma=0.0, seed=0, crossed=Crossed(0))
    client.boundary.attach(party)
    with torch.no_grad():
        reference = lm.model(input_ids=rows.ids, attention_mask=rows.mask).logits.float()
        states = lm.model(input_ids=rows.ids, attention_mask=rows.mask,
                          output_hidden_states=True).hidden_states
    hidden = bottom.run(rows.ids, rows.mask)
    real = rows.mask.bool()
    torch.testing.assert_close(hidden[real], states[cut][real].float(), atol=2e-2, rtol=2e-2)
    logp = client.target_logprobs(rows)
    keep = rows.targets != -100
    expected = torch.log_softmax(reference[keep], -1).gather(
        -1, rows.targets[keep].unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(logp[keep], expected, atol=5e-2, rtol=5e-2)
    # the view shares the LM's weights and changes nothing of it
    total = lm.model.config.num_hidden_layers
    top = decoder_view(lm.model, cut, total, final_norm=False)
    assert top.layers[0] is lm.model.model.layers[cut]
    assert len(lm.model.model.layers) == total
    if hasattr(lm.model.config, "layer_types"):  # Gemma-3: the view lists its own blocks'
        assert top.config.layer_types == lm.model.config.layer_types[cut:]


# ---------------------------------------------------------------- hostile tensors


@pytest.fixture()
def u_party(lm):
    party = ModelParty(lm)
    _bundle(party, u_shape=True, clip_norm=1.0)
    return party


def _good(lm, batch=2, length=5):
    hidden = torch.nn.functional.normalize(torch.randn(batch, length, 64), dim=-1) * 0.5
    return {"hidden": hidden, "mask": torch.ones(batch, length, dtype=torch.long)}


@pytest.mark.parametrize("change, match", [
    (lambda p: p.update(hidden=torch.zeros(2, 5, 32)), "must be \\(batch, tokens, 64\\)"),
    (lambda p: p.update(hidden=p["hidden"].to(torch.bfloat16)), "agreed on torch.float32"),
    (lambda p: p["hidden"].__setitem__((0, 1, 3), float("nan")), "NaN or infinite"),
    (lambda p: p["hidden"].__setitem__((1, 2, 0), 1e4), "over this session's bound"),
    (lambda p: p.update(hidden=torch.zeros(MAX_BATCH + 1, 2, 64),
                        mask=torch.ones(MAX_BATCH + 1, 2, dtype=torch.long)), "at most"),
    (lambda p: p.update(extra=torch.zeros(1)), "takes exactly"),
    (lambda p: p.update(mask=torch.tensor([[1, 0, 1, 1, 1], [1] * 5])), "right-padded"),
    (lambda p: p.update(mask=torch.ones(2, 4, dtype=torch.long)), "mask must be"),
    (lambda p: p.update(targets=torch.zeros(2, 5, dtype=torch.long)), "takes exactly"),
])
def test_hostile_activations_are_refused_before_any_block_runs(lm, u_party, change, match):
    payload = _good(lm)
    change(payload)
    with pytest.raises(MessageError, match=match):
        u_party.handle(_acts(**payload))
    assert u_party.split.sessions[DATA_PARTY].steps == 0


def test_hostile_gradients_and_wrong_shape_operations_are_refused(lm, u_party):
    with pytest.raises(MessageError, match="no training forward pass"):
        u_party.handle(_acts(op="split_backward", grad=torch.zeros(2, 5, 64)))
    u_party.handle(Message(Kind.TENSORS, DATA_PARTY, MODEL_PARTY, _good(lm),
                           {"op": "split_forward", "artifact": ACTIVATIONS, "train": True}))
    with pytest.raises(MessageError, match="expected \\(2, 5, 64\\)"):
        u_party.handle(_acts(op="split_backward", grad=torch.zeros(2, 6, 64)))
    with pytest.raises(MessageError, match="NaN"):
        u_party.handle(_acts(op="split_backward", grad=torch.full((2, 5, 64), math.inf)))
    # U-shape keeps the head at the data party: the head-at-model operations are not its own
    with pytest.raises(MessageError, match="its head is at the data party"):
        u_party.handle(_acts(op="split_step", **_good(lm),
                             targets=torch.zeros(2, 5, dtype=torch.long)))
    with pytest.raises(MessageError, match="no split session"):
        u_party.handle(_acts(sender=OTHER, **_good(lm)))


def test_bad_targets_are_refused_when_the_head_is_at_the_model_party(lm):
    party = ModelParty(lm)
    _bundle(party, u_shape=False)
    payload = _good(lm)
    for targets, match in ((torch.full((2, 5), -100), "at least one"),
                           (torch.full((2, 5), 10**6), "token ids in"),
                           (torch.zeros(2, 5, dtype=torch.float32), "integer tensor")):
        with pytest.raises(MessageError, match=match):
            party.handle(_acts(op="split_step", **payload, targets=targets))


def test_the_contract_refuses_at_the_sender_and_keeps_targets_home(lm):
    boundary = Boundary(contract=split_contract(True))
    boundary.attach(ModelParty(lm))
    boundary.request(Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, [],
                             {"op": "split_bundle", "cut": 2}))
    bad = _good(lm)
    bad["hidden"][0, 0, 0] = float("nan")
    with pytest.raises(ContractViolation, match="NaN"):
        boundary.request(_acts(**bad))
    with pytest.raises(ContractViolation):  # no operation that carries targets in U-shape
        boundary.request(_acts(op="split_step", **_good(lm),
                               targets=torch.zeros(2, 5, dtype=torch.long)))
    with pytest.raises(ContractViolation, match="targets never cross"):
        boundary.request(_acts(**_good(lm), targets=torch.zeros(2, 5, dtype=torch.long)))
    with pytest.raises(ContractViolation):  # no text crosses
        boundary.request(Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, ["a private note"],
                                 {"op": "split_bundle", "cut": 2}))


# ---------------------------------------------------------------- sessions


def test_the_model_partys_lora_trains_per_requester(lm):
    party = ModelParty(lm)
    sessions = {}
    for sender in (DATA_PARTY, OTHER):
        bottom = receive_bottom(_bundle(party, sender, u_shape=True, lr=1e-2))
        sessions[sender] = SplitClient(Boundary(), sender, bottom, sigma=0.0, seed=0,
                                       crossed=Crossed(0))
        sessions[sender].boundary.attach(party)
    fresh = party.split.sessions[OTHER].lora.state()
    for _ in range(2):
        sessions[DATA_PARTY].train_step(_rows(lm))
    mine, theirs = party.split.sessions[DATA_PARTY].lora.state(), party.split.sessions[
        OTHER].lora.state()
    assert any(v.abs().sum() > 0 for k, v in mine.items() if k.endswith("lora_B"))
    assert all(torch.equal(theirs[k], fresh[k]) for k in fresh)  # untouched by the other's
    # each requester's served model is its own LoRA
    ask = Message(Kind.TEXT, OTHER, MODEL_PARTY, [], {"model": "split-tuned"})
    assert party.model_for(ask).lora is party.split.sessions[OTHER].lora
    # the LM itself gets no gradient
    assert all(p.grad is None for p in lm.model.parameters())


# ---------------------------------------------------------------- noise


def test_noise_changes_what_crosses_and_the_clip_bound_holds(lm):
    party = ModelParty(lm)
    bottom = receive_bottom(_bundle(party, u_shape=True, clip_norm=0.05, noise_sigma=0.0))
    rows = _rows(lm)
    clipped = SplitClient(Boundary(), DATA_PARTY, bottom, sigma=0.0, seed=0, crossed=Crossed(99))
    _, sent = clipped._send_side(rows, train=False)
    assert float(sent.norm(dim=-1).max()) <= 0.05 * (1 + 1e-5)
    assert float(sent[rows.mask == 0].abs().max()) == 0  # padding carries nothing
    bottom.meta["clip_norm"] = 0.05
    noisy = SplitClient(Boundary(), DATA_PARTY, bottom, sigma=1.0, seed=0, crossed=Crossed(99))
    _, noised = noisy._send_side(rows, train=False)
    assert not torch.allclose(noised, sent)
    assert float(noised.norm(dim=-1).max()) <= noised_norm_bound(0.05, 1.0, 64)
    assert sum(noisy.vectors.values()) == int(rows.mask.sum())  # every real vector counted
    with pytest.raises(ValueError, match="needs a clip_norm"):
        clip_and_noise(torch.ones(1, 2, 3), None, 0.5)


def test_the_gaussian_accounting():
    assert composed_mu(2.0, 4) == pytest.approx(2.0)  # 2√4/2
    assert composed_mu(0.0, 1) == math.inf and gaussian_epsilon(math.inf) == math.inf
    eps = [gaussian_epsilon(mu) for mu in (0.5, 1.0, 2.0, 8.0)]
    assert eps == sorted(eps) and eps[0] > 0
    # μ = 1: below the classical Gaussian bound μ²/2 + μ·√(2 ln(1/δ)) ≈ 5.3, not far below
    assert 3.5 < gaussian_epsilon(1.0, 1e-5) < 0.5 + math.sqrt(2 * math.log(1e5))


# ---------------------------------------------------------------- runs


def _transcript_rows(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [(r["sender"], r["receiver"], r["kind"], r["bytes"]) for r in rows]


def _sent_payloads(path):
    """The tensor names of every message the data party sent, read back from the transcript."""
    names = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["sender"] != MODEL_PARTY and row["kind"] == "tensors":
            names.append(set(decode(base64.b64decode(row["payload"])).payload))
    return names


def test_split_finetune_in_process_and_over_http(tmp_path, lm):
    local = run_strategy("split-finetune", task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "local", config=CONFIG)
    transcript = Transcript(tmp_path / "server.jsonl")
    app = create_app(lm, KeyStore.from_keys({DATA_PARTY: KEY}), split_contract(True),
                     transcript, Limits())
    with running_server(app) as url:
        remote = run_strategy("split-finetune", task=TASK, large="tiny-large",
                              small="tiny-small", out_dir=tmp_path / "http", config=CONFIG,
                              remote=HttpTransport(url, KEY))
    transcript.close()
    assert remote.metrics["utility"] == local.metrics["utility"]
    client = _transcript_rows(tmp_path / "http" / "transcript.jsonl")
    assert client == _transcript_rows(tmp_path / "local" / "transcript.jsonl")
    assert sorted(_transcript_rows(tmp_path / "server.jsonl")) == sorted(client)

    u, e, x, p = (local.metrics[k] for k in ("utility", "efficiency", "exposure", "privacy"))
    assert {"final", "lm_before", "lm_after", "accuracy"} <= set(u)
    assert 0 < x["share_of_lm_parameters_shipped"] < 1 and x["head_shipped"]
    assert e["wire"]["training"]["round_trips"] == 2 * e["train_steps"]  # forward + backward
    assert e["bytes_per_token_to_model"] > 0 and e["bytes_per_token_from_model"] > 0
    assert e["memory_reduction_vs_full_ft"] > 1
    assert e["data_party"]["training_memory"]["trainable_parameters"] == 0
    inversion = p["inversion"]
    assert inversion["layer"] == 2 and 0 < inversion["tokens_attacked"] <= 300 + 96
    assert {"nearest", "mlp"} <= set(inversion) and 0 <= inversion["token_recovery"] <= 1
    assert "inversion" in p["measured"] and "dp" not in p  # σ = 0: no bound
    record = normalise(local.metrics, SplitFinetune.private_text_crosses)["privacy"]
    assert record["data_leakage"] is None  # unbounded: hidden states of private text crossed
    assert record["data_leakage_basis"] == "private-text-crosses"
    # U-shape: the labels never left the data party
    sent = _sent_payloads(tmp_path / "local" / "transcript.jsonl")
    assert sent and all("targets" not in names for names in sent)
    assert {"grad"} in sent and p["labels_cross"] is False


def test_noise_bounds_records_only_where_every_vector_is_noised(tmp_path):
    noisy = run_strategy("split-finetune", task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "u", config={**CONFIG, "noise_sigma": "2",
                                                         "evaluate_before": "false",
                                                         "compare_full_memory": "false"})
    privacy = noisy.metrics["privacy"]
    accounting = privacy["activation_noise"]
    assert accounting["clip_norm"] > 0 and accounting["grad_clip_norm"] > 0  # measured
    assert privacy["dp"]["epsilon"] == max(s["epsilon"] for s in accounting["by_set"].values())
    assert "dp" in privacy["measured"]
    # the planner reads that ε as the cell's data leakage, and the measured recovery beside it
    record = normalise(noisy.metrics, SplitFinetune.private_text_crosses)["privacy"]
    assert record["data_leakage"] == privacy["dp"]["epsilon"]
    assert record["data_leakage_basis"] == "dp-epsilon"
    assert record["inversion_token_recovery"] == privacy["inversion"]["token_recovery"]
    flat = run_strategy("split-finetune", task=TASK, large="tiny-large", small="tiny-small",
                        out_dir=tmp_path / "flat",
                        config={**CONFIG, "noise_sigma": "2", "u_shape": "false",
                                "data_lora": "true", "evaluate_before": "false",
                                "compare_full_memory": "false", "attack": "false"})
    assert "dp" not in flat.metrics["privacy"] and flat.metrics["privacy"]["labels_cross"]
    assert "labels" in flat.metrics["privacy"]["activation_noise"]["record_level"]
    sent = _sent_payloads(tmp_path / "flat" / "transcript.jsonl")
    assert any("targets" in names for names in sent)  # the head at the model: labels cross
    trained = flat.metrics["efficiency"]["data_party"]["training_memory"]
    assert trained["trainable_parameters"] > 0  # the data party's own LoRA


def test_split_inference_scores_the_test_set(tmp_path):
    result = run_strategy("split-inference", task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path, config={k: v for k, v in CONFIG.items()
                                                    if k not in ("train_limit", "epochs",
                                                                 "lr")})
    u, p = result.metrics["utility"], result.metrics["privacy"]
    assert 0 <= u["final"] <= 1 and u["eval_examples"] == 6
    assert p["inversion"]["tokens_attacked"] > 0
    assert result.metrics["efficiency"]["round_trips"] > 0


def test_the_sweep_script_runs_on_the_tiny_lm(tmp_path, capsys):
    """benchmarks/split_sweep.py, one cell and one refused cut (tiny-large ships at most 2)."""
    script = Path(__file__).parent.parent / "benchmarks" / "split_sweep.py"
    spec = importlib.util.spec_from_file_location("split_sweep", script)
    assert spec is not None and spec.loader is not None
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    out = tmp_path / "sweep.json"
    assert sweep.main(["--large", "tiny-large", "--quick", "--cuts", "1", "3", "--sigmas", "0",
                       "--out", str(out), "--runs", str(tmp_path / "runs")]) == 0
    cells = json.loads(out.read_text())["cells"]
    assert 0 <= cells["cut1-sigma0"]["accuracy"] <= 1
    assert cells["cut1-sigma0"]["memory_reduction_vs_full_ft"] > 1
    assert "at most 2 of its 4 blocks" in cells["cut3-sigma0"]["error"]
    assert "cut1-sigma0" in capsys.readouterr().out
