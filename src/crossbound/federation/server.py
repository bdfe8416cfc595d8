"""The model party as a Flower ``ServerApp``: registration, rounds, aggregation, bookkeeping.

It holds the initial global adapter (fresh, seeded LoRA on the SM), registers the data
parties over a :class:`~crossbound.federation.crossing.BoundaryGrid`, scores the initial
adapter, then runs the configured rounds, aggregating with Flower's strategy (FedAvg,
FedMedian or FedTrimmedAvg) or, with ``secure_aggregation``, with Flower's SecAgg+ protocol
(:mod:`crossbound.federation.secagg`). The rounds are driven here rather than by
``Strategy.start`` so that a party that drops out costs one round, not the run, and a round
with too few parties stops it with a reason. After each round it reports the global
adapter's utility (the parties' scores weighted by their test records), the bytes each
party sent and received, the seconds the round took, any update it dropped and which
parties dropped out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import FitIns
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.server.workflow.secure_aggregation.secaggplus_workflow import WorkflowState
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, FedMedian, FedTrimmedAvg

from crossbound.federation.adapter import AdapterSpec, Tensors, non_finite
from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.config import FederationConfig
from crossbound.federation.contract import MOD_RANGE
from crossbound.federation.crossing import BoundaryGrid, arrays_to_tensors, tensors_to_arrays
from crossbound.federation.dp import dp_round, dp_secure
from crossbound.federation.secagg import from_legacy, to_legacy

WEIGHT_KEY = "num-examples"
REGISTER_TIMEOUT = 600.0  # seconds for every node to connect and say hello
HELLO_TIMEOUT = 60.0  # seconds a node that connects later has to say hello


class QuorumError(RuntimeError):
    """Fewer than ``min_parties`` data parties took part in a round: the run stops."""


def make_strategy(config: FedAdapterConfig, parties: int) -> FedAvg:
    """Flower's strategy for ``config.aggregation``. Only its aggregation is used: the
    rounds (who is asked, how many answers suffice) are run by :func:`drive`."""
    common: dict[str, Any] = {
        "fraction_train": 1.0, "fraction_evaluate": 1.0, "min_train_nodes": parties,
        "min_evaluate_nodes": parties, "min_available_nodes": parties,
        "weighted_by_key": WEIGHT_KEY,
    }
    if config.aggregation == "fedavg":
        return FedAvg(**common)
    if config.aggregation == "median":
        return FedMedian(**common)
    return FedTrimmedAvg(beta=config.trim_fraction, **common)


class RoundHooks(Protocol):
    """What a variant of ``fed-adapter`` adds to the rounds (OT+:
    :class:`crossbound.federation.offsite_plus.OffsitePlusHooks`)."""

    @property
    def bundle_bytes(self) -> int | None:
        """The largest model the model party sends once per party (None: none)."""

    def admitted(self, grid: BoundaryGrid, rnd: int, timeout: float) -> None:
        """Called once parties are registered (round 0) and before every round."""

    def scored(self, rnd: int, adapter: Mapping[str, Any]) -> dict[str, Any] | None:
        """The model party's own numbers on the aggregate after round ``rnd``."""


@dataclass
class RoundReport:
    """One round as the model party saw it (round 0: registration and the initial score)."""

    round: int
    utility: float | None  # the global adapter after this round; None: nobody scored it
    eval_examples: int
    seconds: float
    bytes: dict[str, dict[str, int]]  # party -> {"down": n, "up": n}
    train: dict[str, dict[str, Any]]  # party -> its reported numbers (+ update-norm)
    evaluate: dict[str, dict[str, Any]]
    dropped: list[dict[str, Any]]
    aggregated: int  # updates that went into the aggregate
    dropped_out: dict[str, str] = field(default_factory=dict)  # party -> why (no update)
    secure: dict[str, Any] | None = None  # SecAgg+: shares, threshold, who was unmasked
    knowledge: dict[str, Any] | None = None  # fed-mutual-kt: LM and SM scores, selection
    dp: dict[str, Any] | None = None  # DP on the updates: who clipped, noise, norms seen
    lm: dict[str, Any] | None = None  # OT+: the LM with the aggregate plugged in, scored

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round, "utility": self.utility, "eval_examples": self.eval_examples,
            "seconds": round(self.seconds, 3), "aggregated_updates": self.aggregated,
            "dropped_out": self.dropped_out, "secure_aggregation": self.secure,
            "bytes": self.bytes,
            "bytes_total": sum(d["down"] + d["up"] for d in self.bytes.values()),
            "train": self.train, "evaluate": self.evaluate, "dropped": self.dropped,
            **({"knowledge": self.knowledge} if self.knowledge is not None else {}),
            **({"dp": self.dp} if self.dp is not None else {}),
            **({"lm": self.lm} if self.lm is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundReport:
        """Read back :meth:`to_dict` (the deployment runtime's ``rounds.jsonl``)."""
        return cls(data["round"], data["utility"], data["eval_examples"], data["seconds"],
                   data["bytes"], data["train"], data["evaluate"], data["dropped"],
                   data["aggregated_updates"], data["dropped_out"],
                   data.get("secure_aggregation"), data.get("knowledge"), data.get("dp"),
                   data.get("lm"))


@dataclass
class _Seen:
    time: float  # when the previous round was reported
    dropped: int = 0  # drops reported so far


@dataclass
class ServerState:
    """What the ServerApp hands back to the caller (it runs in a thread of this process)."""

    rounds: list[RoundReport] = field(default_factory=list)
    final: Tensors | None = None
    grid: BoundaryGrid | None = None
    error: str | None = None  # why the run stopped early


def serve(config: FedAdapterConfig, parties: int, initial: Tensors, spec: AdapterSpec,
          folder: Path, state: ServerState, grid: Grid,
          on_round: Callable[[RoundReport], None] | None,
          hooks: RoundHooks | None = None) -> None:
    """The ServerApp's body: wrap Flower's grid in the boundary and run the rounds."""
    boundary_grid = BoundaryGrid(grid, folder, spec, keep_payloads=config.keep_payloads,
                                 max_update_norm=config.max_update_norm,
                                 secure=config.secure_aggregation,
                                 bundle_bytes=hooks.bundle_bytes if hooks else None)
    run_on(boundary_grid, state, lambda: drive(config, parties, initial, boundary_grid, state,
                                               on_round, hooks))


def run_on(grid: BoundaryGrid, state: ServerState, rounds: Callable[[], None]) -> None:
    """Run ``rounds`` on ``grid`` (kept in ``state.grid``): why it stopped early goes to
    ``state.error``, and the grid's transcripts are closed however it ends."""
    state.grid = grid
    try:
        rounds()
    except Exception as exc:
        state.error = str(exc) or type(exc).__name__
        raise
    finally:
        grid.close()


def drive(config: FedAdapterConfig, parties: int, initial: Tensors, grid: BoundaryGrid,
          state: ServerState, on_round: Callable[[RoundReport], None] | None,
          hooks: RoundHooks | None = None) -> None:
    """Register the parties, score the initial adapter, run the rounds.

    Each round asks every registered party that is online; a party that fails, times out,
    is offline or sends an invalid update drops out of that round only (and is asked again
    in the next, under a new node id if its SuperNode restarted). A round with fewer than
    ``min_parties`` updates stops the run (:class:`QuorumError`).
    """
    started = time.perf_counter()
    grid.identify(parties, timeout=REGISTER_TIMEOUT)
    strategy = make_strategy(config, parties)
    current = tensors_to_arrays(initial)
    state.final = dict(initial)
    seen = _Seen(started)
    if hooks is not None:
        hooks.admitted(grid, 0, config.round_timeout)
    if config.evaluate_initial:
        _evaluate(config, grid, 0, current)
    extra = hooks.scored(0, initial) if hooks is not None and config.evaluate_initial else None
    _report(grid, state, seen, 0, on_round, extra)
    for rnd in range(1, config.rounds + 1):
        _await_quorum(config, grid, rnd)
        if hooks is not None:
            hooks.admitted(grid, rnd, config.round_timeout)
        if config.secure_aggregation:
            aggregate = secure_round(config, grid, rnd, current)
        else:
            aggregate = _plain_round(config, grid, strategy, rnd, current)
        current = aggregate
        state.final = arrays_to_tensors(current)
        _evaluate(config, grid, rnd, current)
        extra = hooks.scored(rnd, state.final) if hooks is not None else None
        _report(grid, state, seen, rnd, on_round, extra)


# ---------------------------------------------------------------- one round


def messages_for(grid: BoundaryGrid, op: str, rnd: int, arrays: ArrayRecord,
                 ) -> list[Message]:
    """``op`` (train or evaluate) with the global adapter for every registered party that is
    online (to evaluate: and answered or failed this round's training request); the others
    are reported for this round."""
    skip = grid.unreachable(rnd) if op == MessageType.EVALUATE else set()
    nodes = [node for node in grid.get_node_ids() if grid.nodes[node] not in skip]
    grid.note_absent(rnd, op, nodes, skip)
    return [Message(RecordDict({"arrays": arrays, "config": ConfigRecord({"server-round": rnd})}),
                    node, op) for node in nodes]


def _plain_round(config: FedAdapterConfig, grid: BoundaryGrid, strategy: FedAvg, rnd: int,
                 current: ArrayRecord) -> ArrayRecord:
    messages = messages_for(grid, MessageType.TRAIN, rnd, current)
    replies = list(grid.send_and_receive(messages, timeout=config.round_timeout))
    check_quorum(config, grid, rnd, len(replies))
    if config.dp != "none":  # clipped, unweighted, noised: crossbound.federation.dp
        return dp_round(config, grid, rnd, current, replies, asked=len(messages))
    arrays, _ = strategy.aggregate_train(rnd, replies)
    if arrays is None:
        raise QuorumError(f"round {rnd}: Flower's {type(strategy).__name__} aggregated nothing")
    return arrays


def _evaluate(config: FedAdapterConfig, grid: BoundaryGrid, rnd: int,
              current: ArrayRecord) -> None:
    messages = messages_for(grid, MessageType.EVALUATE, rnd, current)
    if messages:
        grid.send_and_receive(messages, timeout=config.round_timeout)


def _await_quorum(config: FederationConfig, grid: BoundaryGrid, rnd: int) -> None:
    """Admit parties that (re)connected; wait up to ``round_timeout`` for ``min_parties``
    of them to be online."""
    deadline = time.monotonic() + config.round_timeout
    while len(online := grid.refresh(rnd, min(HELLO_TIMEOUT, config.round_timeout))) \
            < config.min_parties:
        if time.monotonic() > deadline:
            offline = sorted(set(grid.links) - set(online))
            raise QuorumError(
                f"round {rnd}: only {len(online)} data parties are online, fewer than "
                f"min_parties = {config.min_parties}; offline: {', '.join(offline)}")
        time.sleep(1.0)


def check_quorum(config: FederationConfig, grid: BoundaryGrid, rnd: int, updates: int) -> None:
    """Stop the run if fewer than ``min_parties`` updates of round ``rnd`` survived."""
    if updates >= config.min_parties:
        return
    missing = grid.missing(rnd)
    reasons = {d["party"]: d["reason"] for d in grid.ledger.dropped
               if d["round"] == rnd and d["op"] == MessageType.TRAIN}
    detail = "; ".join(f"{party}: {why}" + (f" ({reasons[party][:200]})" if party in reasons
                                             else "")
                       for party, why in missing.items())
    lead = ("no data party returned an update" if updates == 0 else
            f"only {updates} of {len(grid.links)} data parties returned an update")
    raise QuorumError(f"round {rnd}: {lead}, fewer than min_parties = {config.min_parties}; "
                      f"missing: {detail}")


def _report(grid: BoundaryGrid, state: ServerState, seen: _Seen, rnd: int,
            on_round: Callable[[RoundReport], None] | None,
            lm: dict[str, Any] | None = None) -> None:
    now = time.perf_counter()
    ledger = grid.ledger
    evaluations = ledger.evaluate.get(rnd, {})
    examples = sum(int(m["num-examples"]) for m in evaluations.values())
    utility = (sum(float(m["utility"]) * int(m["num-examples"])
                   for m in evaluations.values()) / examples) if examples else None
    entry = RoundReport(rnd, utility, examples, now - seen.time, ledger.bytes_in_round(rnd),
                        ledger.train.get(rnd, {}), evaluations, ledger.dropped[seen.dropped:],
                        len(ledger.train.get(rnd, {})),
                        grid.missing(rnd) if rnd > 0 else {}, ledger.secure.get(rnd),
                        dp=ledger.dp.get(rnd), lm=lm)
    seen.time, seen.dropped = now, len(ledger.dropped)
    state.rounds.append(entry)
    if on_round is not None:
        on_round(entry)


# ---------------------------------------------------------------- one secure round


def workflow_for(config: FedAdapterConfig, max_weight: float) -> Any:
    def amount(value: float) -> int | float:
        return int(value) if value > 1 else float(value)

    return SecAggPlusWorkflow(
        num_shares=amount(config.secagg_shares),
        reconstruction_threshold=amount(config.secagg_threshold),
        max_weight=max_weight, clipping_range=config.secagg_clipping_range,
        quantization_range=1 << config.secagg_quantization_bits, modulus_range=MOD_RANGE,
        timeout=config.round_timeout)


def secure_round(config: FedAdapterConfig, grid: BoundaryGrid, rnd: int,
                 current: ArrayRecord) -> ArrayRecord:
    """Train round ``rnd`` with SecAgg+: every online party trains on ``current`` and the
    model party learns only the weighted average of the updates that arrived."""
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
        tensors = dp_secure(config, grid, rnd, arrays_to_tensors(current), tensors,
                            masked=len(masked), asked=len(nodes))
    return tensors_to_arrays(tensors)


def _fail(config: FedAdapterConfig, grid: BoundaryGrid, rnd: int, state: Any, stage: str,
          ) -> None:
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
        return [(proxy, FitIns(parameters, {"server-round": server_round}))
                for proxy in self.proxies]

    def aggregate_fit(self, server_round: int, results: list[tuple[Any, Any]],
                      failures: list[Any]) -> tuple[Any, dict[str, Any]]:
        return (results[0][1].parameters if results else None), {}
