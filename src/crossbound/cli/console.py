"""What every command shares: the two consoles, error exits, plain text in markup, ``--set``
settings, progress."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:  # importing the strategy layer loads torch: commands import it lazily
    from crossbound.strategy import ProgressFactory

# A terminal keeps its own width; a log or a pipe gets 140 columns, where rich would squeeze
# the bench's tables into 80 and cut every number short.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error on stderr; the exit to raise (``raise fail(...)``)."""
    # The message is plain text: user input and exception text in it may hold brackets
    # ("nope[/x]", "[keys]") that rich would otherwise read as markup, drop, or choke on.
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # paths on one line
    return typer.Exit(code)


def parse_settings(items: list[str] | None) -> dict[str, str]:
    """``--set key=value`` options (a strategy's settings) as a dict, or the exit to raise."""
    settings: dict[str, str] = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise fail(f"--set {item!r}: expected key=value")
        settings[key.strip()] = value.strip()
    return settings


def plain(value: Any) -> str:
    """``value`` as text to embed in rich markup (or a table cell), brackets kept literal."""
    return escape(str(value))


class _Bar:
    def __init__(self, progress: Progress, task_id: TaskID, keep: bool = True) -> None:
        self.progress, self.task_id, self.keep = progress, task_id, keep

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task_id, n)

    def close(self) -> None:
        if not self.keep:  # the bench: a finished cell's steps would crowd the display
            self.progress.remove_task(self.task_id)
            return
        self.progress.update(self.task_id, visible=True)
        self.progress.stop_task(self.task_id)


class _LineBar:
    """Progress as plain lines (a log file, CI): start, every tenth of the way, and the end."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = time.perf_counter()
        self._next = 0.1
        err.print(f"{label} …", highlight=False)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.total and self.done / self.total >= self._next and self.done < self.total:
            self._next = (int(self.done * 10 / self.total) + 1) / 10
            elapsed = time.perf_counter() - self.started
            err.print(f"{self.label}: {self.done}/{self.total} ({elapsed:.0f} s)",
                      highlight=False)

    def close(self) -> None:
        count = f"{self.done}/{self.total} " if self.total else ""
        err.print(f"{self.label}: done, {count}in {time.perf_counter() - self.started:.1f} s",
                  highlight=False)


def bar_factory(progress: Progress, keep: bool = True) -> ProgressFactory:
    """Rich bars on a terminal; plain lines otherwise (a log file, CI). ``keep=False``
    removes a bar when it closes (the bench keeps only its overall bar on screen)."""
    def factory(label: str, total: int | None) -> _Bar | _LineBar:
        if not err.is_terminal:
            return _LineBar(label, total)
        return _Bar(progress, progress.add_task(label, total=total), keep=keep)

    return factory


def progress_display() -> Progress:
    """The progress display on stderr that ``bar_factory`` adds its bars to."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
