"""English words people write in lower case mid-sentence: ``common_words.txt`` beside this
module, made by ``benchmarks/sanitizer_common_words.py`` from cased English text that the
``data`` extra ships (words written in lower case at least 3 times and at least a quarter as
often as capitalised). The sanitiser reads a name-list word that is also one of these
("will", "hope", "rose") as a name only with a cue."""

from __future__ import annotations

import functools
from importlib.resources import files

FILE = "common_words.txt"


@functools.cache
def common_words() -> frozenset[str]:
    """The list, read once (package data: ``#`` lines are comments)."""
    text = files(__package__ or "crossbound.privacy").joinpath(FILE).read_text(encoding="utf-8")
    return frozenset(word for line in text.splitlines() if not line.startswith("#")
                     for word in line.split())
