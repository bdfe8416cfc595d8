"""fed-adapter on Flower: config, contract, aggregation, the boundary under Flower's grid, and
whole runs on the simulation runtime (Ray) with tiny models.

Most checks run the real ServerApp logic and ClientApp in this process over ``LocalGrid`` (a
Flower grid that answers each message at once with the node's ClientApp): seconds, no Ray.
Two runs go through Flower's simulation runtime end to end (about 15-20 s each, mostly Ray
starting and stopping).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
import pytest
import torch

pytest.importorskip("flwr")

from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Error,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.app import Message as FlowerMessage
from flwr.serverapp import Grid
from safetensors.torch import load_file
from typer.testing import CliRunner

from crossbound.boundary.contracts import ContractViolation
from crossbound.boundary.messages import Kind, Message, decode
from crossbound.boundary.transcript import verify_transcript
from crossbound.cli import app as cli_app
from crossbound.federation.adapter import (
    AdapterSpec,
    adapter_tensors,
    build_adapted,
)
from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.crossing import (
    ADAPTER_UPDATE,
    GLOBAL_ADAPTER,
    BoundaryGrid,
    fed_adapter_contract,
    guard_context,
)
from crossbound.federation.run import make_client_app, run_federation
from crossbound.federation.server import QuorumError, ServerState, drive, make_strategy
from crossbound.federation.strategies import load_config

pytestmark = [pytest.mark.federation, pytest.mark.usefixtures("one_thread")]

Tamper = Callable[[int, FlowerMessage, FlowerMessage], FlowerMessage | None]
TASK = "clinic-triage:n=80,seed=5,parties=3"
TINY = {"task": TASK, "small": "tiny-small", "rounds": 2, "lr": 1e-2, "max_length": 64,
        "lora_rank": 4, "eval_limit": 12}



@pytest.fixture
def flower_identity(monkeypatch):
    """Flower 1.41 stamps every new Message with the run and node of the process's task
    (TaskIdentity), which only a runtime sets: give messages built outside one an identity."""
    from flwr.supercore.task_identity import TaskIdentity

    for name, value in (("_run_id", 1), ("_node_id", 1), ("_task_id", 1)):
        monkeypatch.setattr(TaskIdentity, name, value)


# ---------------------------------------------------------------- helpers


class LocalGrid(Grid):
    """Flower's grid without a runtime: each message is answered at once, in this process, by
    the ClientApp of the node it is for (node 1000 + i is partition i). ``tamper(i, message,
    reply)`` may replace a reply, to play a misbehaving party, or return None: no reply ever
    comes (a party that hangs). A ClientApp that raises answers with an error, as in Flower's
    runtimes. ``offline`` holds nodes that are not connected; ``rejoin`` plays a restarted
    SuperNode (a new node id for the same partition)."""

    def __init__(self, app: Any, parties: int, tamper: Tamper | None = None) -> None:
        self.app = app
        self.parties = parties
        self.contexts = {1000 + i: self._context(1000 + i, i) for i in range(parties)}
        self.offline: set[int] = set()
        self.tamper = tamper or (lambda i, message, reply: reply)
        self.replies: dict[str, FlowerMessage] = {}
        self.delivered: Counter[tuple[int, str]] = Counter()  # (partition, "down"/"up")

    def set_run(self, run: Any) -> None:
        pass

    @property
    def run(self) -> Any:
        raise NotImplementedError

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> FlowerMessage:
        return FlowerMessage(content, dst_node_id, message_type, group_id=group_id)

    def _context(self, node: int, partition: int) -> Context:
        return Context(run_id=1, node_id=node, state=RecordDict(), run_config={},
                       node_config={"partition-id": partition, "num-partitions": self.parties})

    def rejoin(self, partition: int, node: int) -> None:
        for old, context in list(self.contexts.items()):
            if context.node_config["partition-id"] == partition:
                del self.contexts[old]
        self.contexts[node] = self._context(node, partition)

    def get_node_ids(self) -> Iterable[int]:
        return [node for node in self.contexts if node not in self.offline]

    def push_messages(self, messages: Iterable[FlowerMessage]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid4().hex
            context = self.contexts[message.metadata.dst_node_id]
            partition = int(context.node_config["partition-id"])
            try:
                answer = self.app(message, context)
            except Exception as exc:  # the runtimes turn a ClientApp's exception into this
                answer = FlowerMessage(Error(code=2, reason=f"{type(exc).__name__}: {exc}"),
                                       reply_to=message)
            ids.append(message.metadata.message_id)
            reply = self.tamper(partition, message, answer)
            self.delivered[(partition, "down")] += 1
            if reply is None:
                continue
            self.delivered[(partition, "up")] += 1
            if message.metadata.message_type == MessageType.TRAIN and not reply.has_error():
                self.delivered[(partition, "up")] += 1  # the update and its numbers
            self.replies[message.metadata.message_id] = reply
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[FlowerMessage]:
        return [self.replies.pop(i) for i in list(message_ids) if i in self.replies]

    def send_and_receive(self, messages: Iterable[FlowerMessage], *,
                         timeout: float | None = None) -> Iterable[FlowerMessage]:
        return self.pull_messages(self.push_messages(messages))


def run_local(config: FedAdapterConfig, folder: Path, tamper: Tamper | None = None,
              on_round: Callable[[Any, LocalGrid], None] | None = None, parties: int = 3,
              ) -> tuple[ServerState, BoundaryGrid, LocalGrid]:
    """The model party's ``drive`` over a LocalGrid: a whole federation, no Ray. On an
    error, the grid (with its ledger) is attached to the exception as ``grid``.
    ``on_round(report, local_grid)`` runs after each round is reported."""
    adapted = build_adapted(config.small, config.lora_rank, config.lora_alpha, config.seed)
    local = LocalGrid(make_client_app(config), parties, tamper)
    grid = BoundaryGrid(local, folder, adapted.spec, max_update_norm=config.max_update_norm,
                        poll_seconds=0.01, secure=config.secure_aggregation)
    state = ServerState(grid=grid)
    hook = None if on_round is None else (lambda report: on_round(report, local))
    try:
        drive(config, parties, adapter_tensors(adapted.model), grid, state, hook)
    except RuntimeError as exc:
        exc.grid = grid  # type: ignore[attr-defined]
        raise
    finally:
        grid.close()
    return state, grid, local


def crossings(path: Path) -> list[Message]:
    """Every message recorded in a transcript, decoded from its stored wire bytes."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [decode(base64.b64decode(json.loads(line)["payload"])) for line in lines]


def last_updates(folder: Path, rnd: int) -> dict[str, tuple[dict[str, torch.Tensor], int]]:
    """Each party's update of round ``rnd`` and its record count, as recorded."""
    return last_updates_of(folder, rnd, [p.stem for p in sorted(folder.glob("data-party-*"))])


def last_updates_of(folder: Path, rnd: int, parties: list[str],
                    ) -> dict[str, tuple[dict[str, torch.Tensor], int]]:
    """``parties``' updates of round ``rnd`` and their record counts, as recorded."""
    out = {}
    for path in (folder / f"{party}.jsonl" for party in parties):
        messages = crossings(path)
        update = next(m.payload for m in messages if m.kind == Kind.TENSORS
                      and m.meta.get("artifact") == ADAPTER_UPDATE and m.meta["round"] == rnd)
        count = next(m.payload["num-examples"] for m in messages if m.kind == Kind.METRICS
                     and m.meta.get("op") == "train" and m.meta["round"] == rnd)
        out[path.stem] = (update, count)
    return out


def weighted_mean(updates: list[tuple[dict[str, torch.Tensor], int]]) -> dict[str, torch.Tensor]:
    total = sum(n for _, n in updates)
    names = updates[0][0]
    return {k: sum(u[k].double() * n for u, n in updates) / total for k in names}


def replace_metric(reply: FlowerMessage, key: str, value: Any) -> FlowerMessage:
    numbers = dict(reply.content["metrics"])
    numbers[key] = value
    reply.content = RecordDict({"arrays": reply.content["arrays"],
                                "metrics": MetricRecord(numbers)})
    return reply


# ---------------------------------------------------------------- config


def test_config_round_trips_through_toml_and_json(tmp_path):
    config = FedAdapterConfig(**TINY, aggregation="median", max_update_norm=5.0,
                              faults={"data-party-1": "scale:10"})
    for name in ("fed.toml", "fed.json"):
        path = config.write(tmp_path / name)
        assert load_config(path) == config
    assert load_config(FedAdapterConfig().write(tmp_path / "d.toml")) == FedAdapterConfig()
    assert "faults" not in FedAdapterConfig().to_toml()
    # TOML has no null: None is written (and may be given) as "none"
    assert load_config(FedAdapterConfig(eval_limit=None).write(tmp_path / "n.toml")) \
        .eval_limit is None


@pytest.mark.parametrize(("text", "message"), [
    ('roundz = 3', r"fed-adapter has no setting 'roundz'; its settings: seed, precision"),
    ('rounds = "3"', r"rounds must be int, got '3' \(str\)"),
    ('rounds = 0', r"rounds must be >= 1"),
    ('aggregation = "mean"', r"aggregation must be one of \['fedavg', 'median', 'trimmed"),
    ('lr = 0', r"lr must be a finite number > 0"),
    ('strategy = "fed-kt"', r"strategy must be one of \['fed-adapter', 'fed-mutual-kt'\]"),
    ('top_k = 8', r"top_k is a fed-mutual-kt setting; fed-adapter does not use it"),
    ('eval_limit = true', r"eval_limit must be int or none"),
    ('[faults]\n"party-1" = "nan"', r"faults: 'party-1' is not a data party name"),
    ('[faults]\n"data-party-1" = "scale:big"', r"use 'nan', 'scale:F', 'crash:R'"),
    ('[faults]\n"data-party-1" = "crash:x"', r"use 'nan', 'scale:F', 'crash:R'"),
    ('secure_aggregation = true\naggregation = "median"', r"needs aggregation = 'fedavg'"),
    ('runtime = "cloud"', r"runtime must be one of \['simulation', 'deployment'\]"),
    ('rounds = ', r"not valid TOML"),
])
def test_bad_config_fails_with_a_message_naming_the_setting(tmp_path, text, message):
    path = tmp_path / "fed.toml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_cli_reports_a_bad_config_in_one_line(tmp_path):
    runner = CliRunner()
    path = tmp_path / "fed.toml"
    path.write_text('aggregation = "mean"\n')
    result = runner.invoke(cli_app, ["federate", str(path)])
    assert result.exit_code == 1
    assert "error:" in result.output and "aggregation must be one of" in result.output
    assert "Traceback" not in result.output
    missing = runner.invoke(cli_app, ["federate", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1 and "no such config file" in missing.output
    wrong = runner.invoke(cli_app, ["federate", str(tmp_path / "fed.yaml")])
    assert wrong.exit_code == 1 and ".toml or .json" in wrong.output


def test_config_that_names_a_missing_party_fails_before_flower_starts(tmp_path):
    config = FedAdapterConfig(**{**TINY, "faults": {"data-party-7": "nan"}})
    with pytest.raises(ValueError, match="data-party-7 does not exist"):
        run_federation(config, tmp_path)


# ---------------------------------------------------------------- aggregation and contract


def _replies(updates: list[tuple[np.ndarray, int]]) -> list[FlowerMessage]:
    replies = []
    for node, (values, count) in enumerate(updates):
        request = FlowerMessage(RecordDict({"config": ConfigRecord({})}), node + 1, "train")
        request.metadata.__dict__["_message_id"] = f"m{node}"
        content = RecordDict({"arrays": ArrayRecord({"w": Array(values)}),
                              "metrics": MetricRecord({"num-examples": count})})
        replies.append(FlowerMessage(content, reply_to=request))
    return replies


def test_fedavg_of_known_arrays_is_the_weighted_mean(flower_identity):
    a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    b = np.array([[5.0, -2.0], [0.0, 8.0]], dtype=np.float32)
    c = np.array([[-1.0, 0.5], [9.0, 1.0]], dtype=np.float32)
    counts = (3, 1, 4)
    strategy = make_strategy(FedAdapterConfig(aggregation="fedavg"), 3)
    arrays, _ = strategy.aggregate_train(1, _replies(list(zip((a, b, c), counts, strict=True))))
    assert arrays is not None
    expected = (3 * a + 1 * b + 4 * c) / 8
    np.testing.assert_allclose(arrays["w"].numpy(), expected, rtol=1e-6)
    median = make_strategy(FedAdapterConfig(aggregation="median"), 3)
    arrays, _ = median.aggregate_train(1, _replies(list(zip((a, b, c), counts, strict=True))))
    assert arrays is not None
    np.testing.assert_allclose(arrays["w"].numpy(), np.median(np.stack([a, b, c]), axis=0))


def test_the_contract_lets_only_the_agreed_adapter_and_numbers_cross():
    spec = AdapterSpec({"a.lora_A.weight": (2, 4), "a.lora_B.weight": (4, 2)})
    contract = fed_adapter_contract(spec)
    context = guard_context(spec)
    good = {"a.lora_A.weight": torch.zeros(2, 4), "a.lora_B.weight": torch.zeros(4, 2)}

    def check(sender: str, kind: Kind, payload: Any, artifact: str | None = None) -> None:
        receiver = "model-party" if sender != "model-party" else "data-party-0"
        meta = {"artifact": artifact} if artifact else {}
        contract.check(Message(kind, sender, receiver, payload, meta), context)

    check("data-party-0", Kind.TENSORS, good, ADAPTER_UPDATE)
    check("model-party", Kind.TENSORS, good, GLOBAL_ADAPTER)
    check("data-party-0", Kind.METRICS, {"num-examples": 3, "utility": 0.5})
    refused = [
        ("data-party-0", Kind.TENSORS, {**good, "embed.weight": torch.zeros(3)}, ADAPTER_UPDATE,
         "unexpected"),
        ("data-party-0", Kind.TENSORS, {**good, "a.lora_A.weight": torch.zeros(3, 4)},
         ADAPTER_UPDATE, "shape"),
        ("data-party-0", Kind.TENSORS, {k: v.double() for k, v in good.items()},
         ADAPTER_UPDATE, "float64"),
        ("data-party-0", Kind.TENSORS, good, GLOBAL_ADAPTER, "artifact"),
        ("data-party-0", Kind.TEXT, ["a private message"], None, "does not let"),
        ("data-party-0", Kind.METRICS, {"note": "Jane Doe, 555-0100"}, None, "only numbers"),
    ]
    for sender, kind, payload, artifact, reason in refused:
        with pytest.raises(ContractViolation, match=reason):
            check(sender, kind, payload, artifact)


# ---------------------------------------------------------------- the boundary under Flower


def test_local_federation_records_every_crossing_and_drops_a_nan_update(tmp_path, flower_identity):
    config = FedAdapterConfig(**TINY, faults={"data-party-2": "nan"})
    state, grid, local = run_local(config, tmp_path / "transcripts")
    # Round 0 (registration + initial score) and both rounds are reported, with utility and
    # bytes each way for every party.
    assert [r.round for r in state.rounds] == [0, 1, 2]
    for report in state.rounds:
        assert report.utility is not None and 0 <= report.utility <= 1
        assert report.eval_examples == 12
        assert set(report.bytes) == {"data-party-0", "data-party-1", "data-party-2"}
        assert all(b["down"] > 0 and b["up"] > 0 for b in report.bytes.values())
    # The NaN update crossed (it is in the transcript) and was dropped before aggregation.
    assert [(d["round"], d["party"], d["why"]) for d in grid.ledger.dropped] == [
        (1, "data-party-2", "invalid"), (2, "data-party-2", "invalid")]
    assert "non-finite" in grid.ledger.dropped[0]["reason"]
    assert [r.aggregated for r in state.rounds[1:]] == [2, 2]
    # Every Flower message that was delivered is one (train replies: two) transcript entries.
    for i in range(3):
        path = tmp_path / "transcripts" / f"data-party-{i}.jsonl"
        report = verify_transcript(path)
        assert report.ok, report.error
        assert report.entries == local.delivered[(i, "down")] + local.delivered[(i, "up")]
        kinds = {m.kind for m in crossings(path)}
        assert kinds == {Kind.TENSORS, Kind.METRICS}  # never text or records
    # The global adapter is FedAvg of the honest parties' recorded updates, weighted by their
    # record counts.
    assert state.final is not None
    updates = last_updates(tmp_path / "transcripts", 2)
    assert not all(torch.isfinite(t).all() for t in updates["data-party-2"][0].values())
    expected = weighted_mean([updates["data-party-0"], updates["data-party-1"]])
    for name, value in state.final.items():
        assert torch.isfinite(value).all()
        torch.testing.assert_close(value.double(), expected[name], rtol=1e-5, atol=1e-6)


def test_replies_that_break_the_rules_are_refused_or_dropped(tmp_path, flower_identity):
    def tamper(i: int, message: FlowerMessage, reply: FlowerMessage) -> FlowerMessage:
        if message.metadata.message_type != MessageType.TRAIN:
            return reply
        if i == 0:  # claims far more records than it registered with (its FedAvg weight)
            return replace_metric(reply, "num-examples", 10_000)
        if i == 1:  # sends one more tensor than the adapter has
            arrays = reply.content["arrays"]
            extra = ArrayRecord({**dict(arrays), "lm_head.weight": Array(np.zeros(3, "f4"))})
            reply.content = RecordDict({"arrays": extra, "metrics": reply.content["metrics"]})
            return reply
        return reply

    config = FedAdapterConfig(**{**TINY, "rounds": 1, "evaluate_initial": False,
                                 "min_parties": 1})
    state, grid, _ = run_local(config, tmp_path / "t", tamper)
    dropped = {d["party"]: (d["why"], d["reason"]) for d in grid.ledger.dropped}
    assert dropped["data-party-0"][0] == "invalid"
    assert "num-examples = 10000" in dropped["data-party-0"][1]
    assert dropped["data-party-1"][0] == "refused"
    assert "unexpected ['lm_head.weight']" in dropped["data-party-1"][1]
    assert state.rounds[1].aggregated == 1 and "data-party-2" in state.rounds[1].train
    # The refused update never crossed: party 1's transcript has no update; party 0's has.
    updates = [m for m in crossings(tmp_path / "t" / "data-party-1.jsonl")
               if m.meta.get("artifact") == ADAPTER_UPDATE]
    assert updates == []
    assert state.rounds[0].utility is None  # evaluate_initial = false


def test_a_round_where_every_party_fails_stops_the_run(tmp_path, flower_identity):
    def fail(i: int, message: FlowerMessage, reply: FlowerMessage) -> FlowerMessage:
        if message.metadata.message_type != MessageType.TRAIN:
            return reply
        return FlowerMessage(Error(code=3, reason=f"party {i} ran out of memory"),
                             reply_to=message)

    config = FedAdapterConfig(**{**TINY, "rounds": 1, "evaluate_initial": False})
    with pytest.raises(QuorumError, match="round 1: no data party returned an update") as exc:
        run_local(config, tmp_path / "t", fail)
    assert "data-party-0: error (the data party failed: party 0 ran out of memory)" \
        in str(exc.value)
    grid = exc.value.grid  # type: ignore[attr-defined]
    assert {d["why"] for d in grid.ledger.dropped} == {"error"}
    # The error text crossed as metrics and is recorded.
    errors = [m for m in crossings(tmp_path / "t" / "data-party-0.jsonl")
              if m.kind == Kind.METRICS and "error" in m.payload]
    assert errors and "out of memory" in errors[0].payload["error"]


# ---------------------------------------------------------------- Flower's simulation runtime


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """``crossbound federate`` on Ray: 3 tiny parties, 2 FedAvg rounds, party 2 sends NaN."""
    pytest.importorskip("ray")
    folder = tmp_path_factory.mktemp("federate")
    config = FedAdapterConfig(**TINY, faults={"data-party-2": "nan"},
                              out=str(folder / "not-used"))
    path = config.write(folder / "fed.toml")
    result = CliRunner().invoke(cli_app, ["federate", str(path), "--out", str(folder / "run")])
    return result, folder / "run"


def test_federate_runs_on_the_simulation_runtime_and_reports_every_round(cli_run):
    result, out = cli_run
    assert result.exit_code == 0, result.output
    for line in ("round 0/2 (initial adapter): utility", "round 1/2: utility", "round 2/2: utility",
                 "dropped data-party-2 (train): non-finite update"):
        assert line in result.output
    data = json.loads((out / "result.json").read_text())
    assert data["strategy"] == "fed-adapter" and data["config"]["faults"]
    utility = data["metrics"]["utility"]
    assert len(utility["per_round"]) == 3 and utility["final"] == utility["per_round"][-1]
    assert all(0 <= u <= 1 for u in utility["per_round"])
    rounds = data["metrics"]["federation"]["rounds"]
    for entry in rounds:
        assert set(entry["bytes"]) == {"data-party-0", "data-party-1", "data-party-2"}
        assert all(b["down"] > 0 and b["up"] > 0 for b in entry["bytes"].values())
    assert [r["aggregated_updates"] for r in rounds[1:]] == [2, 2]
    assert [(d["round"], d["party"]) for d in data["metrics"]["federation"]["dropped"]] == [
        (1, "data-party-2"), (2, "data-party-2")]
    efficiency = data["metrics"]["efficiency"]
    assert len(efficiency["seconds_per_round"]) == len(efficiency["bytes_per_round"]) == 3
    assert efficiency["bytes_crossed"]["total"] == sum(efficiency["bytes_per_round"])
    assert set(efficiency["bytes_crossed"]["by_kind"]) == {"tensors", "metrics"}
    assert data["metrics"]["privacy"]["pii_crossed"]["occurrences"] == 0


def test_federate_transcripts_hold_every_crossing_and_the_fedavg_of_honest_updates(cli_run):
    result, out = cli_run
    assert result.exit_code == 0, result.output
    data = json.loads((out / "result.json").read_text())
    for i in range(3):
        path = out / "transcripts" / f"data-party-{i}.jsonl"
        report = verify_transcript(path)
        assert report.ok, report.error
        # hello (2) + initial score (2) + per round: adapter down, update and numbers up,
        # adapter down for scoring, score up (5)
        assert report.entries == 2 + 2 + 5 * 2
        assert data["transcript"]["parties"][f"data-party-{i}"]["verified"] is True
    final = load_file(str(out / "global-adapter.safetensors"))
    updates = last_updates(out / "transcripts", 2)
    expected = weighted_mean([updates["data-party-0"], updates["data-party-1"]])
    for name, value in final.items():
        assert torch.isfinite(value).all()
        torch.testing.assert_close(value.double(), expected[name], rtol=1e-5, atol=1e-6)
    # ... and it is what the model party sent down for the last evaluation
    last_down = [m for m in crossings(out / "transcripts" / "data-party-0.jsonl")
                 if m.meta.get("artifact") == GLOBAL_ADAPTER][-1]
    assert last_down.meta["op"] == "evaluate" and last_down.meta["round"] == 2
    for name, value in final.items():
        assert torch.equal(value, last_down.payload[name])
    assert (out / "global-adapter" / "adapter_config.json").exists()


def test_median_aggregation_resists_a_huge_update_on_the_simulation_runtime(tmp_path):
    pytest.importorskip("ray")
    config = FedAdapterConfig(**TINY, aggregation="median",
                              faults={"data-party-2": "scale:1000"})
    reports: list[Any] = []
    result = run_federation(config, tmp_path, on_round=reports.append)
    assert [r.round for r in reports] == [0, 1, 2]
    assert result.metrics["federation"]["dropped"] == []  # finite: nothing to drop
    final = load_file(str(tmp_path / "global-adapter.safetensors"))
    updates = last_updates(tmp_path / "transcripts", 2)
    honest = [updates["data-party-0"][0], updates["data-party-1"][0]]
    poisoned = updates["data-party-2"][0]
    mean = weighted_mean([(u, 1) for u in honest])
    off_honest = off_poisoned = 0.0
    for name, value in final.items():
        assert torch.isfinite(value).all()
        low = torch.minimum(honest[0][name], honest[1][name])
        high = torch.maximum(honest[0][name], honest[1][name])
        # The median of three values always lies between any two of them: here, the honest.
        assert bool(((value >= low) & (value <= high)).all())
        off_honest += float((value.double() - mean[name]).pow(2).sum())
        off_poisoned += float((poisoned[name].double() - mean[name]).pow(2).sum())
    assert off_honest < 1e-4 * off_poisoned


# ---------------------------------------------------------------- parties that drop out


def test_a_party_that_crashes_for_one_round_drops_out_of_it_and_is_used_again(
        tmp_path, flower_identity):
    config = FedAdapterConfig(**TINY, faults={"data-party-1": "crash:1"})
    state, _, _ = run_local(config, tmp_path / "t")
    assert [r.aggregated for r in state.rounds[1:]] == [2, 3]
    assert state.rounds[1].dropped_out == {"data-party-1": "error"}
    assert "crashed in round 1" in state.rounds[1].dropped[0]["reason"]
    assert state.rounds[2].dropped_out == {} and "data-party-1" in state.rounds[2].train
    # Round 2 is FedAvg of all three recorded updates again.
    updates = last_updates(tmp_path / "t", 2)
    expected = weighted_mean(list(updates.values()))
    assert state.final is not None
    for name, value in state.final.items():
        torch.testing.assert_close(value.double(), expected[name], rtol=1e-5, atol=1e-6)
    # Everyone scored every round's adapter (the crash was in training only).
    assert all(len(r.evaluate) == 3 for r in state.rounds)


def test_a_party_that_does_not_answer_in_time_drops_out_of_that_round(tmp_path,
                                                                        flower_identity):
    def hang(i: int, message: FlowerMessage, reply: FlowerMessage) -> FlowerMessage | None:
        first = message.metadata.message_type == MessageType.TRAIN and \
            message.content["config"]["server-round"] == 1
        return None if i == 0 and first else reply

    config = FedAdapterConfig(**{**TINY, "round_timeout": 0.3, "evaluate_initial": False})
    state, _, _ = run_local(config, tmp_path / "t", hang)
    assert state.rounds[1].dropped_out == {"data-party-0": "timeout"}
    assert state.rounds[1].aggregated == 2
    assert state.rounds[2].aggregated == 3 and state.rounds[2].dropped_out == {}


def test_too_few_parties_in_a_round_stop_the_run_naming_who_was_missing(tmp_path,
                                                                          flower_identity):
    config = FedAdapterConfig(**{**TINY, "evaluate_initial": False, "min_parties": 2,
                                 "faults": {"data-party-0": "crash:2", "data-party-2": "nan"}})
    with pytest.raises(QuorumError) as caught:
        run_local(config, tmp_path / "t")
    message = str(caught.value)
    assert message.startswith("round 2: only 1 of 3 data parties returned an update, fewer "
                              "than min_parties = 2; missing: data-party-0: error")
    assert "data-party-2: invalid (non-finite update" in message
    grid = caught.value.grid  # type: ignore[attr-defined]
    assert 2 not in grid.ledger.train or set(grid.ledger.train[2]) == {"data-party-1"}
    # min_parties = 1 lets the same run finish on the one honest party.
    config = FedAdapterConfig(**{**config.to_dict(), "min_parties": 1})
    state, _, _ = run_local(config, tmp_path / "t1")
    assert [r.aggregated for r in state.rounds[1:]] == [2, 1]


def test_an_offline_party_drops_out_and_comes_back_under_a_new_node_id(tmp_path,
                                                                        flower_identity):
    def churn(report: Any, local: LocalGrid) -> None:
        if report.round == 1:  # its SuperNode dies ...
            local.offline.add(1002)
        if report.round == 2:  # ... and a new one starts for the same data
            local.rejoin(2, 2002)

    config = FedAdapterConfig(**{**TINY, "rounds": 3, "evaluate_initial": False})
    state, grid, _ = run_local(config, tmp_path / "t", on_round=churn)
    assert [r.aggregated for r in state.rounds[1:]] == [3, 2, 3]
    assert state.rounds[2].dropped_out == {"data-party-2": "offline"}
    assert len(state.rounds[2].evaluate) == 2
    assert grid.nodes[2002] == "data-party-2" and 1002 not in grid.nodes
    # The party's hello under its new node id is in its (one) transcript, in round 3.
    hellos = [m for m in crossings(tmp_path / "t" / "data-party-2.jsonl")
              if m.kind == Kind.METRICS and m.payload.get("party") == "data-party-2"]
    assert len(hellos) == 2
    assert verify_transcript(tmp_path / "t" / "data-party-2.jsonl").ok


# ---------------------------------------------------------------- secure aggregation (SecAgg+)

SECURE = {**TINY, "rounds": 1, "evaluate_initial": False, "secure_aggregation": True}
QUANTISATION = 2e-5  # 3 parties, values clipped to ±8 in 22 bits: ~4e-6 per party and value


def assert_close_adapters(a: dict[str, torch.Tensor] | None, b: dict[str, torch.Tensor] | None,
                          atol: float) -> None:
    assert a is not None and b is not None and set(a) == set(b)
    for name in a:
        torch.testing.assert_close(a[name].double(), b[name].double(), rtol=0, atol=atol)


def assert_only_masked_updates_crossed(folder: Path, trained: list[str]) -> None:
    """No plain update is in any transcript; every party in ``trained`` sent a masked one."""
    from crossbound.federation.secagg import MASKED

    for path in sorted(folder.glob("data-party-*.jsonl")):
        assert verify_transcript(path).ok
        artifacts = [m.meta.get("artifact") for m in crossings(path)]
        assert ADAPTER_UPDATE not in artifacts
        assert (MASKED in artifacts) == (path.stem in trained)


def test_secure_aggregation_survives_a_party_dropping_out_within_the_threshold(
        tmp_path, flower_identity):
    faults = {"data-party-1": "crash:1"}  # after sharing its keys, before its masked update
    plain, _, _ = run_local(FedAdapterConfig(**{**SECURE, "secure_aggregation": False,
                                                "faults": faults}), tmp_path / "plain")
    state, _, _ = run_local(FedAdapterConfig(**{**SECURE, "faults": faults}), tmp_path / "t")
    report = state.rounds[1]
    assert report.dropped_out == {"data-party-1": "error"} and report.aggregated == 2
    assert report.secure == {"shares": 3, "threshold": 2,
                             "masked_updates": ["data-party-0", "data-party-2"],
                             "dropped_during_protocol": ["data-party-1"],
                             "unmasked_by": ["data-party-0", "data-party-2"]}
    # The other two parties' key shares removed the crashed party's pairwise masks: the sum
    # is FedAvg of the two survivors' updates, up to quantisation.
    assert_close_adapters(state.final, plain.final, QUANTISATION)
    assert_only_masked_updates_crossed(tmp_path / "t", ["data-party-0", "data-party-2"])
    # With min_parties = 3 the round stops before anything is unmasked.
    config = FedAdapterConfig(**{**SECURE, "faults": faults, "min_parties": 3})
    with pytest.raises(QuorumError, match="only 2 of 3 data parties returned an update"):
        run_local(config, tmp_path / "q")
    stages = {m.meta.get("stage") for m in crossings(tmp_path / "q" / "data-party-0.jsonl")}
    assert "collect_masked_vectors" in stages and "unmask" not in stages


def test_secure_aggregation_survives_a_party_that_stops_answering_at_any_stage(
        tmp_path, flower_identity):
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

    # What each stage's reply carries (the mod consumes the request's stage name).
    marks = {"setup": "pk1", "share_keys": "dsts", "collect_masked_vectors": "masked_params",
             "unmask": "nids"}
    survivors, _, _ = run_local(FedAdapterConfig(**{**SECURE, "secure_aggregation": False,
                                                    "faults": {"data-party-2": "nan"}}),
                                tmp_path / "two")
    everyone, _, _ = run_local(FedAdapterConfig(**{**SECURE, "secure_aggregation": False}),
                               tmp_path / "three")
    for stage, mark in marks.items():
        def silence(i: int, message: FlowerMessage, reply: FlowerMessage,
                    mark: str = mark) -> FlowerMessage | None:
            settings = None if reply.has_error() else \
                reply.content.config_records.get(RECORD_KEY_CONFIGS)
            return None if i == 2 and settings is not None and mark in settings else reply

        config = FedAdapterConfig(**{**SECURE, "round_timeout": 0.5})
        state, _, _ = run_local(config, tmp_path / stage, silence)
        secure = state.rounds[1].secure
        assert secure is not None and secure["unmasked_by"] == ["data-party-0", "data-party-1"]
        if stage == "unmask":  # its masked update had arrived: it is in the sum
            assert secure["masked_updates"] == ["data-party-0", "data-party-1", "data-party-2"]
            assert_close_adapters(state.final, everyone.final, QUANTISATION)
        else:
            assert secure["dropped_during_protocol"] == ["data-party-2"], stage
            assert state.rounds[1].dropped_out == {"data-party-2": "timeout"}
            assert_close_adapters(state.final, survivors.final, QUANTISATION)


def test_secure_aggregation_survives_a_party_gone_before_setup_and_another_crashing(
        tmp_path, flower_identity):
    # Deployment with a killed SuperNode: the SuperLink still lists the node, and it answers
    # setup with "node unavailable"; another party then crashes while training. Unmasking
    # must cancel the crashed party's masks with the summed parties only (Flower 1.41 alone
    # tries the gone party too, which never had a key: KeyError).
    from flwr.app import Error
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

    from crossbound.federation.crossing import NODE_UNAVAILABLE

    def gone(i: int, message: FlowerMessage, reply: FlowerMessage) -> FlowerMessage:
        settings = None if reply.has_error() else \
            reply.content.config_records.get(RECORD_KEY_CONFIGS)
        if i == 1 and settings is not None and "pk1" in settings:
            return FlowerMessage(Error(code=NODE_UNAVAILABLE, reason="node unavailable"),
                                 reply_to=message)
        return reply

    four = {**SECURE, "task": "clinic-triage:n=80,seed=5,parties=4"}
    plain, _, _ = run_local(FedAdapterConfig(**{
        **four, "secure_aggregation": False,
        "faults": {"data-party-1": "crash:1", "data-party-3": "crash:1"}}),
        tmp_path / "plain", parties=4)
    state, _, _ = run_local(FedAdapterConfig(**{**four, "faults": {"data-party-3": "crash:1"}}),
                            tmp_path / "t", gone, parties=4)
    report = state.rounds[1]
    assert report.aggregated == 2
    assert report.secure["masked_updates"] == ["data-party-0", "data-party-2"]
    assert report.secure["dropped_during_protocol"] == ["data-party-1", "data-party-3"]
    assert_close_adapters(state.final, plain.final, QUANTISATION)


def test_secure_aggregation_refuses_a_malformed_masked_update_at_the_boundary(
        tmp_path, flower_identity):
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

    from crossbound.federation.secagg import npy_array, npy_bytes

    def tamper(i: int, message: FlowerMessage, reply: FlowerMessage) -> FlowerMessage:
        settings = reply.content.config_records.get(RECORD_KEY_CONFIGS) \
            if not reply.has_error() else None
        if i == 2 and settings is not None and "masked_params" in settings:
            masked = [npy_array(b) for b in settings["masked_params"]]  # type: ignore[union-attr]
            masked[1] = masked[1] + (1 << 33)  # outside the masks' range mod 2**32
            settings["masked_params"] = [npy_bytes(a) for a in masked]
        return reply

    state, grid, _ = run_local(FedAdapterConfig(**SECURE), tmp_path / "t", tamper)
    refused = [d for d in grid.ledger.dropped if d["party"] == "data-party-2"]
    assert [d["why"] for d in refused] == ["refused"]
    assert "outside [0, 2**32)" in refused[0]["reason"]
    assert state.rounds[1].secure["masked_updates"] == ["data-party-0", "data-party-1"]
    plain, _, _ = run_local(FedAdapterConfig(**{**SECURE, "secure_aggregation": False,
                                                "faults": {"data-party-2": "nan"}}),
                            tmp_path / "plain")
    assert_close_adapters(state.final, plain.final, QUANTISATION)


def test_secure_aggregation_on_the_simulation_runtime_equals_fedavg(tmp_path, flower_identity):
    pytest.importorskip("ray")
    config = FedAdapterConfig(**SECURE)
    result = run_federation(config, tmp_path / "secure")
    plain, _, _ = run_local(FedAdapterConfig(**{**SECURE, "secure_aggregation": False}),
                            tmp_path / "plain")
    final = load_file(str(tmp_path / "secure" / "global-adapter.safetensors"))
    assert_close_adapters(final, plain.final, QUANTISATION)
    assert_only_masked_updates_crossed(tmp_path / "secure" / "transcripts",
                                       ["data-party-0", "data-party-1", "data-party-2"])
    federation = result.metrics["federation"]
    assert federation["secure_aggregation"]["model_party_sees"].startswith("each party's masked")
    assert federation["rounds"][1]["secure_aggregation"]["masked_updates"] == [
        "data-party-0", "data-party-1", "data-party-2"]
    assert federation["contract"][-1].startswith("data party → model party: tensors")
    assert any("Secure aggregation (SecAgg+)" in note for note in result.notes)
    assert result.metrics["privacy"]["pii_crossed"]["occurrences"] == 0


def test_cli_deployment_flags_choose_the_deployment_runtime(tmp_path, monkeypatch):
    import crossbound.federation.run as run_module

    seen: dict[str, Any] = {}

    def fake(config: FedAdapterConfig, out_dir: Any, **kwargs: Any) -> Any:
        seen.update(config=config, **kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(run_module, "run_federation", fake)
    path = FedAdapterConfig(**TINY).write(tmp_path / "fed.toml")
    result = CliRunner().invoke(cli_app, ["federate", str(path), "--deployment", "--tls",
                                          "--port", "9123"])
    assert result.exit_code == 1 and "stop here" in result.output
    assert seen["config"].runtime == "deployment"
    assert seen["deployment"] == {"external": False, "host": "127.0.0.1", "port": 9123,
                                  "tls": True}


def test_a_relative_output_folder_works_for_the_deployment_runtime(tmp_path, monkeypatch):
    """The SuperLink, the SuperNodes and `flwr run` run in OUT/deployment: every path handed
    to them must not depend on the directory crossbound was started in."""
    from crossbound.federation.deploy import LocalDeployment

    monkeypatch.chdir(tmp_path)
    deployment = LocalDeployment(FedAdapterConfig(**TINY), Path("runs/x"), 3)
    assert deployment.out == tmp_path / "runs" / "x"
    assert deployment.folder.is_absolute() and deployment.home.is_absolute()
