"""crossbound's own PII recognisers: generic patterns for what Presidio misses or mislabels.

Presidio (regexes + spaCy NER) is good at e-mail addresses and passable at names, but on
patient messages it misses medical record numbers entirely, labels most dates of birth
``DATE_TIME`` alongside harmless phrases ("since last week"), scores bare phone numbers low,
splits street addresses into a LOCATION and a number, and knows nothing of PINs or door codes.
The recognisers here are plain regular expressions (no Presidio import, so they are cheap and
testable on their own) that each return :class:`Entity` objects:

- structured identifiers: MRNs after a label ("MRN", "record number", "patient ID"...), North
  American phone layouts, calendar dates (numeric, ISO, and with month names), street addresses
  (number + capitalised words + a street type, optional unit and city), secrets after words
  like PIN / passcode / door code, and any other long run of digits (an unlabelled identifier);
- people, from the shape of a letter rather than a name list: introductions ("my name is",
  "this is", "X here"), titles ("Dr. X"), sign-offs ("Thanks, X", "— X", a lone name on the
  last line).

They deliberately know no names, streets or cities: only generic English letter-writing and
US address conventions, so they are not tuned to any generator's vocabulary.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

KINDS = ("PERSON", "DATE", "PHONE", "EMAIL", "MRN", "ADDRESS", "ID")


@dataclass(frozen=True)
class Entity:
    """One detected piece of personal data: ``text == document[start:end]``."""

    start: int
    end: int
    kind: str  # one of KINDS
    text: str
    score: float
    source: str  # the recogniser that found it, e.g. "crossbound:mrn" or "presidio:SpacyRecognizer"

    @property
    def length(self) -> int:
        return self.end - self.start


# ---------------------------------------------------------------- building blocks

# Python's re has no \p{Lu}/\p{Ll}: an "upper-case" letter is any letter that is not ASCII or
# Latin-1 lower case, and vice versa, so "Łukasz", "Dvořák" and "Nguyễn" are words too.
_UP = r"[^\W\d_a-zß-öø-ÿ]"
_LOW = r"[^\W\d_A-ZÀ-ÖØ-Þ]"
_ANY = r"(?:[^\W\d_]|['’])"
# A capitalised name word: "Maria", "O'Neil", "McKay", "Jean-Luc", "Zoë", "Ji-woo".
_CAP = rf"{_UP}{_ANY}*?{_LOW}{_ANY}*(?:-{_UP}?{_ANY}*{_LOW}{_ANY}*)?"
# Lower-case particles inside surnames ("van der Berg", "da Silva", "bin Said").
_PARTICLE = r"(?:van|von|der|den|de|del|della|da|das|dos|di|du|la|le|al|el|bin|ibn|ter|ten|y)"
NAME = rf"{_CAP}(?:\s+(?:{_PARTICLE}\s+)*{_CAP}){{0,3}}"

MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
         r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
MONTH_RE = re.compile(rf"\b{MONTH}", re.IGNORECASE)

# USPS street suffixes (the common ones, full and abbreviated).
_STREET_TYPE = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Boulevard|Blvd|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Crescent|Cres|Close|Row|"
    r"Trail|Trl|Path|Alley|Grove|Gardens|Hill|Walk|Loop|Pike|Mews|Plaza|Point|Ridge|Run)\b\.?"
)
_UNIT = r"(?:Apt\.?|Apartment|Unit|Suite|Ste\.?|Flat|Floor|Fl\.?|Room|Rm\.?|#)\s*#?[0-9A-Za-z-]+"
# A city is capitalised words; no "." inside, so it cannot run into the next sentence.
_CITY = rf"{_CAP}(?:[ -]{_CAP}){{0,3}}"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b"


@dataclass(frozen=True)
class RegexRecognizer:
    """A pattern whose named group ``value`` (or whole match) is one entity of ``kind``."""

    name: str
    kind: str
    pattern: re.Pattern[str]
    score: float
    validate: Callable[[str], bool] | None = None

    def find(self, text: str) -> Iterable[Entity]:
        for match in self.pattern.finditer(text):
            group = "value" if "value" in self.pattern.groupindex else 0
            start, end = match.span(group)
            value = text[start:end]
            # Trailing punctuation is never part of the value (a sentence's full stop).
            stripped = value.rstrip(" .,;:")
            end -= len(value) - len(stripped)
            if end <= start or (self.validate is not None and not self.validate(stripped)):
                continue
            yield Entity(start, end, self.kind, stripped, self.score, f"crossbound:{self.name}")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _plausible_date(text: str) -> bool:
    """Reject numeric triples that cannot be a date (e.g. 45/99/2001)."""
    parts = [int(p) for p in re.findall(r"\d+", text)]
    if MONTH_RE.search(text) or len(parts) != 3:
        return True
    year_first = len(re.findall(r"\d+", text)[0]) == 4
    a, b = (parts[1], parts[2]) if year_first else (parts[0], parts[1])
    return (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)


_I = re.IGNORECASE

MRN = RegexRecognizer(
    "mrn", "MRN",
    re.compile(
        r"(?i:\b(?:medical\s+record|health\s+record|hospital|record|chart|patient|case|"
        r"file|member|NHS|CHI|health\s+and\s+care)\s+(?:number|no\.?|num\.?|ID|#)|\bMRN|"
        r"\bMR\s*#|\bchart\s*#)"
        r"\s*(?:[:#]|is|was)?\s*(?P<value>(?:[A-Z]{1,3}-?)?\d{3,}(?:[-\s]\d{2,})*"
        r"|\d{2}(?:[-\s]\d{2,}){2,})\b"),
    0.95,
)

PHONE = RegexRecognizer(
    "phone", "PHONE",
    re.compile(r"(?<![\w+])(?P<value>(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4})"
               r"(?![\w-])"),
    0.9,
)

DATE = RegexRecognizer(
    "date", "DATE",
    re.compile(
        r"(?<![\w/.-])(?P<value>"
        r"\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"  # 03/14/1987, 3/14/87, 14.03.1987
        r"|\d{4}[/.-]\d{1,2}[/.-]\d{1,2}"  # 1987-03-14
        rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH},?\s+\d{{4}}"  # 14 March 1987
        rf"|{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"  # March 14, 1987
        r")(?![\w/-])", _I),
    0.9,
    _plausible_date,
)

# A day and a month without a year ("12 march", "February 9", "1st of March") is part of a
# date of birth or a visit (HIPAA counts every date element but the year). Lower-case "may"
# is the verb; a number after the month is a year or a count, not a day.
DAY_MONTH = RegexRecognizer(
    "day-month", "DATE",
    re.compile(
        r"(?<![\w/.-])(?P<value>"
        r"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+(?:the\s+)?)?"
        rf"(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}(?![\w-])"
        rf"|{MONTH}\s+(?:the\s+)?(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?![\w/.:-]|\s*\d)"
        r")", _I),
    0.85,
    lambda value: re.search(r"\bmay\b", value) is None,
)

ADDRESS = RegexRecognizer(
    "address", "ADDRESS",
    re.compile(
        rf"\b(?P<value>(?:{_UNIT},?\s+)?\d{{1,6}}[A-Za-z]?\s+(?:[NSEW]\.?\s+)?"
        rf"(?:(?:{_CAP}|\d+(?:st|nd|rd|th))\s+){{1,4}}"
        rf"{_STREET_TYPE}(?:,?\s+{_UNIT})?(?:,\s+(?:St\.\s+)?{_CITY})?"
        rf"(?:,?\s+{_UK_POSTCODE})?"
        r"(?:,\s+[A-Z]{2}(?:\s+\d{5}(?:-\d{4})?)?)?)"),
    0.85,
)

# Continental layouts: "17 rue des Lilas, 75011 Paris", "Lindenstraße 14, 10969 Berlin",
# "Storgata 14, 0184 Oslo", "Via Roma 3, 00184 Roma".
_STREET_WORD = (r"(?i:rue|avenue|av\.|boulevard|bd|chemin|allée|impasse|quai|place|via|viale|"
                r"piazza|corso|calle|avenida|rua|travessa|paseo|carrer|plaza)")
_STREET_SUFFIX = (r"(?:stra(?:ss|ß)e|str\.|gasse|weg|allee|platz|ring|damm|ufer|gata|gatan|"
                  r"vägen|väg|veien|vei|vej|gade|straat|laan|plein|gracht|utca|ulica)")
_POSTCODE_CITY = rf"(?:,?\s+(?:[A-Z]{{1,2}}-)?\d{{4,5}}(?:\s\d{{2}})?\s+{_CITY})"
ADDRESS_CONTINENTAL = RegexRecognizer(
    "address-continental", "ADDRESS",
    re.compile(
        rf"(?<![\w-])(?P<value>\d{{1,5}}(?:\s?(?:bis|ter|[a-z]))?,?\s+{_STREET_WORD}\s+"
        rf"(?:(?:{_CAP}|de|des|du|la|le|del|della|di|da|do|dos)\s+){{0,4}}{_CAP}"
        rf"{_POSTCODE_CITY}?"
        rf"|(?:{_CAP}[\s-])?{_UP}{_ANY}*{_STREET_SUFFIX}\s+\d{{1,5}}[a-z]?{_POSTCODE_CITY}?"
        rf"|{_STREET_WORD}\s+(?:(?:{_CAP}|de|des|du|la|del|della|di)\s+){{0,3}}{_CAP}"
        rf",?\s+\d{{1,5}}{_POSTCODE_CITY}?)"),
    0.8,
)

# Presidio validates e-mail domains too; this one keeps e-mail covered without Presidio.
EMAIL = RegexRecognizer(
    "email", "EMAIL",
    re.compile(r"(?<![\w.+-])(?P<value>[\w.+-]*\w@\w[\w-]*(?:\.[\w-]+)*\.[A-Za-z]{2,})\b"),
    0.9,
)

# Secrets after the word that names them: "PIN is 7391-4428", "door code to my building is
# 58213". Up to 40 characters of other words may sit between, but no digit and no full stop.
SECRET = RegexRecognizer(
    "secret", "ID",
    re.compile(
        r"(?i:\b(?:PIN|pass\s?code|password|passphrase|pass\s?word|code|combination|"
        r"account\s+(?:number|no\.?)|member\s+ID|policy\s+(?:number|no\.?)))\b"
        r"[^\d.\n]{0,40}?(?P<value>\d[\d\s-]{2,}\d)(?![\d-])"),
    0.9,
)

# Any other run of 5+ digits (possibly grouped by dashes) is an identifier of some kind.
LONG_NUMBER = RegexRecognizer(
    "number", "ID",
    re.compile(r"(?<![\w-])(?P<value>\d{3,}(?:-\d{2,})+|\d{5,})(?![\w-])"),
    0.5,
)

_INTRO = r"(?i:\bmy\s+name\s+is|\bthis\s+is|\bI['’]m|\bI\s+am|\bit['’]s|\bit\s+is|\bname\s*:)"
PERSON_INTRO = RegexRecognizer(
    "person-intro", "PERSON", re.compile(rf"{_INTRO}\s+(?P<value>{NAME})"), 0.8)
# "Ngozi Hargreaves here": a name at the start of a sentence or after a greeting's comma.
PERSON_HERE = RegexRecognizer(
    "person-here", "PERSON",
    re.compile(rf"(?:^|(?<=[,.;:!?]\s)|(?<=\n))(?P<value>{NAME})\s+here\b", re.MULTILINE), 0.8)
PERSON_TITLE = RegexRecognizer(
    "person-title", "PERSON",
    re.compile(rf"\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Doctor|Nurse)\.?\s+(?P<value>{NAME})"), 0.75)
_SIGNOFF = (r"(?i:thanks(?:\s+again)?|thank\s+you|many\s+thanks|cheers|best(?:\s+wishes)?|"
            r"(?:kind|warm|best)\s+regards|regards|sincerely|yours(?:\s+(?:truly|sincerely))?|"
            r"take\s+care|all\s+the\s+best|love|ta|thx|x{1,3})")
PERSON_SIGNOFF = RegexRecognizer(
    "person-signoff", "PERSON",
    re.compile(rf"(?:{_SIGNOFF}\s*[,!]?|[—–-])\s*(?P<value>{NAME})\s*\Z"), 0.85)
# A name alone on the last line, or after the last sentence: "...works too.\nMaria".
PERSON_LAST_LINE = RegexRecognizer(
    "person-signature", "PERSON",
    re.compile(rf"(?:(?<=\n)|(?<=[.!?]\s))(?P<value>{NAME})\s*\Z"), 0.7)

RECOGNIZERS: tuple[RegexRecognizer, ...] = (
    MRN, PHONE, DATE, DAY_MONTH, ADDRESS, ADDRESS_CONTINENTAL, EMAIL, SECRET, LONG_NUMBER,
    PERSON_INTRO, PERSON_HERE, PERSON_TITLE, PERSON_SIGNOFF, PERSON_LAST_LINE,
)

# Capitalised words that open sentences or letters and so match NAME without being names.
_NOT_NAMES = frozenset({
    "a", "an", "the", "i", "my", "me", "we", "our", "you", "your", "he", "she", "it", "they",
    "this", "that", "these", "those", "there", "here", "hi", "hello", "hey", "dear", "thanks",
    "thank", "cheers", "best", "regards", "sincerely", "yours", "please", "sorry", "yes", "no",
    "ok", "okay", "good", "morning", "afternoon", "evening", "doctor", "nurse", "team", "clinic",
    "care", "patient", "mr", "mrs", "ms", "dr", "so", "and", "but", "or", "if", "also", "just",
    "writing", "again", "following", "still", "today", "tomorrow", "yesterday", "monday",
    "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    # Sign-offs and the abbreviations of terse request lines ("Ta,", "Pt ...; MRN ...").
    "ta", "thx", "love", "urgent", "re", "pt", "dob", "mrn", "nhs", "appt", "rx", "ref", "tel",
    "mob", "ext", "asap", "fyi", "pls", "plz", "btw", "name", "reason", "request", "refill",
    "callback", "cancel", "note", "email", "phone", "mobile", "cell", "landline", "whatsapp",
})
# Contractions open sentences too ("I'm Thomas ...") and match a name word's shape.
_NOT_NAMES |= {f"{w}{q}{end}" for q in "'’" for w, end in (
    ("i", "m"), ("i", "ve"), ("i", "ll"), ("i", "d"), ("it", "s"), ("that", "s"), ("there", "s"),
    ("here", "s"), ("what", "s"), ("let", "s"), ("he", "s"), ("she", "s"), ("we", "re"),
    ("we", "ve"), ("you", "re"), ("they", "re"), ("can", "t"), ("don", "t"), ("won", "t"),
    ("didn", "t"), ("isn", "t"), ("doesn", "t"), ("haven", "t"), ("wasn", "t"))}
NOT_NAMES = _NOT_NAMES
CAP_WORD = _CAP  # one capitalised name word


def plausible_name(text: str) -> bool:
    """False for a span that is only letter-writing words ("Thank You", "Dear Doctor")."""
    words = [w for w in re.split(r"[\s-]+", text) if w]
    return bool(words) and any(w.lower().strip("'’") not in _NOT_NAMES for w in words)


def find_all(text: str, recognizers: Iterable[RegexRecognizer] = RECOGNIZERS) -> list[Entity]:
    """Every entity any of ``recognizers`` finds (overlaps are left to the caller)."""
    found: list[Entity] = []
    for recognizer in recognizers:
        for entity in recognizer.find(text):
            if entity.kind == "PERSON" and not plausible_name(entity.text):
                continue
            found.append(entity)
    return found


def name_tokens(name: str) -> list[str]:
    """The capitalised words of a name, without particles ("Van der Berg" → Van, Berg)."""
    return [w for w in re.findall(rf"{_CAP}", name) if w.lower() not in _NOT_NAMES]


def normalise(kind: str, value: str) -> str:
    """The key under which two surface forms count as the same value (same pseudonym)."""
    if kind == "PHONE":
        digits = _digits(value)
        return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
    if kind in ("MRN", "ID"):
        return re.sub(r"[\s-]", "", value).lower()
    return " ".join(re.sub(r"[^\w@.#/-]+", " ", value.lower()).split())


# ---------------------------------------------------------------- combining findings

# Who wins an overlap: a precise pattern beats a generic one, which beats NER guesses.
_TIER_PATTERN, _TIER_GENERIC, _TIER_NER = 2, 1, 0
_GENERIC = {"crossbound:number", "crossbound:person-signature", "crossbound:name-list"}


def specific_date(text: str) -> bool:
    """A calendar date (a PII date of birth/visit), not "last week" or "for 3 days"."""
    return bool(re.search(r"\d", text)) and bool(
        MONTH_RE.search(text) or re.search(r"\d+\s*[/.-]\s*\d+\s*[/.-]\s*\d+", text))


def tier(entity: Entity) -> int:
    """Who wins an overlap: 2 a precise pattern, 1 a generic one, 0 an NER guess."""
    if entity.source.endswith(("SpacyRecognizer", ":ner-truecased")):
        return _TIER_NER
    if entity.source.startswith("crossbound:"):
        return _TIER_GENERIC if entity.source in _GENERIC else _TIER_PATTERN
    if entity.source.endswith("SpacyRecognizer"):
        return _TIER_NER
    return _TIER_GENERIC


class Spans:
    """Non-overlapping ``[start, end)`` spans, kept sorted: an overlap test is a binary search.

    What keeps sanitising a document linear-ish: testing each candidate against every span
    kept so far made a document with thousands of distinct names quadratic.
    """

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in sorted(spans):
            self.add(start, end)

    def overlaps(self, start: int, end: int) -> bool:
        # The kept span starting last before ``end`` is the only one that can reach past
        # ``start``: kept spans do not overlap, so their ends rise with their starts.
        i = bisect_left(self._starts, end) - 1
        return i >= 0 and self._ends[i] > start

    def add(self, start: int, end: int) -> None:
        """Keep ``[start, end)``; the caller has checked that it overlaps nothing kept."""
        i = bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)


def resolve_overlaps(candidates: Iterable[Entity]) -> list[Entity]:
    """Keep non-overlapping entities: higher tier first, then longer, then higher score."""
    ranked = sorted(candidates, key=lambda e: (-tier(e), -e.length, -e.score, e.start))
    kept: list[Entity] = []
    spans = Spans()
    for entity in ranked:
        if not spans.overlaps(entity.start, entity.end):
            kept.append(entity)
            spans.add(entity.start, entity.end)
    return sorted(kept, key=lambda e: e.start)


_WORD_CHARS = r"[\w'’-]"
_WORD_RUN = re.compile(f"{_WORD_CHARS}+")
_WORD_CHAR = re.compile(_WORD_CHARS)


def word_occurrences(text: str, word: str) -> Iterator[tuple[int, int]]:
    """Spans where ``word`` occurs as a whole word (not inside "Annabel" or "Ann-Marie")."""
    for match in re.finditer(rf"(?<!{_WORD_CHARS}){re.escape(word)}(?!{_WORD_CHARS})", text):
        yield match.span()


def words_occurrences(text: str, words: Iterable[str]) -> Iterator[tuple[str, int, int]]:
    """``(word, start, end)`` for every whole-word occurrence of each of ``words`` in ``text``:
    :func:`word_occurrences` for all of them in one pass over the text.

    One scan per word made a document with n distinct names cost n passes. Here each word is
    filed under its first run of word characters ("Maria" for "Maria Okafor"); an occurrence
    must begin with a run of the text equal to that head (the head is followed by a non-word
    character in the word, or ends it), so one scan over the text's runs finds them all.
    """
    by_head: dict[str, list[str]] = {}
    odd: list[str] = []  # words not opening with a word character: scanned the plain way
    for word in dict.fromkeys(words):
        head = _WORD_RUN.match(word)
        if head is None:
            odd.append(word)
        else:
            by_head.setdefault(head.group(), []).append(word)
    last_end: dict[str, int] = {}  # as finditer: occurrences of one word do not overlap
    for run in _WORD_RUN.finditer(text):
        for word in by_head.get(run.group(), ()):
            start = run.start()
            end = start + len(word)
            if start < last_end.get(word, 0) or not text.startswith(word, start) or (
                    end < len(text) and _WORD_CHAR.match(text, end)):
                continue
            last_end[word] = end
            yield word, start, end
    for word in odd:
        for start, end in word_occurrences(text, word):
            yield word, start, end
