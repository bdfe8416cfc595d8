"""Sanitise a JSON Lines corpus in one process: one document per line, streamed in batches.

Each line is a JSON object; its text field (``text`` unless told otherwise) is replaced by the
sanitised text and every other field is kept as it was. Each line is its own document, with
its own pseudonyms ([PERSON_1] in two lines may be two people), as :meth:`Sanitizer.sanitize`
would give. Lines are read and written in batches (spaCy runs over a batch at once), so memory
stays flat however long the corpus is. Blank lines are skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from crossbound.privacy.sanitizer import Sanitizer

DEFAULT_FIELD = "text"
BATCH = 64


class JsonlError(ValueError):
    """A line of the input that is not a JSON object with a string text field."""


@dataclass
class BatchStats:
    documents: int = 0
    entities: int = 0
    seconds: float = 0.0


def _parse(line: str, number: int, field: str, source: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JsonlError(f"{source}:{number}: not valid JSON ({exc.msg} at column {exc.colno}); "
                         "give one JSON object per line") from exc
    if not isinstance(row, dict):
        raise JsonlError(f"{source}:{number}: expected a JSON object, got "
                         f"{type(row).__name__}")
    if not isinstance(row.get(field), str):
        keys = ", ".join(sorted(row)) or "none"
        raise JsonlError(f"{source}:{number}: no string field {field!r} (fields: {keys}); "
                         "name the text field with --field")
    return row


def _batches(lines: Iterable[str], field: str, source: str
             ) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        batch.append(_parse(line, number, field, source))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def sanitize_jsonl(lines: Iterable[str], out: IO[str], sanitizer: Sanitizer, *,
                   field: str = DEFAULT_FIELD, entities: bool = False, show_map: bool = False,
                   source: str = "<input>",
                   progress: Callable[[BatchStats], None] | None = None) -> BatchStats:
    """Write each line of ``lines`` to ``out`` with ``field`` sanitised.

    ``entities`` adds an ``entities`` list (kind, span, placeholder per replacement) and
    ``show_map`` a ``map`` of placeholder → original (private: keep it local). ``progress`` is
    called after every batch. Raises :class:`JsonlError` naming the first bad line; the batches
    before its batch (:data:`BATCH` lines each) have been written.
    """
    stats = BatchStats()
    started = time.perf_counter()
    for batch in _batches(lines, field, source):
        results = sanitizer.sanitize_many([row[field] for row in batch], batch_size=BATCH)
        for row, result in zip(batch, results, strict=True):
            row = {**row, field: result.text}
            if entities:
                row["entities"] = [r.to_dict() for r in result.replacements]
            if show_map:
                row["map"] = dict(result.mapping)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            stats.entities += len(result.replacements)
        stats.documents += len(batch)
        stats.seconds = time.perf_counter() - started
        if progress is not None:
            progress(stats)
    stats.seconds = time.perf_counter() - started
    return stats
