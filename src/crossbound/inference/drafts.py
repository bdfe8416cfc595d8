"""``--draft``: what proposes drafts for speculative decoding, by name.

``model`` (the run's small model), ``model:NAME`` (another), ``ngram`` or
``ngram:max=3,min=1`` (prompt lookup), ``suffix`` or ``suffix:min=1,factor=8,corpus=200000``
(a suffix automaton over the prompt, the text so far and earlier outputs), or a lookup first
and the model where it has nothing: ``suffix+model``, ``ngram:max=4+model:NAME``. The
lookups load no model (:mod:`.lookup`); a model draft is a :class:`~.proposers.ModelDraft`
(or, with another tokenizer than the LM's, a :class:`~.cross_tokenizer.CrossTokenizerDraft`;
a lookup goes first only with the LM's tokenizer: :class:`~.lookup_first.LookupFirst`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crossbound.inference.lookup import NgramProposer, SuffixProposer
from crossbound.inference.proposers import Proposer
from crossbound.naming import coerce, parse_spec

DRAFT_KINDS = ("model", "ngram", "suffix")


@dataclass(frozen=True)
class DraftSpec:
    """A parsed ``--draft``: the proposer's kind, the draft model's name (``model``: None for
    the run's small model), the proposer's options and (``model``) the lookup that drafts
    first."""

    kind: str
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    lookup: DraftSpec | None = None

    @property
    def draft_free(self) -> bool:
        return self.kind != "model"

    def label(self, small: str | None = None) -> str:
        """What drafted, for results: the model's name, or the proposer's spec."""
        if self.kind == "model":
            name = self.model or small or "model"
            return f"{self.lookup.label()}+{name}" if self.lookup is not None else name
        opts = ",".join(f"{k}={v}" for k, v in self.options.items())
        return self.kind + (f":{opts}" if opts else "")

    def proposer(self) -> Proposer:
        """A draft-free proposer (a model draft needs its model: ``ModelDraft``)."""
        if self.kind not in _OPTIONS:
            raise ValueError("a model draft needs its model: build a ModelDraft")
        names = _OPTIONS[self.kind]
        options = {names[k]: v for k, v in self.options.items()}
        return NgramProposer(**options) if self.kind == "ngram" else SuffixProposer(**options)

    def first(self) -> Proposer | None:
        """The lookup that drafts before the model (None: the model alone)."""
        return self.lookup.proposer() if self.lookup is not None else None


# The options a lookup takes on the command line -> its keyword arguments.
_OPTIONS = {"ngram": {"max": "max_n", "min": "min_n"},
            "suffix": {"min": "min_match", "factor": "factor", "corpus": "max_corpus_tokens"}}


def parse_draft(text: str) -> DraftSpec:
    """``model``, ``model:NAME``, ``ngram[:max=3,min=1]``, ``suffix[:min=1,factor=8]``, or a
    lookup then a model: ``suffix+model[:NAME]``."""
    first, plus, then = text.strip().partition("+")
    if plus:
        lookup, drafter = parse_draft(first), parse_draft(then)
        if lookup.kind == "model" or drafter.kind != "model" or drafter.lookup is not None:
            raise ValueError(f"--draft {text!r}: a lookup, then a model: suffix+model, "
                             "ngram+model:NAME")
        return DraftSpec("model", drafter.model, lookup=lookup)
    kind, sep, rest = text.strip().partition(":")
    if kind == "model":
        if sep and not rest.strip():
            raise ValueError("--draft model:NAME needs a model name after ':'")
        return DraftSpec("model", rest.strip() or None)
    if kind not in DRAFT_KINDS:
        raise ValueError(f"unknown draft {text!r}: use model, model:NAME, ngram or suffix "
                         "(ngram:max=3,min=1; suffix:min=1,factor=8), or a lookup then a "
                         "model (suffix+model)")
    _, raw = parse_spec(text)
    names = _OPTIONS[kind]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ValueError(f"draft {kind!r} has no option(s) {unknown}; it takes {sorted(names)}")
    spec = DraftSpec(kind, None, {k: coerce(v) for k, v in raw.items()})
    spec.proposer()  # checks the options' values
    return spec
