"""fed-mutual-kt on Flower: the model party's rounds over a LocalGrid (no Ray), the contract on
knowledge rows, how the parties' knowledge is combined, and one whole run on the simulation
runtime through ``crossbound federate``.

The tiny LM (``tiny-large``) and SMs (``tiny-small``; ``tiny-other`` for a party whose SM has
another architecture and tokenizer) are built in code. ``lm_targets = "all"``: with
``max_length = 64`` on a byte tokenizer the answers are cut off, so the SMs send their top-k
at every position rather than at the answer's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("flwr")

from flwr.app import ConfigRecord, MessageType, RecordDict
from flwr.app import Message as FlowerMessage
from typer.testing import CliRunner

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind
from crossbound.boundary.transcript import verify_transcript
from crossbound.cli import app as cli_app
from crossbound.federation.contract import arrays_to_tensors, tensors_to_arrays
from crossbound.federation.knowledge import (
    LM_KNOWLEDGE,
    SM_KNOWLEDGE,
    combine_knowledge,
    row_cross_entropy,
)
from crossbound.federation.mutual_config import FedMutualKTConfig
from crossbound.federation.mutual_server import (
    FEDERATION,
    KnowledgeGrid,
    MutualState,
    drive_mutual,
    lm_side,
)
from crossbound.federation.run import make_client_app
from crossbound.federation.server import QuorumError
from crossbound.models.loading import load_model
from crossbound.tasks.registry import load_task
from crossbound.training.distill import TransferRow
from tests.test_federation import (  # noqa: F401  (fixtures)
    LocalGrid,
    Tamper,
    crossings,
    flower_identity,
)

pytestmark = [pytest.mark.federation, pytest.mark.usefixtures("one_thread")]

TASK = "clinic-triage:n=80,seed=5,parties=3"
TINY = {"strategy": "fed-mutual-kt", "task": TASK, "large": "tiny-large",
        "small": "tiny-small", "party_small": {"data-party-2": "tiny-other"}, "rounds": 2,
        "lr": 1e-2, "lm_lr": 1e-2, "max_length": 64, "lora_rank": 4, "lm_lora_rank": 4,
        "eval_limit": 8, "transfer_limit": 6, "top_k": 4, "lm_targets": "all"}


def run_local(config: FedMutualKTConfig, folder: Path, tamper: Tamper | None = None,
              ) -> tuple[MutualState, KnowledgeGrid]:
    """The model party's ``drive_mutual`` over a LocalGrid: a whole federation, no Ray."""
    task = load_task(config.task)
    lm = load_model(config.large)
    side = lm_side(config, task, lm)
    grid = KnowledgeGrid(LocalGrid(make_client_app(config), 3, tamper), folder, side,
                         config.top_k, poll_seconds=0.01)
    state = MutualState(grid=grid)
    try:
        drive_mutual(config, task, lm, side, grid, state, None)
    finally:
        grid.close()
    return state, grid


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """One 2-round federation shared by the tests that only read it (as ``flower_identity``
    does per test: messages built outside a runtime need a run and node identity)."""
    from flwr.supercore.task_identity import TaskIdentity

    folder = tmp_path_factory.mktemp("mutual") / "t"
    before = torch.get_num_threads()
    saved = {name: getattr(TaskIdentity, name) for name in ("_run_id", "_node_id", "_task_id")}
    torch.set_num_threads(1)
    for name in saved:
        setattr(TaskIdentity, name, 1)
    try:
        state, grid = run_local(FedMutualKTConfig(**TINY), folder)
    finally:
        for name, value in saved.items():
            setattr(TaskIdentity, name, value)
        torch.set_num_threads(before)
    return state, grid, folder


# ---------------------------------------------------------------- config


def test_config_validates_the_mutual_settings():
    with pytest.raises(ValueError, match="combine"):
        FedMutualKTConfig(**{**TINY, "combine": "vote"})
    with pytest.raises(ValueError, match="lm_targets"):
        FedMutualKTConfig(**{**TINY, "lm_targets": "some"})
    config = FedMutualKTConfig(**TINY)
    assert config.small_of("data-party-2") == "tiny-other"
    assert config.small_of("data-party-0") == "tiny-small"
    assert FedMutualKTConfig.from_json(config.to_json()) == config


# ---------------------------------------------------------------- combining


def _row(ids: list[int], hit: bool) -> TransferRow:
    """A row over ``ids`` whose top-2 at each position holds the next token (``hit``) or not."""
    ids_t = torch.tensor(ids)
    positions = torch.arange(len(ids) - 1)
    nxt = ids_t[1:]
    other = (nxt + 1) % 50
    indices = torch.stack([nxt if hit else other, other + 1], -1)
    values = torch.log(torch.tensor([[0.7, 0.2]] * len(positions)))
    return TransferRow(ids_t, positions, values, indices)


def test_min_ce_keeps_per_text_the_party_that_predicts_it_best():
    good, bad = _row([1, 2, 3, 4], hit=True), _row([1, 2, 3, 4], hit=False)
    assert row_cross_entropy(good) == pytest.approx(-torch.log(torch.tensor(0.7)).item())
    # A miss costs at least the smallest top-k log-prob, so never less than a hit.
    assert row_cross_entropy(bad) > row_cross_entropy(good)
    other = _row([5, 6, 7], hit=False)
    rows, chosen = combine_knowledge({"data-party-0": [bad, other], "data-party-1": [good]},
                                     "min-ce")
    assert chosen == {"data-party-0": 1, "data-party-1": 1}
    assert any(r is good for r in rows) and any(r is other for r in rows) and len(rows) == 2
    rows, chosen = combine_knowledge({"data-party-0": [bad, other], "data-party-1": [good]},
                                     "all")
    assert len(rows) == 3 and chosen == {"data-party-0": 2, "data-party-1": 1}
    with pytest.raises(ValueError, match="unknown combine"):
        combine_knowledge({}, "vote")


# ---------------------------------------------------------------- whole rounds, no Ray


@pytest.mark.usefixtures("flower_identity")
def test_rounds_exchange_knowledge_both_ways_and_tune_the_lm(local_run):
    state, grid, _ = local_run
    assert [r.round for r in state.rounds] == [0, 1, 2]
    parties = {"data-party-0", "data-party-1", "data-party-2"}
    for report in state.rounds:
        facts = report.knowledge
        assert facts is not None and 0 <= facts["lm"] <= 1
        assert set(facts["sm"]) == parties and all(0 <= v <= 1 for v in facts["sm"].values())
    for report in state.rounds[1:]:
        facts = report.knowledge
        assert report.aggregated == 3 and set(report.train) == parties
        # min-ce: one row per distinct public text (cut at max_length, several coincide).
        distinct = len(set(grid.side.public.rows))
        assert sum(facts["chosen"].values()) == facts["rows_distilled"] == distinct
        assert facts["lm_steps"] > 0
    # Each party's SM carries on from its own previous round.
    assert [state.rounds[r].train["data-party-1"]["sm-rounds"] for r in (1, 2)] == [1, 2]
    # The LM the federation tuned is a LoRA copy that differs from the LM it started from.
    tuned = state.owner.model(FEDERATION)
    base = load_model("tiny-large").model
    ids = torch.tensor([grid.side.ids[0]])
    with torch.no_grad():
        assert not torch.allclose(tuned(ids).logits, base(ids).logits)


@pytest.mark.usefixtures("flower_identity")
def test_only_public_knowledge_rows_and_numbers_cross_and_every_crossing_is_recorded(
        local_run):
    _, grid, folder = local_run
    public = set(grid.side.public.rows)
    for i in range(3):
        path = folder / f"data-party-{i}.jsonl"
        assert verify_transcript(path).ok
        messages = crossings(path)
        assert {m.kind for m in messages} == {Kind.TENSORS, Kind.METRICS}
        tensors = [m for m in messages if m.kind == Kind.TENSORS]
        assert {(m.sender == MODEL_PARTY, m.meta["artifact"]) for m in tensors} == {
            (True, LM_KNOWLEDGE), (False, SM_KNOWLEDGE)}
        for message in tensors:
            ids, mask = message.payload["ids"], message.payload["mask"]
            for row, keep in zip(ids, mask, strict=True):
                assert tuple(int(t) for t in row[keep.bool()]) in public
    # The heterogeneous party's knowledge arrived on the LM's tokens like the others'.
    assert set(grid.knowledge[2]) == {"data-party-0", "data-party-1", "data-party-2"}
    assert all(r.indices is not None and int(r.indices.max()) < grid.side.vocab
               for r in grid.knowledge[2]["data-party-2"])


def _private_ids(partition: int, message: FlowerMessage, reply: FlowerMessage
                 ) -> FlowerMessage:
    """Party 1 hides a private record's bytes in the ids of its knowledge."""
    if partition != 1 or message.metadata.message_type != MessageType.TRAIN \
            or reply.has_error():
        return reply
    tensors = arrays_to_tensors(reply.content["knowledge"])
    ids = tensors["ids"].clone()
    ids[0, :8] = torch.tensor(list(b"MRN 4417"), dtype=ids.dtype)
    tensors["ids"] = ids
    content: dict[str, Any] = {"knowledge": tensors_to_arrays(tensors),
                               "metrics": reply.content["metrics"],
                               "config": reply.content["config"]}
    reply.content = RecordDict(content)
    return reply


@pytest.mark.usefixtures("flower_identity")
def test_knowledge_that_is_not_a_public_text_is_refused_at_the_boundary(tmp_path):
    config = FedMutualKTConfig(**{**TINY, "rounds": 1, "evaluate_initial": False})
    state, grid = run_local(config, tmp_path / "t", _private_ids)
    report = state.rounds[1]
    assert report.dropped_out == {"data-party-1": "refused"}
    assert "not one of the" in report.dropped[0]["reason"]
    assert set(grid.knowledge[1]) == {"data-party-0", "data-party-2"}
    # The refused rows were not recorded as crossed.
    assert not [m for m in crossings(tmp_path / "t" / "data-party-1.jsonl")
                if m.meta.get("artifact") == SM_KNOWLEDGE]


@pytest.mark.usefixtures("flower_identity")
def test_a_party_that_crashes_drops_out_of_one_round_and_its_sm_rejoins(tmp_path):
    config = FedMutualKTConfig(**{**TINY, "faults": {"data-party-0": "crash:1"},
                                 "evaluate_initial": False})
    state, _ = run_local(config, tmp_path / "t")
    first, second = state.rounds[1], state.rounds[2]
    assert first.dropped_out == {"data-party-0": "error"} and first.aggregated == 2
    assert second.dropped_out == {} and second.aggregated == 3
    # Its SM missed round 1's training, so it is one round behind the others.
    assert second.train["data-party-0"]["sm-rounds"] == 1
    assert second.train["data-party-1"]["sm-rounds"] == 2


@pytest.mark.usefixtures("flower_identity")
def test_too_few_parties_stop_the_run_with_the_reason(tmp_path):
    config = FedMutualKTConfig(**{**TINY, "rounds": 1, "evaluate_initial": False,
                                 "min_parties": 3, "faults": {"data-party-2": "crash:1"}})
    with pytest.raises(QuorumError, match="data-party-2"):
        run_local(config, tmp_path / "t")


@pytest.mark.usefixtures("flower_identity")
def test_a_train_request_of_fed_mutual_kt_carries_the_lm_knowledge_only(tmp_path):
    config = FedMutualKTConfig(**{**TINY, "rounds": 1})
    task = load_task(config.task)
    lm = load_model(config.large)
    grid = KnowledgeGrid(LocalGrid(make_client_app(config), 3), tmp_path, lm_side(config,
                         task, lm), config.top_k, poll_seconds=0.01)
    try:
        grid.identify(3, timeout=5)
        message = FlowerMessage(RecordDict({"config": ConfigRecord({"server-round": 1})}),
                                next(iter(grid.get_node_ids())), MessageType.QUERY)
        with pytest.raises(ValueError, match="train and evaluate"):
            grid.push_messages([message])
    finally:
        grid.close()


# ---------------------------------------------------------------- the simulation runtime


def test_federate_runs_fed_mutual_kt_on_the_simulation_runtime(tmp_path):
    pytest.importorskip("ray")
    config = FedMutualKTConfig(**{**TINY, "out": str(tmp_path / "not-used")})
    path = config.write(tmp_path / "fed.toml")
    out = tmp_path / "run"
    result = CliRunner().invoke(cli_app, ["federate", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for line in ("round 0/2 (initial models): utility LM", "round 2/2: utility LM",
                 "knowledge of 3 part(ies) distilled into the LM"):
        assert line in result.output
    data = json.loads((out / "result.json").read_text())
    assert data["strategy"] == "fed-mutual-kt"
    utility = data["metrics"]["utility"]
    assert len(utility["lm_per_round"]) == 3 and utility["final"] == utility["lm_per_round"][-1]
    assert set(utility["sm_per_round"]) == {"data-party-0", "data-party-1", "data-party-2"}
    assert all(len(v) == 3 for v in utility["sm_per_round"].values())
    assert data["models"]["small@data-party-2"] == "tiny-other"
    assert (out / "lm-adapter" / "adapter_config.json").exists()
    efficiency = data["metrics"]["efficiency"]
    assert efficiency["bytes_crossed"]["total"] == sum(efficiency["bytes_per_round"])
    assert data["metrics"]["privacy"]["pii_crossed"]["occurrences"] == 0
    for name, summary in data["transcript"]["parties"].items():
        assert summary["verified"], name
