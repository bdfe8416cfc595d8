"""federation: many data parties on Flower (``fed-adapter``), every crossing still recorded.

``run_federation(config)`` runs the model party as a Flower ServerApp and the data parties as
a ClientApp on Flower's simulation runtime (Ray), or on its deployment runtime (a SuperLink
and one SuperNode process per data party: :mod:`crossbound.federation.deploy`);
``crossbound federate CONFIG [--deployment]`` is the same from the command line. Parties that
crash, hang or go offline drop out of a round, not the run; ``secure_aggregation`` adds
SecAgg+ (:mod:`crossbound.federation.secagg`); ``emulator_of`` makes the parties tune the
LM's offsite-tuning emulator instead of an SM ("OT+", :mod:`crossbound.federation.offsite_plus`);
``fed-mutual-kt`` exchanges knowledge instead of weights (:mod:`~.mutual_server`). Each
strategy is a config class and a run, registered by name in
:data:`~crossbound.federation.strategies.FEDERATED_STRATEGIES`. Flower
and Ray are the optional ``federation`` extra (``pip install 'crossbound[federation]'``) and
are imported only when a run starts.

Flower's telemetry and Ray's usage statistics are switched off (unless the environment says
otherwise) before either is imported: a federation run sends nothing anywhere but to its
parties.
"""

from __future__ import annotations

import os

for _name in ("FLWR_TELEMETRY_ENABLED", "RAY_USAGE_STATS_ENABLED"):
    os.environ.setdefault(_name, "0")
# Ray >= 2.5x warns on every start that it will stop overriding CUDA_VISIBLE_DEVICES when an
# actor asks for no GPU; opting in to that behaviour now silences it (the data parties use CPUs).
os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")

__all__ = ["FEDERATED_STRATEGIES", "FedAdapterConfig", "FedMutualKTConfig", "FederationConfig",
           "config_from_dict", "load_config", "run_federation"]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # lazy: importing the package must not import torch, Flower or Ray (these modules import
    # torch, not Flower or Ray)
    from crossbound.federation.adapter_config import FedAdapterConfig
    from crossbound.federation.config import FederationConfig
    from crossbound.federation.mutual_config import FedMutualKTConfig
    from crossbound.federation.run import run_federation
    from crossbound.federation.strategies import (
        FEDERATED_STRATEGIES,
        config_from_dict,
        load_config,
    )

    names: dict[str, object] = {
        "FEDERATED_STRATEGIES": FEDERATED_STRATEGIES, "FedAdapterConfig": FedAdapterConfig,
        "FedMutualKTConfig": FedMutualKTConfig, "FederationConfig": FederationConfig,
        "config_from_dict": config_from_dict, "load_config": load_config,
        "run_federation": run_federation}
    return names[name]
