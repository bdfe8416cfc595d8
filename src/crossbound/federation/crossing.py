"""The boundary under Flower: every federated message crosses a crossbound :class:`Boundary`.

Flower is one more transport. The model party's strategy talks to a :class:`BoundaryGrid`,
which wraps Flower's ``Grid``: each message to or from data party *i* is turned into a
crossbound :class:`~crossbound.boundary.messages.Message` — the global adapter going down and
the local update coming up as ``tensors``, numbers as ``metrics`` — checked against the
``fed-adapter`` :class:`AccessContract`, counted, and appended to that party's hash-chained
transcript (``transcripts/data-party-<i>.jsonl``). Only the decoded copy that crossed is put
back into the Flower message, so what Flower delivers and aggregates is exactly what was
recorded. Replies are then validated (finite values, a plausible record count, optionally a
bound on the distance from the global adapter) before any strategy sees them: a refused or
invalid reply is dropped and reported, never aggregated.

Flower addresses nodes by id; the model party learns which data party a node is from a
``hello`` exchange before the first round (an op name down, the party's name and record count
up). The hello request carries no data; it is checked before it is sent and recorded in the
party's transcript once the node has named itself.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, MessageType, MetricRecord, RecordDict
from flwr.app import Message as FlowerMessage
from flwr.proto.node_pb2 import NodeInfo
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import (
    MODEL_PARTY,
    AccessContract,
    ContractViolation,
    GuardContext,
    allow,
    register_guard,
)
from crossbound.boundary.messages import Kind, Message, MessageError, encode
from crossbound.boundary.transcript import Transcript
from crossbound.federation.adapter import AdapterSpec, Tensors, distance, non_finite
from crossbound.federation.config import PARTY_NAME

GLOBAL_ADAPTER = "fed-global-adapter"  # meta.artifact of the model party's adapter
ADAPTER_UPDATE = "fed-adapter-update"  # meta.artifact of a data party's trained adapter
SPEC_KEY = "fed_adapter_spec"  # GuardContext.extra: the AdapterSpec both parties expect
HELLO = "hello"
# The numbers a data party reports, and nothing else (a strategy aggregates them by key).
TRAIN_METRICS = ("num-examples", "train-loss-first", "train-loss-last", "train-steps",
                 "train-seconds")
EVAL_METRICS = ("num-examples", "utility", "eval-seconds")
_TEXT_KEYS = frozenset({"op", "party", "error"})  # metrics keys that may hold a short string
KiB = 1 << 10
R = TypeVar("R")


# ---------------------------------------------------------------- contract


def adapter_tensors_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a tensors message is exactly the LoRA adapter both parties agreed on (names,
    shapes, float32), as registered in ``context.extra["fed_adapter_spec"]``."""
    spec = context.extra.get(SPEC_KEY)
    if not isinstance(spec, AdapterSpec):
        return "no adapter spec is registered for this party (GuardContext.extra)"
    return spec.problem(message.payload)


def numbers_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a metrics message holds numbers (and a short op, party name or error text)."""
    if len(message.payload) > 64:
        return f"{len(message.payload)} metrics exceed the limit of 64"
    for key, value in message.payload.items():
        if isinstance(value, int | float):
            continue
        if isinstance(value, str) and key in _TEXT_KEYS and len(value) <= 2000:
            continue
        return (f"{key!r}: only numbers may cross as metrics (short text only under "
                f"{sorted(_TEXT_KEYS)})")
    return None


register_guard("fed-adapter-tensors", adapter_tensors_only)
register_guard("fed-numbers-only", numbers_only)


def fed_adapter_contract(spec: AdapterSpec) -> AccessContract:
    """What may cross in ``fed-adapter``: the LoRA adapter of ``spec`` both ways, and numbers."""
    limit = 2 * spec.nbytes + 64 * KiB  # safetensors adds a small header per tensor
    return AccessContract(
        "fed-adapter",
        (
            allow("model", Kind.TENSORS, max_bytes=limit, artifacts={GLOBAL_ADAPTER},
                  guards=("fed-adapter-tensors",)),
            allow("model", Kind.METRICS, max_bytes=64 * KiB, guards=("fed-numbers-only",)),
            allow("data", Kind.TENSORS, max_bytes=limit, artifacts={ADAPTER_UPDATE},
                  guards=("fed-adapter-tensors",)),
            allow("data", Kind.METRICS, max_bytes=64 * KiB, guards=("fed-numbers-only",)),
        ),
        f"The model party sends the global LoRA adapter ({spec.parameters} parameters) and "
        "round settings; each data party returns its trained adapter (same names and shapes) "
        "and numbers (record count, losses, test utility). No text or records cross.",
    )


def guard_context(spec: AdapterSpec) -> GuardContext:
    return GuardContext(extra={SPEC_KEY: spec})


# ---------------------------------------------------------------- conversions


def arrays_to_tensors(record: ArrayRecord) -> Tensors:
    """Flower arrays (NumPy .npy bytes, never pickle) as writable torch tensors."""
    return {name: torch.from_numpy(np.array(array.numpy(), copy=True))
            for name, array in record.items()}


def tensors_to_arrays(tensors: Mapping[str, torch.Tensor]) -> ArrayRecord:
    return ArrayRecord.from_torch_state_dict(dict(tensors))


def _only(records: Mapping[str, R], what: str) -> tuple[str, R]:
    if len(records) != 1:
        raise ValueError(f"expected exactly one {what}, found {len(records)}")
    return next(iter(records.items()))


# ---------------------------------------------------------------- the grid


@dataclass
class PartyLink:
    """The model party's end of its boundary with one data party."""

    name: str
    boundary: Boundary
    transcript: Transcript
    train_examples: int

    def crossed(self) -> int:
        return sum(self.boundary.bytes_by_kind.values())


@dataclass
class Ledger:
    """What the grid saw, by round (0: registration and the initial evaluation)."""

    bytes: Counter[tuple[int, str, str]] = field(default_factory=Counter)  # (round, party, dir)
    train: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    evaluate: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    dropped: list[dict[str, Any]] = field(default_factory=list)

    def bytes_in_round(self, rnd: int) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (r, party, direction), n in sorted(self.bytes.items()):
            if r == rnd:
                out.setdefault(party, {"down": 0, "up": 0})[direction] += n
        return out


@dataclass
class _Sent:
    party: str
    op: str
    round: int
    start: Tensors  # the global adapter that went down (a train update starts from it)


class BoundaryGrid(Grid):
    """A Flower ``Grid`` whose every message crosses a per-party crossbound boundary.

    ``identify`` must run first (it learns which data party each node is). Strategies use
    ``send_and_receive`` as with any grid; replies that the contract refuses or that fail
    validation are dropped from what it returns and listed in ``ledger.dropped``.
    """

    def __init__(self, inner: Grid, folder: Path, spec: AdapterSpec, *,
                 keep_payloads: bool = True, max_update_norm: float | None = None,
                 poll_seconds: float = 0.1) -> None:
        self.inner = inner
        self.folder = folder
        self.spec = spec
        self.contract = fed_adapter_contract(spec)
        self.keep_payloads = keep_payloads
        self.max_update_norm = max_update_norm
        self.poll_seconds = poll_seconds
        self.links: dict[str, PartyLink] = {}
        self.nodes: dict[int, str] = {}  # Flower node id -> party name
        self.ledger = Ledger()
        self._sent: dict[str, _Sent] = {}  # Flower message id -> what went out

    # -- delegated --------------------------------------------------------

    def set_run(self, run: Run) -> None:
        self.inner.set_run(run)

    @property
    def run(self) -> Run:
        return self.inner.run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> FlowerMessage:
        return FlowerMessage(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.nodes) if self.nodes else self.inner.get_node_ids()

    def get_nodes(self) -> Iterable[NodeInfo]:
        return (NodeInfo(node_id=node_id) for node_id in self.get_node_ids())

    # -- registration -----------------------------------------------------

    def identify(self, parties: int, timeout: float = 300.0) -> None:
        """Wait for ``parties`` nodes and learn which data party each one is."""
        deadline = time.monotonic() + timeout
        while len(ids := sorted(self.inner.get_node_ids())) < parties:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(ids)} of {parties} data parties connected "
                                   f"within {timeout:.0f} s")
            time.sleep(self.poll_seconds)
        if len(ids) != parties:
            raise RuntimeError(f"{len(ids)} nodes connected, but the task has {parties} "
                               "data parties")
        payload: dict[str, Any] = {"op": HELLO}
        # The receiver is unknown until the node answers: check the request (role, kind,
        # content) before it goes out, record it once the node has named itself.
        probe = Message(Kind.METRICS, MODEL_PARTY, "data-party-unidentified", payload)
        self.contract.check(probe, guard_context(self.spec), wire_bytes=len(encode(probe)))
        requests = [FlowerMessage(RecordDict({"config": ConfigRecord(payload)}), node,
                                  MessageType.QUERY) for node in ids]
        replies = list(self.inner.send_and_receive(requests, timeout=timeout))
        if len(replies) != parties:
            raise RuntimeError(f"{len(replies)} of {parties} data parties answered hello")
        for reply in replies:
            self._register(reply, parties, payload)

    def _register(self, reply: FlowerMessage, parties: int, hello: dict[str, Any]) -> None:
        node = reply.metadata.src_node_id
        if reply.has_error():
            raise RuntimeError(f"node {node} failed to register: {reply.error.reason}")
        _, record = _only(reply.content.config_records, "ConfigRecord")
        answer = dict(record)
        party, examples = answer.get("party"), answer.get("train-examples")
        if not isinstance(party, str) or (match := PARTY_NAME.match(party)) is None \
                or int(match.group(1)) >= parties:
            raise RuntimeError(f"node {node} named itself {party!r}, not data-party-0 … "
                               f"data-party-{parties - 1}")
        if party in self.links:
            raise RuntimeError(f"two nodes both claim to be {party}")
        if not isinstance(examples, int) or isinstance(examples, bool) or examples < 1:
            raise RuntimeError(f"{party} reported {examples!r} training records")
        transcript = Transcript(self.folder / f"{party}.jsonl", keep_payloads=self.keep_payloads)
        boundary = Boundary(transcript, contract=self.contract)
        boundary.guard_contexts = {MODEL_PARTY: guard_context(self.spec),
                                   party: guard_context(self.spec)}
        link = PartyLink(party, boundary, transcript, examples)
        self.links[party] = link
        self.nodes[node] = party
        self._cross(party, 0, "down", Message(Kind.METRICS, MODEL_PARTY, party, hello))
        self._cross(party, 0, "up", Message(Kind.METRICS, party, MODEL_PARTY, answer,
                                            {"op": HELLO}))

    # -- traffic ----------------------------------------------------------

    def push_messages(self, messages: Iterable[FlowerMessage]) -> Iterable[str]:
        ids: list[str] = []
        for message in messages:
            sent = self._outgoing(message)
            for message_id in self.inner.push_messages([message]):
                self._sent[message_id] = sent
                ids.append(message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[FlowerMessage]:
        return self._pull(set(message_ids))[0]

    def send_and_receive(self, messages: Iterable[FlowerMessage], *,
                         timeout: float | None = None) -> Iterable[FlowerMessage]:
        pending = set(self.push_messages(messages))
        end = None if timeout is None else time.monotonic() + timeout
        accepted: list[FlowerMessage] = []
        while pending:
            replies, answered = self._pull(pending)
            accepted.extend(replies)
            pending -= answered
            if not pending or (end is not None and time.monotonic() >= end):
                break
            time.sleep(self.poll_seconds)
        for message_id in pending:  # no reply in time
            sent = self._sent.pop(message_id)
            self._drop(sent, f"no reply within {timeout} s", "timeout")
        return accepted

    def close(self) -> None:
        for link in self.links.values():
            link.transcript.close()

    # -- one message ------------------------------------------------------

    def _cross(self, party: str, rnd: int, direction: str, message: Message) -> Message:
        link = self.links[party]
        before = link.crossed()
        copy = link.boundary.cross(message)  # ContractViolation: neither recorded nor sent
        self.ledger.bytes[(rnd, party, direction)] += link.crossed() - before
        return copy

    def _outgoing(self, message: FlowerMessage) -> _Sent:
        node = message.metadata.dst_node_id
        party = self.nodes.get(node)
        if party is None:
            raise ValueError(f"node {node} has not registered (call identify first)")
        op = message.metadata.message_type
        if op not in (MessageType.TRAIN, MessageType.EVALUATE):
            raise ValueError(f"fed-adapter sends train and evaluate messages, not {op!r}")
        content = message.content
        if len(content.metric_records):
            raise ValueError("the model party sends no metric records")
        arrays_key, arrays = _only(content.array_records, "ArrayRecord")
        config_key, config = _only(content.config_records, "ConfigRecord")
        rnd = int(config.get("server-round", 0))  # type: ignore[arg-type]
        meta = {"artifact": GLOBAL_ADAPTER, "op": op, "round": rnd, "config": dict(config)}
        crossed = self._cross(party, rnd, "down", Message(
            Kind.TENSORS, MODEL_PARTY, party, arrays_to_tensors(arrays), meta))
        message.content = RecordDict({arrays_key: tensors_to_arrays(crossed.payload),
                                      config_key: ConfigRecord(crossed.meta["config"])})
        return _Sent(party, op, rnd, crossed.payload)

    def _pull(self, pending: set[str]) -> tuple[list[FlowerMessage], set[str]]:
        accepted: list[FlowerMessage] = []
        answered: set[str] = set()
        for reply in self.inner.pull_messages(pending):
            message_id = reply.metadata.reply_to_message_id
            answered.add(message_id)
            sent = self._sent.pop(message_id, None)
            if sent is not None and self._incoming(reply, sent):
                accepted.append(reply)
        return accepted, answered

    def _incoming(self, reply: FlowerMessage, sent: _Sent) -> bool:
        """Cross, validate and rebuild one reply; False: dropped (and reported)."""
        meta = {"op": sent.op, "round": sent.round}
        if reply.has_error():
            reason = str(reply.error.reason or "")[:1000]
            # The error text crosses too, as metrics, and is recorded (if the contract
            # lets it: a reason too long or odd is refused, and the drop still reported).
            with suppress(ContractViolation, MessageError, ValueError):
                self._cross(sent.party, sent.round, "up", Message(
                    Kind.METRICS, sent.party, MODEL_PARTY,
                    {"error": reason, "error-code": int(reply.error.code)}, meta))
            self._drop(sent, f"the data party failed: {reason}", "error")
            return False
        expected = TRAIN_METRICS if sent.op == MessageType.TRAIN else EVAL_METRICS
        try:
            metrics_key, metrics = _only(reply.content.metric_records, "MetricRecord")
            if set(metrics) != set(expected):
                raise ValueError(f"metrics {sorted(metrics)} are not {sorted(expected)}")
            update: Message | None = None
            if sent.op == MessageType.TRAIN:
                arrays_key, arrays = _only(reply.content.array_records, "ArrayRecord")
                update = self._cross(sent.party, sent.round, "up", Message(
                    Kind.TENSORS, sent.party, MODEL_PARTY, arrays_to_tensors(arrays),
                    {"artifact": ADAPTER_UPDATE, **meta}))
            numbers = self._cross(sent.party, sent.round, "up", Message(
                Kind.METRICS, sent.party, MODEL_PARTY, dict(metrics), meta)).payload
        except (ContractViolation, MessageError, ValueError, TypeError) as exc:
            self._drop(sent, f"refused at the boundary: {exc}", "refused")
            return False
        if update is None:
            problem = self._check_evaluation(numbers)
            if problem is None:
                reply.content = RecordDict({metrics_key: MetricRecord(numbers)})
                self.ledger.evaluate.setdefault(sent.round, {})[sent.party] = numbers
        else:
            problem, norm = self._check_update(sent, update.payload, numbers)
            if problem is None:
                reply.content = RecordDict({arrays_key: tensors_to_arrays(update.payload),
                                            metrics_key: MetricRecord(numbers)})
                self.ledger.train.setdefault(sent.round, {})[sent.party] = {
                    **numbers, "update-norm": norm}
        if problem is not None:
            self._drop(sent, problem, "invalid")
            return False
        return True

    def _check_update(self, sent: _Sent, update: Tensors,
                      numbers: dict[str, Any]) -> tuple[str | None, float]:
        problem = non_finite(update)
        if problem is not None:
            return f"non-finite update: {problem}", math.nan
        count = numbers.get("num-examples")
        limit = self.links[sent.party].train_examples
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= limit:
            return (f"num-examples = {count!r} is not between 1 and the {limit} records the "
                    "party registered with"), math.nan
        norm = distance(update, sent.start)
        if self.max_update_norm is not None and norm > self.max_update_norm:
            return (f"the update is {norm:.4g} from the global adapter, more than "
                    f"max_update_norm = {self.max_update_norm}"), norm
        return None, norm

    @staticmethod
    def _check_evaluation(numbers: dict[str, Any]) -> str | None:
        count, utility = numbers.get("num-examples"), numbers.get("utility")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return f"num-examples = {count!r} is not a count"
        if not isinstance(utility, int | float) or not 0 <= utility <= 1:
            return f"utility = {utility!r} is not in [0, 1]"
        return None

    def _drop(self, sent: _Sent, reason: str, why: str) -> None:
        self.ledger.dropped.append({"round": sent.round, "party": sent.party, "op": sent.op,
                                    "why": why, "reason": reason})
