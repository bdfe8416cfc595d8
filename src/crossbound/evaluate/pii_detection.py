"""How well the sanitiser finds PII: per-kind precision, recall and F2, and what still leaks.

Ground truth is the exact :class:`~crossbound.tasks.base.PiiSpan` list each generated record
carries. Matching rule (span level, relaxed):

- a **gold** span is *found* when some predicted span of the same kind covers at least
  ``min_overlap`` (default 50 %) of the gold span's characters;
- a **predicted** span is *correct* when it covers at least ``min_overlap`` of some gold span of
  its kind in the same way.

Recall counts gold spans, precision counts predicted spans, and F2 weighs recall four times as
much as precision (as Presidio's evaluator does): a missed name is worse than a redacted word.
The ``ALL`` row ignores kinds (was the PII redacted at all, under whatever label?).

Leaks are what matters for privacy, so they are counted on the sanitised text itself:
``leaks`` is the number of gold values that still appear verbatim in it, and ``token_leaks``
the number of the gold spans' words (runs of letters/digits) that no replacement covered.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from crossbound.privacy.sanitizer import Sanitizer, analyzer_build_seconds
from crossbound.tasks.base import Example, PiiSpan

ALL = "ALL"


@dataclass(frozen=True)
class Span:
    """A predicted span (what the evaluation needs of a sanitiser's output)."""

    start: int
    end: int
    kind: str


def covers(predicted: Span | PiiSpan, gold: PiiSpan, min_overlap: float = 0.5) -> bool:
    """Does ``predicted`` cover at least ``min_overlap`` of ``gold``'s characters?"""
    overlap = min(predicted.end, gold.end) - max(predicted.start, gold.start)
    return overlap > 0 and overlap >= min_overlap * (gold.end - gold.start)


@dataclass
class KindScore:
    """Counts and rates for one PII kind (or ``ALL``)."""

    kind: str
    gold: int = 0
    predicted: int = 0
    found: int = 0  # gold spans matched
    correct: int = 0  # predicted spans matched
    leaks: int = 0  # gold values still verbatim in the sanitised text
    gold_tokens: int = 0
    token_leaks: int = 0  # words of gold spans no replacement covered

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    def f_beta(self, beta: float = 2.0) -> float:
        p, r = self.precision, self.recall
        b2 = beta * beta
        return (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall,
                "f2": self.f_beta(2.0)}


@dataclass
class PiiDetectionReport:
    """Per-kind scores over a set of records, plus how long the sanitiser took."""

    kinds: dict[str, KindScore]
    records: int
    min_overlap: float
    seconds: float  # sanitising all records (analyzer build excluded)
    build_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "min_overlap": self.min_overlap,
                "seconds": self.seconds, "build_seconds": self.build_seconds,
                "kinds": {k: v.to_dict() for k, v in self.kinds.items()}}

    def rows(self) -> list[dict[str, Any]]:
        """One row per kind, most frequent first, ``ALL`` last."""
        ordered = sorted((k for k in self.kinds if k != ALL),
                         key=lambda k: (-self.kinds[k].gold, k))
        return [self.kinds[k].to_dict() for k in [*ordered, ALL] if k in self.kinds]


def _tokens(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(start + m.start(), start + m.end())
            for m in re.finditer(r"[^\W_]+", text[start:end])]


def score_record(example: Example, predicted: Sequence[Span], sanitized: str,
                 scores: dict[str, KindScore], min_overlap: float = 0.5) -> None:
    """Add one record's counts to ``scores`` (kind → :class:`KindScore`, ``ALL`` included)."""
    def row(kind: str) -> KindScore:
        return scores.setdefault(kind, KindScore(kind))

    for gold in example.pii:
        leaked = gold.value in sanitized
        tokens = _tokens(example.text, gold.start, gold.end)
        uncovered = sum(1 for s, e in tokens
                        if not any(p.start <= s and e <= p.end for p in predicted))
        same_kind = any(p.kind == gold.kind and covers(p, gold, min_overlap) for p in predicted)
        any_kind = any(covers(p, gold, min_overlap) for p in predicted)
        for kind, found in ((gold.kind, same_kind), (ALL, any_kind)):
            counts = row(kind)
            counts.gold += 1
            counts.found += found
            counts.leaks += leaked
            counts.gold_tokens += len(tokens)
            counts.token_leaks += uncovered
    for p in predicted:
        for kind, hit in ((p.kind, any(g.kind == p.kind and covers(p, g, min_overlap)
                                       for g in example.pii)),
                          (ALL, any(covers(p, g, min_overlap) for g in example.pii))):
            counts = row(kind)
            counts.predicted += 1
            counts.correct += hit


def evaluate_pii_detection(examples: Iterable[Example], sanitizer: Sanitizer | None = None,
                           min_overlap: float = 0.5) -> PiiDetectionReport:
    """Sanitise every record (one document each) and score detection against its PII spans."""
    if not 0.0 < min_overlap <= 1.0:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    sanitizer = sanitizer or Sanitizer()
    sanitizer.warm_up()  # timed separately: it happens once per process
    examples = list(examples)
    scores: dict[str, KindScore] = {}
    started = time.perf_counter()
    results = sanitizer.sanitize_many([ex.text for ex in examples])
    seconds = time.perf_counter() - started
    for example, result in zip(examples, results, strict=True):
        spans = [Span(r.start, r.end, r.kind) for r in result.replacements]
        score_record(example, spans, result.text, scores, min_overlap)
    build = analyzer_build_seconds(sanitizer.model) if sanitizer.presidio else None
    return PiiDetectionReport(scores, len(examples), min_overlap, seconds, build)
