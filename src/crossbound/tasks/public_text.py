"""Public text for the strategies that need some, with a built-in fallback.

Distillation (``logit-kd``, ``mutual-kt``, ``fed-mutual-kt``), an emulator distilled on
``public`` text (``offsite-tuning``) and speculative decoding of ``public`` prompts all read
``Task.public``. A user's own file often has no ``public`` rows (and a seeded split makes none
by default), so instead of refusing such a task these strategies take the first texts of one
built-in corpus (:data:`FALLBACK_CORPUS`) in its place, as target-less examples, and the result
says so (:meth:`PublicText.record`). The corpus comes from installed packages and is read in
file order, so the fallback is offline and deterministic.

Only the *need* for public text falls back. Code that reads ``Task.public`` to *exempt* the
task's own templated phrasing from a check (guards' ``public_texts``, distance to the private
records) keeps the task's split: a general-English corpus says nothing about the task's
templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crossbound.tasks.base import Example, Task
from crossbound.tasks.corpora import corpus_as_examples

if TYPE_CHECKING:
    from crossbound.result import Result

# The one place to change the fallback. Wikipedia paragraphs: general English prose, ~4,000
# texts of ~600 characters (a distillation text of ~150 tokens), not one newsroom's style.
FALLBACK_CORPUS = "wiki-sample"
TASK_SOURCE = "task"
BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class PublicText:
    """Public examples a strategy may send, and where they came from.

    ``source``: ``"task"`` (the task's public split) or ``"builtin:<corpus>"``. ``note``: why a
    built-in corpus was used, for ``Result.notes`` (empty when the source needs no note).
    """

    examples: tuple[Example, ...]
    source: str
    note: str = ""

    @property
    def texts(self) -> list[str]:
        return [ex.text for ex in self.examples]

    @property
    def from_task(self) -> bool:
        return self.source == TASK_SOURCE

    @property
    def corpus(self) -> str | None:
        """The built-in corpus's name; None for the task's own split."""
        return None if self.from_task else self.source.removeprefix(BUILTIN_PREFIX)

    def guard_texts(self, task: Task) -> list[str]:
        """``GuardContext.public_texts`` for a run that sends these examples: the task's whole
        public split, plus the corpus text when that is what crosses. Corpus text is public
        too, so its word runs may cross even where a private record happens to repeat them."""
        return [ex.text for ex in task.public] + ([] if self.from_task else self.texts)

    def record(self, result: Result) -> None:
        """Say in ``result`` which public text the run used: ``metrics["data"]`` (for the
        bench and scripts) and, for a fallback, a note (for a reader)."""
        result.metrics.setdefault("data", {}).update(
            {"public_source": self.source, "public_texts": len(self.examples)})
        if self.note and self.note not in result.notes:
            result.notes.append(self.note)


def public_text(task: Task, limit: int | None = None) -> PublicText:
    """The first ``limit`` (None: all) examples of ``task``'s public split, or, when it has
    none, of the built-in corpus :data:`FALLBACK_CORPUS`."""
    if task.public:
        return PublicText(task.public[:limit], TASK_SOURCE)
    fallback = corpus_text(FALLBACK_CORPUS, limit)
    note = (f"task {task.name} has no public split: public text from built-in corpus "
            f"{FALLBACK_CORPUS} ({len(fallback.examples)} texts)")
    return PublicText(fallback.examples, fallback.source, note)


def corpus_text(name: str, limit: int | None = None) -> PublicText:
    """The first ``limit`` (None: all) texts of the built-in corpus ``name``, as chosen by a
    setting (no note: the config already says so)."""
    return PublicText(corpus_as_examples(name, limit), BUILTIN_PREFIX + name)
