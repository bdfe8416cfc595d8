"""The model party as a Flower ``ServerApp``: registration, rounds, aggregation, bookkeeping.

It holds the initial global adapter (fresh, seeded LoRA on the SM), registers the data
parties over a :class:`~crossbound.federation.crossing.BoundaryGrid`, scores the initial
adapter, then runs Flower's strategy (FedAvg, FedMedian or FedTrimmedAvg) for the configured
rounds. After each round it reports the global adapter's utility (the parties' scores
weighted by their test records), the bytes each party sent and received, the seconds the
round took and any update it dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, FedMedian, FedTrimmedAvg

from crossbound.federation.adapter import AdapterSpec, Tensors
from crossbound.federation.config import FederationConfig
from crossbound.federation.crossing import BoundaryGrid, arrays_to_tensors, tensors_to_arrays

WEIGHT_KEY = "num-examples"
REGISTER_TIMEOUT = 600.0  # seconds for every node to connect and say hello


def make_strategy(config: FederationConfig, parties: int) -> FedAvg:
    """Flower's strategy for ``config.aggregation``, sampling every party every round."""
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round, "utility": self.utility, "eval_examples": self.eval_examples,
            "seconds": round(self.seconds, 3), "aggregated_updates": self.aggregated,
            "bytes": self.bytes,
            "bytes_total": sum(d["down"] + d["up"] for d in self.bytes.values()),
            "train": self.train, "evaluate": self.evaluate, "dropped": self.dropped,
        }


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


def make_server_app(config: FederationConfig, parties: int, initial: Tensors,
                    spec: AdapterSpec, folder: Path, state: ServerState,
                    on_round: Callable[[RoundReport], None] | None = None) -> ServerApp:
    """The model party's ServerApp: transcripts go to ``folder``; results into ``state``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        boundary_grid = BoundaryGrid(grid, folder, spec, keep_payloads=config.keep_payloads,
                                     max_update_norm=config.max_update_norm)
        state.grid = boundary_grid
        try:
            drive(config, parties, initial, boundary_grid, state, on_round)
        finally:
            boundary_grid.close()

    return app


def drive(config: FederationConfig, parties: int, initial: Tensors, grid: BoundaryGrid,
          state: ServerState, on_round: Callable[[RoundReport], None] | None) -> None:
    """Register the parties, score the initial adapter, run the rounds."""
    started = time.perf_counter()
    grid.identify(parties, timeout=REGISTER_TIMEOUT)
    strategy = make_strategy(config, parties)
    arrays = tensors_to_arrays(initial)
    if config.evaluate_initial:
        messages = strategy.configure_evaluate(0, arrays, ConfigRecord(), grid)
        grid.send_and_receive(messages, timeout=config.round_timeout)
    seen = _Seen(started)

    def report(rnd: int) -> None:
        now = time.perf_counter()
        ledger = grid.ledger
        evaluations = ledger.evaluate.get(rnd, {})
        examples = sum(int(m["num-examples"]) for m in evaluations.values())
        utility = (sum(float(m["utility"]) * int(m["num-examples"])
                       for m in evaluations.values()) / examples) if examples else None
        dropped = ledger.dropped[seen.dropped:]
        entry = RoundReport(rnd, utility, examples, now - seen.time,
                            ledger.bytes_in_round(rnd), ledger.train.get(rnd, {}),
                            evaluations, dropped, len(ledger.train.get(rnd, {})))
        seen.time, seen.dropped = now, len(ledger.dropped)
        state.rounds.append(entry)
        if rnd > 0 and entry.aggregated == 0 and any(d["why"] == "error" for d in dropped):
            first = next(d for d in dropped if d["why"] == "error")
            raise RuntimeError(f"round {rnd}: no data party returned an update "
                               f"({first['party']}: {first['reason']})")
        if on_round is not None:
            on_round(entry)

    report(0)

    def after_round(rnd: int, current: ArrayRecord) -> MetricRecord | None:
        if rnd > 0:  # Flower also calls this before round 1; round 0 is reported above
            state.final = arrays_to_tensors(current)
            report(rnd)
        return None

    state.final = dict(initial)
    strategy.start(grid=grid, initial_arrays=arrays, num_rounds=config.rounds,
                   timeout=config.round_timeout, evaluate_fn=after_round)
