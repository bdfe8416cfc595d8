"""Secure aggregation (SecAgg+) of the adapter updates, every protocol message on the record.

Flower 1.41 implements SecAgg+ (Bell et al., arXiv:2009.08524) only for its legacy
``FitIns``/``FitRes`` pipeline: :class:`flwr.server.workflow.SecAggPlusWorkflow` on the server
(it needs a ``LegacyContext`` and a legacy strategy) and :func:`flwr.client.mod.secaggplus_mod`
on the client; the Message-API strategies (``flwr.serverapp.strategy``) have no secure
aggregation. So a secure round here drives the workflow's four stages itself
(:func:`secure_round`) over the same :class:`~crossbound.federation.crossing.BoundaryGrid`, and
the data parties' train handler speaks ``FitIns``/``FitRes`` under the mod.

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
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, MessageType, MetricRecord, RecordDict
from flwr.app import Message as FlowerMessage
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage

from crossbound.boundary.contracts import MODEL_PARTY, GuardContext, allow, register_guard
from crossbound.boundary.messages import Kind, Message
from crossbound.federation.adapter import AdapterSpec, Tensors, non_finite
from crossbound.federation.contract import (
    GLOBAL_ADAPTER,
    SPEC_KEY,
    TRAIN_METRICS,
    arrays_to_tensors,
    tensors_to_arrays,
)

if TYPE_CHECKING:
    from crossbound.federation.config import FederationConfig
    from crossbound.federation.crossing import BoundaryGrid, _Sent

KEYS = "fed-secagg-keys"  # public keys, encrypted key shares, key shares
MASKED = "fed-secagg-masked-update"
FACTOR = "weight-factor"  # the masked, quantised record-count weight (first masked array)
FITINS, FITINS_CONFIG = "fitins.parameters", "fitins.config"
FITRES = ("fitres.parameters", "fitres.num_examples", "fitres.metrics", "fitres.status")
MOD_RANGE = 1 << 32  # masks are uniform mod 2**32 (Flower's default and maximum)
MAX_KEY_BYTES = 4096  # one public key, ciphertext or share


# ---------------------------------------------------------------- contract


def keys_only(message: Message, context: GuardContext) -> str | None:
    """Guard: key material is short uint8 vectors (no more than a few per neighbour)."""
    if len(message.payload) > 4 * 1024:
        return f"{len(message.payload)} key tensors are too many"
    for name, tensor in message.payload.items():
        if tensor.dtype != torch.uint8 or tensor.dim() != 1 or tensor.numel() > MAX_KEY_BYTES:
            return f"{name} is not a byte string of at most {MAX_KEY_BYTES} bytes"
    return None


def masked_update_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a masked update has the adapter's names and shapes (plus ``weight-factor``),
    int64 values in [0, 2**32)."""
    spec = context.extra.get(SPEC_KEY)
    if not isinstance(spec, AdapterSpec):
        return "no adapter spec is registered for this party (GuardContext.extra)"
    expected = {FACTOR: (1,), **spec.shapes}
    if set(message.payload) != set(expected):
        return "masked tensor names differ from the adapter's"
    for name, tensor in message.payload.items():
        if tuple(tensor.shape) != expected[name] or tensor.dtype != torch.int64:
            return f"{name} is not int64 of shape {expected[name]}"
        if bool((tensor < 0).any()) or bool((tensor >= MOD_RANGE).any()):
            return f"{name} holds values outside [0, 2**32)"
    return None


register_guard("fed-secagg-keys", keys_only)
register_guard("fed-secagg-masked", masked_update_only)


def secure_rules(spec: AdapterSpec, parties_hint: int = 64) -> tuple[Any, ...]:
    """The extra crossings SecAgg+ needs (see :func:`fed_adapter_contract`)."""
    keys_limit = 64 * 1024 + 4 * MAX_KEY_BYTES * parties_hint
    masked_limit = 2 * (spec.nbytes + 8) + 64 * 1024  # int64: twice the float32 adapter
    return (
        allow("model", Kind.TENSORS, max_bytes=keys_limit, artifacts={KEYS},
              guards=("fed-secagg-keys",)),
        allow("data", Kind.TENSORS, max_bytes=keys_limit, artifacts={KEYS},
              guards=("fed-secagg-keys",)),
        allow("data", Kind.TENSORS, max_bytes=masked_limit, artifacts={MASKED},
              guards=("fed-secagg-masked",)),
    )


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
    from flwr.common import ndarrays_to_parameters
    from flwr.compat.common.recorddict_compat import parameters_to_arrayrecord

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


def stage_of(message: FlowerMessage) -> str | None:
    """The SecAgg+ stage a train message is in, or None (not a SecAgg+ message)."""
    content = message.content
    if message.metadata.message_type != MessageType.TRAIN or \
            RECORD_KEY_CONFIGS not in content.config_records:
        return None
    return str(content.config_records[RECORD_KEY_CONFIGS][Key.STAGE])


def cross_down(grid: BoundaryGrid, message: FlowerMessage, party: str, stage: str,
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


def cross_up(grid: BoundaryGrid, reply: FlowerMessage, sent: _Sent) -> tuple[int | None, Any]:
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


def _cross_config(grid: BoundaryGrid, party: str, rnd: int, direction: str, sender: str,
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


# ---------------------------------------------------------------- one secure round


def workflow_for(config: FederationConfig, max_weight: float) -> Any:
    from flwr.server.workflow import SecAggPlusWorkflow

    def amount(value: float) -> int | float:
        return int(value) if value > 1 else float(value)

    return SecAggPlusWorkflow(
        num_shares=amount(config.secagg_shares),
        reconstruction_threshold=amount(config.secagg_threshold),
        max_weight=max_weight, clipping_range=config.secagg_clipping_range,
        quantization_range=1 << config.secagg_quantization_bits, modulus_range=MOD_RANGE,
        timeout=config.round_timeout)


def secure_round(config: FederationConfig, grid: BoundaryGrid, rnd: int,
                 current: ArrayRecord) -> ArrayRecord:
    """Train round ``rnd`` with SecAgg+: every online party trains on ``current`` and the
    model party learns only the weighted average of the updates that arrived."""
    from flwr.server.compat.grid_client_proxy import GridClientProxy
    from flwr.server.compat.legacy_context import LegacyContext
    from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
    from flwr.server.workflow.constant import Key as WorkflowKey
    from flwr.server.workflow.secure_aggregation.secaggplus_workflow import WorkflowState

    from crossbound.federation.server import QuorumError, check_quorum

    nodes = list(grid.get_node_ids())
    grid.note_absent(rnd, MessageType.TRAIN, nodes)
    if len(nodes) < max(2, config.min_parties):
        raise QuorumError(f"round {rnd}: {len(nodes)} data parties online; secure "
                          f"aggregation needs at least {max(2, config.min_parties)}")
    proxies = [GridClientProxy(node, grid, 0) for node in nodes]
    context = LegacyContext(Context(run_id=0, node_id=0, node_config={}, state=RecordDict(),
                                    run_config={}), strategy=cast(Any, _Everyone(proxies)))
    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {WorkflowKey.CURRENT_ROUND: rnd})
    context.state.array_records[MAIN_PARAMS_RECORD] = to_legacy(arrays_to_tensors(current),
                                                                grid.spec)
    # The largest weight a party may give its update: its record count as it registered
    # (the masked weight is quantised relative to this); with DP every party weighs 1.
    weight = 1.0 if config.dp != "none" else \
        float(max(grid.links[grid.nodes[node]].train_examples for node in nodes))
    workflow = workflow_for(config, weight)
    state = WorkflowState()
    for step in (workflow.setup_stage, workflow.share_keys_stage):
        if not step(grid, context, state):
            _fail(config, grid, rnd, state, step.__name__)
    # Flower 1.41 counts a party that left before its key shares went out (setup or
    # share_keys) among the dead whose masks the unmask stage removes; the others hold no
    # share of its key and fail (KeyError). It added no mask to anyone's vector: drop it.
    sampled = set(state.sampled_node_ids)
    state.sampled_node_ids = set(state.active_node_ids)
    if not workflow.collect_masked_vectors_stage(grid, context, state):
        _fail(config, grid, rnd, state, "collect_masked_vectors_stage")
    masked = set(state.active_node_ids)
    # Its unmask stage also cancels a party's pairwise masks, when that party's vector did
    # not come, with every neighbour it was given at setup; but only neighbours whose masked
    # vector came hold such masks, and one that left before it had a public key makes the
    # stage fail (KeyError). Give each such party only the neighbours that were summed.
    for node in set(state.sampled_node_ids) - masked:
        state.nid_to_neighbours[node] = state.nid_to_neighbours[node] & (masked | {node})
    check_quorum(config, grid, rnd, len(masked))  # before anything unmasks
    summed = context.state.array_records[MAIN_PARAMS_RECORD]
    if not workflow.unmask_stage(grid, context, state) or \
            context.state.array_records[MAIN_PARAMS_RECORD] is summed:
        _fail(config, grid, rnd, state, "unmask_stage")
    grid.ledger.secure[rnd] = {
        "shares": state.num_shares, "threshold": state.threshold,
        "masked_updates": sorted(grid.nodes[n] for n in masked),
        "dropped_during_protocol": sorted(grid.nodes[n] for n in sampled - masked),
        "unmasked_by": sorted(grid.nodes[n] for n in state.active_node_ids)}
    tensors = from_legacy(context.state.array_records[MAIN_PARAMS_RECORD], grid.spec)
    if (problem := non_finite(tensors)) is not None:
        raise QuorumError(f"round {rnd}: the securely aggregated adapter is not finite "
                          f"({problem})")
    if config.dp != "none":  # the unweighted mean of clipped updates: put over n, add noise
        from crossbound.federation.dp import dp_secure

        tensors = dp_secure(config, grid, rnd, arrays_to_tensors(current), tensors,
                            masked=len(masked), asked=len(nodes))
    return tensors_to_arrays(tensors)


def _fail(config: FederationConfig, grid: BoundaryGrid, rnd: int, state: Any, stage: str,
          ) -> None:
    from crossbound.federation.server import QuorumError, check_quorum

    check_quorum(config, grid, rnd, len(state.active_node_ids))
    raise QuorumError(f"round {rnd}: SecAgg+ stopped in {stage.removesuffix('_stage')}: too "
                      f"few parties stayed for the threshold of {state.threshold} shares "
                      f"({len(state.active_node_ids)} of {len(state.sampled_node_ids)} active)")


class _Everyone:
    """The legacy strategy the workflow consults: every online party trains; the workflow's
    unmasked sum is the aggregate (each result carries it)."""

    def __init__(self, proxies: list[Any]) -> None:
        self.proxies = proxies

    def configure_fit(self, server_round: int, parameters: Any, client_manager: Any,
                      ) -> list[tuple[Any, Any]]:
        from flwr.common import FitIns

        return [(proxy, FitIns(parameters, {"server-round": server_round}))
                for proxy in self.proxies]

    def aggregate_fit(self, server_round: int, results: list[tuple[Any, Any]],
                      failures: list[Any]) -> tuple[Any, dict[str, Any]]:
        return (results[0][1].parameters if results else None), {}


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
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
    from flwr.compat.common.recorddict_compat import fitres_to_recorddict

    arrays = [update[name].detach().cpu().numpy() for name in spec.shapes]
    fitres = FitRes(status=Status(Code.OK, "Success"),
                    parameters=ndarrays_to_parameters(arrays),
                    num_examples=1 if equal_weight else int(metrics["num-examples"]),
                    metrics=dict(metrics))
    return fitres_to_recorddict(fitres, keep_input=True)
