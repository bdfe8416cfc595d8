"""OT+ (``fed-adapter`` with ``emulator_of``): the data parties tune LoRA on the adapter blocks
of the model party's offsite-tuning emulator; the model party plugs the aggregate into its LM.

On ``tiny-large`` (4 blocks, built in code): the plug-in arithmetic against PEFT's own
forward pass, the bundle's wire format and the data party's checks, a whole federation over
a LocalGrid (no Ray) with a party that rejoins, and one run on the simulation runtime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("flwr")

from flwr.app import Message as FlowerMessage
from flwr.app import MessageType

from crossbound.boundary.messages import Kind
from crossbound.boundary.transcript import verify_transcript
from crossbound.federation.adapter import adapter_tensors
from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.contract import EMULATOR_BUNDLE, GLOBAL_ADAPTER
from crossbound.federation.crossing import BoundaryGrid
from crossbound.federation.offsite_plus import (
    ModelParty,
    OffsitePlusHooks,
    digest_of,
    from_wire,
    plugged,
    receive,
    store_of,
    to_wire,
)
from crossbound.federation.run import make_client_app
from crossbound.federation.server import ServerState, drive
from crossbound.federation.strategies import config_from_dict
from crossbound.tasks.registry import load_task
from tests.test_federation import (  # noqa: F401  (fixtures)
    LocalGrid,
    crossings,
    flower_identity,
)

pytestmark = [pytest.mark.federation, pytest.mark.usefixtures("one_thread")]

TASK = "clinic-triage:n=80,seed=5,parties=3"
OT = {"task": TASK, "emulator_of": "tiny-large", "adapter_bottom": 1, "adapter_top": 1,
      "rounds": 2, "lr": 1e-2, "max_length": 64, "lora_rank": 4, "eval_limit": 8,
      "bundle_dtype": "float32"}


def ot_config(tmp_path: Path, **changes: Any) -> FedAdapterConfig:
    config = config_from_dict({**OT, "out": str(tmp_path / "out"),
                               "party_store": str(tmp_path / "store"), **changes})
    assert isinstance(config, FedAdapterConfig)
    return config


def randomised(party: ModelParty, seed: int = 3) -> dict[str, torch.Tensor]:
    """An adapter with non-zero A and B (a fresh LoRA's B is zero: it would plug in nothing)."""
    generator = torch.Generator().manual_seed(seed)
    return {n: 0.05 * torch.randn(t.shape, generator=generator)
            for n, t in adapter_tensors(party.adapted.model).items()}


def test_the_plugged_in_lm_computes_what_the_lora_emulator_computes_when_nothing_is_dropped(
        tmp_path):
    # With every middle block kept, the emulated model *is* the LM: the LM with the deltas
    # plugged in must give the LoRA-wrapped emulator's logits.
    config = ot_config(tmp_path, emulator_layers=2)
    party = ModelParty.prepare(config)
    adapter = randomised(party)
    from crossbound.federation.adapter import load_adapter

    load_adapter(party.adapted.model, adapter, party.adapted.spec)
    ids = torch.tensor([[5, 17, 33, 2, 9, 71]])
    with torch.no_grad():
        expected = party.adapted.model(input_ids=ids).logits
        before = party.lm.model(input_ids=ids).logits
        with plugged(party.lm.model, party.lm_deltas(adapter)) as lm:
            got = lm(input_ids=ids).logits
        after = party.lm.model(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, before, atol=1e-3)  # the adapter does change the LM
    assert torch.equal(before, after)  # and the LM is restored exactly afterwards
    # Only adapter blocks (LM blocks 0 and 3) are touched.
    touched = {n.split(".")[2] for n in party.lm_deltas(adapter)}
    assert touched == {"0", "3"}


def test_lora_sits_on_the_adapter_blocks_only_and_the_emulator_drops_the_middle(tmp_path):
    party = ModelParty.prepare(ot_config(tmp_path, emulator_layers=1))
    split = party.bundle.split
    assert (split.bottom, split.top, len(split.middle_kept)) == ((0,), (3,), 1)
    blocks = {n.split(".")[4] for n in party.adapted.spec.shapes}
    assert blocks == {str(p) for p in split.adapter_positions} == {"0", "2"}
    assert party.bundle.parameters < sum(p.numel() for p in party.lm.model.parameters())


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_the_bundle_survives_flowers_numpy_arrays_in_every_dtype(tmp_path, dtype):
    party = ModelParty.prepare(ot_config(tmp_path, bundle_dtype=dtype))
    back = from_wire(to_wire(party.bundle.tensors), dtype)
    assert all(torch.equal(back[n], t) and back[n].dtype == t.dtype
               for n, t in party.bundle.tensors.items())
    assert digest_of(party.bundle.config, back) == party.bundle.digest


def test_a_data_party_refuses_a_bundle_that_does_not_match_its_digest_or_config(tmp_path):
    party = ModelParty.prepare(ot_config(tmp_path))
    folder = tmp_path / "store" / "data-party-0" / "emulator"
    meta = party.bundle.meta()
    tampered = dict(party.bundle.tensors)
    name = next(iter(tampered))
    tampered[name] = tampered[name] + 1.0
    with pytest.raises(ValueError, match="digest"):
        receive(folder, meta, tampered)
    remote = {**meta, "config": json.dumps({**party.bundle.config, "model_type": "evil"})}
    remote["digest"] = digest_of(json.loads(remote["config"]), party.bundle.tensors)
    with pytest.raises(ValueError, match="not an architecture built into transformers"):
        receive(folder, remote, dict(party.bundle.tensors))
    assert not folder.exists()  # nothing half-stored
    assert receive(folder, meta, dict(party.bundle.tensors)) == party.bundle.parameters
    assert (folder / "model.safetensors").is_file()


@pytest.mark.parametrize("changes, message", [
    ({"emulator_of": None}, "adapter_bottom is an OT\\+ setting"),
    ({"small": "tiny-small"}, "small is not used with emulator_of"),
    ({"adapter_top": 0}, "adapter_top must be >= 1"),
    ({"strategy": "fed-mutual-kt"}, "is a fed-adapter setting; fed-mutual-kt does not use it"),
])
def test_bad_ot_plus_settings_are_refused_naming_the_setting(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        ot_config(tmp_path, **changes)


def run_ot_local(config: FedAdapterConfig, folder: Path, on_round: Any = None,
                 ) -> tuple[ServerState, BoundaryGrid, LocalGrid, ModelParty]:
    task = load_task(config.task)
    party = ModelParty.prepare(config)
    hooks = OffsitePlusHooks(party, task)
    local = LocalGrid(make_client_app(config), 3)
    grid = BoundaryGrid(local, folder, party.adapted.spec, poll_seconds=0.01,
                        bundle_bytes=hooks.bundle_bytes)
    state = ServerState(grid=grid)
    hook = None if on_round is None else (lambda report: on_round(report, local))
    try:
        drive(config, 3, adapter_tensors(party.adapted.model), grid, state, hook, hooks)
    finally:
        grid.close()
    return state, grid, local, party


@pytest.mark.usefixtures("flower_identity")
def test_ot_plus_sends_the_emulator_once_per_node_and_scores_the_plugged_in_lm(tmp_path):
    def churn(report: Any, local: LocalGrid) -> None:
        if report.round == 1:  # party 2's SuperNode restarts: a new node, an empty store
            local.rejoin(2, 2002)
            store = store_of(config, "data-party-2")
            for path in store.iterdir():
                path.unlink()
            store.rmdir()

    config = ot_config(tmp_path)
    folder = tmp_path / "transcripts"
    state, _, _, party = run_ot_local(config, folder, churn)
    assert len(state.rounds) == 3 and state.error is None
    for report in state.rounds:
        assert report.aggregated == (0 if report.round == 0 else 3)
        assert 0.0 <= report.lm["plugin_utility"] <= 1.0
        assert 0.0 <= report.utility <= 1.0
    for i in range(3):
        path = folder / f"data-party-{i}.jsonl"
        assert verify_transcript(path).ok
        bundles = [m for m in crossings(path) if m.kind == Kind.TENSORS
                   and m.meta.get("artifact") == EMULATOR_BUNDLE]
        # Once per node: party 2 got it again on its new node, in round 2.
        assert [b.meta["round"] for b in bundles] == ([0, 2] if i == 2 else [0])
        assert all(set(b.payload) == set(party.bundle.tensors) for b in bundles)
        adapters = [m for m in crossings(path) if m.meta.get("artifact") == GLOBAL_ADAPTER]
        assert adapters and all(set(m.payload) == set(party.adapted.spec.shapes)
                                for m in adapters)
    assert state.rounds[0].bytes["data-party-0"]["down"] > party.bundle.nbytes
    assert state.rounds[1].bytes["data-party-0"]["down"] < party.bundle.nbytes
    # Training moved the adapter, and the plug-in uses it.
    assert any(float(t.abs().sum()) > 0 for n, t in state.final.items() if "lora_B" in n)


@pytest.mark.usefixtures("flower_identity")
def test_a_party_that_never_got_the_emulator_drops_out_with_a_reason(tmp_path):
    config = ot_config(tmp_path, rounds=1)
    task = load_task(config.task)
    party = ModelParty.prepare(config)
    hooks = OffsitePlusHooks(party, task)

    def lose_bundle(i: int, message: FlowerMessage, reply: FlowerMessage) -> FlowerMessage:
        if i == 1 and message.metadata.message_type == MessageType.QUERY \
                and not reply.has_error() and len(message.content.array_records):
            store = store_of(config, "data-party-1")
            for path in store.iterdir():
                path.unlink()
        return reply

    local = LocalGrid(make_client_app(config), 3, lose_bundle)
    grid = BoundaryGrid(local, tmp_path / "t", party.adapted.spec, poll_seconds=0.01,
                        bundle_bytes=hooks.bundle_bytes)
    state = ServerState(grid=grid)
    drive(config, 3, adapter_tensors(party.adapted.model), grid, state, None, hooks)
    grid.close()
    assert state.rounds[1].aggregated == 2
    reasons = [d["reason"] for d in grid.ledger.dropped if d["party"] == "data-party-1"]
    assert any("no emulator was received yet" in r for r in reasons)


def test_federate_ot_plus_on_the_simulation_runtime(tmp_path):
    from crossbound.federation.run import run_federation

    config = FedAdapterConfig.from_dict({**OT, "rounds": 1, "out": str(tmp_path / "out")})
    result = run_federation(config, tmp_path / "out")
    offsite = result.metrics["offsite"]
    assert len(offsite["plugin_utility_per_round"]) == 2
    assert offsite["emulator_gap"] is not None
    assert (tmp_path / "out" / "plugin-blocks.safetensors").is_file()
    assert (tmp_path / "out" / "parties" / "data-party-0" / "emulator" /
            "model.safetensors").is_file()
    assert all(t["verified"] for t in result.transcript["parties"].values())
