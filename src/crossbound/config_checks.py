"""Checks a config's ``validate()`` is made of, and the groups of settings configs share.

The checks each name the field, the rule and the value::

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 0, "seeds")
        check_limits(self, "public_limit")

A config calls them in the order it wants its errors (the first failing check raises).

The groups are dataclass mixins that carry settings many configs have — with their defaults,
their meaning and their checks, said once: :class:`Records` (which data party, how many of its
records and of the test split), :class:`SMTraining` / :class:`SMFineTuning` (the SM's
fine-tuning; :class:`UpwardSMTraining` where the LM trains too), :class:`Attacks` (the
privacy attacks on a tuned SM), :class:`LMTraining` (the model party's LoRA copy of its LM),
:class:`SyntheticFilters` (what synthetic text must pass).
A config lists the groups it has before ``StrategyConfig``::

    @dataclass
    class MyConfig(SMFineTuning, Records, StrategyConfig):
        epochs: float = 3.0  # a group's setting with another default: declare it again
        top_k: int = 16

A dataclass puts its bases' fields first (``seed``, ``precision``, then the groups' in reverse
order of the bases, then the config's own): nothing reads a config's fields by position
(``--set``, JSON and the bench name them). Each group's ``validate`` runs its checks after its
bases' (``super().validate()`` first), so a config's errors come in the order base, groups from
the last-named, its own.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal


def _alternatives(choices: Collection[Any]) -> str:
    """``a, b or c``."""
    names = [str(c) for c in choices]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def check_limits(config: object, *names: str) -> None:
    """Each of ``names`` is a record limit: at least 1, or None (all records)."""
    for name in names:
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1 or None, got {value}")


def check_at_least(config: object, minimum: float, *names: str) -> None:
    """Each of ``names`` is at least ``minimum`` (NaN is not)."""
    for name in names:
        value = getattr(config, name)
        if not value >= minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_positive(config: object, *names: str) -> None:
    """Each of ``names`` is > 0 (NaN is not): rates, epochs, temperatures."""
    for name in names:
        value = getattr(config, name)
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def check_in_range(config: object, name: str, low: float, high: float) -> None:
    """``low <= name <= high``."""
    value = getattr(config, name)
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")


def check_choice(config: object, name: str, choices: Collection[Any]) -> None:
    """``name`` is one of ``choices`` (a ``Literal`` field's values: ``from_overrides``
    checks them, a config built in code is checked here)."""
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"{name} must be {_alternatives(choices)}, got {value!r}")


def check_literals(config: object) -> None:
    """Every field annotated with a ``Literal`` holds one of its values, as ``config``'s class
    declares them (a config may narrow a group's ``Literal``): ``from_overrides`` checks what
    it parses, a config built in code is checked here. Configs get this from their base."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        hint = hints[field.name]
        if typing.get_origin(hint) is Literal:
            check_choice(config, field.name, typing.get_args(hint))


# ---------------------------------------------------------------- groups of settings


class Settings:
    """The root of configs and of the groups of settings they share: ``validate()`` raises
    ``ValueError`` naming a bad field. A subclass calls ``super().validate()`` first."""

    def validate(self) -> None:
        pass


@dataclass
class Records(Settings):
    """The records a run reads: data party ``party``'s private split (its first
    ``train_limit`` records; None: all) and the first ``eval_limit`` test records."""

    party: int = 0
    train_limit: int | None = None
    eval_limit: int | None = 200

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 0, "party")
        check_limits(self, "train_limit", "eval_limit")


# Full fine-tuning rates, measured on clinic-triage with 128 private records: 2e-4 takes
# SmolLM2-135M to 0.925 but drove Qwen2.5-Coder-0.5B from 0.350 to 0.183 (near chance);
# 5e-5 took the 0.5B to 0.700 (docs/results.md, proxy- and offsite-tuning).
SMALL_MODEL_LR = 2e-4
LARGE_MODEL_LR = 5e-5
LARGE_TRAINABLE = 300_000_000  # weights being trained


@dataclass
class SMTraining(Settings):
    """How the data party fine-tunes its SM; for how long is :class:`SMFineTuning`'s
    ``epochs``, or a setting of the config's own. ``trainable``: ``full`` (every weight),
    ``lora`` (adapters of rank ``lora_rank`` on the projections) or ``linear`` (the blocks'
    linear layers); a config may allow fewer by narrowing the ``Literal``. ``lr``: None picks
    by what trains (:meth:`rate_for`)."""

    lr: float | None = None
    batch_size: int = 8
    max_length: int = 192  # tokens: a prompt and its answer
    trainable: Literal["full", "lora", "linear"] = "full"
    lora_rank: int = 8

    def validate(self) -> None:
        super().validate()
        if self.lr is not None:
            check_positive(self, "lr")
        check_at_least(self, 1, "batch_size")
        check_at_least(self, 16, "max_length")
        check_at_least(self, 1, "lora_rank")

    def rate_for(self, model: Any) -> float:
        """``lr``, or where it is None the rate for what ``model`` trains (its parameters
        that require gradients): :data:`SMALL_MODEL_LR` for adapters and models below
        :data:`LARGE_TRAINABLE` weights, :data:`LARGE_MODEL_LR` above."""
        if self.lr is not None:
            return self.lr
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return LARGE_MODEL_LR if trainable > LARGE_TRAINABLE else SMALL_MODEL_LR


@dataclass
class SMFineTuning(SMTraining):
    """:class:`SMTraining` for ``epochs`` passes over the training records."""

    epochs: float = 2.0

    def validate(self) -> None:
        super().validate()
        check_positive(self, "epochs")


@dataclass
class UpwardSMTraining(Settings):
    """How the data party trains its SM where the LM is trained too (the upward strategies;
    hence the ``sm_`` names): ``sm_epochs`` passes at ``sm_lr`` in batches of
    ``sm_batch_size``, ``sm_trainable`` ``full`` or ``lora`` (rank ``sm_lora_rank``)."""

    sm_epochs: float = 1.0
    sm_lr: float = 1e-3
    sm_batch_size: int = 8
    sm_trainable: Literal["full", "lora"] = "full"
    sm_lora_rank: int = 8

    def validate(self) -> None:
        super().validate()
        check_positive(self, "sm_epochs", "sm_lr")
        check_at_least(self, 1, "sm_batch_size")
        check_at_least(self, 1, "sm_lora_rank")


@dataclass
class Attacks(Settings):
    """``attacks``: measure membership inference (on ``attack_limit`` members and as many
    non-members) and canary exposure (each canary ranked among ``canary_candidates`` random
    secrets) on the tuned SM."""

    attacks: bool = True
    attack_limit: int = 100
    canary_candidates: int = 200

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 2, "attack_limit")
        check_at_least(self, 1, "canary_candidates")


@dataclass
class LMTraining(Settings):
    """How the model party tunes its LoRA copy of the LM on what it receives: ``lm_epochs``
    passes at ``lm_lr``, adapters of rank ``lm_lora_rank``, batches of ``lm_batch_size``."""

    lm_epochs: float = 2.0
    lm_lr: float = 5e-4
    lm_lora_rank: int = 8
    lm_batch_size: int = 8

    def validate(self) -> None:
        super().validate()
        check_positive(self, "lm_epochs", "lm_lr")
        check_at_least(self, 1, "lm_lora_rank", "lm_batch_size")

    def lm_training(self) -> dict[str, float | int]:
        """These settings as a training request to the model party names them."""
        return {"epochs": self.lm_epochs, "lr": self.lm_lr, "lora_rank": self.lm_lora_rank,
                "batch_size": self.lm_batch_size}


@dataclass
class SyntheticFilters(Settings):
    """What a synthetic message must pass to be kept: ``min_chars`` characters and
    ``min_words`` words, and not be a near-duplicate (word 5-gram Jaccard above
    ``near_duplicate``) of another."""

    min_chars: int = 20
    min_words: int = 4
    near_duplicate: float = 0.8

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 1, "min_chars", "min_words")
        if not 0.0 < self.near_duplicate <= 1.0:
            raise ValueError(f"near_duplicate must be in (0, 1], got {self.near_duplicate}")
