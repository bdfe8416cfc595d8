"""The data party of ``fed-mutual-kt`` as Flower ClientApp handlers.

Each data party keeps its own SM across rounds: its LoRA weights live in the node's Flower
``context.state`` (kept by the simulation runtime and by a SuperNode between messages, never
sent), so a party that restarts its SuperNode starts again from the base SM — and says so
(``sm-rounds`` in its train metrics). A train message brings the LM's top-k on the public
texts; the party checks it against the contract, moves it onto its SM's tokens, trains its
SM on ``kd_weight``·KD + (1 − ``kd_weight``)·CE(own records), scores the public texts with
the tuned SM and sends that top-k back on the LM's tokens. An evaluate message asks for its
SM's score on the first ``eval_limit`` test records. The handlers are :data:`DATA_PARTY`,
which :mod:`crossbound.federation.strategies` registers for ``fed-mutual-kt``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord, RecordDict
from flwr.app import Message as FlowerMessage

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message
from crossbound.evaluate.utility import evaluate_model, headline
from crossbound.federation.adapter import AdaptedModel, adapter_tensors, build_adapted, load_adapter
from crossbound.federation.contract import arrays_to_tensors, single, tensors_to_arrays
from crossbound.federation.data_party import (
    DataPartyHandlers,
    misbehave,
    party_of,
    register,
    task_of,
)
from crossbound.federation.knowledge import (
    CODEC_KEY,
    LM_KNOWLEDGE,
    SM_KNOWLEDGE,
    PublicRows,
    codec_json,
    codec_meta,
    fed_mutual_kt_contract,
    knowledge_guard,
    knowledge_limit,
)
from crossbound.federation.mutual_config import FedMutualKTConfig
from crossbound.models.loading import load_tokenizer
from crossbound.naming import data_party
from crossbound.tasks.public_text import public_text
from crossbound.training.distill import KDSettings, TransferRow, distill_finetune
from crossbound.training.topk_transfer import (
    TopkReply,
    local_topk,
    same_vocabulary,
    transfer_payload,
    transfer_rows_from,
)
from crossbound.upward.mutual_kt import (
    answer_positions,
    public_transfer,
    student_rows,
    tokenize_side,
)

STATE_ARRAYS = "crossbound-sm-adapter"  # context.state: this party's SM LoRA weights
STATE_CONFIG = "crossbound-sm-state"  # context.state: {"rounds": rounds trained}

_MODELS: dict[tuple[str, int, int, int], tuple[AdaptedModel, dict[str, torch.Tensor]]] = {}
_TRANSFERS: dict[tuple[str, str, str, int | None, int], Transfer] = {}


@dataclass
class Transfer:
    """The public transfer texts on both tokenizers (all public: any party may compute it)."""

    texts: list[str]
    answer_at: list[int]
    lm: Any  # TokenSide of the LM's tokenizer
    sm: Any  # TokenSide of the SM's tokenizer
    same: bool  # SM and LM tokenise alike
    lm_vocab: int
    public: PublicRows

    def max_bytes(self, k: int) -> int:
        return knowledge_limit(len(self.texts), max(len(r) for r in self.lm.ids), k)


def transfer_set(config: FedMutualKTConfig, sm_tokenizer: Any, small: str) -> Transfer:
    """The public transfer texts of ``config.task`` on the LM's and ``small``'s tokenizers."""
    key = (config.task, config.large, small, config.transfer_limit, config.max_length)
    if key not in _TRANSFERS:
        task = task_of(config.task)
        texts, answer_at = public_transfer(task,
                                           public_text(task, config.transfer_limit).examples)
        lm_tok = load_tokenizer(config.large)
        lm = tokenize_side(lm_tok, texts, config.max_length)
        sm = tokenize_side(sm_tokenizer, texts, config.max_length)
        _TRANSFERS[key] = Transfer(texts, answer_at, lm, sm, same_vocabulary(lm_tok, sm_tokenizer),
                                   len(lm_tok), PublicRows(tuple(tuple(r) for r in lm.ids)))
    return _TRANSFERS[key]


# ---------------------------------------------------------------- handlers


def handle_train(config: FedMutualKTConfig, message: FlowerMessage,
                 context: Context) -> FlowerMessage:
    """Learn from the LM's top-k and the party's own records; answer with the SM's top-k."""
    name, records = party_of(config, context)
    task = task_of(config.task)
    small = config.small_of(name)
    adapted, done = _restore(config, small, context)
    transfer = transfer_set(config, adapted.tokenizer, small)
    boundary = _boundary(config, transfer)
    settings = dict(single(message.content.config_records, "ConfigRecord")[1])
    rnd = int(settings.get("server-round", 0))  # type: ignore[arg-type]
    misbehave(config, name, rnd)
    arrays = single(message.content.array_records, "ArrayRecord")[1]
    incoming = boundary.cross(Message(  # this party's own check of what it received
        Kind.TENSORS, MODEL_PARTY, name, arrays_to_tensors(arrays),
        {"artifact": LM_KNOWLEDGE, "round": rnd}))
    lm_rows = transfer_rows_from(incoming.payload, codec_meta(settings.get(CODEC_KEY)),
                                 transfer.lm_vocab)
    replies = _replies(lm_rows, transfer)
    to_sm, _ = student_rows(transfer.texts, replies, transfer.lm, transfer.sm, transfer.same,
                            config.max_length)
    pairs = [(task.prompt(ex), task.answer(ex)) for ex in records]
    steps = max(1, math.ceil(config.local_epochs * len(pairs) / config.batch_size))
    index = int(name.rsplit("-", 1)[1])
    started = time.perf_counter()
    stats = distill_finetune(adapted.model, adapted.tokenizer, pairs, to_sm,
                             KDSettings(kd_weight=config.kd_weight,
                                        temperature=config.temperature),
                             steps=steps, lr=config.lr, batch_size=config.batch_size,
                             transfer_batch_size=config.batch_size,
                             max_length=config.max_length,
                             seed=config.seed * 100_003 + rnd * 1_009 + index)
    adapted.model.eval()
    mine = local_topk(adapted.model, transfer.sm.ids, config.top_k, config.batch_size)
    to_lm, _ = student_rows(transfer.texts, mine, transfer.sm, transfer.lm, transfer.same,
                            config.max_length)
    if config.lm_targets == "answer":
        to_lm = answer_positions(to_lm, transfer.lm, transfer.answer_at)
    if not to_lm:
        raise ValueError("no public text has a target position on the LM's tokens to send "
                         "(raise max_length, or set lm_targets = 'all')")
    seconds = time.perf_counter() - started
    _save(context, adapted, done + 1)
    payload, codec = transfer_payload(to_lm, config.value_bits, transfer.lm_vocab)
    metrics: dict[str, Any] = {
        "num-examples": len(pairs), "train-loss-first": float(stats.first_loss),
        "train-loss-last": float(stats.last_loss), "train-steps": int(stats.steps),
        "train-seconds": round(seconds, 4), "knowledge-rows": len(to_lm),
        "sm-rounds": done + 1}
    knowledge = boundary.cross(Message(Kind.TENSORS, name, MODEL_PARTY, payload,
                                       {"artifact": SM_KNOWLEDGE, "round": rnd}))
    boundary.cross(Message(Kind.METRICS, name, MODEL_PARTY, metrics, {"round": rnd}))
    return FlowerMessage(RecordDict({
        "knowledge": tensors_to_arrays(knowledge.payload), "metrics": MetricRecord(metrics),
        "config": ConfigRecord({CODEC_KEY: codec_json(codec.to_meta())})}), reply_to=message)


def handle_evaluate(config: FedMutualKTConfig, message: FlowerMessage,
                    context: Context) -> FlowerMessage:
    """Score this party's SM (as it is now) on the first ``eval_limit`` test records."""
    name, _ = party_of(config, context)
    task = task_of(config.task)
    adapted, _ = _restore(config, config.small_of(name), context)
    settings = dict(single(message.content.config_records, "ConfigRecord")[1])
    rnd = int(settings.get("server-round", 0))  # type: ignore[arg-type]
    examples = task.test if config.eval_limit is None else task.test[: config.eval_limit]
    started = time.perf_counter()
    scores = evaluate_model(adapted.model, adapted.tokenizer, task, examples, config.batch_size)
    metrics: dict[str, Any] = {"num-examples": len(examples),
                               "utility": float(headline(scores, task)),
                               "eval-seconds": round(time.perf_counter() - started, 4)}
    transfer = transfer_set(config, adapted.tokenizer, config.small_of(name))
    _boundary(config, transfer).cross(Message(Kind.METRICS, name, MODEL_PARTY, metrics,
                                              {"round": rnd}))
    return FlowerMessage(RecordDict({"metrics": MetricRecord(metrics)}), reply_to=message)


# ---------------------------------------------------------------- pieces


def _boundary(config: FedMutualKTConfig, transfer: Transfer) -> Boundary:
    """This party's own check of what it sends and receives (no transcript: the model
    party's end records)."""
    boundary = Boundary(contract=fed_mutual_kt_contract(transfer.max_bytes(config.top_k)))
    guard = knowledge_guard(transfer.public)
    boundary.guard_contexts = {MODEL_PARTY: guard}
    boundary.guard_contexts.update({data_party(i): guard
                                    for i in range(len(task_of(config.task).parties))})
    return boundary


def _restore(config: FedMutualKTConfig, small: str,
             context: Context) -> tuple[AdaptedModel, int]:
    """The party's SM with its own LoRA weights (fresh, seeded ones before its first round)
    and how many rounds it has trained."""
    key = (small, config.lora_rank, config.lora_alpha, config.seed)
    if key not in _MODELS:
        torch.set_num_threads(config.threads)
        adapted = build_adapted(small, config.lora_rank, config.lora_alpha, config.seed)
        _MODELS[key] = (adapted, adapter_tensors(adapted.model))
    adapted, initial = _MODELS[key]
    state = context.state
    if STATE_ARRAYS in state.array_records:
        weights = arrays_to_tensors(state.array_records[STATE_ARRAYS])
        done = int(state.config_records[STATE_CONFIG].get("rounds", 0))  # type: ignore[arg-type]
    else:
        weights, done = initial, 0
    load_adapter(adapted.model, weights, adapted.spec)  # nothing of another party remains
    return adapted, done


def _save(context: Context, adapted: AdaptedModel, rounds: int) -> None:
    context.state[STATE_ARRAYS] = ArrayRecord.from_torch_state_dict(
        adapter_tensors(adapted.model))
    context.state[STATE_CONFIG] = ConfigRecord({"rounds": rounds})


def _replies(rows: list[TransferRow], transfer: Transfer) -> list[TopkReply]:
    """The LM's rows as per-text top-k at every position (what alignment reads); they must
    cover every position but the last of every public text."""
    by_ids = {tuple(r.ids.tolist()): r for r in rows}
    replies: list[TopkReply] = []
    for ids in transfer.lm.ids:
        row = by_ids.get(tuple(ids))
        if row is None or row.positions.tolist() != list(range(len(ids) - 1)):
            raise ValueError("the LM's knowledge must cover every position but the last of "
                             "every public transfer text")
        assert row.indices is not None
        k = row.values.shape[-1]
        replies.append(TopkReply(list(ids), torch.cat([row.values, torch.zeros(1, k)]),
                                 torch.cat([row.indices, torch.zeros(1, k, dtype=torch.long)])))
    return replies


DATA_PARTY = DataPartyHandlers(register, handle_train, handle_evaluate)
