"""Secure aggregation (SecAgg+) of the adapter updates, every protocol message on the record.

Flower 1.41 implements SecAgg+ (Bell et al., arXiv:2009.08524) only for its legacy
``FitIns``/``FitRes`` pipeline: :class:`flwr.server.workflow.SecAggPlusWorkflow` on the server
(it needs a ``LegacyContext`` and a legacy strategy) and :func:`flwr.client.mod.secaggplus_mod`
on the client; the Message-API strategies (``flwr.serverapp.strategy``) have no secure
aggregation. So a secure round drives the workflow's four stages itself
(:func:`crossbound.federation.server.secure_round`) over the same
:class:`~crossbound.federation.crossing.BoundaryGrid`, and the data parties' train handler
speaks ``FitIns``/``FitRes`` under the mod. This module is the protocol's messages: how each
crosses the boundary at the model party's end (:func:`cross_down`, :func:`cross_up`, which
the grid calls) and what the data party's end reads and writes; the contract's SecAgg+ rules
are in :mod:`~crossbound.federation.contract`.

Each protocol message still crosses one party's boundary and is recorded in that party's
transcript, as what actually crosses:

* down: the protocol settings (``setup``), the neighbours' public keys (``share_keys``), the
  global adapter with the key shares other parties encrypted for this one (``collect``), and
  which neighbours are alive or dead (``unmask``);
* up: the party's two public keys, its key shares encrypted for each neighbour, its
  **masked update** — the adapter weighted by its record count, clipped, quantised and masked
  mod 2**32, so uniformly random on its own (artifact ``fed-secagg-masked-update``: int64
  tensors under the adapter's names plus ``weight-factor``) — with its numbers, and the key
  shares that let the model party remove the masks of the sum.

Bytes cross as uint8 tensors (artifact ``fed-secagg-keys``), node ids and settings in the
message's meta. The model party never sees a single party's update: it cannot check one for
finiteness or distance (``max_update_norm``), only the shapes and ranges of masked vectors,
and the unmasked sum. A round needs ``min_parties`` masked updates before anything is
unmasked (an aggregate of one party is that party's update).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, Protocol, cast

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, MessageType, MetricRecord, RecordDict
from flwr.app import Message as FlowerMessage
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage
from flwr.compat.common.recorddict_compat import fitres_to_recorddict, parameters_to_arrayrecord

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message
from crossbound.federation.adapter import AdapterSpec, Tensors
from crossbound.federation.contract import (
    FACTOR,
    GLOBAL_ADAPTER,
    KEYS,
    MASKED,
    TRAIN_METRICS,
)

FITINS, FITINS_CONFIG = "fitins.parameters", "fitins.config"
FITRES = ("fitres.parameters", "fitres.num_examples", "fitres.metrics", "fitres.status")


# ---------------------------------------------------------------- conversions


def npy_bytes(array: np.ndarray) -> bytes:
    """NumPy's .npy format, never pickle (as Flower's ``ndarray_to_bytes``)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_array(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def to_legacy(tensors: Mapping[str, torch.Tensor], spec: AdapterSpec) -> ArrayRecord:
    """Named adapter tensors as a legacy ``Parameters`` record (keys "0", "1", … in the
    adapter's order; the names are implied by the spec both parties hold)."""
    arrays = [tensors[name].detach().cpu().numpy() for name in spec.shapes]
    return parameters_to_arrayrecord(ndarrays_to_parameters(arrays), keep_input=True)


def from_legacy(record: ArrayRecord, spec: AdapterSpec) -> Tensors:
    """Inverse of :func:`to_legacy`; float32 tensors (the unmasked sum comes as float64)."""
    arrays = [npy_array(record[key].data) for key in record]
    if len(arrays) != len(spec.shapes):
        raise ValueError(f"{len(arrays)} arrays, the adapter has {len(spec.shapes)}")
    return {name: torch.from_numpy(np.array(array, dtype=np.float32))
            for name, array in zip(spec.shapes, arrays, strict=True)}


def encode_config(record: Mapping[str, Any]) -> tuple[Tensors, dict[str, Any]]:
    """A SecAgg+ ConfigRecord as (byte tensors, JSON meta): ``bytes`` and lists of bytes
    become uint8 tensors (``key`` or ``key/i``), everything else (numbers, node ids, stage)
    goes into the meta as is."""
    tensors: Tensors = {}
    values: dict[str, Any] = {}
    byte_lists: dict[str, int] = {}
    for key, value in record.items():
        if isinstance(value, bytes):
            tensors[key] = torch.frombuffer(bytearray(value), dtype=torch.uint8)
        elif isinstance(value, list) and value and all(isinstance(v, bytes) for v in value):
            byte_lists[key] = len(value)
            for i, item in enumerate(value):
                tensors[f"{key}/{i}"] = torch.frombuffer(bytearray(item), dtype=torch.uint8)
        elif isinstance(value, bool | int | float | str) or (
                isinstance(value, list) and all(isinstance(v, bool | int | float | str)
                                                for v in value)):
            values[key] = value
        else:
            raise ValueError(f"SecAgg+ setting {key!r} has an unexpected type "
                             f"{type(value).__name__}")
    return tensors, {"values": values, "byte_lists": byte_lists}


def decode_config(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> ConfigRecord:
    """Inverse of :func:`encode_config` (from what crossed)."""
    data: dict[str, Any] = dict(meta.get("values", {}))
    lists: dict[str, int] = dict(meta.get("byte_lists", {}))
    for key, count in lists.items():
        data[key] = [bytes(tensors[f"{key}/{i}"].numpy().tobytes()) for i in range(count)]
    listed = {f"{key}/{i}" for key, count in lists.items() for i in range(count)}
    for name, tensor in tensors.items():
        if name not in listed:
            data[name] = bytes(tensor.numpy().tobytes())
    return ConfigRecord(data)


# ---------------------------------------------------------------- the model party's end


class Grid(Protocol):
    """What the crossings below need of the model party's grid
    (:class:`~crossbound.federation.crossing.BoundaryGrid`)."""

    @property
    def spec(self) -> AdapterSpec: ...

    def cross(self, party: str, rnd: int, direction: str, message: Message) -> Message: ...


class Sent(Protocol):
    """What the grid noted of the request a reply answers."""

    @property
    def party(self) -> str: ...

    @property
    def round(self) -> int: ...

    @property
    def stage(self) -> str | None: ...


def stage_of(message: FlowerMessage) -> str | None:
    """The SecAgg+ stage a train message is in, or None (not a SecAgg+ message)."""
    content = message.content
    if message.metadata.message_type != MessageType.TRAIN or \
            RECORD_KEY_CONFIGS not in content.config_records:
        return None
    return str(content.config_records[RECORD_KEY_CONFIGS][Key.STAGE])


def cross_down(grid: Grid, message: FlowerMessage, party: str, stage: str,
               ) -> tuple[int, Tensors]:
    """Cross one SecAgg+ request to ``party``; put back what crossed. Returns the round and
    the global adapter that went down (empty but in the ``collect`` stage)."""
    content = message.content
    expected = {RECORD_KEY_CONFIGS} | ({FITINS, FITINS_CONFIG}
                                       if stage == Stage.COLLECT_MASKED_VECTORS else set())
    present = set(content.config_records) | set(content.array_records)
    if present != expected or len(content.metric_records):
        raise ValueError(f"a SecAgg+ {stage} request holds {sorted(present)}, not "
                         f"{sorted(expected)}")
    rnd = int(message.metadata.group_id or 0)
    meta: dict[str, Any] = {"op": MessageType.TRAIN, "round": rnd, "stage": stage}
    rebuilt = RecordDict()
    start: Tensors = {}
    if stage == Stage.COLLECT_MASKED_VECTORS:
        settings = dict(content.config_records[FITINS_CONFIG])
        rnd = int(settings.get("server-round", rnd))  # type: ignore[arg-type]
        meta["round"] = rnd
        crossed = grid.cross(party, rnd, "down", Message(
            Kind.TENSORS, MODEL_PARTY, party, from_legacy(content.array_records[FITINS],
                                                           grid.spec),
            {**meta, "artifact": GLOBAL_ADAPTER, "config": settings}))
        start = crossed.payload
        rebuilt[FITINS] = to_legacy(start, grid.spec)
        rebuilt[FITINS_CONFIG] = ConfigRecord(crossed.meta["config"])
    rebuilt[RECORD_KEY_CONFIGS] = _cross_config(
        grid, party, rnd, "down", MODEL_PARTY, party, content.config_records[RECORD_KEY_CONFIGS],
        meta)
    message.content = rebuilt
    return rnd, start


def cross_up(grid: Grid, reply: FlowerMessage, sent: Sent) -> tuple[int | None, Any]:
    """Cross one SecAgg+ reply from ``sent.party`` and rebuild it from what crossed; the
    number of records it reports (``collect`` stage) and its numbers."""
    content = reply.content
    collect = sent.stage == Stage.COLLECT_MASKED_VECTORS
    expected = {RECORD_KEY_CONFIGS} | (set(FITRES) if collect else set())
    present = set(content.config_records) | set(content.array_records) | \
        set(content.metric_records)
    if present != expected:
        raise ValueError(f"a SecAgg+ {sent.stage} reply holds {sorted(present)}, not "
                         f"{sorted(expected)}")
    meta: dict[str, Any] = {"op": MessageType.TRAIN, "round": sent.round, "stage": sent.stage}
    settings = dict(content.config_records[RECORD_KEY_CONFIGS])
    rebuilt = RecordDict()
    numbers: dict[str, Any] | None = None
    count: int | None = None
    masked_bytes: list[bytes] = []
    if collect:
        if len(content.array_records["fitres.parameters"]):
            raise ValueError("the reply carries the party's plain update next to its masked one")
        status = dict(content.config_records["fitres.status"])
        numbers = {**dict(content.config_records["fitres.metrics"]),
                   "status-code": status.get("code")}
        if set(numbers) != {*TRAIN_METRICS, "status-code"}:
            raise ValueError(f"metrics {sorted(numbers)} are not {sorted(TRAIN_METRICS)}")
        numbers = grid.cross(sent.party, sent.round, "up", Message(
            Kind.METRICS, sent.party, MODEL_PARTY, numbers, meta)).payload
        count = numbers["num-examples"]
        raw = settings.pop(Key.MASKED_PARAMETERS, None)
        if not isinstance(raw, list) or not all(isinstance(b, bytes) for b in raw):
            raise ValueError(f"no masked update (a list of arrays) under {Key.MASKED_PARAMETERS}")
        masked = [npy_array(cast(bytes, b)) for b in raw]
        names = [FACTOR, *grid.spec.shapes]
        if len(masked) != len(names):
            raise ValueError(f"{len(masked)} masked arrays, expected {len(names)}")
        crossed = grid.cross(sent.party, sent.round, "up", Message(
            Kind.TENSORS, sent.party, MODEL_PARTY,
            {name: torch.from_numpy(np.array(array, dtype=np.int64))
             for name, array in zip(names, masked, strict=True)},
            {**meta, "artifact": MASKED}))
        rebuilt["fitres.parameters"] = ArrayRecord()
        rebuilt["fitres.num_examples"] = MetricRecord({"num_examples": count})
        rebuilt["fitres.metrics"] = ConfigRecord(
            {k: v for k, v in numbers.items() if k != "status-code"})
        rebuilt["fitres.status"] = ConfigRecord({"code": int(numbers["status-code"]),
                                                 "message": "Success"})
        masked_bytes = [npy_bytes(crossed.payload[name].numpy()) for name in names]
    record = _cross_config(grid, sent.party, sent.round, "up", sent.party, MODEL_PARTY,
                           settings, meta)
    if collect:
        record[Key.MASKED_PARAMETERS] = masked_bytes  # what crossed as fed-secagg-masked-update
    rebuilt[RECORD_KEY_CONFIGS] = record
    reply.content = rebuilt
    return count, numbers


def _cross_config(grid: Grid, party: str, rnd: int, direction: str, sender: str,
                  receiver: str, record: Mapping[str, Any], meta: dict[str, Any]) -> ConfigRecord:
    tensors, coded = encode_config(record)
    if not tensors and not coded["values"]:
        return ConfigRecord({})
    info = {**meta, **coded}
    if tensors:
        message = Message(Kind.TENSORS, sender, receiver, tensors, {**info, "artifact": KEYS})
    else:
        message = Message(Kind.METRICS, sender, receiver, {"op": f"secagg-{meta['stage']}"},
                          info)
    crossed = grid.cross(party, rnd, direction, message)
    return decode_config(crossed.payload if tensors else {}, crossed.meta)


# ---------------------------------------------------------------- the data party's end


def fitins_adapter(content: RecordDict, spec: AdapterSpec) -> tuple[Tensors, dict[str, Any]]:
    """The global adapter and settings of a SecAgg+ ``collect`` request (FitIns format)."""
    return from_legacy(content.array_records[FITINS], spec), \
        dict(content.config_records[FITINS_CONFIG])


def fitres_content(update: Mapping[str, torch.Tensor], spec: AdapterSpec,
                   metrics: dict[str, Any], equal_weight: bool = False) -> RecordDict:
    """The train reply secaggplus_mod expects (FitRes format); the mod masks the update and
    clears it from the reply before it leaves the party. The mod weights the update by the
    FitRes record count: ``equal_weight`` (DP on) gives it 1, for an unweighted average."""
    arrays = [update[name].detach().cpu().numpy() for name in spec.shapes]
    fitres = FitRes(status=Status(Code.OK, "Success"),
                    parameters=ndarrays_to_parameters(arrays),
                    num_examples=1 if equal_weight else int(metrics["num-examples"]),
                    metrics=dict(metrics))
    return fitres_to_recorddict(fitres, keep_input=True)
