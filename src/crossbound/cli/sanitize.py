"""``crossbound sanitize``: replace PII with placeholders, or score how well that works.

``--jsonl IN`` sanitises a corpus in one process: one JSON object per line, its ``text`` field
(``--field`` names another) replaced, every other field kept; progress goes to stderr.

Lazy imports: the sanitiser (its name and phone tables) and the evaluation load when a command
runs, so ``crossbound --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.table import Table

from crossbound.cli.console import fail, out

if TYPE_CHECKING:
    from crossbound.privacy.batch import BatchStats
    from crossbound.privacy.sanitizer import Sanitizer

PROGRESS_EVERY_S = 5.0  # seconds between progress lines on stderr


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); give a "
                         "text file") from exc


def sanitize(
    file: Annotated[Path | None, typer.Argument(
        help="Text file to sanitise as one document (none or '-': read stdin).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the text and its entities (kinds, spans, placeholders).")] = False,
    show_map: Annotated[bool, typer.Option(
        "--show-map", help="Also print placeholder → original (private: keep it local).")]
    = False,
    evaluate: Annotated[str | None, typer.Option(
        "--evaluate", metavar="TASK",
        help="Instead: score detection on every record of TASK, e.g. clinic-triage:seed=7.")]
    = None,
    regex_only: Annotated[bool, typer.Option(
        help="Only crossbound's own recognisers: no Presidio/spaCy (fast, weaker on names).")]
    = False,
    jsonl: Annotated[Path | None, typer.Option(
        "--jsonl", metavar="IN",
        help="Instead: sanitise every line of a JSON Lines file ('-': stdin), one document "
             "per line; other fields are kept.")] = None,
    field: Annotated[str, typer.Option(
        "--field", help="With --jsonl: the field holding each document's text.")] = "text",
    output: Annotated[Path | None, typer.Option(
        "--out", metavar="OUT", help="With --jsonl: write here instead of stdout.")] = None,
) -> None:
    """Replace PII with consistent placeholders ([PERSON_1], [PHONE_1], ...), or evaluate that."""
    from crossbound.privacy.sanitizer import Sanitizer

    if jsonl is not None:
        if file is not None or evaluate is not None:
            raise fail("--jsonl reads its documents from IN: give no FILE and no --evaluate")
        if str(jsonl) != "-" and not jsonl.is_file():
            raise fail(f"{jsonl}: no such file")
        _sanitize_jsonl(jsonl, output, field, Sanitizer(presidio=not regex_only),
                        entities=as_json, show_map=show_map)
        return
    if output is not None:
        raise fail("--out goes with --jsonl (a single document is printed to stdout)")
    if evaluate is None and file is not None and str(file) != "-" and not file.is_file():
        raise fail(f"{file}: no such file")
    sanitizer = Sanitizer(presidio=not regex_only)
    try:
        if evaluate is not None:
            from crossbound.evaluate.pii_detection import evaluate_pii_detection
            from crossbound.tasks.registry import load_task

            task = load_task(evaluate)
            records = [*task.train, *task.validation, *task.test, *task.public]
            report = evaluate_pii_detection(records, sanitizer)
        else:
            text = sys.stdin.read() if file is None or str(file) == "-" else _read_text(file)
            result = sanitizer.sanitize(text)
    except (ImportError, RuntimeError, ValueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    if evaluate is None:
        if as_json:
            print(json.dumps(result.to_dict(show_map=show_map), indent=2, ensure_ascii=False))
            return
        sys.stdout.write(result.text if result.text.endswith("\n") else result.text + "\n")
        if show_map:  # on stderr, so stdout stays safe to pass on
            for placeholder, value in result.mapping.items():
                print(f"{placeholder}\t{value}", file=sys.stderr)
        return
    if as_json:
        print(json.dumps({"task": evaluate, **report.to_dict()}, indent=2))
        return
    table = Table(title=f"PII detection on {evaluate} ({report.records} records; a hit covers "
                        f"≥ {report.min_overlap:.0%} of a gold span of the same kind)")
    for column in ("kind", "gold", "predicted", "precision", "recall", "F2", "leaks",
                   "token leaks"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for row in report.rows():
        table.add_row(row["kind"], str(row["gold"]), str(row["predicted"]),
                      f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f2']:.3f}",
                      str(row["leaks"]), f"{row['token_leaks']}/{row['gold_tokens']}")
    out.print(table)
    build = ("" if report.build_seconds is None
             else f"analyzer built in {report.build_seconds:.1f} s (once per process); ")
    out.print(f"{build}sanitised {report.records} records in {report.seconds:.1f} s "
              f"({1000 * report.seconds / max(report.records, 1):.1f} ms/record)")


def _sanitize_jsonl(source: Path, output: Path | None, field: str, sanitizer: Sanitizer, *,
                    entities: bool, show_map: bool) -> None:
    from crossbound.privacy.batch import JsonlError, sanitize_jsonl

    last = time.perf_counter()

    def progress(stats: BatchStats) -> None:
        nonlocal last
        if time.perf_counter() - last >= PROGRESS_EVERY_S:
            last = time.perf_counter()
            print(f"sanitised {stats.documents:,} documents "
                  f"({stats.documents / max(stats.seconds, 1e-9):.1f}/s)", file=sys.stderr)

    name = "<stdin>" if str(source) == "-" else str(source)
    try:
        with ExitStack() as stack:
            lines: TextIO = sys.stdin if str(source) == "-" else stack.enter_context(
                source.open(encoding="utf-8"))
            sink: TextIO = sys.stdout if output is None or str(output) == "-" else (
                stack.enter_context(output.open("w", encoding="utf-8")))
            stats = sanitize_jsonl(lines, sink, sanitizer, field=field, entities=entities,
                                   show_map=show_map, source=name, progress=progress)
    except UnicodeDecodeError as exc:
        raise fail(f"{name}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except (JsonlError, ImportError, RuntimeError, OSError) as exc:
        raise fail(str(exc)) from exc
    print(f"sanitised {stats.documents:,} documents ({stats.entities:,} entities replaced) "
          f"in {stats.seconds:.1f} s", file=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add ``sanitize`` to ``app``."""
    app.command("sanitize")(sanitize)
