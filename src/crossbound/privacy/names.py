"""Person names that capitalisation alone does not give away.

spaCy's NER and crossbound's letter-shape recognisers both lean on capital letters, so "this is
noah murphy writing", "REPEAT PRESCRIPTION FOR DOROTHY FENWICK" and a terse "Refill request
for Tomasz Fischer; MRN ..." slip through. Three things here help:

- **name lists**: first and last names of 86 locales, from the ``faker`` package (MIT), folded
  to lower case without accents ("zsófia" = "zsofia");
- **a case-normalised copy** of a text (:func:`truecase`), the same length so offsets carry
  over: all-caps lines are lower-cased, then name-list words and the words a name continues
  with get a capital. The letter-shape recognisers and NER then run on the copy as well;
- **name-list runs** (:func:`find_listed_names`): two to four capitalised words that the lists
  know ("Grace Kim", "Huang Jian"), and names after cues the letter-shape recognisers lack
  ("my daughter Ivy", "Dear Hunter,", "for Kateryna Shevchenko:").

Precision guards: a name-list word that is also an everyday English word
(:func:`~crossbound.privacy.common_words.common_words`: "will", "hope", "rose", "brown") is
capitalised in the copy only with a cue or a surname next to it, and a lone one never counts;
:func:`acceptable_person` drops eponyms ("Parkinson's", "Baker's cyst"), drug names and spans
without letters, whoever found them.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from crossbound.privacy import recognizers as R
from crossbound.privacy.common_words import common_words
from crossbound.privacy.recognizers import Entity, RegexRecognizer

INSTALL_HINT = "pip install 'crossbound[privacy]'"


def fold(word: str) -> str:
    """Lower case, accents and typographic apostrophes removed: the key names are looked up by."""
    decomposed = unicodedata.normalize("NFKD", word.replace("’", "'").lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class NameLists:
    """Folded first and last names."""

    first: frozenset[str]
    last: frozenset[str]

    def _parts(self, word: str) -> list[str]:
        key = _key(word)
        return [key] if key in self.first or key in self.last else [
            p for p in re.split(r"[-']", key) if len(p) > 1]

    def is_first(self, word: str) -> bool:
        return any(p in self.first for p in self._parts(word))

    def is_last(self, word: str) -> bool:
        return any(p in self.last for p in self._parts(word))

    def is_name(self, word: str) -> bool:
        return self.is_first(word) or self.is_last(word)


def _key(word: str) -> str:
    """:func:`fold`, without quotes around it or a possessive after it ("son's" → "son")."""
    key = fold(word).strip("'")
    return key[:-2] if key.endswith("'s") else key


def common(word: str) -> bool:
    """An everyday English word (or a letter-writing word such as "thanks", "doctor")."""
    key = _key(word)
    return key in common_words() or key in R.NOT_NAMES or len(key) < 2


_LATIN_NAME = re.compile(r"[^\W\d_]+(?:[-' ][^\W\d_]+)*")


@functools.cache
def name_lists() -> NameLists:
    """Faker's first and last names of every locale, Latin-script ones (romanised where it has
    them), built once per process (~0.3 s)."""
    try:
        import faker.providers.person as person
    except ImportError as exc:
        raise ImportError(f"the sanitiser's name lists need faker: {INSTALL_HINT}") from exc
    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attr in dir(provider):
            if not attr.startswith(("first_name", "last_name", "first_romanized",
                                    "last_romanized")):
                continue
            values = getattr(provider, attr)
            if not isinstance(values, dict | list | tuple | set | frozenset):
                continue
            target = first if attr.startswith("first") else last
            for value in values:
                if isinstance(value, str) and (
                        _LATIN_NAME.fullmatch(value) and value[0].isalpha()
                        and ord(value[0]) < 0x250):
                    target.add(fold(value))
    return NameLists(frozenset(w for w in first if len(w) > 1),
                     frozenset(w for w in last if len(w) > 1))


# ---------------------------------------------------------------- the case-normalised copy

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?]\s*$|^\s*$|\n\s*$")
_STRONG_CUE_TEXT = (r"(?i:\bmy\s+name\s+is|\bmy\s+name['’]s|\bname\s*[:=]|\bi\s+am\s+called"
                    r"|\bcall\s+me)")
_WEAK_CUE = re.compile(r"(?i:\bthis\s+is|\bit['’]?s|\bit\s+is|\bi['’]?m|\bi\s+am|\bfor|\bfrom"
                       r"|\bre:?|\bpt\.?|\bpatient|\bbehalf\s+of|\bdear|\bhi|\bhello|\bthanks,?"
                       r"|\bregards,?|\bcheers,?|\bsincerely,?|[-–—~]|[;:/|])\s*$")


_RELATION = (r"(?i:(?:my|our|his|her|their)\s+(?:(?:little|baby|eldest|youngest|older|younger)"
             r"\s+)?(?:son|daughter|wife|husband|partner|mum|mom|mother|dad|father|brother|"
             r"sister|grandson|granddaughter|grandad|grandpa|grandma|grandmother|grandfather|"
             r"neighbour|neighbor|friend|colleague|carer|child|boyfriend|girlfriend|fianc[ée]e?|"
             r"uncle|aunt|auntie|nephew|niece|cousin|nurse|doctor|GP|counsellor|therapist))")
# What makes the next word a name even in lower case, if it is no everyday word.
_STRONG_CUE = re.compile(rf"(?:{_STRONG_CUE_TEXT}|{_RELATION},?)\s*$")


def _cued(before: str) -> bool:
    return _STRONG_CUE.search(before) is not None


def _same_length(word: str, upper_first: bool) -> str:
    out = []
    for i, c in enumerate(word):
        changed = c.upper() if (i == 0 and upper_first) else c.lower()
        out.append(changed if len(changed) == 1 else c)
    return "".join(out)


_ADDRESS_LIKE = re.compile(r"[^\s,;]*(?:@|://|www\.)[^\s,;]*|[^\W_]+(?:[._][^\W_]+)+")


def _caps_line(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 8 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def truecase(text: str, lists: NameLists | None = None) -> tuple[str, list[tuple[int, int]]]:
    """A same-length copy of ``text`` with names capitalised, and the spans it capitalised.

    All-caps lines are lower-cased first (sentence starts keep their capital). Then a
    lower-case word gets a capital when it is a name-list word that is not an everyday word;
    when it follows a capitalised first name and is a surname or no everyday word ("priya
    raghunathan"); when it is an everyday first name right before such a surname ("hope
    reyes"); or when it follows "my name is" and is no everyday word.
    """
    lists = lists or name_lists()
    chars = list(text)
    for line in re.finditer(r"[^\n]+", text):
        if _caps_line(line.group()):
            for word in _WORD.finditer(line.group()):
                s = line.start() + word.start()
                initial = bool(_SENTENCE_END.search(text[:s]))
                chars[s:s + len(word.group())] = _same_length(word.group(), initial)
    base = "".join(chars)
    # Words inside e-mail addresses, URLs and handles stay as they are.
    skip = R.Spans(m.span() for m in _ADDRESS_LIKE.finditer(base))
    words = [w for w in _WORD.finditer(base) if not skip.overlaps(w.start(), w.end())]
    titled = [False] * len(words)
    for i, w in enumerate(words):
        token = w.group()
        if not token.islower():
            continue
        before = base[:w.start()]
        prev = words[i - 1] if i else None
        prev_name = prev is not None and base[prev.end():w.start()].strip() == "" and not (
            fold(prev.group()).endswith("'s")) and (
            titled[i - 1] or (prev.group()[0].isupper() and lists.is_first(prev.group())
                              and not common(prev.group())))
        listed = lists.is_name(token) and not common(token)
        continues = prev_name and (lists.is_last(token) or not common(token)) and (
            len(token) > 2 and fold(token) not in R.NOT_NAMES)
        titled[i] = listed or continues or (_cued(before) and not common(token))
    for i, w in enumerate(words):  # "hope reyes": an everyday first name before a surname
        nxt = words[i + 1] if i + 1 < len(words) else None
        if (not titled[i] and w.group().islower() and nxt is not None and titled[i + 1]
                and base[w.end():nxt.start()].strip() == "" and lists.is_first(w.group())
                and lists.is_last(nxt.group()) and fold(w.group()) not in R.NOT_NAMES
                and (_cued(base[:w.start()]) or _WEAK_CUE.search(base[:w.start()])
                     or not common(w.group()))):
            titled[i] = True
    out = list(base)
    spans = []
    for w, flag in zip(words, titled, strict=True):
        if flag:
            out[w.start():w.end()] = _same_length(w.group(), True)
            spans.append((w.start(), w.end()))
    copy = "".join(out)
    changed = [(m.start(), m.end()) for m in _WORD.finditer(copy)
               if copy[m.start():m.end()] != text[m.start():m.end()]]
    return copy, changed


# ---------------------------------------------------------------- recognisers on the copy

PERSON_RELATION = RegexRecognizer(
    "person-relation", "PERSON", re.compile(rf"{_RELATION},?\s+(?P<value>{R.NAME})"), 0.8)
PERSON_GREETING = RegexRecognizer(
    "person-greeting", "PERSON",
    re.compile(rf"(?:^|(?<=\n))(?i:dear|hi|hello|hey|good\s+(?:morning|afternoon|evening))"
               rf",?\s+(?P<value>{R.NAME})\s*(?:[,!:\n]|$)", re.MULTILINE), 0.75)
# "Refill request for Tomasz Fischer; MRN ...", "Re: Oluwaseun Adeyemi; dob ...": a name that
# fills a field of a terse line (it ends at the field's separator).
PERSON_FIELD = RegexRecognizer(
    "person-field", "PERSON",
    re.compile(rf"(?:(?i:\bfor|\bre:?|\bpt\.?|\bpatient|\bname|\bbehalf\s+of|\bfrom|\bcustomer)"
               rf"\s*[:\-–]?\s*|(?:^|[;|/]|\s[-–—]\s|:)\s*)"
               rf"(?P<value>{R.NAME})\s*(?=[;|/:]|\s[-–—]\s|\s*$|,|\))", re.MULTILINE), 0.7)

# "Haruto Sato, MRN 5501837", "Eleanor Vance (DOB ...)": a name the record details follow.
PERSON_BEFORE_DETAILS = RegexRecognizer(
    "person-before-details", "PERSON",
    re.compile(rf"(?P<value>{R.NAME})\s*[,(;:]\s*(?i:MRN|DOB|d\.o\.b|date\s+of\s+birth|born|"
               r"NHS|patient\s+(?:id|no|number)|record\s+(?:no|number)|hospital\s+number)\b"),
    0.75)
# A name on its own line, followed only by contact lines (a phone, an e-mail, "Sent from ...").
PERSON_SIGNATURE_BLOCK = RegexRecognizer(
    "person-signature-block", "PERSON",
    re.compile(rf"(?:^|(?<=\n))[ \t]*(?P<value>{R.NAME})[ \t]*"
               r"(?:\n[^\n]*(?:\d|@|(?i:sent\s+from))[^\n]*)+\s*\Z"), 0.75)

CUE_RECOGNIZERS = (PERSON_RELATION, PERSON_GREETING, PERSON_FIELD, PERSON_BEFORE_DETAILS,
                   PERSON_SIGNATURE_BLOCK)
# Weaker cues: every word must be a name-list word or no everyday word ("Lab:", "Mon/Wed").
_CHECKED = {"crossbound:person-field", "crossbound:person-greeting",
            "crossbound:person-before-details", "crossbound:person-signature-block"}


def _vouched(span: str, lists: NameLists) -> bool:
    tokens = R.name_tokens(span) or [span]
    if any(fold(t) in R.NOT_NAMES or (common(t) and not lists.is_name(t)) for t in tokens):
        return False
    return len(tokens) > 1 or (lists.is_name(tokens[0]) and not common(tokens[0]))
_CAP_RUN = re.compile(rf"{R.NAME}")


def _listed_run(tokens: list[str], lists: NameLists) -> int:
    """How many leading ``tokens`` form a name the lists vouch for (0: none)."""
    if len(tokens) < 2 or any(fold(t) in R.NOT_NAMES for t in tokens[:2]):
        return 0
    a, b = tokens[0], tokens[1]
    if not ((lists.is_first(a) and (not common(a) or lists.is_last(b)))
            or (lists.is_last(a) and lists.is_first(b) and not common(a) and not common(b))):
        return 0
    if common(b) and not lists.is_name(b):
        return 0
    n = 2
    while n < len(tokens) and fold(tokens[n]) not in R.NOT_NAMES and (
            lists.is_name(tokens[n]) or not common(tokens[n])):
        n += 1
    return n


def find_listed_names(text: str, lists: NameLists | None = None) -> list[Entity]:
    """Runs of capitalised words that start with a listed first name (or surname + first name)."""
    lists = lists or name_lists()
    found = []
    for run in _CAP_RUN.finditer(text):
        words = list(re.finditer(rf"{R.CAP_WORD}", run.group()))
        for i in range(len(words)):
            n = _listed_run([w.group() for w in words[i:]], lists)
            if n:
                start, end = run.start() + words[i].start(), run.start() + words[i + n - 1].end()
                found.append(Entity(start, end, "PERSON", text[start:end], 0.7,
                                    "crossbound:name-list"))
                break
    return found


def find_names(text: str, lists: NameLists | None = None) -> list[Entity]:
    """PERSON candidates from the case-normalised copy, the extra cues and the name lists.

    Offsets and ``text`` of each entity refer to the original ``text``."""
    lists = lists or name_lists()
    copy, changed = truecase(text, lists)
    person_recognizers = [r for r in R.RECOGNIZERS if r.kind == "PERSON"]
    candidates = R.find_all(text, CUE_RECOGNIZERS)
    if changed:  # the copy differs: the letter-shape recognisers get another look
        candidates += R.find_all(copy, (*person_recognizers, *CUE_RECOGNIZERS))
    candidates += find_listed_names(copy, lists)
    found = []
    for e in candidates:
        start, end = _trimmed(text, e.start, e.end)
        if start < end and acceptable_person(text, start, end) and (
                e.source not in _CHECKED or _vouched(text[start:end], lists)):
            found.append(Entity(start, end, "PERSON", text[start:end], e.score, e.source))
    return found


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` without leading letter-writing words ("I'm Thomas Boateng")."""
    for word in re.finditer(rf"{R.CAP_WORD}|\S+", text[start:end]):
        if fold(word.group()) not in R.NOT_NAMES:
            return start + word.start(), end
    return end, end


# ---------------------------------------------------------------- precision guards

# Diseases, signs and tests named after people: "Parkinson's" is a diagnosis, not a person.
# These are dropped before a possessive ("Crohn's", "Graves'"); surnames that are common
# (Murphy's sign, Bell's palsy) only before a medical noun (_EPONYM_NOUN).
EPONYMS = frozenset("""
addison alzheimer asperger bartholin burkitt charcot chagas creutzfeldt crohn cushing dupuytren
ehlers danlos fallot graves guillain hashimoto hirschsprung hodgkin huntington kaposi kawasaki
klinefelter korsakoff perthes gehrig marfan meniere munchausen osgood schlatter paget parkinson
peyronie raynaud reye scheuermann sjogren tourette wernicke willebrand apgar epley heimlich
babinski achilles kegel valsalva romberg mcburney lachman phalen tinel
""".split())  # noqa: SIM905
# ... and these are never anyone's name in a message, possessive or not ("my Achilles hurts").
ALWAYS_EPONYMS = frozenset({"achilles", "alzheimer", "asperger", "crohn", "raynaud", "hashimoto",
                            "sjogren", "tourette", "apgar", "epley", "heimlich", "valsalva"})
_EPONYM_NOUN = (r"(?i:disease|syndrome|palsy|cyst|score|scale|tendon|sign|test|reflex|"
                r"manoeuvre|maneuver|procedure|phenomenon|disorder|ulcer|lymphoma|sarcoma|"
                r"tumou?r|fracture|contracture|operation|repair|criteria|exercises?|gland|"
                r"duct|node|nodes|neuralgia|neuroma|oesophagus|esophagus|thyroiditis|"
                r"encephalopathy|cell|anomaly|position|virus|dementia|chorea)")
_POSSESSIVE_NOUN = re.compile(rf"^(?:['’]s?)?[\s-]*{_EPONYM_NOUN}\b")
_POSSESSIVE = re.compile(r"^['’]s?\b|^['’]")
# International non-proprietary name stems: "Carbimazole", "Atorvastatin", "Adalimumab".
_DRUG = re.compile(r"(?i:azole|olol|pril|sartan|statin|mab|tinib|cillin|mycin|cycline|oxacin|"
                   r"dronate|prazole|tidine|gliptin|gliflozin|glutide|vir|dipine|zepam|zolam|"
                   r"triptan|setron|lukast|olone|sone|semide|thiazide|oxetine|pramine|profen|"
                   r"parin|xaban|gatran|afil|tropium|terol|azepine|mide|navir)$")


def acceptable_person(text: str, start: int, end: int) -> bool:
    """False for PERSON spans that are no person: eponyms, drugs, no letters, digits."""
    span = text[start:end]
    if not re.search(r"[^\W\d_]", span) or re.search(r"\d", span) or not R.plausible_name(span):
        return False
    after = text[end:end + 40]
    words = [fold(w) for w in re.findall(r"[^\W\d_]+", span)]
    if _POSSESSIVE_NOUN.match(after) or any(
            _POSSESSIVE_NOUN.match(span[m.end():]) for m in re.finditer(r"[^\W\d_]+", span)):
        return False
    if words and ((words[-1] in EPONYMS and _POSSESSIVE.match(after))
                  or (len(words) == 1 and words[0] in ALWAYS_EPONYMS)):
        return False
    return not (len(words) == 1 and _DRUG.search(words[0])
                and not name_lists().is_name(words[0]))


def lone_common_word(span: str) -> bool:
    """One everyday English word that the name lists do not know ("Knee", "Supplier"):
    NER's guesses of that shape are dropped."""
    tokens = _WORD.findall(span)
    return len(tokens) == 1 and fold(tokens[0]) in common_words() and not name_lists().is_name(
        tokens[0])


def echo_words(names: Iterable[str]) -> set[str]:
    """The words of found names whose other occurrences are that person too ("Maria" after
    "Maria Okafor"), minus everyday words and months ("June" after "June Abernathy")."""
    words: set[str] = set()
    for name in names:
        if len(name) > 1 and (len(R.name_tokens(name)) > 1 or not common(name)):
            words.add(name)
        for token in R.name_tokens(name):
            if len(token) > 1 and not common(token) and not R.MONTH_RE.fullmatch(token):
                words.add(token)
    return words
