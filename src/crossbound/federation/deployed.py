"""The ServerApp and ClientApp as Flower's deployment runtime runs them.

In deployment, Flower loads both apps from a Flower App Bundle (FAB) in fresh processes: the
SuperLink starts ``flwr-serverapp`` for the model party, and every SuperNode starts one
``flwr-clientapp`` process per message for its data party. Neither can be handed Python
objects, so the apps read the :class:`FederationConfig` from the run config (the FAB's
``[tool.flwr.app.config]``, written by :mod:`crossbound.federation.deploy`), and the model
party's output folder from the ``CROSSBOUND_FEDERATE_OUT`` environment variable of its
SuperLink (so the data parties never see a path of the model party's machine).

The model party writes, besides what a simulation run writes, ``rounds.jsonl`` (one line per
round as it completes, which ``crossbound federate`` prints) and ``status.json`` (``ok`` and,
on failure, ``error``) when it stops.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.app import Message as FlowerMessage
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable
from flwr.serverapp import Grid, ServerApp

from crossbound.federation.client import handle_evaluate, handle_hello, handle_train
from crossbound.federation.config import FederationConfig
from crossbound.federation.deploy import CONFIG_KEY, OUT_ENV, ROUNDS_FILE, STATUS_FILE
from crossbound.federation.run import TRANSCRIPTS, check_parties, finish, finish_mutual, model_party


def config_of(context: Context) -> FederationConfig:
    raw = context.run_config.get(CONFIG_KEY)
    if not isinstance(raw, str):
        raise ValueError(f"the run config has no {CONFIG_KEY!r} (a FederationConfig as JSON); "
                         "start runs with crossbound federate --deployment")
    return FederationConfig.from_json(raw)


# ---------------------------------------------------------------- the model party


def make_deployed_server_app() -> ServerApp:
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        out = os.environ.get(OUT_ENV)
        if not out:
            raise RuntimeError(f"{OUT_ENV} is not set in the SuperLink's environment")
        serve_deployed(config_of(context), Path(out), grid)

    return app


def serve_deployed(config: FederationConfig, out: Path, grid: Grid) -> None:
    """Run the model party on ``grid`` and write the whole result to ``out``."""
    status: dict[str, Any] = {"ok": False, "error": "the model party stopped unexpectedly"}
    try:
        _serve(config, out, grid)
        status = {"ok": True}
    except Exception as exc:
        status = {"ok": False, "error": str(exc) or type(exc).__name__}
        raise
    finally:
        (out / STATUS_FILE).write_text(json.dumps(status) + "\n", encoding="utf-8")


def _serve(config: FederationConfig, out: Path, grid: Grid) -> None:
    import torch

    from crossbound.federation.adapter import adapter_tensors
    from crossbound.federation.server import ServerState, serve
    from crossbound.result import PeakMemory
    from crossbound.tasks.registry import load_task

    torch.set_num_threads(config.threads)
    task = load_task(config.task)
    check_parties(config, task)
    if config.strategy == "fed-mutual-kt":
        _serve_mutual(config, task, out, grid)
        return
    adapted, hooks = model_party(config, task, lambda line: None)
    state = ServerState()
    on_round = _append_round(out / ROUNDS_FILE)
    with PeakMemory() as memory:
        started = time.perf_counter()
        try:
            serve(config, len(task.parties), adapter_tensors(adapted.model), adapted.spec,
                  out / TRANSCRIPTS, state, grid, on_round, hooks)
        except Exception:
            if state.error is None:
                raise
        wall = time.perf_counter() - started
    finish(config, task, adapted, state, wall, memory.peak_mb, out, hooks)


def _serve_mutual(config: FederationConfig, task: Any, out: Path, grid: Grid) -> None:
    from crossbound.federation.mutual_server import MutualState, serve_mutual
    from crossbound.models.loading import load_model
    from crossbound.models.precision import resolve_precision, torch_dtype
    from crossbound.result import PeakMemory

    # frozen weights in the federation's precision (LoRA trained on it stays fp32)
    lm = load_model(config.large, dtype=torch_dtype(resolve_precision(config.precision)))
    state = MutualState()
    with PeakMemory() as memory:
        started = time.perf_counter()
        try:
            serve_mutual(config, task, lm, out / TRANSCRIPTS, state, grid,
                         _append_round(out / ROUNDS_FILE))
        except Exception:
            if state.error is None:
                raise
        wall = time.perf_counter() - started
    finish_mutual(config, task, state, wall, memory.peak_mb, out)


def _append_round(progress: Path) -> Any:
    """An ``on_round`` that appends each round's report to ``progress`` (one JSON line),
    which ``crossbound federate`` follows from its own process."""
    def on_round(report: Any) -> None:
        with progress.open("a", encoding="utf-8") as f:
            f.write(json.dumps(report.to_dict()) + "\n")

    return on_round


# ---------------------------------------------------------------- the data parties


def make_deployed_client_app() -> ClientApp:
    app = ClientApp(mods=[_secure_if_configured])

    @app.query()
    def hello(message: FlowerMessage, context: Context) -> FlowerMessage:
        return handle_hello(config_of(context), message, context)

    @app.train()
    def train(message: FlowerMessage, context: Context) -> FlowerMessage:
        return handle_train(config_of(context), message, context)

    @app.evaluate()
    def evaluate(message: FlowerMessage, context: Context) -> FlowerMessage:
        return handle_evaluate(config_of(context), message, context)

    return app


def _secure_if_configured(message: FlowerMessage, context: Context,
                          call_next: ClientAppCallable) -> FlowerMessage:
    """Flower's SecAgg+ mod on train messages when the run asks for secure aggregation."""
    if not config_of(context).secure_aggregation:
        return call_next(message, context)
    from flwr.client.mod import secaggplus_mod

    return secaggplus_mod(message, context, call_next)
