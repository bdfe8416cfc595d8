"""The task abstraction: private splits per data party, a public/proxy split, a metric.

A task is a text-to-text problem. Classification tasks additionally name their label set
(``choices``): utility is then accuracy of picking the right label, and the target text of an
example is its label. Free-text tasks are scored by ROUGE-L against the reference.

Everything a privacy measurement needs to be exact is kept with the examples: ground-truth PII
spans (character offsets into ``Example.text``) and planted canaries.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Metric = Literal["accuracy", "rouge_l"]


@dataclass(frozen=True)
class PiiSpan:
    """A piece of personal data inside ``Example.text``: ``text[start:end]`` is ``value``."""

    start: int
    end: int
    kind: str  # PERSON, DATE, PHONE, EMAIL, MRN, ADDRESS, ID, ...
    value: str

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"PII span [{self.start}, {self.end}) is empty or negative")


@dataclass(frozen=True)
class Example:
    """One record. ``target`` is what the model should output for ``text``."""

    id: str
    text: str
    target: str
    pii: tuple[PiiSpan, ...] = ()
    canary: str | None = None  # a planted secret inside ``text``, if this record carries one
    meta: dict[str, str] = field(default_factory=dict)  # e.g. urgency, person id, source

    def __post_init__(self) -> None:
        for span in self.pii:
            if span.end > len(self.text) or self.text[span.start : span.end] != span.value:
                raise ValueError(
                    f"example {self.id}: PII span {span.kind} [{span.start}, {span.end}) does not "
                    f"match the text (expected {span.value!r})"
                )

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["pii"] = [asdict(s) for s in self.pii]
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Example:
        return cls(
            id=str(record["id"]),
            text=str(record["text"]),
            target=str(record["target"]),
            pii=tuple(PiiSpan(**s) for s in record.get("pii", ())),
            canary=record.get("canary"),
            meta={str(k): str(v) for k, v in (record.get("meta") or {}).items()},
        )


@dataclass(frozen=True)
class Task:
    """A domain task as the collaboration sees it.

    ``parties[i]`` is data party *i*'s private training split. ``validation`` and ``test`` are
    held out on the data side (calibration and evaluation). ``public`` is a proxy split that may
    cross the boundary freely (no private records); its targets may be empty.
    """

    name: str
    description: str
    instruction: str
    parties: tuple[tuple[Example, ...], ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    public: tuple[Example, ...]
    choices: tuple[str, ...] | None = None
    metric: Metric = "accuracy"
    params: dict[str, Any] = field(default_factory=dict)
    # A mixed workload: the labels a query of each ``meta["domain"]`` may take (each a subset
    # of ``choices``). Queries of a domain not named here may take any of ``choices``.
    label_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.parties or any(len(p) == 0 for p in self.parties):
            raise ValueError(f"task {self.name}: every data party needs at least one example")
        if self.choices is not None:
            if len(set(self.choices)) != len(self.choices) or len(self.choices) < 2:
                raise ValueError(f"task {self.name}: choices must be >= 2 distinct labels")
            for domain, labels in self.label_sets.items():
                if len(set(labels)) != len(labels) or len(labels) < 2 or \
                        not set(labels) <= set(self.choices):
                    raise ValueError(f"task {self.name}: the label set of domain {domain!r} "
                                     "must be >= 2 distinct labels from choices")
            for split in (*self.parties, self.validation, self.test):
                for ex in split:
                    allowed = self.choices_for(ex)
                    if ex.target not in allowed:
                        raise ValueError(
                            f"task {self.name}: example {ex.id} has label {ex.target!r}, "
                            f"not one of {sorted(allowed)}"
                        )
        elif self.label_sets:
            raise ValueError(f"task {self.name}: label_sets need choices")
        if self.metric == "accuracy" and self.choices is None:
            raise ValueError(f"task {self.name}: metric 'accuracy' needs choices")

    @property
    def train(self) -> tuple[Example, ...]:
        """All private training records, every party's, in party order."""
        return tuple(ex for party in self.parties for ex in party)

    @property
    def canaries(self) -> dict[str, str]:
        """Example id → planted secret, over the training splits."""
        return {ex.id: ex.canary for ex in self.train if ex.canary is not None}

    def choices_for(self, example: Example) -> tuple[str, ...]:
        """The labels ``example`` may take: its domain's label set, else all ``choices``."""
        if self.choices is None:
            raise ValueError(f"task {self.name} has no label set")
        return self.label_sets.get(example.meta.get("domain", ""), self.choices)

    def prompt(self, example: Example) -> str:
        """The text a model is conditioned on; the answer follows after a space."""
        return f"{self.instruction}\n\nMessage: {example.text}\nAnswer:"

    def answer(self, example: Example) -> str:
        """The continuation a model is trained to produce after :meth:`prompt`."""
        return " " + example.target

    def fingerprint(self) -> str:
        """SHA-256 over every record: equal fingerprints mean byte-identical data."""
        digest = hashlib.sha256()
        for split in (*self.parties, self.validation, self.test, self.public):
            for ex in split:
                digest.update(json.dumps(ex.to_dict(), sort_keys=True).encode())
            digest.update(b"\x00")
        return digest.hexdigest()

    def summary(self) -> dict[str, Any]:
        """Sizes, label distribution and counts that ``crossbound tasks show`` prints."""
        info: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "metric": self.metric,
            "parties": [len(p) for p in self.parties],
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
            "public": len(self.public),
            "params": self.params,
        }
        if self.choices is not None:
            info["labels"] = dict(label_counts(self.train, self.choices))
        if self.label_sets:
            info["label_sets"] = {domain: list(labels) for domain, labels in
                                  self.label_sets.items()}
        pii = Counter(span.kind for ex in self.train for span in ex.pii)
        if pii:
            info["pii_spans"] = dict(sorted(pii.items()))
        if self.canaries:
            info["canaries"] = len(self.canaries)
        return info


def label_counts(examples: Iterable[Example], choices: Sequence[str]) -> list[tuple[str, int]]:
    counts = Counter(ex.target for ex in examples)
    return [(label, counts.get(label, 0)) for label in choices]
