"""Strategies: one config dataclass and one class per method, registered by name per family.

A strategy's :meth:`Strategy.run` receives a :class:`RunContext` (task, model names, the
boundary, an output folder, progress) and returns a :class:`~crossbound.result.Result`. The
families (downward, upward, inference, baseline) each keep a :class:`Registry`; names are unique
across all of them. ``docs/adding-a-strategy.md`` walks through adding one;
:mod:`crossbound.config_checks` has the checks and the groups of settings configs share;
:mod:`crossbound.baselines.common` is the strategies' kit (records, the SM's tuning, asking the
LM, measurement rules).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from crossbound.boundary.channel import Boundary, Handler
from crossbound.boundary.contracts import MODEL_PARTY, AccessContract, GuardContext
from crossbound.boundary.messages import Message
from crossbound.config_checks import Settings, check_literals
from crossbound.models.loading import LoadedModel, load_model
from crossbound.models.precision import Precision, check_precision, frozen_dtype
from crossbound.naming import DATA_PARTY, coerce
from crossbound.parties import ModelParty
from crossbound.parties.model_party import ProgressHook
from crossbound.result import Result
from crossbound.tasks.base import Example, Task

if typing.TYPE_CHECKING:
    from crossbound.evaluate.membership import Scope

Direction = Literal["downward", "upward", "inference", "baseline"]
# A strategy's bench cells: profile -> (setting label, --set-style overrides) pairs.
BenchCells = Mapping[str, Sequence[tuple[str, Mapping[str, str]]]]


def cells(**profiles: Sequence[tuple[str, Mapping[str, str]]]) -> BenchCells:
    """A strategy's ``bench_cells``, read-only: ``cells(quick=[("default", {...})],
    full=[...])``; a profile not named runs none of its cells."""
    return MappingProxyType({profile: tuple((label, MappingProxyType(dict(overrides)))
                                            for label, overrides in settings)
                             for profile, settings in profiles.items()})


@dataclass
class StrategyConfig(Settings):
    """Base of every strategy's config: validated on creation, JSON round-trip. The groups of
    settings configs share (:mod:`crossbound.config_checks`) come before it in a config's
    bases: ``class MyConfig(SMFineTuning, Records, StrategyConfig)``."""

    seed: int = 0
    # Numeric precision of every model the run loads and trains (models/precision.py): bf16
    # weights for frozen models and bf16 autocast over fp32 master weights for training where
    # the CPU has bf16 instructions ("auto"), or fp32 / bf16 explicitly.
    precision: Precision = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field and the allowed values. Subclasses extend."""
        super().validate()
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        check_precision(self.precision)
        check_literals(self)  # every Literal setting, here once for all configs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {unknown}; fields: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_overrides(cls: type[C], overrides: dict[str, str]) -> C:
        """Build from ``--set key=value`` strings, converting each to its field's type."""
        hints = typing.get_type_hints(cls)
        data: dict[str, Any] = {}
        for key, raw in overrides.items():
            if key not in hints:
                raise ValueError(
                    f"{cls.__name__} has no setting {key!r}; settings: "
                    f"{sorted(f.name for f in dataclasses.fields(cls))}"
                )
            data[key] = _convert(raw, hints[key], key)
        return cls.from_dict(data)


C = TypeVar("C", bound=StrategyConfig)


def _convert(raw: str, hint: Any, key: str) -> Any:
    value = coerce(raw)
    origin = typing.get_origin(hint)
    allowed = typing.get_args(hint) if origin is not None else (hint,)
    if origin is Literal:
        if value not in allowed and raw not in allowed:
            raise ValueError(f"{key}={raw!r}: choose one of {list(allowed)}")
        return raw if raw in allowed else value
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if str in allowed and not isinstance(value, str):
        return raw
    if not isinstance(value, tuple(t for t in allowed if isinstance(t, type))):
        names = [getattr(t, "__name__", str(t)) for t in allowed]
        raise ValueError(f"{key}={raw!r}: expected {' or '.join(names)}")
    return value


class ProgressTask(Protocol):
    """A unit of progress a strategy reports; the CLI draws it as a rich bar."""

    def advance(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


class NullProgress:
    """Progress that goes nowhere (library use without a display)."""

    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


ProgressFactory = Callable[[str, int | None], ProgressTask]


class PartyProgress:
    """Draws an in-process model party's long work (its ``on_progress`` reports: label, done,
    total) as bars of the run's progress display."""

    def __init__(self, factory: ProgressFactory) -> None:
        self.factory = factory
        self.shown: dict[str, tuple[ProgressTask, int]] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        task, shown = self.shown.get(label) or (self.factory(label, total), 0)
        if done > shown:
            task.advance(done - shown)
        if done >= total:
            task.close()
            self.shown.pop(label, None)
        else:
            self.shown[label] = (task, max(done, shown))


T = TypeVar("T")


class SharedWork(Protocol):
    """Work the runs of one bench share (:class:`~crossbound.bench.shared.BenchShare`): the
    in-process model party over one LM that answers what an earlier cell already asked from
    memory, and SM fine-tunings already done; each run is charged what it reused."""

    def party(self, batch_size: int = 8,
              progress: ProgressHook | None = None) -> Handler: ...

    def trained(self, key: dict[str, Any], model: Any, train: Callable[[], T]) -> T: ...

    def once(self, key: dict[str, Any], compute: Callable[[], T]) -> T: ...

    def begin_cell(self) -> None: ...

    def reused(self) -> dict[str, float]:
        """This run's work taken from memory, with the seconds it cost where it was done."""
        ...


@dataclass
class AttackTarget:
    """A tuned SM a run offers to the runner's attacks (:meth:`RunContext.offer_tuned_sm`):
    the model and its tokenizer, the records it trained on (the attacks' members), the longest
    record it saw in tokens, and what it was trained on in each record (``scope``: ``answer``,
    or ``sequence`` for the whole prompt + answer)."""

    model: Any
    tokenizer: Any
    trained_on: Sequence[Example]
    max_length: int
    scope: Scope = "answer"


@dataclass
class RunContext:
    """Everything a strategy run gets from outside."""

    task: Task
    large: str
    small: str
    out_dir: Path
    boundary: Boundary
    progress: ProgressFactory = field(default=lambda label, total: NullProgress())
    # Evaluation traffic that is not part of the protocol (e.g. the LM's utility on raw test
    # prompts, as a reference): recorded in its own transcript and reported apart, so the
    # protocol's transcript and its PII scan show only what the strategy itself sends.
    measurement: Boundary | None = None
    # The bench's shared work: the in-process model party and SM trainings (SharedWork).
    shared: SharedWork | None = None
    # What the run offers the runner's attacks (offer_tuned_sm); the runner takes it after run.
    attack_target: AttackTarget | None = None

    def measure(self, message: Message) -> Message:
        """Send ``message`` over the measurement channel (see ``measurement``) and return the
        reply; the model party must be reachable (``connect_model_party``)."""
        if self.measurement is None:
            raise RuntimeError("this run has no measurement channel")
        return self.measurement.request(message)

    def connect_model_party(self, batch_size: int = 8) -> None:
        """Make the model party reachable: load the LM in process, unless it is remote."""
        if self.boundary.reaches(MODEL_PARTY):
            return
        if self.shared is not None:
            self.boundary.attach(self.shared.party(batch_size, PartyProgress(self.progress)))
            return

        with self.step(f"loading large model {self.large}"):
            lm = load_model(self.large, frozen=True)  # the model party only runs its LM
            party = ModelParty(lm, batch_size=batch_size)
            party.on_progress = PartyProgress(self.progress)
            self.boundary.attach(party)

    def load_small(self, *, frozen: bool = False) -> LoadedModel:
        """The data party's SM (``small``): ``frozen`` where nothing of it trains — weights in
        the run's precision, bf16 where the CPU has it — else fp32 weights to train."""
        with self.step(f"loading small model {self.small}"):
            return load_model(self.small, frozen=frozen)

    def guard_private(self, private: Iterable[Example],
                      public_texts: Iterable[str] = ()) -> GuardContext:
        """Have the boundary's content guards (``no-raw-private-text``) refuse any message of
        the data party that repeats one of the ``private`` records; word runs of
        ``public_texts`` stay shareable (templated records repeat them). Returns the guard
        context, for what a strategy adds to it (a tokenizer's ``decode``, ``extra``)."""
        context = GuardContext(private_texts=[ex.text for ex in private],
                               public_texts=list(public_texts))
        self.boundary.guard_contexts[DATA_PARTY] = context
        return context

    def save_small_model(self, result: Result, model: Any, tokenizer: Any) -> None:
        """Write the tuned SM (safetensors) and its tokenizer to ``OUT/small-model`` and name
        it in the result's artifacts."""
        folder = self.out_dir / "small-model"
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        result.artifacts["small_model"] = str(folder)

    def offer_tuned_sm(self, model: Any, tokenizer: Any, trained_on: Sequence[Example], *,
                       max_length: int, scope: Scope = "answer") -> None:
        """Offer the tuned SM ``model`` (trained on the records ``trained_on``, at most
        ``max_length`` tokens each, on the answers or, ``scope="sequence"``, the whole records)
        to the attacks. Where the config asks (``attacks``, the ``Attacks`` group of
        :mod:`crossbound.config_checks`), the runner attacks it after ``run`` returns —
        membership inference and canary exposure against the untuned SM, into
        ``metrics["privacy"]`` — and then lets it go; a strategy never calls attack code."""
        self.attack_target = AttackTarget(model, tokenizer, trained_on, max_length, scope)

    def train_once(self, key: dict[str, Any], model: Any, train: Callable[[], T]) -> T:
        """Run ``train`` (a fine-tuning of ``model`` in place), unless this bench already ran
        the training ``key`` describes: then ``model`` gets its weights (see ``shared``).
        ``key`` must name everything the outcome depends on."""
        if self.shared is None:
            return train()
        return self.shared.trained(self._shared_key(key), model, train)

    def compute_once(self, key: dict[str, Any], compute: Callable[[], T]) -> T:
        """``compute()`` — a pure function of ``key``, the SM, the task and the precision —
        or its value from an earlier run of this bench (see ``shared``)."""
        if self.shared is None:
            return compute()
        return self.shared.once(self._shared_key(key), compute)

    def _shared_key(self, key: dict[str, Any]) -> dict[str, Any]:
        return {**key, "small": self.small, "task": self.task.fingerprint(),
                "dtype": str(frozen_dtype())}

    @contextmanager
    def step(self, label: str, total: int | None = None) -> Iterator[ProgressTask]:
        task = self.progress(label, total)
        try:
            yield task
        finally:
            task.close()


class Strategy(ABC, Generic[C]):
    """One method of the taxonomy: ``class LogitKD(Strategy[LogitKDConfig])``. Subclasses set
    the class attributes and implement ``run``, which reads its settings from ``self.config``
    (typed: a ``LogitKDConfig`` there). ``config_class`` comes from the type argument."""

    name: ClassVar[str]
    direction: ClassVar[Direction]
    summary: ClassVar[str]
    paper: ClassVar[str]  # arXiv id or URL the method follows
    needs_model_party: ClassVar[str]  # what the model party must provide
    needs_data_party: ClassVar[str]  # what the data party must provide
    crosses: ClassVar[str]  # what crosses the boundary, in which direction
    # The config's class: ``C`` at run time (a ClassVar cannot name a type variable). Set from
    # ``Strategy[C]`` when the class does not set it itself.
    config_class: ClassVar[type[StrategyConfig]]
    # What may cross under the default config; everything else is refused. A run's contract
    # is ``contract_for(config)``, fixed before the run starts.
    contract: ClassVar[AccessContract]
    # Whether text derived from private records (raw, sanitised or perturbed) crosses to the
    # model party. The bench only calls a run leak-free when this is False *and* its PII scan
    # found nothing: a scan misses what it has no ground truth for.
    private_text_crosses: ClassVar[bool] = False
    # Whether the method works best (or only) with an SM that shares the LM's tokenizer: when
    # a user names no SM, such strategies get the default pair's same-tokenizer SM.
    prefers_lm_tokenizer: ClassVar[bool] = False
    # The LM the bench gives this strategy's cells on the default pair, when it cannot use the
    # default LM there (offsite-tuning: the 1.5B's emulator bundle exceeds the message limit).
    lm_on_default_pair: ClassVar[str | None] = None
    # The cells ``crossbound bench`` runs, per profile: (setting label, ``--set``-style
    # overrides) pairs; a profile not named runs none of this strategy's cells. ``quick`` must
    # fit the whole bench in minutes on a laptop-class CPU, ``full`` covers the mechanisms.
    # Labels name folders: lower-case letters, digits, ``.-_``.
    bench_cells: ClassVar[BenchCells] = cells(quick=[("default", {})], full=[("default", {})])

    config: C

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = _config_argument(cls)
        if declared is None:
            return
        own = cls.__dict__.get("config_class")
        if own is None:
            cls.config_class = declared
        elif own is not declared:
            raise TypeError(f"{cls.__name__} is a Strategy[{declared.__name__}] but sets "
                            f"config_class = {own.__name__}; drop config_class (the type "
                            "argument sets it) or make them the same")

    def __init__(self, config: C | None = None) -> None:
        if config is None:
            config = typing.cast(C, self.config_class())
        if not isinstance(config, self.config_class):
            raise TypeError(f"{self.name} takes a {self.config_class.__name__}, "
                            f"got {type(config).__name__}")
        self.config = config

    @classmethod
    def contract_for(cls, config: C) -> AccessContract:
        """The contract a run with ``config`` holds to: what may cross, and which operations a
        request may name. It is known before the run starts — the runner wires the boundary
        with it, and a server hosting the model party can enforce the same one — and holds for
        the whole run: a strategy never changes ``ctx.boundary.contract``. Override it where a
        setting changes what crosses (an opt-in to raw private text); the default is
        ``contract``."""
        return cls.contract

    @abstractmethod
    def run(self, ctx: RunContext) -> Result:
        """Carry out the method end to end and return its result (metrics, artifacts)."""

    def new_result(self, ctx: RunContext, *, small: str | None = None) -> Result:
        """The result a run fills in: this strategy, its config and the models (``small``: what
        the data party's model is, when it is not ``ctx.small``). The runner adds the task,
        efficiency, exposure, the PII scan and the transcript."""
        return Result(strategy=self.name, config=self.config.to_dict(), task={},
                      models={"large": ctx.large, "small": ctx.small if small is None else small})

    @classmethod
    def bench_settings(cls, profile: str) -> list[tuple[str, dict[str, str]]]:
        """The cells ``crossbound bench`` runs for this strategy in ``profile``: (setting
        label, ``--set``-style overrides) pairs, as ``bench_cells`` declares them (a strategy
        whose cells must be computed overrides this)."""
        return [(label, dict(overrides)) for label, overrides in cls.bench_cells.get(profile, ())]


def _config_argument(cls: type) -> type[StrategyConfig] | None:
    """The config class ``cls`` itself names in a ``Strategy[...]`` base (or a generic
    subclass's, ``QueryStrategy[CascadeConfig]``), if it names one (not its parents': a
    subclass of a strategy may set a narrower ``config_class``)."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = typing.get_origin(base)  # Strategy, or a generic base above it
        if isinstance(origin, type) and issubclass(origin, Strategy):
            (argument,) = typing.get_args(base)
            if isinstance(argument, type) and issubclass(argument, StrategyConfig):
                return argument
    return None


S = TypeVar("S", bound=type[Strategy])


class Registry:
    """Strategies of one family, by name. Names are unique across every registry."""

    _all: ClassVar[dict[str, type[Strategy]]] = {}

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self._items: dict[str, type[Strategy]] = {}

    def register(self, cls: S) -> S:
        if cls.direction != self.direction:
            raise ValueError(f"{cls.__name__} is {cls.direction}, not {self.direction}")
        if cls.name in Registry._all:
            raise ValueError(f"a strategy named {cls.name!r} is already registered")
        self._items[cls.name] = cls
        Registry._all[cls.name] = cls
        return cls

    def names(self) -> list[str]:
        return sorted(self._items)
