"""Operation rules: what a data party may ask the model party to *do*, and with which settings.

A message's kind says what crosses; its ``meta["op"]`` says what the receiver is asked to do
with it, and the other keys of ``meta`` are that operation's settings. Kinds alone cannot tell
"score these prompts" from "send me the weights" (both are a ``text`` request), so an
:class:`~crossbound.boundary.contracts.AccessContract` also names the :class:`Operation` s a
data party may request. An operation lists every setting it takes with the values allowed;
a request that names another operation, or carries a setting its operation does not list, or
a value out of range, is refused before the model party sees it. A setting a request leaves
out takes the model party's default, which the model party keeps within its own policy.

The plain LM operations every family shares (``generate``, ``score_choices``,
``topk_logprobs``, and the OpenAI routes' ``completions`` / ``chat.completions``) are declared
here; a family's own operations are declared next to the model party's code that serves them
(``parties.offsite``, ``parties.upward``, ``parties.lm_sessions``).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LM = "lm"  # meta.model of a request the LM itself should answer (the model party's default)
MAX_NEW_TOKENS = 512  # tokens one generate request may ask for (the model party's own limit)
MAX_LABELS = 256  # labels one score_choices request may score
MAX_LABEL_CHARS = 256
MAX_TOPK = 1024  # the model party's own limit on k
TOPK_VALUE_BITS = (4, 8, 16, 32)  # logit_codec's value widths; 32: plain float32


class Setting(ABC):
    """The values one setting (a key of a request's ``meta``) may take."""

    @abstractmethod
    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed, or None."""

    @abstractmethod
    def describe(self) -> str: ...


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut short: refusals echo what was asked, and a request may be large."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Integer(Setting):
    """An integer in ``low..high`` (or null, when ``optional``: the model party decides)."""

    low: int
    high: int
    optional: bool = False

    def problem(self, value: Any) -> str | None:
        if value is None and self.optional:
            return None
        if not _is_int(value) or not self.low <= value <= self.high:
            return f"must be an integer in {self.low}..{self.high}, got {shown(value)}"
        return None

    def describe(self) -> str:
        return f"{self.low}..{self.high}" + (" or null" if self.optional else "")


@dataclass(frozen=True)
class Number(Setting):
    """A finite number in ``[low, high]`` (``(low, high]`` when ``open_low``)."""

    low: float
    high: float = math.inf
    open_low: bool = False

    def problem(self, value: Any) -> str | None:
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or not value <= self.high
                or not (value > self.low if self.open_low else value >= self.low)):
            return f"must be a finite number in {self.describe()}, got {shown(value)}"
        return None

    def describe(self) -> str:
        close = ")" if math.isinf(self.high) else "]"
        return f"{'(' if self.open_low else '['}{self.low:g}, {self.high:g}{close}"


POSITIVE = Number(0.0, open_low=True)


@dataclass(frozen=True)
class OneOf(Setting):
    """One of a few values, type included (``true`` is not ``1``)."""

    values: tuple[Any, ...]

    def problem(self, value: Any) -> str | None:
        if any(type(value) is type(v) and value == v for v in self.values):
            return None
        return f"must be one of {', '.join(map(repr, self.values))}, got {shown(value)}"

    def describe(self) -> str:
        return " | ".join(map(repr, self.values))


def one_of(*values: Any) -> OneOf:
    return OneOf(tuple(values))


FLAG = one_of(True, False)


@dataclass(frozen=True)
class Name(Setting):
    """A string matching ``pattern`` (a session name, a corpus name)."""

    pattern: str

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str) or not re.fullmatch(self.pattern, value):
            return f"must be a string matching {self.pattern}, got {shown(value)}"
        return None

    def describe(self) -> str:
        return f"text matching {self.pattern}"


@dataclass(frozen=True)
class Labels(Setting):
    """A non-empty list of short strings (the labels ``score_choices`` scores)."""

    max_items: int = MAX_LABELS
    max_chars: int = MAX_LABEL_CHARS

    def problem(self, value: Any) -> str | None:
        if (not isinstance(value, list) or not 1 <= len(value) <= self.max_items
                or not all(isinstance(v, str) and len(v) <= self.max_chars for v in value)):
            return (f"must be a list of 1..{self.max_items} strings of at most "
                    f"{self.max_chars} characters")
        return None

    def describe(self) -> str:
        return f"1..{self.max_items} labels"


@dataclass(frozen=True)
class CheckedBy(Setting):
    """A structured value the model party parses and checks itself (a codec description):
    the contract admits it only as a JSON object, and the model party refuses a bad one."""

    what: str

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be a JSON object ({self.what}), got {type(value).__name__}"
        return None

    def describe(self) -> str:
        return self.what


@dataclass(frozen=True)
class Operation:
    """One operation a data party may ask for, and every setting it may carry.

    ``settings`` is a tuple of (name, setting) pairs rather than a dict so that contracts stay
    hashable; build one with :func:`operation`.
    """

    name: str
    settings: tuple[tuple[str, Setting], ...] = ()

    def setting_map(self) -> Mapping[str, Setting]:
        return dict(self.settings)

    def problem(self, meta: Mapping[str, Any]) -> str | None:
        """Why a request's ``meta`` is not one this operation allows, or None."""
        allowed = self.setting_map()
        for key, value in meta.items():
            if key == "op":
                continue
            setting = allowed.get(key)
            if setting is None:
                takes = ", ".join(sorted(allowed)) or "no settings"
                return (f"setting {shown(key)} is not one {self.name} may carry here "
                        f"(it takes {takes})")
            reason = setting.problem(value)
            if reason is not None:
                return f"meta.{key} {reason}"
        return None

    def describe(self) -> str:
        if not self.settings:
            return self.name
        parts = "; ".join(f"{k} {s.describe()}" for k, s in sorted(self.settings))
        return f"{self.name} ({parts})"


def operation(name: str, **settings: Setting) -> Operation:
    """Shorthand: ``operation("generate", max_new_tokens=Integer(1, 512))``."""
    return Operation(name, tuple(sorted(settings.items())))


# ---------------------------------------------------------------- the plain LM operations


def generate(*models: str) -> tuple[Operation, ...]:
    """Text generation: ``generate`` (answered by one of ``models``, default the LM) and its
    OpenAI forms, ``completions`` and ``chat.completions`` (always the LM; the service's
    :class:`~crossbound.service.app.Limits` bound their sizes). All three give the same
    exposure — text, or top log-probs if the contract's kinds let them back — so a contract
    that allows one allows all three."""
    return (
        operation("generate", max_new_tokens=Integer(1, MAX_NEW_TOKENS),
                  model=one_of(*(models or (LM,)))),
        operation("completions"),
        operation("chat.completions"),
    )


def score_choices(*models: str) -> Operation:
    """Label scores for prompts, answered by one of ``models`` (default the LM)."""
    return operation("score_choices", choices=Labels(), model=one_of(*(models or (LM,))))


def topk_logprobs(*models: str, max_k: int = MAX_TOPK) -> Operation:
    """Top-k next-token log-probs at every position of token ids (k at most ``max_k``)."""
    return operation("topk_logprobs", k=Integer(1, max_k), value_bits=one_of(*TOPK_VALUE_BITS),
                     model=one_of(*(models or (LM,))))
