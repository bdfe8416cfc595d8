"""The model party of ``fed-mutual-kt`` (FedMKT, arXiv:2406.02224) as a Flower ServerApp.

Every round: the LM (round 1: as it is; later: its LoRA copy tuned in the rounds before)
scores the public transfer texts and its top-k goes down to every online data party; each
party trains its own SM on it and on its records, and sends its SM's top-k on the same texts
back (:mod:`crossbound.federation.mutual_client`); the model party combines the parties'
knowledge (:func:`~crossbound.federation.knowledge.combine_knowledge`) and distils it into
the LM's LoRA copy (:class:`~crossbound.parties.upward.UpwardOwner`). Then the LM is scored on
the test split here, and each SM by its party. Registration, per-party transcripts, quorum
and drop-outs are :class:`~crossbound.federation.crossing.BoundaryGrid`'s, as in
``fed-adapter``; only what crosses differs (:class:`KnowledgeGrid`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, MessageType, RecordDict
from flwr.app import Message as FlowerMessage
from flwr.serverapp import Grid

from crossbound.boundary.contracts import MODEL_PARTY, ContractViolation
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.evaluate.utility import evaluate_model, headline
from crossbound.federation.adapter import AdapterSpec
from crossbound.federation.contract import arrays_to_tensors, single, tensors_to_arrays
from crossbound.federation.crossing import BoundaryGrid, _Sent
from crossbound.federation.knowledge import (
    CODEC_KEY,
    EVAL_METRICS,
    LM_KNOWLEDGE,
    SM_KNOWLEDGE,
    TRAIN_METRICS,
    PublicRows,
    codec_json,
    codec_meta,
    combine_knowledge,
    fed_mutual_kt_contract,
    knowledge_guard,
    knowledge_limit,
)
from crossbound.federation.mutual_config import FedMutualKTConfig
from crossbound.federation.server import (
    REGISTER_TIMEOUT,
    RoundReport,
    ServerState,
    _await_quorum,
    check_quorum,
    run_on,
)
from crossbound.models.loading import LoadedModel, load_tokenizer
from crossbound.parties.upward import UpwardOwner
from crossbound.tasks.base import Task
from crossbound.tasks.public_text import public_text
from crossbound.training.distill import TransferRow
from crossbound.training.topk_transfer import (
    local_topk,
    same_tokenizer_rows,
    transfer_payload,
    transfer_rows_from,
)
from crossbound.upward.mutual_kt import public_transfer, tokenize_side

FEDERATION = "federation"  # the UpwardOwner session that holds the federation's tuned LM


@dataclass
class LMSide:
    """The model party's view of the public transfer texts."""

    ids: list[list[int]]
    public: PublicRows
    vocab: int

    def max_bytes_for(self, k: int) -> int:
        return knowledge_limit(len(self.ids), max(len(r) for r in self.ids), k)


def lm_side(config: FedMutualKTConfig, task: Task, lm: LoadedModel) -> LMSide:
    vocab = int(lm.model.config.vocab_size)
    if len(lm.tokenizer) != vocab:
        raise ValueError(f"{config.large}: its tokenizer has {len(lm.tokenizer)} tokens but "
                         f"the model {vocab} outputs; fed-mutual-kt needs them to agree (the "
                         "data parties know only the tokenizer)")
    # Every party resolves the same public text (the task's, else the built-in fallback).
    texts, _ = public_transfer(task, public_text(task, config.transfer_limit).examples)
    side = tokenize_side(lm.tokenizer, texts, config.max_length)
    return LMSide(side.ids, PublicRows(tuple(tuple(r) for r in side.ids)), vocab)


# ---------------------------------------------------------------- the grid


class KnowledgeGrid(BoundaryGrid):
    """A :class:`BoundaryGrid` for ``fed-mutual-kt``: knowledge rows and numbers cross; the
    parties' decoded rows of round r are kept in ``knowledge[r]``."""

    def __init__(self, inner: Grid, folder: Path, side: LMSide, top_k: int, *,
                 keep_payloads: bool = True, poll_seconds: float = 0.1) -> None:
        super().__init__(inner, folder, AdapterSpec({}), keep_payloads=keep_payloads,
                         poll_seconds=poll_seconds)
        self.side = side
        self.contract = fed_mutual_kt_contract(side.max_bytes_for(top_k))
        self.knowledge: dict[int, dict[str, list[TransferRow]]] = {}

    def guard(self) -> Any:
        return knowledge_guard(self.side.public)

    def _outgoing(self, message: FlowerMessage) -> _Sent:
        party = self.party_of(message)
        op = message.metadata.message_type
        content = message.content
        config_key, config = single(content.config_records, "ConfigRecord")
        rnd = int(config.get("server-round", 0))  # type: ignore[arg-type]
        if op == MessageType.TRAIN:
            arrays_key, arrays = single(content.array_records, "ArrayRecord")
            crossed = self.cross(party, rnd, "down", Message(
                Kind.TENSORS, MODEL_PARTY, party, arrays_to_tensors(arrays),
                {"artifact": LM_KNOWLEDGE, "op": op, "round": rnd, "config": dict(config)}))
            message.content = RecordDict({arrays_key: tensors_to_arrays(crossed.payload),
                                          config_key: ConfigRecord(crossed.meta["config"])})
        elif op == MessageType.EVALUATE:
            if len(content.array_records) or len(content.metric_records):
                raise ValueError("an evaluate request of fed-mutual-kt carries settings only")
            crossed = self.cross(party, rnd, "down", Message(
                Kind.METRICS, MODEL_PARTY, party, dict(config), {"op": op, "round": rnd}))
            message.content = RecordDict({config_key: ConfigRecord(crossed.payload)})
        else:
            raise ValueError(f"fed-mutual-kt sends train and evaluate messages, not {op!r}")
        return _Sent(party, op, rnd, {})

    def _incoming_reply(self, reply: FlowerMessage, sent: _Sent) -> bool:
        meta: dict[str, Any] = {"op": sent.op, "round": sent.round}
        train = sent.op == MessageType.TRAIN
        expected = TRAIN_METRICS if train else EVAL_METRICS
        content = reply.content
        try:
            _, metrics = single(content.metric_records, "MetricRecord")
            if set(metrics) != set(expected):
                raise ValueError(f"metrics {sorted(metrics)} are not {sorted(expected)}")
            crossed = None
            if train:
                _, arrays = single(content.array_records, "ArrayRecord")
                _, settings = single(content.config_records, "ConfigRecord")
                codec = codec_meta(settings.get(CODEC_KEY))
                crossed = self.cross(sent.party, sent.round, "up", Message(
                    Kind.TENSORS, sent.party, MODEL_PARTY, arrays_to_tensors(arrays),
                    {"artifact": SM_KNOWLEDGE, **meta, "codec": codec}))
            numbers = self.cross(sent.party, sent.round, "up", Message(
                Kind.METRICS, sent.party, MODEL_PARTY, dict(metrics), meta)).payload
        except (ContractViolation, MessageError, ValueError, TypeError) as exc:
            self._drop(sent, f"refused at the boundary: {exc}", "refused")
            return False
        if not train:
            problem = self._check_evaluation(numbers)
            if problem is not None:
                self._drop(sent, problem, "invalid")
                return False
            self.ledger.evaluate.setdefault(sent.round, {})[sent.party] = numbers
            return True
        assert crossed is not None
        count, limit = numbers.get("num-examples"), self.links[sent.party].train_examples
        try:
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= limit:
                raise ValueError(f"num-examples = {count!r} is not between 1 and the {limit} "
                                 "records the party registered with")
            rows = transfer_rows_from(crossed.payload, crossed.meta["codec"], self.side.vocab)
        except (MessageError, ValueError) as exc:
            self._drop(sent, f"invalid knowledge: {exc}", "invalid")
            return False
        self.knowledge.setdefault(sent.round, {})[sent.party] = rows
        self.ledger.train.setdefault(sent.round, {})[sent.party] = numbers
        return True


# ---------------------------------------------------------------- the rounds


@dataclass
class MutualState(ServerState):
    owner: Any = None  # the UpwardOwner holding the federation's tuned LM


def serve_mutual(config: FedMutualKTConfig, task: Task, lm: LoadedModel, folder: Path,
                 state: MutualState, grid: Grid,
                 on_round: Callable[[RoundReport], None] | None) -> None:
    side = lm_side(config, task, lm)
    knowledge_grid = KnowledgeGrid(grid, folder, side, config.top_k,
                                   keep_payloads=config.keep_payloads)
    run_on(knowledge_grid, state, lambda: drive_mutual(config, task, lm, side, knowledge_grid,
                                                       state, on_round))


def drive_mutual(config: FedMutualKTConfig, task: Task, lm: LoadedModel, side: LMSide,
                 grid: KnowledgeGrid, state: MutualState,
                 on_round: Callable[[RoundReport], None] | None) -> None:
    """Registration, the initial scores, then ``config.rounds`` rounds of FedMKT."""
    started = time.perf_counter()
    owner = UpwardOwner(lm)
    state.owner = owner
    grid.identify(len(task.parties), timeout=REGISTER_TIMEOUT)
    clock = [started]
    model = lm.model
    facts: dict[str, Any] = {}
    if config.evaluate_initial:
        facts["lm"] = _score_lm(config, task, model)
        _ask(config, grid, MessageType.EVALUATE, 0)
    _report(grid, state, clock, 0, facts, on_round)
    for rnd in range(1, config.rounds + 1):
        _await_quorum(config, grid, rnd)
        began = time.perf_counter()
        rows = same_tokenizer_rows(local_topk(model, side.ids, config.top_k, config.batch_size))
        payload, codec = transfer_payload(rows, config.value_bits, side.vocab)
        topk_seconds = time.perf_counter() - began
        _ask(config, grid, MessageType.TRAIN, rnd, {
            "knowledge": tensors_to_arrays(payload),
            "config": ConfigRecord({"server-round": rnd,
                                    CODEC_KEY: codec_json(codec.to_meta())})})
        got = grid.knowledge.get(rnd, {})
        check_quorum(config, grid, rnd, len(got))
        combined, chosen = combine_knowledge(got, config.combine)
        began = time.perf_counter()
        reply = owner.distill_rows(FEDERATION, combined, {
            "epochs": config.lm_epochs, "lr": config.lm_lr, "lora_rank": config.lm_lora_rank,
            "batch_size": config.batch_size, "max_length": config.max_length,
            "temperature": config.temperature, "seed": config.seed, "reset": rnd == 1})
        distill_seconds = time.perf_counter() - began
        model = owner.model(FEDERATION)
        facts = {"lm": _score_lm(config, task, model), "rows_distilled": len(combined),
                 "chosen": chosen, "lm_loss_first": reply.payload["loss_first"],
                 "lm_loss_last": reply.payload["loss_last"], "lm_steps": reply.payload["steps"],
                 "model_party_seconds": {"lm_topk": round(topk_seconds, 3),
                                         "lm_distill": round(distill_seconds, 3)}}
        _ask(config, grid, MessageType.EVALUATE, rnd)
        _report(grid, state, clock, rnd, facts, on_round)


def _ask(config: FedMutualKTConfig, grid: KnowledgeGrid, op: str, rnd: int,
         records: dict[str, Any] | None = None) -> None:
    """Send ``op`` with ``records`` to every online party (an evaluate request carries the
    round only, and goes to those whose training request this round did not time out or
    find them gone) and wait for the replies."""
    skip = grid.unreachable(rnd) if op == MessageType.EVALUATE else set()
    nodes = [node for node in grid.get_node_ids() if grid.nodes[node] not in skip]
    grid.note_absent(rnd, op, nodes, skip)
    if records is None:
        records = {"config": ConfigRecord({"server-round": rnd})}
    messages = [FlowerMessage(RecordDict(dict(records)), node, op) for node in nodes]
    if messages:
        grid.send_and_receive(messages, timeout=config.round_timeout)


def _score_lm(config: FedMutualKTConfig, task: Task, model: Any) -> float:
    """The LM's utility on the first ``eval_limit`` test records (measured by the model
    party itself: the test split is a benchmark both sides know, not training data)."""
    examples = task.test if config.eval_limit is None else task.test[: config.eval_limit]
    scores = evaluate_model(model, load_tokenizer(config.large), task, examples,
                            config.batch_size)
    return float(headline(scores, task))


def _report(grid: KnowledgeGrid, state: MutualState, clock: list[float], rnd: int,
            facts: dict[str, Any], on_round: Callable[[RoundReport], None] | None) -> None:
    now = time.perf_counter()
    ledger = grid.ledger
    evaluations = ledger.evaluate.get(rnd, {})
    sms = {party: float(m["utility"]) for party, m in sorted(evaluations.items())}
    facts = {**facts, "sm": sms,
             "sm_mean": round(sum(sms.values()) / len(sms), 4) if sms else None}
    seen = sum(len(r.dropped) for r in state.rounds)
    entry = RoundReport(rnd, facts.get("lm"), _eval_count(evaluations), now - clock[0],
                        ledger.bytes_in_round(rnd), ledger.train.get(rnd, {}), evaluations,
                        ledger.dropped[seen:], len(grid.knowledge.get(rnd, {})),
                        grid.missing(rnd) if rnd > 0 else {}, None, facts)
    clock[0] = now
    state.rounds.append(entry)
    if on_round is not None:
        on_round(entry)


def _eval_count(evaluations: dict[str, dict[str, Any]]) -> int:
    counts = {int(m["num-examples"]) for m in evaluations.values()}
    return max(counts) if counts else 0

