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
from crossbound.federation.client import make_client_app
from crossbound.federation.config import FederationConfig, load_config
from crossbound.federation.crossing import (
    ADAPTER_UPDATE,
    GLOBAL_ADAPTER,
    BoundaryGrid,
    fed_adapter_contract,
    guard_context,
)
from crossbound.federation.run import run_federation
from crossbound.federation.server import ServerState, drive, make_strategy

Tamper = Callable[[int, FlowerMessage, FlowerMessage], FlowerMessage]
TASK = "clinic-triage:n=80,seed=5,parties=3"
TINY = {"task": TASK, "small": "tiny-small", "rounds": 2, "lr": 1e-2, "max_length": 64,
        "lora_rank": 4, "eval_limit": 12}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    reply)`` may replace a reply, to play a misbehaving party."""

    def __init__(self, app: Any, parties: int, tamper: Tamper | None = None) -> None:
        self.app = app
        self.contexts = {1000 + i: Context(run_id=1, node_id=1000 + i,
                                           node_config={"partition-id": i,
                                                        "num-partitions": parties},
                                           state=RecordDict(), run_config={})
                         for i in range(parties)}
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

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[FlowerMessage]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid4().hex
            context = self.contexts[message.metadata.dst_node_id]
            partition = int(context.node_config["partition-id"])
            reply = self.tamper(partition, message, self.app(message, context))
            self.delivered[(partition, "down")] += 1
            self.delivered[(partition, "up")] += 1
            if message.metadata.message_type == MessageType.TRAIN and not reply.has_error():
                self.delivered[(partition, "up")] += 1  # the update and its numbers
            self.replies[message.metadata.message_id] = reply
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[FlowerMessage]:
        return [self.replies.pop(i) for i in list(message_ids) if i in self.replies]

    def send_and_receive(self, messages: Iterable[FlowerMessage], *,
                         timeout: float | None = None) -> Iterable[FlowerMessage]:
        return self.pull_messages(self.push_messages(messages))


def run_local(config: FederationConfig, folder: Path, tamper: Tamper | None = None,
              ) -> tuple[ServerState, BoundaryGrid, LocalGrid]:
    """The model party's ``drive`` over a LocalGrid: a whole federation, no Ray. On an
    error, the grid (with its ledger) is attached to the exception as ``grid``."""
    adapted = build_adapted(config.small, config.lora_rank, config.lora_alpha, config.seed)
    local = LocalGrid(make_client_app(config), 3, tamper)
    grid = BoundaryGrid(local, folder, adapted.spec, max_update_norm=config.max_update_norm)
    state = ServerState(grid=grid)
    try:
        drive(config, 3, adapter_tensors(adapted.model), grid, state, None)
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
    out = {}
    for path in sorted(folder.glob("data-party-*.jsonl")):
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
    config = FederationConfig(**TINY, aggregation="median", max_update_norm=5.0,
                              faults={"data-party-1": "scale:10"})
    for name in ("fed.toml", "fed.json"):
        path = config.write(tmp_path / name)
        assert load_config(path) == config
    assert load_config(FederationConfig().write(tmp_path / "d.toml")) == FederationConfig()
    assert "faults" not in FederationConfig().to_toml()
    # TOML has no null: None is written (and may be given) as "none"
    assert load_config(FederationConfig(eval_limit=None).write(tmp_path / "n.toml")) \
        .eval_limit is None


@pytest.mark.parametrize(("text", "message"), [
    ('roundz = 3', r"no field\(s\) \['roundz'\]"),
    ('rounds = "3"', r"rounds must be int, got '3' \(str\)"),
    ('rounds = 0', r"rounds must be >= 1"),
    ('aggregation = "mean"', r"aggregation must be one of \['fedavg', 'median', 'trimmed"),
    ('lr = 0', r"lr must be a finite number > 0"),
    ('strategy = "fed-kt"', r"strategy must be one of \['fed-adapter'\]"),
    ('eval_limit = true', r"eval_limit must be int or none"),
    ('[faults]\n"party-1" = "nan"', r"faults: 'party-1' is not a data party name"),
    ('[faults]\n"data-party-1" = "scale:big"', r"use 'nan' or 'scale:F'"),
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
    config = FederationConfig(**{**TINY, "faults": {"data-party-7": "nan"}})
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
    strategy = make_strategy(FederationConfig(aggregation="fedavg"), 3)
    arrays, _ = strategy.aggregate_train(1, _replies(list(zip((a, b, c), counts, strict=True))))
    assert arrays is not None
    expected = (3 * a + 1 * b + 4 * c) / 8
    np.testing.assert_allclose(arrays["w"].numpy(), expected, rtol=1e-6)
    median = make_strategy(FederationConfig(aggregation="median"), 3)
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
    config = FederationConfig(**TINY, faults={"data-party-2": "nan"})
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

    config = FederationConfig(**{**TINY, "rounds": 1, "evaluate_initial": False})
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

    config = FederationConfig(**{**TINY, "rounds": 1, "evaluate_initial": False})
    with pytest.raises(RuntimeError, match="round 1: no data party returned an update") as exc:
        run_local(config, tmp_path / "t", fail)
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
    config = FederationConfig(**TINY, faults={"data-party-2": "nan"},
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
    config = FederationConfig(**TINY, aggregation="median",
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
