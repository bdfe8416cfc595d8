"""The federated strategies, by name: each one's config class, its model party's run and its
data parties' handlers, registered in one place (:data:`FEDERATED_STRATEGIES`).

``crossbound federate``, :func:`crossbound.federation.run.run_federation`, the deployment
runtime's apps and ``benchmarks/federation_scaling.py`` look a strategy up here by the
``strategy`` setting of a config; :func:`config_from_dict` and :func:`load_config` pick the
config class the same way. Another strategy joins with :func:`register_federated` (a name
may be registered once)::

    register_federated(FederatedStrategySpec(
        "fed-mine", MyConfig, "what it does", model_party=MyModelParty.prepare,
        data_party=my_handlers))

Nothing here imports Flower: a config can be read, checked and listed without it.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.config import FederationConfig
from crossbound.federation.fed_adapter import AdapterModelParty
from crossbound.federation.fed_adapter import data_party as adapter_data_party
from crossbound.federation.fed_mutual_kt import MutualModelParty
from crossbound.federation.fed_mutual_kt import data_party as mutual_data_party
from crossbound.federation.mutual_config import FedMutualKTConfig
from crossbound.naming import coerce
from crossbound.result import Result
from crossbound.tasks.base import Task

if TYPE_CHECKING:
    from flwr.serverapp import Grid

    from crossbound.federation.data_party import DataPartyHandlers

DEFAULT_STRATEGY = "fed-adapter"  # what a config that names no strategy runs


class ModelPartyRun(Protocol):
    """The model party's side of one run, once prepared (models loaded): it serves the rounds
    on a Flower grid — in this process's simulation, or in a SuperLink's ServerApp — and
    writes the result. ``state`` records the rounds and, if it stopped early, why
    (``state.error``)."""

    state: Any

    def describe(self) -> str:
        """What the parties will work on, for the status line a run prints."""
        ...

    def serve(self, grid: Grid, folder: Path, on_round: Callable[[Any], None] | None,
              ) -> None: ...

    def finish(self, wall: float, peak_mb: float, out: Path) -> Result: ...


@dataclass(frozen=True)
class FederatedStrategySpec:
    """One federated strategy: ``name`` (the ``strategy`` setting), its config class, a
    one-line ``summary``, ``model_party(config, task, status)`` (prepares the model party's
    side of a run) and ``data_party()`` (the data parties' ClientApp handlers; may import
    Flower)."""

    name: str
    config_class: type[FederationConfig]
    summary: str
    model_party: Callable[[Any, Task, Callable[[str], None]], ModelPartyRun]
    data_party: Callable[[], DataPartyHandlers]

    def __post_init__(self) -> None:
        if self.config_class.name != self.name:
            raise ValueError(f"{self.config_class.__name__} is the config of "
                             f"{self.config_class.name!r}, not of {self.name!r}")


FEDERATED_STRATEGIES: dict[str, FederatedStrategySpec] = {}


def register_federated(spec: FederatedStrategySpec) -> FederatedStrategySpec:
    """Add ``spec`` to :data:`FEDERATED_STRATEGIES`; a name is registered once."""
    if spec.name in FEDERATED_STRATEGIES:
        raise ValueError(f"a federated strategy named {spec.name!r} is already registered")
    FEDERATED_STRATEGIES[spec.name] = spec
    return spec


def federated_strategy(name: str) -> FederatedStrategySpec:
    """The strategy registered as ``name``, or an error listing the registered ones."""
    if name not in FEDERATED_STRATEGIES:
        raise ValueError(f"strategy must be one of {sorted(FEDERATED_STRATEGIES)}, got "
                         f"{name!r}")
    return FEDERATED_STRATEGIES[name]


def spec_of(config: FederationConfig) -> FederatedStrategySpec:
    """The registered strategy ``config`` belongs to."""
    return federated_strategy(config.strategy)


# ---------------------------------------------------------------- configs


def config_from_dict(data: Mapping[str, Any]) -> FederationConfig:
    """The config of the strategy ``data["strategy"]`` names (default ``fed-adapter``).

    A setting another registered strategy has but this one lacks is dropped if it holds
    that strategy's default (a file written before the configs were split lists every
    setting) and refused otherwise, naming the strategy it belongs to; an unknown one is
    refused with this strategy's settings listed."""
    cls = _config_class(data.get("strategy", DEFAULT_STRATEGY))
    return cls.from_dict(_own_settings(cls, data))


def config_from_overrides(overrides: Mapping[str, str]) -> FederationConfig:
    """As :func:`config_from_dict`, from ``--set key=value`` strings (each converted to its
    setting's type)."""
    cls = _config_class(overrides.get("strategy", DEFAULT_STRATEGY))
    return cls.from_overrides(_own_settings(cls, overrides))


def load_config(path: str | Path) -> FederationConfig:
    """Read a ``.toml`` or ``.json`` federation config; errors name the file and the setting."""
    source = Path(path)
    if source.suffix.lower() not in (".toml", ".json"):
        raise ValueError(f"{source}: a federation config is a .toml or .json file")
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{source}: no such config file") from None
    try:
        data = tomllib.loads(text) if source.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{source}: not valid {source.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a table of settings at the top level")
    try:
        return config_from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{source}: {exc}") from exc


def _config_class(strategy: object) -> type[FederationConfig]:
    if not isinstance(strategy, str):
        raise ValueError(f"strategy must be a string, got {strategy!r}")
    return federated_strategy(strategy).config_class


def _own_settings(cls: type[FederationConfig], data: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of ``data`` that ``cls`` has. One that another strategy's config has
    instead is left out if it holds that config's default (``--set`` strings are read as
    ``crossbound run`` reads them; ``"none"`` is None), and refused otherwise."""
    own = cls.settings()
    for key in sorted(set(data) - set(own)):
        owner = next((s.config_class for s in FEDERATED_STRATEGIES.values()
                      if key in s.config_class.settings()), None)
        if owner is None:
            raise ValueError(f"{cls.name} has no setting {key!r}; its settings: "
                             f"{', '.join(own)}")
        value = data[key]
        readings = [value, coerce(value)] if isinstance(value, str) else [value]
        if _default(owner, key) not in readings:  # "none" may be None, "0.2" 0.2
            raise ValueError(f"{key} is a {owner.name} setting; {cls.name} does not use it: "
                             f"remove it or set strategy = '{owner.name}' ({cls.name}'s "
                             f"settings: {', '.join(own)})")
    return {k: v for k, v in data.items() if k in own}


def _default(cls: type[FederationConfig], key: str) -> Any:
    default = cls.__dataclass_fields__[key]
    if default.default_factory is not dataclasses.MISSING:
        return default.default_factory()
    return default.default


# ---------------------------------------------------------------- the built-in strategies

register_federated(FederatedStrategySpec(
    "fed-adapter", FedAdapterConfig,
    "data parties fine-tune LoRA adapters of their SM (or, with emulator_of, of the LM's "
    "emulator: OT+); the model party aggregates them every round (FedAvg, median, trimmed "
    "mean; optional SecAgg+ and DP)",
    model_party=AdapterModelParty.prepare, data_party=adapter_data_party))
register_federated(FederatedStrategySpec(
    "fed-mutual-kt", FedMutualKTConfig,
    "the LM and every party's SM exchange top-k log-probs on public texts every round and "
    "each side distils the other's (FedMKT)",
    model_party=MutualModelParty.prepare, data_party=mutual_data_party))
