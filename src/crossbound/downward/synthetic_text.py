"""Text handling for LM-written examples: the generation prompt, parsing a continuation,
de-duplication, and how close synthetic text sits to the real records."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from crossbound.tasks.base import Task

_CUE = re.compile(r"\n\s*\n|(?:Answer|Message|Label|Reason)\s*:")
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def generation_prompt(task: Task, label: str, seeds: Sequence[str], hint: str = "") -> str:
    """Instruction, the wanted label, seed messages of that label; ends in a ``Message:`` cue."""
    if seeds:
        ask = (f'Here are messages whose answer is "{label}", then one more new message whose '
               f'answer is also "{label}".')
    else:
        ask = f'Write one new message whose answer is "{label}".'
    parts = [f"{task.instruction}\n\n{ask} {hint}".rstrip()]
    parts += [f"Message: {flatten(s)}\nAnswer: {label}" for s in seeds]
    parts.append("Message:")
    return "\n\n".join(parts)


def flatten(text: str) -> str:
    """One line: the model party cuts continuations at the first newline."""
    return " ".join(text.split())


def parse_continuation(text: str, min_chars: int = 20, min_words: int = 1) -> str | None:
    """The new message in an LM continuation, or None when nothing usable is left.

    Cut at the first blank line or the next ``Answer:`` / ``Message:`` (or ``Label:``,
    ``Reason:``) cue, put on one line, stripped of wrapping quotes; a tail cut off by the token
    limit goes back to the last full sentence when at least ``min_chars`` remain.
    """
    text = text.lstrip(" ")  # a leading blank line means the LM's message was empty
    lead = re.match(r"(?:Message\s*:\s*)+", text)
    if lead:  # the LM repeated the cue it was given
        text = text[lead.end():]
    cut = _CUE.search(text)
    if cut is not None:
        text = text[: cut.start()]
    text = flatten(text).strip(" \"'`*-")
    ends = [m.end() for m in SENTENCE_END.finditer(text)]
    if ends and ends[-1] < len(text) and ends[-1] >= min_chars:
        text = text[: ends[-1]]
    if len(text) < min_chars or len(text.split()) < min_words:
        return None
    return text


def repetitive(text: str, min_words: int = 3) -> bool:
    """Whether a sentence of ``min_words`` or more words comes back: greedy decoding that
    starts to loop ("I'm going to the gym tomorrow." five times) does not recover."""
    seen: set[str] = set()
    for sentence in SENTENCE_END.split(text):
        key = normalise(sentence)
        if len(key.split()) >= min_words:
            if key in seen:
                return True
            seen.add(key)
    return False


def normalise(text: str) -> str:
    """Lower case, letters and digits only, single spaces: what "the same text" means."""
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.lower()).split())


def shingles(text: str, n: int = 5) -> frozenset[tuple[str, ...]]:
    """Word ``n``-grams of the normalised text (a shorter text is its own single shingle)."""
    words = normalise(text).split()
    if len(words) < n:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def dedupe(texts: Sequence[str], threshold: float = 0.8, n: int = 5,
           against: Sequence[str] = ()) -> tuple[list[int], dict[str, int]]:
    """Indices of ``texts`` to keep (first occurrence wins) and how many were removed, by reason:
    ``exact`` (equal after :func:`normalise`), ``near`` (``n``-gram Jaccard > ``threshold``
    with a kept text), ``copies`` (exact or near copies of a text in ``against``, the seeds)."""
    removed = {"exact": 0, "near": 0, "copies": 0}
    seen = {normalise(t) for t in against}
    reference = [shingles(t, n) for t in against]
    kept: list[int] = []
    kept_shingles: list[frozenset[tuple[str, ...]]] = []
    exact: set[str] = set()
    for index, text in enumerate(texts):
        key, grams = normalise(text), shingles(text, n)
        if key in seen or any(jaccard(grams, r) > threshold for r in reference):
            removed["copies"] += 1
        elif key in exact:
            removed["exact"] += 1
        elif any(jaccard(grams, k) > threshold for k in kept_shingles):
            removed["near"] += 1
        else:
            exact.add(key)
            kept.append(index)
            kept_shingles.append(grams)
    return kept, removed


def distance_to_real(texts: Sequence[str], private: Sequence[str], public: Sequence[str] = (),
                     n: int = 5, verbatim: int = 8) -> dict[str, float]:
    """How close synthetic ``texts`` are to the private records.

    ``mean_max_jaccard``: mean over texts of the highest word-``n``-gram Jaccard to any private
    record. ``verbatim_share``: share of texts that repeat a run of ``verbatim`` words of a
    private record, not counting runs the public split also has (templated phrasing).
    """
    if not texts:
        return {"mean_max_jaccard_5gram": 0.0, "verbatim_8gram_share": 0.0}
    records = [shingles(t, n) for t in private]
    runs = set().union(*(shingles(t, verbatim) for t in private)) if private else set()
    runs -= set().union(*(shingles(t, verbatim) for t in public)) if public else set()
    best = [max((jaccard(shingles(t, n), r) for r in records), default=0.0) for t in texts]
    repeats = sum(1 for t in texts
                  if len(normalise(t).split()) >= verbatim and shingles(t, verbatim) & runs)
    return {f"mean_max_jaccard_{n}gram": round(sum(best) / len(best), 4),
            f"verbatim_{verbatim}gram_share": round(repeats / len(texts), 4)}
