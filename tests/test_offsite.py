"""Offsite-tuning: emulator split, bundle exchange, adapter validation, plug-in, end to end."""

from __future__ import annotations

import json

import pytest
import torch

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import ContractViolation
from crossbound.boundary.http import HttpTransport
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.boundary.transcript import Transcript
from crossbound.downward.offsite import OFFSITE, offsite_contract
from crossbound.downward.offsite_data import receive_bundle, train_only_adapter
from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import (
    AdapterRejected,
    adapter_state,
    build_emulator,
    plan_split,
    unique_state,
    validate_adapter,
)
from crossbound.models.loading import load_model
from crossbound.naming import DATA_PARTY
from crossbound.parties import ModelParty
from crossbound.parties.offsite import ADAPTER_ARTIFACT, PLUGIN_MODEL
from crossbound.runner import run_strategy
from crossbound.service.app import Limits, create_app
from crossbound.service.keys import KeyStore
from crossbound.tasks.registry import load_task
from crossbound.training.causal_lm import answer_loss, build_batch
from crossbound.training.emulator_distill import distill_emulator
from crossbound.training.memory import training_memory
from tests.servers import running_server

TASK = "clinic-triage:n=80,seed=5"
KEY = "key-of-data-party-0-0123456789"
# tiny-large has 4 blocks: one adapter block at each end leaves a middle of 2, of which the
# emulator may keep 1 (the model party's OffsitePolicy keeps it to half the middle).
SMALL_SPLIT = {"adapter_bottom": 1, "adapter_top": 1}
# tiny-other (Gemma-3) has 3 blocks: its one-block middle is never shipped (a bundle that kept
# it would be the whole LM), so the Gemma-3 checks use a 4-block tiny Gemma-3, built alike.
GEMMA = "tiny-gemma3-4"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True, scope="module")
def four_block_gemma():
    """Register ``GEMMA``: tiny-other's layout with 4 blocks, by name (runs load it so)."""
    from crossbound.models.tiny import TINY_MODELS

    tokenizer, arch, hidden, _, heads, kv_heads, inter, seed = TINY_MODELS["tiny-other"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(TINY_MODELS, GEMMA,
                      (tokenizer, arch, hidden, 4, heads, kv_heads, inter, seed))
        yield


@pytest.fixture(scope="module")
def models():
    return {name: load_model(name) for name in ("tiny-large", GEMMA)}


def _bundle(party: ModelParty, **meta):
    """Ask ``party`` for an emulator bundle through a recording boundary."""
    boundary = Boundary(contract=OFFSITE)
    boundary.attach(party)
    request = Message(Kind.TEXT, DATA_PARTY, "model-party", [],
                      {"op": "offsite_bundle", **SMALL_SPLIT, **meta})
    return boundary, boundary.request(request)


def _ids(tokenizer, text="Route: chest pain since Monday, short of breath."):
    return torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])


# ------------------------------------------------------------------ the split


def test_split_plan_keeps_adapters_and_spreads_the_emulator():
    split = plan_split(30, 2, 2, None)  # SmolLM2: half of the 26 middle blocks
    assert split.bottom == (0, 1) and split.top == (28, 29)
    assert len(split.middle_kept) == 13 and split.middle_kept[0] == 2
    assert split.middle_kept[-1] == 27
    assert split.adapter_positions == [0, 1, 15, 16]
    assert plan_split(30, 2, 2, 6).middle_kept == (2, 7, 12, 17, 22, 27)
    assert plan_split(6, 1, 2, 0).kept == [0, 4, 5]
    with pytest.raises(ValueError, match="no middle"):
        plan_split(4, 2, 2, None)
    with pytest.raises(ValueError, match=r"choose 0\.\.2"):
        plan_split(4, 1, 1, 3)


@pytest.mark.parametrize("name", ["tiny-large", GEMMA])
def test_bundle_holds_adapter_emulator_embeddings_and_head_once(models, name):
    lm = models[name]
    total = len(decoder_layers(lm.model))
    _, reply = _bundle(ModelParty(lm), emulator_layers=1)
    tensors = reply.payload
    assert reply.meta["split"]["adapter_positions"] == [0, 2]
    # one kept middle block: the last one (parse_layer_selection's choice for a count of 1)
    assert reply.meta["split"]["middle_kept"] == [total - 2]
    assert reply.meta["config"]["num_hidden_layers"] == 3
    layers = {n.split(".")[2] for n in tensors if n.startswith("model.layers.")}
    assert layers == {"0", "1", "2"}
    # tied head: shipped once, as the embedding
    assert "model.embed_tokens.weight" in tensors and "lm_head.weight" not in tensors
    original = lm.model.state_dict()
    for pos, lm_index in ((0, 0), (1, total - 2), (2, total - 1)):
        for key, value in tensors.items():
            if key.startswith(f"model.layers.{pos}."):
                rest = key[len(f"model.layers.{pos}."):]
                assert torch.equal(value, original[f"model.layers.{lm_index}.{rest}"]), key
    expected = sum(t.numel() for t in unique_state(lm.model).values())
    assert reply.meta["parameters"]["lm"] == expected
    kept = {"0", str(total - 2), str(total - 1)}
    dropped = sum(t.numel() for n, t in lm.model.state_dict().items()
                  if n.startswith("model.layers.") and n.split(".")[2] not in kept)
    assert reply.meta["parameters"]["bundle"] == expected - dropped


def test_gemma3_emulator_keeps_each_blocks_attention_type():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=8, num_attention_heads=2,
                              num_key_value_heads=1, head_dim=16, sliding_window=4,
                              layer_types=["sliding_attention"] * 3 + ["full_attention"]
                              + ["sliding_attention"] * 3 + ["full_attention"])
    model = Gemma3ForCausalLM(config).eval()
    split = plan_split(8, 2, 2, 2)  # middle 2..5 → keeps 2 and 5
    emulator = build_emulator(model, split)
    assert split.kept == [0, 1, 2, 5, 6, 7]
    assert emulator.config.layer_types == [config.layer_types[i] for i in split.kept]
    assert model.config.num_hidden_layers == 8  # the LM itself is untouched
    ids = torch.randint(0, 64, (2, 12))
    assert emulator(input_ids=ids).logits.shape == (2, 12, 64)


# ------------------------------------------------------------------ exchange and plug-in


@pytest.mark.parametrize("name", ["tiny-large", GEMMA])
def test_untouched_adapter_plugs_in_to_the_original_lm(models, name):
    lm = models[name]
    party = ModelParty(lm)
    boundary, reply = _bundle(party, emulator_layers=1)
    received = receive_bundle(reply)
    ids = _ids(lm.tokenizer)
    with torch.no_grad():
        # the data party's assembled copy is the owner's emulator, exactly
        owner_emulator = build_emulator(lm.model, plan_split(len(decoder_layers(lm.model)),
                                                             1, 1, 1))
        assert torch.equal(received.model(input_ids=ids).logits,
                           owner_emulator(input_ids=ids).logits)
        adapter = adapter_state(received.model, received.adapter_positions)
        ack = boundary.request(Message(Kind.TENSORS, DATA_PARTY, "model-party", adapter,
                                       {"op": "offsite_adapter", "artifact": ADAPTER_ARTIFACT}))
        assert ack.payload["accepted"] and ack.payload["max_relative_change"] == 0.0
        plugin = party.offsite.plugin(DATA_PARTY)
        assert plugin is not lm.model
        assert torch.equal(plugin(input_ids=ids).logits, lm.model(input_ids=ids).logits)
        # a changed adapter changes the plug-in, in the blocks it came from
        key = "model.layers.2.mlp.down_proj.weight"
        adapter[key] = adapter[key] * 1.1
        boundary.request(Message(Kind.TENSORS, DATA_PARTY, "model-party", adapter,
                                 {"op": "offsite_adapter", "artifact": ADAPTER_ARTIFACT}))
        plugin = party.offsite.plugin(DATA_PARTY)
        last = len(decoder_layers(lm.model)) - 1
        assert torch.equal(plugin.state_dict()[f"model.layers.{last}.mlp.down_proj.weight"],
                           adapter[key])
        assert not torch.equal(plugin(input_ids=ids).logits, lm.model(input_ids=ids).logits)


def _sent():
    g = torch.Generator().manual_seed(0)
    return {"model.layers.0.w": torch.randn(4, 3, generator=g),
            "model.layers.3.w": torch.randn(5, generator=g)}


@pytest.mark.parametrize(("change", "match"), [
    (lambda a: a.pop("model.layers.3.w"), "missing"),
    (lambda a: a.update({"model.embed_tokens.weight": torch.zeros(2)}), "unexpected"),
    (lambda a: a.update({"model.layers.0.w": torch.zeros(3, 4)}), "shape"),
    (lambda a: a.update({"model.layers.0.w": a["model.layers.0.w"].double()}), "dtype"),
    (lambda a: a["model.layers.3.w"].__setitem__(1, float("nan")), "NaN"),
    (lambda a: a["model.layers.3.w"].__setitem__(1, float("inf")), "NaN or infinite"),
    (lambda a: a.update({"model.layers.0.w": a["model.layers.0.w"] * 3}), "bound"),
])
def test_validation_rejects_what_was_not_sent(change, match):
    sent = _sent()
    returned = {k: v.clone() for k, v in sent.items()}
    change(returned)
    with pytest.raises(AdapterRejected, match=match):
        validate_adapter(returned, sent, max_relative_change=1.0)


def test_validation_accepts_a_small_change_and_reports_it():
    sent = _sent()
    returned = {k: v * 1.05 for k, v in sent.items()}
    report = validate_adapter(returned, sent, max_relative_change=0.1)
    assert report["max_relative_change"] == pytest.approx(0.05, rel=1e-4)
    with pytest.raises(AdapterRejected, match=r"bound of 0\.01"):
        validate_adapter(returned, sent, max_relative_change=0.01)


def test_model_party_refuses_bad_adapters_and_keeps_no_plugin(models):
    lm = models["tiny-large"]
    party = ModelParty(lm)
    boundary = Boundary(contract=OFFSITE)
    boundary.attach(party)
    loose = {"op": "offsite_adapter", "artifact": ADAPTER_ARTIFACT}
    early = {"model.layers.0.mlp.up_proj.weight": torch.zeros(2, 2)}
    with pytest.raises(MessageError, match="no offsite bundle"):
        boundary.request(Message(Kind.TENSORS, DATA_PARTY, "model-party", early, loose))
    # the data party may tighten the model party's bound, never loosen it
    _, reply = _bundle(party, emulator_layers=1, max_relative_change=50.0)
    received = receive_bundle(reply)
    adapter = adapter_state(received.model, received.adapter_positions)
    adapter = {k: v * 2.5 for k, v in adapter.items()}  # 1.5 × the norm: over the policy
    with pytest.raises(AdapterRejected, match="over the bound of 1"):
        boundary.request(Message(Kind.TENSORS, DATA_PARTY, "model-party", adapter, loose))
    with pytest.raises(MessageError, match="no plug-in model"):
        party.offsite.plugin(DATA_PARTY)
    score = Message(Kind.TEXT, DATA_PARTY, "model-party", ["hello"],
                    {"op": "score_choices", "choices": ["a", "b"], "model": PLUGIN_MODEL})
    with pytest.raises(MessageError, match="no plug-in model"):
        boundary.request(score)


@pytest.mark.parametrize("trainable", ["full", "lora"])
def test_only_the_adapter_blocks_get_gradients(models, trainable):
    lm = models["tiny-large"]
    _, reply = _bundle(ModelParty(lm), emulator_layers=1)
    received = receive_bundle(reply)
    model = train_only_adapter(received.model, [0, 2], trainable, lora_rank=2)
    task = load_task(TASK)
    pairs = [(task.prompt(ex), task.answer(ex)) for ex in task.parties[0][:2]]
    batch = build_batch(lm.tokenizer, pairs, 64)
    answer_loss(model, batch).backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad
    for name in with_grad:
        assert ".layers.0." in name or ".layers.2." in name, name
        assert trainable == "full" or "lora_" in name, name
    assert all(p.grad is None for n, p in model.named_parameters() if ".layers.1." in n
               or "embed" in n or (n.endswith("norm.weight") and "layers" not in n))
    memory = training_memory(model, batch, answer_loss)
    trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert memory.trainable_parameters == trainable_params
    assert memory.gradients == 4 * trainable_params and memory.optimizer == 2 * memory.gradients
    assert memory.activations > 0
    full = training_memory(lm.model, batch, answer_loss)  # every LM weight trains
    assert full.gradients == full.weights and full.total > memory.total


def test_distillation_trains_only_the_emulator_and_brings_it_closer(models):
    lm = models["tiny-large"]
    split = plan_split(4, 1, 1, 1)  # keeps LM block 2 as emulated block 1
    emulator = build_emulator(lm.model, split)
    before = {n: t.clone() for n, t in emulator.state_dict().items()}
    texts = ["The patient reports chest pain.", "Please call me back tomorrow morning."]
    # hidden-state imitation alone (a random tiny LM's next-token loss would pull elsewhere)
    stats = distill_emulator(emulator, lm.model, lm.tokenizer, texts, split, steps=25,
                             lr=3e-3, batch_size=2, max_length=32, lm_weight=0.0)
    assert stats.last_relative_mse < 0.5 * stats.first_relative_mse
    for name, tensor in emulator.state_dict().items():
        moved = not torch.equal(tensor, before[name])
        assert moved == name.startswith("model.layers.1."), name
    assert all(not p.requires_grad for p in emulator.parameters())


# ------------------------------------------------------------------ the contract


def test_contract_refuses_an_oversized_bundle_and_non_adapter_tensors(models):
    party = ModelParty(models["tiny-large"])
    boundary = Boundary(contract=offsite_contract(max_bundle_bytes=10_000))
    boundary.attach(party)
    request = Message(Kind.TEXT, DATA_PARTY, "model-party", [],
                      {"op": "offsite_bundle", **SMALL_SPLIT})
    with pytest.raises(ContractViolation, match="exceed the limit of 10000"):
        boundary.request(request)
    assert boundary.messages == 1  # the request crossed; the bundle did not
    embed = {"model.embed_tokens.weight": torch.zeros(4, 4)}
    with pytest.raises(ContractViolation, match="not transformer-block weights"):
        Boundary(contract=OFFSITE).cross(Message(
            Kind.TENSORS, DATA_PARTY, "model-party", embed,
            {"op": "offsite_adapter", "artifact": ADAPTER_ARTIFACT}))
    with pytest.raises(ContractViolation, match="artifact"):
        Boundary(contract=OFFSITE).cross(Message(
            Kind.TENSORS, DATA_PARTY, "model-party", {"model.layers.0.w": torch.zeros(2)},
            {"op": "offsite_adapter", "artifact": "something-else"}))
    with pytest.raises(ContractViolation, match="refuses tensors from model-party"):
        Boundary(contract=OFFSITE).cross(Message(
            Kind.TENSORS, "model-party", DATA_PARTY, {"hidden": torch.zeros(2)}, {}))
    Boundary(contract=OFFSITE).cross(Message(  # label scores do cross
        Kind.TENSORS, "model-party", DATA_PARTY, {"choice_logprobs": torch.zeros(2, 3)}, {}))


def test_a_training_record_may_not_be_sent_as_distillation_text():
    from crossbound.boundary.contracts import GuardContext

    record = load_task(TASK).parties[0][0].text
    boundary = Boundary(contract=OFFSITE)
    boundary.guard_contexts[DATA_PARTY] = GuardContext(private_texts=[record])
    with pytest.raises(ContractViolation, match="private record"):
        boundary.cross(Message(Kind.TEXT, DATA_PARTY, "model-party", [record],
                               {"op": "offsite_bundle", "distill_steps": 1}))


# ------------------------------------------------------------------ end to end


CONFIG = {"adapter_bottom": "1", "adapter_top": "1", "emulator_layers": "1", "epochs": "1",
          "train_limit": "16",
          "eval_limit": "8", "max_length": "96", "distill_steps": "2", "distill_limit": "8",
          "distill_max_length": "32", "distill_corpus": "public", "prompts_per_request": "4"}


def _rows(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [(r["sender"], r["receiver"], r["kind"], r["bytes"]) for r in rows]


class _Recorded:
    """A progress factory that keeps (label, total, advanced) per bar it was asked for."""

    def __init__(self):
        self.bars = []

    def __call__(self, label, total):
        bar = {"label": label, "total": total, "advanced": 0, "closed": False}
        self.bars.append(bar)

        class Task:
            def advance(self, n=1):
                bar["advanced"] += n

            def close(self):
                bar["closed"] = True

        return Task()


def test_end_to_end_in_process_and_over_http(tmp_path):
    progress = _Recorded()
    local = run_strategy("offsite-tuning", task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "local", config=CONFIG, progress=progress)
    # The model party's distillation is drawn step by step in an in-process run.
    distilling = [b for b in progress.bars if "distilling the emulator" in b["label"]]
    assert distilling == [{"label": "model party distilling the emulator", "total": 2,
                           "advanced": 2, "closed": True}]
    # The reference ran first, before the model party; every phase was kept as it finished.
    labels = [b["label"] for b in progress.bars]
    assert labels.index("full fine-tuning of the LM (reference)") < labels.index(
        "model party building the emulator bundle")
    so_far = json.loads((tmp_path / "local" / "offsite" / "so-far.json").read_text())
    assert set(so_far["metrics"]) == {"full_finetune", "lm_before", "emulator_before",
                                      "emulator_after"}
    assert so_far["adapter_training"]["train_steps"] > 0
    data = json.loads((tmp_path / "local" / "result.json").read_text())
    u, e, x = (data["metrics"][k] for k in ("utility", "efficiency", "exposure"))
    assert {"lm_before", "lm_after", "sm_before", "sm_after", "lm_full_finetune",
            "plugin_share_of_full_ft_gain", "accuracy", "accuracy_phrasing_seen",
            "accuracy_phrasing_held_out"} <= set(u)
    assert set(u["by_model"]) == {"lm_before", "emulator_before", "emulator_after", "plugin",
                                  "full_finetune"}
    assert u["lm_after"] == u["accuracy"] == u["by_model"]["plugin"]["accuracy"]
    assert x["emulator_gap"]["gap"] == pytest.approx(u["lm_after"] - u["sm_after"])
    assert x["adapter_acceptance"]["accepted"] and x["lm_blocks"] == 4
    assert x["adapter_lm_blocks"] == [0, 3] and x["emulator_lm_blocks"] == [2]
    assert x["embeddings_and_head_shipped"] and x["emulator_distillation"]["steps"] == 2
    assert 0 < x["share_of_lm_parameters_shipped"] < 1
    data_mem, full_mem = e["data_party"]["training_memory"], e["full_finetune"][
        "training_memory"]
    assert data_mem["trainable_parameters"] < full_mem["trainable_parameters"]
    assert e["memory_reduction_vs_full_ft"] > 1 and e["speedup_per_step_vs_full_ft"] > 0
    assert e["bytes_model_to_data_bundle"] > e["bytes_data_to_model_adapter"] > 0
    assert e["data_party"]["train_steps"] == e["full_finetune"]["train_steps"]
    directions = e["bytes_crossed"]["by_direction"]
    assert directions["model-party->data-party-0"] > e["bytes_model_to_data_bundle"]
    assert data["metrics"]["privacy"]["private_records_sent"] == 0
    assert data["metrics"]["measurement_traffic"]["lm_calls"] > 0  # test prompts, off-record
    assert (tmp_path / "local" / "offsite" / "adapter.safetensors").is_file()

    transcript = Transcript(tmp_path / "server.jsonl")
    app = create_app(load_model("tiny-large"), KeyStore.from_keys({"data-party-0": KEY}),
                     OFFSITE, transcript, Limits())
    with running_server(app) as url:
        remote = run_strategy("offsite-tuning", task=TASK, large="tiny-large",
                              small="tiny-small", out_dir=tmp_path / "http", config=CONFIG,
                              remote=HttpTransport(url, KEY))
    transcript.close()
    assert remote.metrics["utility"] == local.metrics["utility"]
    assert remote.metrics["exposure"]["emulator_gap"] == local.metrics["exposure"][
        "emulator_gap"]
    assert (remote.metrics["efficiency"]["bytes_crossed"]
            == local.metrics["efficiency"]["bytes_crossed"])
    client = _rows(tmp_path / "http" / "transcript.jsonl")
    assert client == _rows(tmp_path / "local" / "transcript.jsonl")
    # The server records both channels: the protocol's and the evaluation's.
    measured = _rows(tmp_path / "http" / "measurement-transcript.jsonl")
    assert measured and sorted(_rows(tmp_path / "server.jsonl")) == sorted(client + measured)


def test_lora_run_exports_a_peft_adapter(tmp_path):
    result = run_strategy("offsite-tuning", task=TASK, large=GEMMA, small="tiny-small",
                          out_dir=tmp_path, config={**CONFIG, "trainable": "lora",
                                                    "lora_rank": "2", "compare_full": "false",
                                                    "distill_steps": "0",
                                                    "evaluate_plugin": "false"})
    assert (tmp_path / "offsite" / "lora" / "adapter_config.json").is_file()
    assert result.metrics["exposure"]["adapter_acceptance"]["accepted"]
    assert "lm_after" not in result.metrics["utility"]
    assert "measurement_traffic" not in result.metrics  # nothing scored at the model party
    kinds = result.metrics["efficiency"]["bytes_crossed"]["by_kind"]
    assert set(kinds) == {"text", "tensors", "metrics"}  # bundle request, bundle + adapter, ack


def test_bad_settings_are_refused_early():
    from crossbound.downward.offsite import OffsiteTuningConfig

    for bad in ({"adapter_top": 0}, {"distill_corpus": "nope"}, {"bundle_dtype": "int8"},
                {"trainable": "linear"}, {"max_relative_change": 0.0}, {"full_lr": 0.0}):
        with pytest.raises(ValueError):
            OffsiteTuningConfig(**bad)
