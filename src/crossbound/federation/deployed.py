"""The ServerApp and ClientApp as Flower's deployment runtime runs them.

In deployment, Flower loads both apps from a Flower App Bundle (FAB) in fresh processes: the
SuperLink starts ``flwr-serverapp`` for the model party, and every SuperNode starts one
``flwr-clientapp`` process per message for its data party. Neither can be handed Python
objects, so the apps read the config from the run config (the FAB's
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
from pathlib import Path
from typing import Any

import torch
from flwr.app import Context
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from crossbound.federation.config import FederationConfig
from crossbound.federation.deploy import CONFIG_KEY, OUT_ENV, ROUNDS_FILE, STATUS_FILE
from crossbound.federation.outputs import TRANSCRIPTS, measured
from crossbound.federation.run import check_parties, client_app
from crossbound.federation.strategies import config_from_dict, spec_of
from crossbound.tasks.registry import load_task


def config_of(context: Context) -> FederationConfig:
    raw = context.run_config.get(CONFIG_KEY)
    if not isinstance(raw, str):
        raise ValueError(f"the run config has no {CONFIG_KEY!r} (a federation config as "
                         "JSON); start runs with crossbound federate --deployment")
    return config_from_dict(json.loads(raw))


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
    torch.set_num_threads(config.threads)
    task = load_task(config.task)
    check_parties(config, task)
    party = spec_of(config).model_party(config, task, lambda line: None)
    on_round = _append_round(out / ROUNDS_FILE)
    wall, peak_mb = measured(lambda: party.serve(grid, out / TRANSCRIPTS, on_round),
                             party.state)
    party.finish(wall, peak_mb, out)


def _append_round(progress: Path) -> Any:
    """An ``on_round`` that appends each round's report to ``progress`` (one JSON line),
    which ``crossbound federate`` follows from its own process."""
    def on_round(report: Any) -> None:
        with progress.open("a", encoding="utf-8") as f:
            f.write(json.dumps(report.to_dict()) + "\n")

    return on_round


# ---------------------------------------------------------------- the data parties


def make_deployed_client_app() -> ClientApp:
    """The data parties' ClientApp: the handlers (and mods, e.g. SecAgg+'s) of the strategy
    the run config names. (Unlike the simulation's, it runs them in the default precision.)"""
    return client_app(config_of, in_precision=False)
