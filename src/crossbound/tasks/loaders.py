"""A user's own task from a ``.jsonl`` or ``.csv`` file.

Each row needs a text field and a target field (names configurable). Optional fields: ``id``
(kept as the example id) and ``split`` (train/validation/test/public; when every row has one,
it replaces the seeded random split). The label set is given with ``choices="a|b|c"`` or
inferred: a target column with at most 20 distinct values, each occurring at least twice, is a
classification task; anything else is free text scored by ROUGE-L.

Bad rows are reported together, up to the first 10, each with its file line number, so a user
can fix a file in one pass instead of one error per run.

Limits, so a wrong file fails at once instead of exhausting memory later: a file of at most
``MAX_FILE_BYTES`` (256 MiB), at most ``MAX_RECORDS`` (1,000,000) records, and at most
``MAX_RECORD_CHARS`` (100,000) characters per record (a JSONL line, or a CSV record's fields
together) — far beyond what a small model's context takes. Split a larger file into several
tasks, or shorten (chunk) its long texts.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossbound.tasks.base import Example, Task
from crossbound.tasks.real import check_fractions, check_seed, seeded_split

SPLITS = ("train", "validation", "test", "public")
MIN_ROWS = 10
MAX_REPORTED = 10
MAX_INFERRED_LABELS = 20
MAX_FILE_BYTES = 256 << 20
MAX_RECORDS = 1_000_000
MAX_RECORD_CHARS = 100_000


@dataclass(frozen=True)
class _Row:
    line: int  # 1-based line of the file where the record starts
    fields: dict[str, Any]


class _Problems:
    """Collects row problems; :meth:`raise_if_any` turns them into one ValueError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, line: int | None, message: str) -> None:
        self.items.append(f"line {line}: {message}" if line is not None else message)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_REPORTED]
        more = len(self.items) - len(shown)
        tail = f"\n  ... and {more} more" if more else ""
        raise ValueError(
            f"{self.path}: {len(self.items)} problem(s) in the task file:\n  "
            + "\n  ".join(shown)
            + tail
        )


def _too_long(chars: int) -> str:
    return (f"record of {chars:,} characters exceeds the limit of {MAX_RECORD_CHARS:,}; "
            "shorten or chunk long texts into several records")


def _jsonl_rows(path: Path, text: str, problems: _Problems) -> Iterator[_Row]:
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # blank lines (e.g. a trailing newline) are not records
        if len(line) > MAX_RECORD_CHARS:
            problems.add(line_no, _too_long(len(line)))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            problems.add(line_no, f"invalid JSON ({err.msg} at column {err.colno})")
            continue
        if not isinstance(record, dict):
            problems.add(line_no, f"expected a JSON object, got {type(record).__name__}")
            continue
        yield _Row(line_no, record)


def _csv_rows(path: Path, text: str, problems: _Problems) -> Iterator[_Row]:
    reader = csv.reader(text.splitlines(keepends=True))
    header: list[str] | None = None
    previous_end = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # e.g. a field over csv's own size limit (131,072 characters)
            raise ValueError(f"{path}: line {previous_end + 1}: unreadable CSV record ({err}); "
                             f"records may hold at most {MAX_RECORD_CHARS:,} characters") from err
        start, previous_end = previous_end + 1, reader.line_num  # quoted fields span lines
        if not any(cell.strip() for cell in record):
            continue
        chars = sum(len(cell) for cell in record)
        if chars > MAX_RECORD_CHARS:
            problems.add(start, _too_long(chars))
            continue
        if header is None:
            header = [cell.strip() for cell in record]
            continue
        if len(record) != len(header):
            problems.add(start, f"has {len(record)} fields but the header has {len(header)}")
            continue
        # Empty CSV cells mean "absent", as in a JSON object without the key.
        yield _Row(start, {k: v for k, v in zip(header, record, strict=True) if v != ""})


def _read_rows(path: Path, problems: _Problems) -> list[_Row]:
    if not path.is_file():
        raise FileNotFoundError(f"task file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in {".jsonl", ".csv"}:
        raise ValueError(f"{path}: task files must be .jsonl or .csv, not {suffix or 'no suffix'}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: {size:,} bytes exceeds the task file limit of "
                         f"{MAX_FILE_BYTES:,} bytes; split it into several files (tasks)")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: tolerate a BOM from spreadsheets
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err})") from err
    if not text.strip():
        raise ValueError(f"{path}: the file is empty (expected one record per line)")
    reader = _jsonl_rows if suffix == ".jsonl" else _csv_rows
    rows: list[_Row] = []
    for row in reader(path, text, problems):
        if len(rows) == MAX_RECORDS:
            raise ValueError(f"{path}: more than {MAX_RECORDS:,} records (line {row.line}); "
                             "split it into several files (tasks)")
        rows.append(row)
    return rows


def _string_field(row: _Row, field: str, problems: _Problems, required: bool) -> str | None:
    if field not in row.fields or row.fields[field] is None:
        if required:
            problems.add(row.line, f"missing field {field!r}")
        return None
    value = row.fields[field]
    if not isinstance(value, str):
        problems.add(
            row.line,
            f"field {field!r} must be a string, got {type(value).__name__} {value!r} "
            f'(quote it: "{value}")',
        )
        return None
    if not value.strip():
        problems.add(row.line, f"field {field!r} is empty")
        return None
    return value.strip()


def _parse_choices(choices: str) -> tuple[str, ...]:
    labels = tuple(dict.fromkeys(c.strip() for c in str(choices).split("|") if c.strip()))
    if len(labels) < 2:
        raise ValueError(f"choices must list at least 2 labels separated by '|', got {choices!r}")
    return labels


def infer_choices(targets: list[str]) -> tuple[str, ...] | None:
    """Sorted labels if ``targets`` look like a label column, else None (free text)."""
    counts = Counter(targets)
    if 2 <= len(counts) <= MAX_INFERRED_LABELS and min(counts.values()) >= 2:
        return tuple(sorted(counts))
    return None


def load_file_task(
    path: Path,
    text_field: str = "text",
    target_field: str = "target",
    choices: str | None = None,
    seed: int = 0,
    validation: float = 0.1,
    test: float = 0.2,
    public: float = 0.0,
    name: str | None = None,
    instruction: str | None = None,
) -> Task:
    """Build a task from a ``.jsonl``/``.csv`` file; see the module docstring for the format."""
    path = Path(path)
    seed = check_seed(seed)
    fractions = check_fractions(validation, test, public)
    labels = _parse_choices(choices) if choices is not None else None
    task_name = str(name) if name is not None else path.stem
    problems = _Problems(path)
    rows = _read_rows(path, problems)

    parsed: list[tuple[_Row, str, str, str | None, str | None]] = []
    for row in rows:
        known_problems = len(problems.items)
        text = _string_field(row, text_field, problems, required=True)
        target = _string_field(row, target_field, problems, required=True)
        row_id = _string_field(row, "id", problems, required=False)
        split = _string_field(row, "split", problems, required=False)
        if split is not None and split not in SPLITS:
            problems.add(row.line, f"unknown split {split!r} (use one of {', '.join(SPLITS)})")
            split = None
        if labels is not None and target is not None and target not in labels:
            problems.add(row.line, f"label {target!r} is not one of the choices {list(labels)}")
        # A row with any problem is left out of the whole-file checks below, so one mistake
        # is reported once.
        if len(problems.items) == known_problems and text is not None and target is not None:
            parsed.append((row, text, target, row_id, split))

    ids = Counter(row_id for _, _, _, row_id, _ in parsed if row_id is not None)
    for row, _, _, row_id, _ in parsed:
        if row_id is not None and ids[row_id] > 1:
            problems.add(row.line, f"id {row_id!r} is used by {ids[row_id]} rows")
    with_split = [row.line for row, *_, split in parsed if split is not None]
    if with_split and len(with_split) != len(parsed):
        missing = [row.line for row, *_, split in parsed if split is None][:5]
        problems.add(
            None,
            f"field 'split' is set on {len(with_split)} of {len(parsed)} rows (missing e.g. on "
            f"lines {missing}); set it on every row, or on none for a seeded random split",
        )
    if len(rows) < MIN_ROWS:
        problems.add(None, f"only {len(rows)} row(s); a task needs at least {MIN_ROWS}")
    problems.raise_if_any()

    if labels is None:
        labels = infer_choices([target for _, _, target, _, _ in parsed])
    examples = [
        Example(
            id=row_id or f"{task_name}-{i:06d}",
            text=text,
            target=target,
            meta={"line": str(row.line)},
        )
        for i, (row, text, target, row_id, _) in enumerate(parsed)
    ]
    if with_split:
        grouped: dict[str, list[Example]] = {s: [] for s in SPLITS}
        for ex, (*_, split) in zip(examples, parsed, strict=True):
            grouped[str(split)].append(ex)
        if not grouped["train"]:
            raise ValueError(f"{path}: no row has split 'train'; a task needs training data")
        train, val, tst, pub = (tuple(grouped[s]) for s in SPLITS)
        split_mode = "file"
    else:
        train, val, tst, pub = _split_keeping_duplicates(examples, seed, fractions, labels)
        split_mode = "random"

    if instruction is None:
        instruction = (
            f"Answer with one of: {', '.join(labels)}."
            if labels is not None
            else "Respond to the message."
        )
    kind = f"classification over {len(labels)} labels" if labels else "free text"
    return Task(
        name=task_name,
        description=f"{len(examples)} rows from {path.name} ({kind})",
        instruction=instruction,
        parties=(train,),
        validation=val,
        test=tst,
        public=pub,
        choices=labels,
        metric="accuracy" if labels is not None else "rouge_l",
        params={
            "path": str(path),
            "seed": seed,
            "validation": fractions[0],
            "test": fractions[1],
            "public": fractions[2],
            "split": split_mode,
            "text_field": text_field,
            "target_field": target_field,
        },
    )


def _split_keeping_duplicates(
    examples: list[Example],
    seed: int,
    fractions: tuple[float, float, float],
    labels: tuple[str, ...] | None,
) -> tuple[tuple[Example, ...], ...]:
    """Seeded split in which rows with the same text always share a split.

    Otherwise a duplicated record could sit in train and test at once, which inflates utility
    and muddles memorisation measurements. The first row of each text stands for its group.
    """
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        groups.setdefault(" ".join(ex.text.split()).casefold(), []).append(ex)
    heads = [members[0] for members in groups.values()]
    by_head = {id(members[0]): members for members in groups.values()}  # object identity
    splits = seeded_split(
        heads,
        random.Random(seed),
        fractions,
        stratify=(lambda ex: ex.target) if labels is not None else None,
    )
    return tuple(
        tuple(ex for head in part for ex in by_head[id(head)])
        for part in (splits.train, splits.validation, splits.test, splits.public)
    )
