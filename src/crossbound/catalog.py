"""Every registered strategy, by name. Importing this module loads every family (each
family's package registers its strategies as it is imported), which is why it sits above the
families and :mod:`crossbound.strategy` below them: a family imports the base classes, never
this catalogue.
"""

from __future__ import annotations

import crossbound.baselines
import crossbound.downward
import crossbound.inference
import crossbound.split
import crossbound.upward  # noqa: F401
from crossbound.defaults import DEFAULT_LARGE, DEFAULT_SMALL, SAME_TOKENIZER_SMALL
from crossbound.strategy import Registry, Strategy


def all_strategies() -> dict[str, type[Strategy]]:
    return dict(sorted(Registry._all.items()))


def default_small(strategy: str, large: str) -> str:
    """The SM a run gets when the user names none: the default pair's SM, or, for a strategy
    that wants the LM's tokenizer and the default LM, the same-tokenizer SM."""
    if get_strategy(strategy).prefers_lm_tokenizer and large == DEFAULT_LARGE:
        return SAME_TOKENIZER_SMALL
    return DEFAULT_SMALL


def get_strategy(name: str) -> type[Strategy]:
    strategies = all_strategies()
    if name not in strategies:
        raise ValueError(f"unknown strategy {name!r}; registered: {', '.join(strategies)}")
    return strategies[name]
