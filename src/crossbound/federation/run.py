"""Run a federation end to end and write its result: on Flower's simulation runtime here, on
its deployment runtime through :mod:`crossbound.federation.deploy` (``runtime =
"deployment"``), where the model party writes the same files from its own process.

The strategy is looked up by ``config.strategy`` in :mod:`~crossbound.federation.strategies`:
its model party prepares here (loads its models), serves the rounds from a Flower ServerApp
and writes the result (:mod:`~crossbound.federation.outputs` says what every run writes);
its data parties' handlers make the ClientApp.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crossbound.federation.config import FederationConfig
from crossbound.federation.deploy import run_deployment
from crossbound.federation.outputs import TRANSCRIPTS, measured, prepare_folder
from crossbound.federation.strategies import ModelPartyRun, spec_of
from crossbound.models.precision import precision_scope
from crossbound.naming import data_party
from crossbound.result import Result
from crossbound.tasks.base import Task
from crossbound.tasks.registry import load_task

if TYPE_CHECKING:
    from flwr.app import Context
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp

OnRound = Callable[[Any], None]  # gets a server.RoundReport


def run_federation(config: FederationConfig, out_dir: str | Path | None = None, *,
                   overwrite: bool = False, verbose: bool = False,
                   on_round: OnRound | None = None,
                   on_status: Callable[[str], None] | None = None,
                   deployment: dict[str, Any] | None = None) -> Result:
    """Run ``config`` and write the result to ``out_dir`` (default: ``config.out``).

    ``on_round`` is called after registration (round 0) and after every round with that
    round's :class:`~crossbound.federation.server.RoundReport`; ``on_status`` with a line
    of what is happening. ``verbose`` shows Flower's and Ray's own logs (simulation).
    With ``config.runtime == "deployment"`` the run goes through Flower's deployment runtime
    (:mod:`crossbound.federation.deploy`; ``deployment``: its options, e.g.
    ``{"external": True, "host": "0.0.0.0", "port": 9092}``).
    """
    status = on_status or (lambda line: None)
    out = Path(out_dir if out_dir is not None else config.out)
    config = config.for_run(out)
    spec = spec_of(config)
    task = load_task(config.task)
    check_parties(config, task)
    parties = len(task.parties)
    prepare_folder(out, overwrite)
    if config.runtime == "deployment":
        status(f"{parties} data parties; starting a Flower SuperLink"
               + ("" if (deployment or {}).get("external") else
                  f" and {parties} SuperNodes on this machine"))
        return run_deployment(config, out, parties, on_round=on_round, on_status=status,
                              **(deployment or {}))

    party = spec.model_party(config, task, status)
    status(f"{parties} data parties ({', '.join(str(len(p)) for p in task.parties)} records); "
           f"{party.describe()}; starting Flower's simulation runtime (Ray)")
    server_app = make_server_app(party, out / TRANSCRIPTS, on_round)
    wall, peak_mb = _simulate(config, server_app, make_client_app(config), parties,
                              party.state, verbose)
    return party.finish(wall, peak_mb, out)


def check_parties(config: FederationConfig, task: Task) -> None:
    """What ``config`` asks of the task's data parties holds (before anything starts)."""
    empty = [i for i, records in enumerate(task.parties) if not records]
    if empty:
        raise ValueError(f"{config.task}: {data_party(empty[0])} gets no training records "
                         "under this split; use more records (n=...), fewer parties or a "
                         "larger Dirichlet alpha")
    config.check_parties(len(task.parties))


# ---------------------------------------------------------------- the apps


def make_server_app(party: ModelPartyRun, folder: Path,
                    on_round: OnRound | None = None) -> ServerApp:
    """The model party's ServerApp: it serves the rounds; transcripts go to ``folder``."""
    from flwr.serverapp import ServerApp  # Flower: imported when a run starts

    app = ServerApp()

    @app.main()
    def main(grid: Any, context: Any) -> None:
        party.serve(grid, folder, on_round)

    return app


def make_client_app(config: FederationConfig) -> ClientApp:
    """The data parties' ClientApp for ``config`` (the same app runs on every node)."""
    return client_app(lambda context: config)


def client_app(config_of: Callable[[Context], FederationConfig], *,
               in_precision: bool = True) -> ClientApp:
    """A ClientApp whose handlers are those of the strategy ``config_of(context)`` names
    (with its mods); with ``in_precision`` train and evaluate run in the precision the
    federation asked for (bf16 autocast over fp32 master weights where the CPU has it): a
    scope per message, since Flower may call them from any thread or process."""
    # Flower: imported when a run starts.
    from flwr.client.mod.utils import make_ffn
    from flwr.clientapp import ClientApp

    def handle(message: Any, context: Any, op: str) -> Any:
        config = config_of(context)
        handler = getattr(spec_of(config).data_party(), op)
        if not in_precision or op == "hello":
            return handler(config, message, context)
        with precision_scope(config.precision):
            return handler(config, message, context)

    def strategy_mods(message: Any, context: Any, call_next: Any) -> Any:
        config = config_of(context)
        mods = spec_of(config).data_party().mods(config)
        return make_ffn(call_next, mods)(message, context)

    app = ClientApp(mods=[strategy_mods])

    @app.query()
    def hello(message: Any, context: Any) -> Any:
        return handle(message, context, "hello")

    @app.train()
    def train(message: Any, context: Any) -> Any:
        return handle(message, context, "train")

    @app.evaluate()
    def evaluate(message: Any, context: Any) -> Any:
        return handle(message, context, "evaluate")

    return app


# ---------------------------------------------------------------- Flower and Ray


def _simulate(config: FederationConfig, server_app: Any, client_app: Any, parties: int,
              state: Any, verbose: bool) -> tuple[float, float]:
    """Run both apps on Flower's simulation runtime; wall seconds and peak memory (MB)."""
    with _quiet(verbose):
        # Flower's simulation starts Ray: imported only when a simulation runs.
        from flwr.simulation import run_simulation

        return measured(lambda: run_simulation(
            server_app, client_app, num_supernodes=parties,
            backend_config=_backend_config(config, verbose), verbose_logging=verbose), state)


def _backend_config(config: FederationConfig, verbose: bool) -> dict[str, Any]:
    return {
        # Each data party trains on `threads` CPUs; `workers` of them at a time.
        "client_resources": {"num_cpus": config.threads, "num_gpus": 0.0},
        "init_args": {"num_cpus": config.workers * config.threads, "num_gpus": 0,
                      "include_dashboard": False, "log_to_driver": verbose,
                      "logging_level": "INFO" if verbose else "ERROR"},
    }


class _HideDeprecation(logging.Filter):
    """Flower 1.41 calls ``run_simulation`` deprecated in favour of ``flwr run`` (a CLI over
    a packaged app); the Python entry point still works and is what this module needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "DEPRECATED FEATURE" not in record.getMessage()


@contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Flower logs every round at INFO and client failures with tracebacks: hidden unless
    ``verbose`` (a failed party is reported in the result and the round's report)."""
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # see crossbound.federation
    from flwr.supercore import telemetry  # Flower: imported when a run starts

    telemetry.FLWR_TELEMETRY_ENABLED = os.environ["FLWR_TELEMETRY_ENABLED"]
    logger = logging.getLogger("flwr")
    level, hide = logger.level, _HideDeprecation()
    logger.addFilter(hide)
    if not verbose:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.removeFilter(hide)
