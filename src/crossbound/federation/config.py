"""The settings every federated strategy shares, and how a config is written to a file.

A federation run is one TOML or JSON file for ``crossbound federate CONFIG``: a flat table of
settings plus optional tables (``[faults]``, ``[party_small]``)::

    strategy = "fed-adapter"
    task = "clinic-triage:parties=4,partition=dirichlet,alpha=0.5"
    small = "smollm2-135m:layers=6"
    rounds = 3
    aggregation = "median"

    [faults]                 # robustness experiments: parties that misbehave on purpose
    "data-party-3" = "scale:1000"

``strategy`` picks the config class (:mod:`crossbound.federation.strategies` registers them:
:class:`~crossbound.federation.adapter_config.FedAdapterConfig` for ``fed-adapter``,
:class:`~crossbound.federation.mutual_config.FedMutualKTConfig` for ``fed-mutual-kt``); each
is this base plus the settings of its strategy. Values are checked on creation (type and
range), so a bad file fails before Flower or Ray start, with a one-line message naming the
setting. TOML has no null: ``eval_limit = "none"`` (JSON: ``null``) for a setting that takes
None.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Self

from crossbound.config_checks import check_at_least, check_limits
from crossbound.strategy import StrategyConfig

PARTY_NAME = re.compile(r"^data-party-(\d+)$")
Runtime = Literal["simulation", "deployment"]
RUNTIMES: tuple[str, ...] = typing.get_args(Runtime)
# A fault a data party can be told to commit (tests and robustness experiments only):
# "nan" fills its update with NaN; "scale:F" sends global + F·(local − global); "crash:R"
# raises instead of training in round R; "hang:R" answers round R only after the model
# party has stopped waiting (round_timeout + 5 s; in simulation give workers >= 2, or the
# hung Ray worker holds up every party).
FAULT = re.compile(r"^(nan|scale:[-+0-9.eE]+|(crash|hang):[0-9]+)$")
FAULT_HELP = "use 'nan', 'scale:F', 'crash:R' or 'hang:R' (R: a round number)"
# What the values of a table of party name = string settings are (for its error message).
PARTY_TABLES = {"faults": "fault", "party_small": "model spec"}


@dataclass
class FederationConfig(StrategyConfig):
    """The settings of every federated strategy; a strategy's config subclasses it, names
    its strategy (``name``) and extends :meth:`validate`.

    ``strategy``: the registered name (filled in from the class). ``task``: a task with
    options; its ``parties`` option sets how many data parties there are. ``small``: the
    data parties' SM. ``rounds``: federated rounds after registration. ``local_epochs``:
    passes over a party's records per round, at ``lr``, ``batch_size``, ``max_length``;
    every SM is tuned with LoRA (``lora_rank``, ``lora_alpha``). ``eval_limit``: test records
    scored after every round (None: the whole test split); ``evaluate_initial``: score before
    round 1 too. ``round_timeout``: seconds the model party waits for the replies of one
    round (a party that has not answered by then is reported and left out of that round).
    ``min_parties``: a round goes on with the parties that answered if there are at least
    this many (a party that crashed, timed out, was offline or sent an invalid reply drops
    out of that round only); with fewer, the run stops naming who was missing.
    ``runtime``: ``simulation`` (Ray, one process) or ``deployment`` (a Flower SuperLink and
    one SuperNode process per data party, started on this machine; see
    :mod:`crossbound.federation.deploy`). ``workers``: data parties trained at the same time
    (Ray actors, each with ``threads`` torch threads). ``keep_payloads``: transcripts keep
    what crossed, not only its digest. ``out``: the output folder. ``faults``: party name ->
    ``nan``, ``scale:F``, ``crash:R`` or ``hang:R``, a deliberately faulty party for
    robustness experiments (a strategy may allow fewer).
    """

    # The registered strategy name of a concrete config class (the base has none).
    name: ClassVar[str] = ""

    strategy: str = ""
    task: str = "clinic-triage:parties=4,partition=dirichlet,alpha=0.5"
    small: str = "smollm2-135m:layers=6"
    rounds: int = 3
    local_epochs: float = 1.0
    lr: float = 1e-3
    batch_size: int = 8
    max_length: int = 192
    lora_rank: int = 8
    lora_alpha: int = 16
    eval_limit: int | None = 200
    evaluate_initial: bool = True
    round_timeout: float = 3600.0
    min_parties: int = 2
    runtime: Runtime = "simulation"
    workers: int = 1
    threads: int = 1
    keep_payloads: bool = True
    out: str = "runs/federate"
    faults: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not type(self).name:
            raise TypeError("FederationConfig holds the settings every federated strategy "
                            "shares; build a strategy's config (FedAdapterConfig, "
                            "FedMutualKTConfig) or crossbound.federation.strategies"
                            ".config_from_dict(settings), which picks it by `strategy`")
        if not self.strategy:
            self.strategy = self.name
        super().__post_init__()

    def validate(self) -> None:
        _check_types(self)
        super().validate()
        if self.strategy != self.name:
            raise ValueError(f"strategy = {self.strategy!r}, but {type(self).__name__} is the "
                             f"config of {self.name!r}; build the config with "
                             "crossbound.federation.strategies.config_from_dict, which picks "
                             "the class by strategy")
        for name in ("task", "small", "out"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")
        check_at_least(self, 1, "rounds", "batch_size", "lora_rank", "lora_alpha", "workers",
                       "threads", "min_parties")
        check_finite_positive(self, "local_epochs", "lr")
        check_at_least(self, 16, "max_length")
        check_limits(self, "eval_limit")
        if not self.round_timeout > 0:
            raise ValueError(f"round_timeout must be > 0 seconds, got {self.round_timeout}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {self.runtime!r}")
        for party, fault in self.faults.items():
            if not PARTY_NAME.match(party):
                raise ValueError(f"faults: {party!r} is not a data party name (data-party-N)")
            if not FAULT.match(fault) or (fault.startswith("scale:")
                                          and not _is_number(fault[6:])):
                raise ValueError(f"faults: {party} = {fault!r}: {FAULT_HELP}")

    def for_run(self, out: Path) -> Self:
        """This config as a run writing to ``out`` uses it (a strategy fills in settings
        that default to a folder under ``out``)."""
        return self

    def party_tables(self) -> dict[str, dict[str, str]]:
        """The settings keyed by data party name (each name must exist in the task)."""
        return {"faults": self.faults}

    def check_parties(self, parties: int) -> None:
        """What can only be checked once the task says how many data parties there are."""
        for table, names in self.party_tables().items():
            for name in names:
                match = PARTY_NAME.match(name)
                if match is None or int(match.group(1)) >= parties:
                    raise ValueError(f"{table}: {name} does not exist ({self.task} has "
                                     f"{parties} data parties: data-party-0 … "
                                     f"data-party-{parties - 1})")
        if self.min_parties > parties:
            raise ValueError(f"min_parties = {self.min_parties} exceeds the {parties} data "
                             f"parties of {self.task}; lower it")

    @classmethod
    def settings(cls) -> list[str]:
        """The names of this config's settings, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    # ------------------------------------------------------------ files

    def to_toml(self) -> str:
        """TOML text that :func:`~crossbound.federation.strategies.load_config` reads back
        to an equal config (TOML has no null: a setting that is None is written as the
        string ``"none"``; an empty table is left out)."""
        import tomli_w  # a dependency of flwr, which federation needs anyway

        data = {k: "none" if v is None else v for k, v in self.to_dict().items()}
        for table in [k for k, v in data.items() if isinstance(v, dict)]:
            value = data.pop(table)  # a table must come after the plain keys
            if value:
                data[table] = value
        return tomli_w.dumps(data)

    def write(self, path: str | Path) -> Path:
        """Write ``path`` as TOML (``.toml``) or JSON (anything else)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        text = self.to_toml() if out.suffix.lower() == ".toml" else \
            json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        out.write_text(text, encoding="utf-8")
        return out


# ---------------------------------------------------------------- checks


def check_finite_positive(config: object, *names: str, optional: bool = False) -> None:
    """Each of ``names`` is a finite number > 0 (``optional``: or None)."""
    for name in names:
        value = getattr(config, name)
        if optional and value is None:
            continue
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0"
                             f"{' or None' if optional else ''}, got {value}")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _check_types(config: FederationConfig) -> None:
    """Refuse a value of the wrong type (``rounds = "3"``), naming the setting. An int is
    taken where a float is expected (``lr = 1``) and stored as a float."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        hint = hints[f.name]
        args = typing.get_args(hint)
        if typing.get_origin(hint) is Literal:
            if value not in args:
                raise ValueError(f"{f.name} must be one of {list(args)}, got {value!r}")
            continue
        if typing.get_origin(hint) is dict:  # a table of party name = string
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                what = PARTY_TABLES.get(f.name, "string")
                raise ValueError(f"{f.name} must be a table of party name = {what} strings")
            continue
        allowed = args if args else (hint,)
        if type(None) in allowed and isinstance(value, str) and value.lower() == "none":
            setattr(config, f.name, None)  # TOML has no null
            continue
        if value is None and type(None) in allowed:
            continue
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            setattr(config, f.name, float(value))
            continue
        ok = any(isinstance(value, t) and not (t is int and isinstance(value, bool))
                 for t in allowed if isinstance(t, type) and t is not type(None))
        if not ok:
            expected = " or ".join("none" if t is type(None) else t.__name__ for t in allowed)
            raise ValueError(f"{f.name} must be {expected}, got {value!r} "
                             f"({type(value).__name__})")
