"""What every data party's ClientApp shares, whichever strategy it runs.

A node is data party ``data-party-<i>`` by its ``partition-id`` node config (set by the
simulation runtime, or by ``--node-config`` on a SuperNode) and holds ``task.parties[i]``; the
task is loaded once per process (a Ray actor serves many nodes in turn). A strategy's data
party is its :class:`DataPartyHandlers` (``fed-adapter``'s in
:mod:`~crossbound.federation.client`, ``fed-mutual-kt``'s in
:mod:`~crossbound.federation.mutual_client`); they use these pieces, registration
(:func:`handle_hello`) and the scripted faults of robustness experiments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flwr.app import ConfigRecord, Context, RecordDict
from flwr.app import Message as FlowerMessage
from flwr.clientapp.typing import Mod

from crossbound.federation.config import FederationConfig
from crossbound.federation.contract import HELLO
from crossbound.naming import data_party
from crossbound.tasks.base import Example, Task
from crossbound.tasks.registry import load_task

PARTITION_KEY = "partition-id"  # what the simulation runtime puts in each node's config

_TASKS: dict[str, Task] = {}  # per process: task spec -> task

# A ClientApp handler: (the run's config, the message, the node's context) -> the reply.
Handler = Callable[[Any, FlowerMessage, Context], FlowerMessage]


def no_mods(config: Any) -> list[Mod]:
    return []


@dataclass(frozen=True)
class DataPartyHandlers:
    """A strategy's data party: its ClientApp's handlers for registration (query), train and
    evaluate messages, and the Flower mods (``mods(config)``) its messages go through."""

    hello: Handler
    train: Handler
    evaluate: Handler
    mods: Callable[[Any], list[Mod]] = no_mods


def register(config: FederationConfig, message: FlowerMessage,
                 context: Context) -> FlowerMessage:
    """Registration: this party's name and how many records it trains on."""
    name, records = party_of(config, context)
    op = next(iter(message.content.config_records.values())).get("op")
    if op != HELLO:
        raise ValueError(f"unknown query {op!r}")
    answer: dict[str, Any] = {"party": name, "train-examples": len(records)}
    return FlowerMessage(RecordDict({"config": ConfigRecord(answer)}), reply_to=message)


def misbehave(config: FederationConfig, name: str, rnd: int) -> None:
    """Faults ``crash:R`` and ``hang:R`` (robustness experiments): in round R, fail, or
    answer only after the model party has stopped waiting for this round."""
    kind, _, when = config.faults.get(name, "").partition(":")
    if kind not in ("crash", "hang") or int(when) != rnd:
        return
    if kind == "crash":
        raise RuntimeError(f"{name} crashed in round {rnd} (fault crash:{rnd})")
    time.sleep(config.round_timeout + 5.0)


def party_of(config: FederationConfig, context: Context) -> tuple[str, tuple[Example, ...]]:
    """The data party this node is (``data-party-<i>`` for partition ``i``) and its records."""
    task = task_of(config.task)
    raw = context.node_config.get(PARTITION_KEY)
    if not isinstance(raw, int) or not 0 <= raw < len(task.parties):
        raise ValueError(f"node config {PARTITION_KEY} = {raw!r} names no data party of "
                         f"{config.task} ({len(task.parties)} parties)")
    return data_party(raw), task.parties[raw]


def task_of(spec: str) -> Task:
    """The task ``spec``, loaded once per process."""
    if spec not in _TASKS:
        _TASKS[spec] = load_task(spec)
    return _TASKS[spec]
