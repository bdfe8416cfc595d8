"""``construction-faq``: English questions on Swedish construction -> their topic (accuracy).

The text is the English edition of the Swedish Construction FAQ by Zaragoza AB (CC BY 4.0,
https://github.com/zaragoza-ab/swedish-construction-faq-1000), shipped as the PyPI package
``zaragoza-construction-faq==1.2.1``: ``data/faq-en.jsonl``, 503 records
``{"id", "category", "q", "a", "sources", "related_service"}`` grounded in Swedish law (PBL, BBR,
the Income Tax Act, AFS, ABS 18, AB 04). The task maps the question ``q`` to its ``category``.

The dataset's 39 categories are short ids, mostly Swedish (``bygglov``, ``rot-avdrag``,
``dolda-fel``, ...). Models score a label zero-shot by its text, so by default
(``labels="english"``) each category is labelled with the English name in ``CATEGORY_NAMES``
("building permit", "rot tax deduction", "hidden defects", ...); ``labels="ids"`` keeps the
dataset's ids. The names were written from the ids and the questions filed under them: lower
case, at most four words, all distinct, none the start of another. Both modes cut the same
splits (the question ids and ``meta["category"]``, the dataset's id, are the same in both);
only the targets and so the fingerprint differ. A category missing from ``CATEGORY_NAMES`` (a
newer package version) is an error in English mode.

The categories are unbalanced and small: 30 questions in each of the 2 largest, 7 in each of
the 14 smallest (after de-duplication). The split is stratified by category: at the default
fractions every category keeps at least 3 training questions (a 7-question one 4, an
8-question one 3) and at least one in each of validation, test and public, so accuracy on a
rare label in the 96-question test split rests on a single question. Some topics overlap by
nature (ROT questions appear under several renovation categories), so perfect accuracy is not
reachable.

Seven questions occur twice (same category each time, e.g. "What is ABS18?" and "What is ABS
18?"); each distinct question is kept once, leaving 496, so no question is in two splits.

``target="extract"`` is a generation task on the same questions and splits (ROUGE-L): the
input is the question and the FAQ's answer text, the reference the answer's opening — its
first sentence, and the next ones while it is under 8 words ("Yes, if you own the holiday
home.") — quoted word for word. The FAQ answers in its opening sentence, so this is
extracting the sentence that answers the question; the reference is a span of the input,
which is what makes it input-grounded generation (prompt lookup and suffix drafts can copy).
A model that quotes another sentence that also answers scores lower than it deserves.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from crossbound.tasks.base import Example, Task
from crossbound.tasks.package_data import package_file
from crossbound.tasks.real import (
    MIN_EXAMPLES,
    Splits,
    check_fractions,
    check_seed,
    seeded_split,
)

FAQ_PACKAGE = "zaragoza_construction_faq"
FAQ_FILE = "data/faq-en.jsonl"
FAQ_INSTRUCTION = (
    "Which topic of Swedish construction law and practice does this question belong to?"
)
LABEL_MODES = ("english", "ids")
TARGETS = ("topic", "extract")
EXTRACT_INSTRUCTION = (
    "Answer the question by quoting, word for word, the opening of the answer text (a "
    "sentence or two)."
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")

# The dataset's category id -> the English label used by default. Written from the id and the
# questions filed under it; kept distinct and prefix-free because labels are scored by their tokens.
CATEGORY_NAMES: dict[str, str] = {
    "altan-staket-plank": "decks and fences",
    "arbetsmiljo": "occupational safety",
    "attefallshus-friggebod": "attefall and friggebod houses",
    "badrumsrenovering": "bathroom renovation",
    "bbr-pbl": "building regulations",
    "bergvarme-jordvarme": "geothermal heating",
    "besiktning": "inspections and surveys",
    "buller-granne": "noise and neighbours",
    "bygglov": "building permit",
    "dispute": "disputes with builders",
    "dolda-fel": "hidden defects",
    "elinstallation": "electrical installation",
    "energideklaration": "energy declarations",
    "f-skatt": "f-tax registration",
    "fasadrenovering": "facade renovation",
    "forsakring-ansvar": "insurance and liability",
    "garantier": "warranty periods",
    "isolering": "insulation",
    "koksrenovering": "kitchen renovation",
    "kontrakt": "construction contracts",
    "kostnader": "costs and budgets",
    "marklov-rivningslov": "demolition and groundwork permits",
    "omvand-moms": "reverse charge vat",
    "oppen-spis-vedeldning": "fireplaces and wood stoves",
    "personalliggare": "staff registers",
    "radon-fuktskador": "radon and moisture damage",
    "reklamation-process": "defect complaints",
    "rot-avdrag": "rot tax deduction",
    "rut-avdrag": "rut tax deduction",
    "solceller-varmpump": "solar and heat pumps",
    "strandskydd": "shoreline protection",
    "takläggning": "roofing",
    "tillbyggnad": "house extensions",
    "tomtgrans-servitut": "property lines and easements",
    "varmesystem": "heating systems",
    "ventilation": "ventilation",
    "verifiera-byggfirma": "vetting construction firms",
    "vvs": "plumbing",
    "yrkesbevis-certifikat": "trade certificates",
}


def _question_key(question: str) -> str:
    # "What is ABS18?" and "What is ABS 18?" are one question: compare letters and digits only.
    return re.sub(r"\W+", "", question.casefold())


@cache  # parsed once per file and process; callers get an immutable tuple
def _read_faq(path: Path) -> tuple[tuple[str, str, str], ...]:
    rows: list[tuple[str, str, str]] = []
    labels: dict[str, set[str]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                source_id, category, question = record["id"], record["category"], record["q"]
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(
                    f"{path}, line {number}: not a FAQ record with 'id', 'category' and 'q' "
                    f"({exc}); reinstall with: pip install zaragoza-construction-faq==1.2.1"
                ) from exc
            question = re.sub(r"\s+", " ", str(question)).strip()
            category = str(category).strip()
            key = _question_key(question)
            if not key or not category:
                continue
            if key not in labels:
                rows.append((question, category, str(source_id)))
            labels.setdefault(key, set()).add(category)
    # A question filed under two categories has no single right answer: drop it (none in 1.2.1).
    return tuple(row for row in rows if len(labels[_question_key(row[0])]) == 1)


@cache
def _read_answers(path: Path) -> dict[str, str]:
    answers: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                answers[str(record.get("id"))] = re.sub(r"\s+", " ", str(record.get("a") or ""))
    return {k: v.strip() for k, v in answers.items() if v.strip()}


def construction_answers() -> dict[str, str]:
    """Each FAQ record's answer text (whitespace-normalised), by the dataset's id."""
    return _read_answers(package_file(FAQ_PACKAGE, FAQ_FILE))


def answer_opening(answer: str, min_words: int = 8) -> str:
    """The answer's first sentence, and the next ones while the text is under ``min_words``."""
    sentences = _SENTENCE_END.split(answer.strip())
    out = sentences[0]
    for sentence in sentences[1:]:
        if len(out.split()) >= min_words:
            break
        out += " " + sentence
    return out


def construction_questions() -> tuple[tuple[str, str, str], ...]:
    """Distinct (question, category, source id) triples from the FAQ, in file order."""
    # The file lookup is not cached, so a missing package is reported on every call.
    return _read_faq(package_file(FAQ_PACKAGE, FAQ_FILE))


def build_construction_faq(
    seed: int = 0,
    validation: float = 0.1,
    test: float = 0.2,
    public: float = 0.2,
    labels: str = "english",
    target: str = "topic",
) -> Task:
    """FAQ questions -> one of 39 topic categories (accuracy), every distinct question once;
    with ``target="extract"``, question + answer text -> the answer's opening (ROUGE-L; see the
    module notes).

    ``labels="english"`` (the default) names each category in English (``CATEGORY_NAMES``);
    ``labels="ids"`` keeps the dataset's (mostly Swedish) ids. The splits are the same in both.

    Each split is stratified by category, so all keep the label balance of the whole. At the
    defaults the 496 questions give 247 training, 57 validation, 96 test and 96 public (rounding
    per category gives validation more than 10 %).
    ``public`` holds labelled questions that may cross the trust boundary.
    """
    seed = check_seed(seed)
    fractions = check_fractions(validation, test, public)
    if labels not in LABEL_MODES:
        raise ValueError(f"labels must be one of {', '.join(LABEL_MODES)}, got {labels!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    rows = construction_questions()
    if len(rows) < MIN_EXAMPLES:
        raise ValueError(
            f"{FAQ_FILE} of {FAQ_PACKAGE} gives only {len(rows)} distinct questions; "
            "reinstall with: pip install zaragoza-construction-faq==1.2.1"
        )
    categories = sorted({category for _, category, _ in rows})
    unnamed = [category for category in categories if category not in CATEGORY_NAMES]
    if labels == "english" and unnamed:
        raise ValueError(
            f"{FAQ_FILE} of {FAQ_PACKAGE} has {len(unnamed)} categories with no English name "
            f"({', '.join(unnamed)}); add them to CATEGORY_NAMES, use labels=ids, or reinstall "
            "with: pip install zaragoza-construction-faq==1.2.1"
        )
    label_of = CATEGORY_NAMES if labels == "english" else {c: c for c in categories}
    choices = tuple(sorted(label_of[category] for category in categories))
    # ids follow the file order, so a question keeps its id whatever the seed and label mode.
    examples = [
        Example(
            id=f"cfaq-{i:06d}",
            text=question,
            target=label_of[category],
            meta={
                "source": "zaragoza-construction-faq",
                "source_id": source_id,
                "category": category,
            },
        )
        for i, (question, category, source_id) in enumerate(rows)
    ]
    # Stratified by the dataset's id, so both label modes cut exactly the same splits.
    splits = seeded_split(
        examples, random.Random(seed), fractions, stratify=lambda ex: ex.meta["category"]
    )
    trained = {ex.target for ex in splits.train}
    untrained = [label for label in choices if label not in trained]
    if untrained:
        smallest = min(sum(ex.target == label for ex in examples) for label in untrained)
        named = ", ".join(untrained[:3]) + (", ..." if len(untrained) > 3 else "")
        raise ValueError(
            f"validation/test/public fractions {fractions} leave {len(untrained)} of "
            f"{len(choices)} categories ({named}; the smallest has {smallest} questions) with "
            "no training question; lower the fractions"
        )
    if target == "extract":  # the same questions and splits, as generation
        return _extract_task(splits, fractions, seed, labels)
    return Task(
        name="construction-faq",
        description=(
            f"{len(examples)} English questions on Swedish construction law and practice "
            f"(Zaragoza AB FAQ, CC BY 4.0) -> one of {len(choices)} topics "
            f"({'English names' if labels == 'english' else 'the dataset ids'})"
        ),
        instruction=FAQ_INSTRUCTION,
        parties=(splits.train,),
        validation=splits.validation,
        test=splits.test,
        public=splits.public,
        choices=choices,
        metric="accuracy",
        params={
            "seed": seed,
            "validation": fractions[0],
            "test": fractions[1],
            "public": fractions[2],
            "labels": labels,
        },
    )


def _extract_task(splits: Splits, fractions: tuple[float, float, float], seed: int,
                  labels: str) -> Task:
    answers = construction_answers()

    def extract(ex: Example) -> Example:
        answer = answers[ex.meta["source_id"]]
        return dataclasses.replace(ex, text=f"Question: {ex.text}\nAnswer text: {answer}",
                                   target=answer_opening(answer))

    def each(split: Sequence[Example]) -> tuple[Example, ...]:
        return tuple(extract(ex) for ex in split if ex.meta["source_id"] in answers)

    train = each(splits.train)
    return Task(
        name="construction-faq",
        description=(
            f"{len(train)} training questions on Swedish construction law and practice with "
            "the FAQ's answer (Zaragoza AB FAQ, CC BY 4.0) -> the answer's opening, quoted"
        ),
        instruction=EXTRACT_INSTRUCTION,
        parties=(train,),
        validation=each(splits.validation),
        test=each(splits.test),
        public=each(splits.public),
        choices=None,
        metric="rouge_l",
        # "target" only here: the topic task's params (and so its results) stay as they were
        params={"seed": seed, "validation": fractions[0], "test": fractions[1],
                "public": fractions[2], "labels": labels, "target": "extract"},
    )
