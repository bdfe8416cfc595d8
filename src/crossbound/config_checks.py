"""Checks a config's ``validate()`` is made of: each names the field, the rule and the value.

Every strategy config repeats the same few rules (record limits, the SM's training settings,
positive rates, counts >= 1); these say each once, with one wording::

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 0, "party")
        check_sm_training(self)  # epochs, lr, batch_size, max_length, trainable, lora_rank
        check_limits(self, "train_limit", "eval_limit")

A config calls them in the order it wants its errors (the first failing check raises).
They are functions, not mixins with fields: a dataclass puts a base's fields first, so a
mixin would reorder every config's fields (its settings listing and positional construction);
with these, a config declares its fields where it always did.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

# What ``trainable`` may say for a fine-tuned SM (see baselines.common.make_trainable).
TRAINABLE = ("full", "lora", "linear")


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


def check_sm_training(config: object, *, epochs: str = "epochs", lr: str = "lr",
                      batch_size: str = "batch_size", max_length: str = "max_length",
                      trainable: str = "trainable", lora_rank: str = "lora_rank",
                      choices: Sequence[str] = TRAINABLE, min_length: int = 16) -> None:
    """The SM's fine-tuning settings, in this order: ``epochs`` and ``lr`` > 0,
    ``batch_size`` >= 1, ``max_length`` >= ``min_length`` (tokens: a prompt and its answer),
    ``trainable`` one of ``choices``, ``lora_rank`` >= 1. The arguments name the fields
    (``epochs="sm_epochs"``) for configs that train more than one model."""
    check_positive(config, epochs, lr)
    check_at_least(config, 1, batch_size)
    check_at_least(config, min_length, max_length)
    check_choice(config, trainable, choices)
    check_at_least(config, 1, lora_rank)
