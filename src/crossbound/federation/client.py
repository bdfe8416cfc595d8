"""The data party as a Flower ``ClientApp``.

Node *i* (``context.node_config["partition-id"]`` in simulation) is ``data-party-<i>`` and
holds ``task.parties[i]``. Per round it loads the global adapter it receives into its SM,
fine-tunes it on its own records (answer loss) and returns only the adapter's weights with
its record count and losses; on evaluation it scores the global adapter on its share of the
test split (``test[i::N]`` of the first ``eval_limit`` records: the parties' shares add up to
the whole evaluation set). Every reply is checked against the ``fed-adapter`` contract on
this side too, before it is sent. The handlers are :data:`DATA_PARTY`, which
:mod:`crossbound.federation.strategies` registers for ``fed-adapter``.

The SM and the task are loaded once per process (a Ray actor serves many nodes in turn) and
the adapter is overwritten from the received arrays on every message, so nothing of one
party or round carries over to the next.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, MessageType, MetricRecord, RecordDict
from flwr.app import Message as FlowerMessage
from flwr.client.mod import secaggplus_mod
from flwr.clientapp.typing import Mod

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message
from crossbound.evaluate.utility import evaluate_model, headline
from crossbound.federation.adapter import (
    AdaptedModel,
    adapter_tensors,
    apply_fault,
    build_adapted,
    load_adapter,
)
from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.crossing import (
    ADAPTER_UPDATE,
    arrays_to_tensors,
    fed_adapter_contract,
    guard_context,
    tensors_to_arrays,
)
from crossbound.federation.data_party import (
    DataPartyHandlers,
    misbehave,
    party_of,
    register,
    task_of,
)
from crossbound.federation.dp import privatise_update
from crossbound.federation.offsite_plus import EMULATOR_OP, client_store, store_of, stored_model
from crossbound.federation.secagg import fitins_adapter, fitres_content
from crossbound.tasks.base import Example, Task
from crossbound.training.causal_lm import finetune

# Per process: (small, rank, alpha) -> model.
_MODELS: dict[tuple[str, int, int], AdaptedModel] = {}


def secure_mods(config: FedAdapterConfig) -> list[Mod]:
    """With ``secure_aggregation``, train messages go through Flower's SecAgg+ mod."""
    return [secaggplus_mod] if config.secure_aggregation else []


# ---------------------------------------------------------------- handlers


def handle_hello(config: FedAdapterConfig, message: FlowerMessage,
                 context: Context) -> FlowerMessage:
    """Registration, or under OT+ the emulated model the model party sends once."""
    op = next(iter(message.content.config_records.values())).get("op")
    if config.emulator_of is not None and op == EMULATOR_OP:
        name, _ = party_of(config, context)
        return client_store(config, name, message)
    return register(config, message, context)


def handle_train(config: FedAdapterConfig, message: FlowerMessage,
                 context: Context) -> FlowerMessage:
    """Load the global adapter, fine-tune on this party's records, return the adapter."""
    name, records = party_of(config, context)
    task = task_of(config.task)
    adapted, start, rnd = _receive(config, message, name)
    misbehave(config, name, rnd)
    pairs = [(task.prompt(ex), task.answer(ex)) for ex in records]
    started = time.perf_counter()
    index = int(name.rsplit("-", 1)[1])
    stats = finetune(adapted.model, adapted.tokenizer, pairs, epochs=config.local_epochs,
                     lr=config.lr, batch_size=config.batch_size, max_length=config.max_length,
                     seed=config.seed * 100_003 + rnd * 1_009 + index)
    seconds = time.perf_counter() - started
    local = adapter_tensors(adapted.model)
    if config.dp == "local" or (config.dp == "central" and config.secure_aggregation):
        # Clipped (local DP: and noised) here, before the boundary: what crosses is this.
        local = privatise_update(config, local, start)
    fault = config.faults.get(name, "")
    if fault == "nan" or fault.startswith("scale:"):  # a deliberately faulty update
        local = apply_fault(fault, local, start)
    metrics: dict[str, Any] = {
        "num-examples": len(pairs), "train-loss-first": float(stats.first_loss),
        "train-loss-last": float(stats.last_loss), "train-steps": int(stats.steps),
        "train-seconds": round(seconds, 4)}
    update = _check_out(adapted, Message(Kind.TENSORS, name, MODEL_PARTY, local,
                                         {"artifact": ADAPTER_UPDATE, "round": rnd}))
    _check_out(adapted, Message(Kind.METRICS, name, MODEL_PARTY, metrics, {"round": rnd}))
    if config.secure_aggregation:  # SecAgg+'s mod masks it (FitRes format) before it leaves
        return FlowerMessage(fitres_content(update.payload, adapted.spec, metrics,
                                            equal_weight=config.dp != "none"),
                             reply_to=message)
    content = RecordDict({"arrays": tensors_to_arrays(update.payload),
                          "metrics": MetricRecord(metrics)})
    return FlowerMessage(content, reply_to=message)


def handle_evaluate(config: FedAdapterConfig, message: FlowerMessage,
                    context: Context) -> FlowerMessage:
    """Score the received global adapter on this party's share of the test split."""
    name, _ = party_of(config, context)
    task = task_of(config.task)
    adapted, _, rnd = _receive(config, message, name)
    shard = evaluation_share(task, config.eval_limit, int(name.rsplit("-", 1)[1]))
    started = time.perf_counter()
    utility = 0.0
    if shard:
        scores = evaluate_model(adapted.model, adapted.tokenizer, task, shard,
                                config.batch_size)
        utility = headline(scores, task)
    metrics: dict[str, Any] = {"num-examples": len(shard), "utility": float(utility),
                               "eval-seconds": round(time.perf_counter() - started, 4)}
    _check_out(adapted, Message(Kind.METRICS, name, MODEL_PARTY, metrics, {"round": rnd}))
    return FlowerMessage(RecordDict({"metrics": MetricRecord(metrics)}), reply_to=message)


# ---------------------------------------------------------------- pieces


def evaluation_share(task: Task, limit: int | None, index: int) -> tuple[Example, ...]:
    """Party ``index``'s share of the evaluation set (every N-th of the first ``limit``)."""
    examples = task.test if limit is None else task.test[:limit]
    return examples[index::len(task.parties)]


def _model(config: FedAdapterConfig, party: str) -> AdaptedModel:
    """The SM with LoRA (cached per process), or under OT+ the emulator ``party`` stored."""
    if config.emulator_of is not None:
        return stored_model(store_of(config, party), config)
    key = (config.small, config.lora_rank, config.lora_alpha)
    if key not in _MODELS:
        torch.set_num_threads(config.threads)
        _MODELS[key] = build_adapted(config.small, config.lora_rank, config.lora_alpha,
                                     config.seed)
    return _MODELS[key]


def _receive(config: FedAdapterConfig, message: FlowerMessage,
             party: str) -> tuple[AdaptedModel, dict[str, torch.Tensor], int]:
    """The cached SM with the received global adapter loaded; that adapter; the round."""
    adapted = _model(config, party)
    content = message.content
    settings: dict[str, Any]
    if config.secure_aggregation and message.metadata.message_type == MessageType.TRAIN:
        start, settings = fitins_adapter(content, adapted.spec)  # SecAgg+: FitIns format
    else:
        arrays: ArrayRecord = next(iter(content.array_records.values()))
        settings = dict(next(iter(content.config_records.values())))
        start = arrays_to_tensors(arrays)
    load_adapter(adapted.model, start, adapted.spec)  # names, shapes and values checked
    return adapted, start, int(settings.get("server-round", 0))


def _check_out(adapted: AdaptedModel, message: Message) -> Message:
    """Check an outgoing message against the contract (this party's own check) and return
    the copy that would cross. No transcript here: the model party's end records."""
    boundary = Boundary(contract=fed_adapter_contract(adapted.spec))
    boundary.guard_contexts[message.sender] = guard_context(adapted.spec)
    return boundary.cross(message)


DATA_PARTY = DataPartyHandlers(handle_hello, handle_train, handle_evaluate, secure_mods)
