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
party's transcript once the node has named itself. Before each round, nodes that connected
since are asked too (:meth:`BoundaryGrid.refresh`): a data party whose SuperNode restarted
comes back under a new node id, into the same transcript. With secure aggregation, train
messages are SecAgg+ protocol messages and cross as such (:mod:`~.secagg`).

The contract and the Flower ⇄ torch conversions live in :mod:`~.contract`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, MessageType, MetricRecord, RecordDict
from flwr.app import Message as FlowerMessage
from flwr.proto.node_pb2 import NodeInfo
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import MODEL_PARTY, ContractViolation, GuardContext
from crossbound.boundary.messages import Kind, Message, MessageError, encode
from crossbound.boundary.transcript import Transcript
from crossbound.federation.adapter import AdapterSpec, Tensors, distance, non_finite
from crossbound.federation.config import PARTY_NAME
from crossbound.federation.contract import (
    ADAPTER_UPDATE,
    EVAL_METRICS,
    GLOBAL_ADAPTER,
    HELLO,
    TRAIN_METRICS,
    arrays_to_tensors,
    fed_adapter_contract,
    guard_context,
    single,
    tensors_to_arrays,
)
from crossbound.federation.offsite_plus import cross_ack_up, cross_bundle_down
from crossbound.federation.secagg import cross_down, cross_up, stage_of
from crossbound.naming import data_party

__all__ = [  # the contract's names are re-exported: callers import them from here too
    "ADAPTER_UPDATE", "EVAL_METRICS", "GLOBAL_ADAPTER", "HELLO", "TRAIN_METRICS",
    "BoundaryGrid", "Ledger", "PartyLink", "arrays_to_tensors", "fed_adapter_contract",
    "guard_context", "tensors_to_arrays",
]

HELLO_ASK: dict[str, Any] = {"op": HELLO}
CONFLICT = "two connected nodes both claim to be"
NODE_UNAVAILABLE = 5  # flwr.common.constant.ErrorCode: the SuperLink lost the node


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
    secure: dict[int, dict[str, Any]] = field(default_factory=dict)  # round -> SecAgg+ facts
    dp: dict[int, dict[str, Any]] = field(default_factory=dict)  # round -> DP step (see .dp)

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
    stage: str | None = None  # the SecAgg+ stage of a secure train message


class BoundaryGrid(Grid):
    """A Flower ``Grid`` whose every message crosses a per-party crossbound boundary.

    ``identify`` must run first (it learns which data party each node is). Strategies use
    ``send_and_receive`` as with any grid; replies that the contract refuses or that fail
    validation are dropped from what it returns and listed in ``ledger.dropped``.
    """

    def __init__(self, inner: Grid, folder: Path, spec: AdapterSpec, *,
                 keep_payloads: bool = True, max_update_norm: float | None = None,
                 poll_seconds: float = 0.1, secure: bool = False,
                 bundle_bytes: int | None = None) -> None:
        self.inner = inner
        self.folder = folder
        self.spec = spec
        self.secure = secure
        self.contract = fed_adapter_contract(spec, secure, bundle_bytes)
        self.keep_payloads = keep_payloads
        self.max_update_norm = max_update_norm
        self.poll_seconds = poll_seconds
        self.links: dict[str, PartyLink] = {}
        self.nodes: dict[int, str] = {}  # Flower node id -> party name
        self.ledger = Ledger()
        self.parties = 0  # how many data parties the task has (set by identify)
        self._sent: dict[str, _Sent] = {}  # Flower message id -> what went out
        self._refused: set[int] = set()  # nodes that failed to register after round 0
        self.equipped: set[int] = set()  # OT+: nodes that stored the emulator

    # -- delegated --------------------------------------------------------

    def set_run(self, run: Run) -> None:
        self.inner.set_run(run)

    @property
    def run(self) -> Run:
        return self.inner.run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> FlowerMessage:
        return FlowerMessage(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def guard(self) -> GuardContext:
        """What the contract's guards check a message against (both directions)."""
        return guard_context(self.spec)

    def get_node_ids(self) -> Iterable[int]:
        """Before :meth:`identify`: every connected node; after: the registered ones that
        are connected now (a crashed SuperNode leaves this list; its party is offline)."""
        online = list(self.inner.get_node_ids())
        if not self.nodes:
            return online
        return [node for node in online if node in self.nodes]

    def get_nodes(self) -> Iterable[NodeInfo]:
        return (NodeInfo(node_id=node_id) for node_id in self.get_node_ids())

    def online_parties(self) -> list[str]:
        return sorted(self.nodes[node] for node in self.get_node_ids())

    def unreachable(self, rnd: int) -> set[str]:
        """Parties whose round-``rnd`` training request timed out or found their node gone:
        not asked again in that round (a hung SuperNode would only queue the request)."""
        return {d["party"] for d in self.ledger.dropped
                if d["round"] == rnd and d["why"] in ("timeout", "offline")}

    # -- registration -----------------------------------------------------

    def identify(self, parties: int, timeout: float = 300.0) -> None:
        """Wait for ``parties`` nodes and learn which data party each one is."""
        self.parties = parties
        deadline = time.monotonic() + timeout
        while len(ids := sorted(self.inner.get_node_ids())) < parties:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(ids)} of {parties} data parties connected "
                                   f"within {timeout:.0f} s")
            time.sleep(self.poll_seconds)
        if len(ids) != parties:
            raise RuntimeError(f"{len(ids)} nodes connected, but the task has {parties} "
                               "data parties")
        replies = self._hello(ids, timeout)
        if len(replies) != parties:
            raise RuntimeError(f"{len(replies)} of {parties} data parties answered hello")
        for reply in replies:
            problem = self._register(reply, 0)
            if problem is not None:
                raise RuntimeError(problem)

    def refresh(self, rnd: int, timeout: float) -> list[str]:
        """Admit nodes that connected since the last round (a data party that restarted
        comes back under a new node id and is used again); return the parties that are
        online now. A node that names a party that is still connected, or no party of the
        task, is refused (reported in ``ledger.dropped``); it is asked again next round only
        if it named a party whose old node may yet turn out to be gone (the SuperLink notices a
        dead SuperNode only after it misses its heartbeats)."""
        fresh = sorted(set(self.inner.get_node_ids()) - set(self.nodes) - self._refused)
        if fresh:
            for reply in self._hello(fresh, timeout):
                problem = self._register(reply, rnd)
                if problem is not None:
                    if CONFLICT not in problem:
                        self._refused.add(reply.metadata.src_node_id)
                    self.ledger.dropped.append({
                        "round": rnd, "party": f"node-{reply.metadata.src_node_id}",
                        "op": MessageType.QUERY, "why": "refused", "reason": problem})
        return self.online_parties()

    def _hello(self, ids: list[int], timeout: float) -> list[FlowerMessage]:
        # The receiver is unknown until the node answers: check the request (role, kind,
        # content) before it goes out, record it once the node has named itself.
        probe = Message(Kind.METRICS, MODEL_PARTY, "data-party-unidentified", dict(HELLO_ASK))
        self.contract.check(probe, self.guard(), wire_bytes=len(encode(probe)))
        requests = [FlowerMessage(RecordDict({"config": ConfigRecord(dict(HELLO_ASK))}), node,
                                  MessageType.QUERY) for node in ids]
        return list(self.inner.send_and_receive(requests, timeout=timeout))

    def _register(self, reply: FlowerMessage, rnd: int) -> str | None:
        """Link the node that sent ``reply`` to the party it names; why not, or None."""
        node = reply.metadata.src_node_id
        if reply.has_error():
            return f"node {node} failed to register: {reply.error.reason}"
        _, record = single(reply.content.config_records, "ConfigRecord")
        answer = dict(record)
        party, examples = answer.get("party"), answer.get("train-examples")
        parties = self.parties
        if not isinstance(party, str) or (match := PARTY_NAME.match(party)) is None \
                or int(match.group(1)) >= parties:
            return (f"node {node} named itself {party!r}, not {data_party(0)} … "
                    f"{data_party(parties - 1)}")
        if not isinstance(examples, int) or isinstance(examples, bool) or examples < 1:
            return f"{party} reported {examples!r} training records"
        link = self.links.get(party)
        if link is None:
            transcript = Transcript(self.folder / f"{party}.jsonl",
                                    keep_payloads=self.keep_payloads)
            boundary = Boundary(transcript, contract=self.contract)
            boundary.guard_contexts = {MODEL_PARTY: self.guard(), party: self.guard()}
            link = PartyLink(party, boundary, transcript, examples)
            self.links[party] = link
        else:
            online = set(self.inner.get_node_ids())
            if any(p == party and n in online for n, p in self.nodes.items()):
                return f"{CONFLICT} {party} (node {node} came later)"
            if examples != link.train_examples:
                return (f"{party} came back with {examples} training records, not the "
                        f"{link.train_examples} it registered with")
            for old in [n for n, p in self.nodes.items() if p == party]:
                del self.nodes[old]  # the party's previous node is gone
        self.nodes[node] = party
        self.cross(party, rnd, "down", Message(Kind.METRICS, MODEL_PARTY, party,
                                                dict(HELLO_ASK)))
        self.cross(party, rnd, "up", Message(Kind.METRICS, party, MODEL_PARTY, answer,
                                              {"op": HELLO}))
        return None

    def note_absent(self, rnd: int, op: str, addressed: Iterable[int],
                    skipped: Iterable[str] = ()) -> None:
        """Report every registered party that a round's ``op`` messages do not reach:
        ``skipped`` ones on purpose, the others because their node is not connected."""
        reached = {self.nodes.get(node) for node in addressed}
        passed = set(skipped)
        for party in sorted(set(self.links) - reached):
            why, reason = ("skipped", "not asked: its training request this round timed out "
                           "or found it gone") if party in passed else \
                ("offline", "not connected when the round started")
            self.ledger.dropped.append({"round": rnd, "party": party, "op": op, "why": why,
                                        "reason": reason})

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

    def cross(self, party: str, rnd: int, direction: str, message: Message) -> Message:
        """Cross ``message`` at ``party``'s boundary (checked, counted, recorded); the
        copy that crossed. :class:`ContractViolation`: neither recorded nor sent."""
        link = self.links[party]
        before = link.crossed()
        copy = link.boundary.cross(message)  # ContractViolation: neither recorded nor sent
        self.ledger.bytes[(rnd, party, direction)] += link.crossed() - before
        return copy

    def party_of(self, message: FlowerMessage) -> str:
        """The registered data party ``message`` is addressed to."""
        node = message.metadata.dst_node_id
        party = self.nodes.get(node)
        if party is None:
            raise ValueError(f"node {node} has not registered (call identify first)")
        return party

    def _outgoing(self, message: FlowerMessage) -> _Sent:
        party = self.party_of(message)
        op = message.metadata.message_type
        if op == MessageType.QUERY:  # OT+: the emulated model, once per party
            rnd = cross_bundle_down(self, message, party)
            return _Sent(party, op, rnd, {})
        if op not in (MessageType.TRAIN, MessageType.EVALUATE):
            raise ValueError(f"fed-adapter sends train and evaluate messages, not {op!r}")
        if self.secure and op == MessageType.TRAIN:
            stage = stage_of(message)
            if stage is None:
                raise ValueError("secure aggregation: a train message must be a SecAgg+ one")
            rnd, start = cross_down(self, message, party, stage)
            return _Sent(party, op, rnd, start, stage)
        content = message.content
        if len(content.metric_records):
            raise ValueError("the model party sends no metric records")
        arrays_key, arrays = single(content.array_records, "ArrayRecord")
        config_key, config = single(content.config_records, "ConfigRecord")
        rnd = int(config.get("server-round", 0))  # type: ignore[arg-type]
        meta = {"artifact": GLOBAL_ADAPTER, "op": op, "round": rnd, "config": dict(config)}
        crossed = self.cross(party, rnd, "down", Message(
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
            reason = str(reply.error.reason or "")
            if len(reason) > 1000:  # a runtime's traceback: the cause is at its end
                reason = "…" + reason[-999:]
            # The error text crosses too, as metrics, and is recorded (if the contract
            # lets it: a reason too long or odd is refused, and the drop still reported).
            with suppress(ContractViolation, MessageError, ValueError):
                self.cross(sent.party, sent.round, "up", Message(
                    Kind.METRICS, sent.party, MODEL_PARTY,
                    {"error": reason, "error-code": int(reply.error.code)}, meta))
            gone = int(reply.error.code) == NODE_UNAVAILABLE
            self._drop(sent, f"the data party failed: {reason}", "offline" if gone else "error")
            return False
        if sent.stage is not None:
            return self._incoming_secure(reply, sent)
        return self._incoming_reply(reply, sent)

    def _incoming_reply(self, reply: FlowerMessage, sent: _Sent) -> bool:
        """A reply without error: cross, validate and rebuild it; False: dropped."""
        meta = {"op": sent.op, "round": sent.round}
        if sent.op == MessageType.QUERY:
            return cross_ack_up(self, reply, sent)
        expected = TRAIN_METRICS if sent.op == MessageType.TRAIN else EVAL_METRICS
        try:
            metrics_key, metrics = single(reply.content.metric_records, "MetricRecord")
            if set(metrics) != set(expected):
                raise ValueError(f"metrics {sorted(metrics)} are not {sorted(expected)}")
            update: Message | None = None
            if sent.op == MessageType.TRAIN:
                arrays_key, arrays = single(reply.content.array_records, "ArrayRecord")
                update = self.cross(sent.party, sent.round, "up", Message(
                    Kind.TENSORS, sent.party, MODEL_PARTY, arrays_to_tensors(arrays),
                    {"artifact": ADAPTER_UPDATE, **meta}))
            numbers = self.cross(sent.party, sent.round, "up", Message(
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

    def _incoming_secure(self, reply: FlowerMessage, sent: _Sent) -> bool:
        """A SecAgg+ reply: cross and rebuild it; a masked update's record count is checked
        (its values cannot be: they are masked)."""
        try:
            count, numbers = cross_up(self, reply, sent)
        except (ContractViolation, MessageError, ValueError, TypeError, KeyError) as exc:
            self._drop(sent, f"refused at the boundary: {exc}", "refused")
            return False
        if numbers is None:
            return True
        limit = self.links[sent.party].train_examples
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= limit:
            self._drop(sent, f"num-examples = {count!r} is not between 1 and the {limit} "
                             "records the party registered with", "invalid")
            return False
        self.ledger.train.setdefault(sent.round, {})[sent.party] = {
            **numbers, "update-norm": None}  # masked: the model party cannot measure it
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

    def missing(self, rnd: int) -> dict[str, str]:
        """Registered parties whose training update round ``rnd`` did not aggregate, with
        why (offline, error, timeout, refused, invalid)."""
        why: dict[str, str] = {}
        for drop in self.ledger.dropped:
            if drop["round"] == rnd and drop["op"] == MessageType.TRAIN \
                    and drop["party"] in self.links:
                why.setdefault(drop["party"], drop["why"])
        trained = self.ledger.train.get(rnd, {})
        return {party: why.get(party, "offline") for party in sorted(self.links)
                if party not in trained}
