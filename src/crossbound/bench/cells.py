"""The bench's cells: every registered strategy × the settings it declares for a profile.

A cell is fully described by its :class:`CellSpec` (strategy, setting, the ``--set``
overrides, task, models, profile); its hash decides whether a finished cell can be reused.
Nothing here names a strategy: a strategy that registers later appears on its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from crossbound.catalog import all_strategies
from crossbound.defaults import (
    DEFAULT_LARGE,
    DEFAULT_RECORDS,
    DEFAULT_SMALL,
    SAME_TOKENIZER_SMALL,
)
from crossbound.strategy import Strategy

PROFILES = ("quick", "full")
ALL_RECORDS = "all"
# The setting a strategy's private-record budget goes through (every strategy that trains on
# private records has it; the others run once and apply at every budget).
RECORDS_FIELD = "train_limit"
_LABEL = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class CellSpec:
    """What one cell runs; equal specs give equal results (up to timing noise)."""

    strategy: str
    setting: str
    overrides: dict[str, str]
    task: str
    large: str
    small: str
    profile: str
    direction: str = field(default="", compare=False)
    # The private-record budget ("32", "all") of a swept cell; None: the cell trains on no
    # private records and applies at every budget.
    records: str | None = None

    @property
    def id(self) -> str:
        base = f"{self.strategy}--{self.setting}"
        return base if self.records is None else f"{base}--r{self.records}"

    def identity(self) -> dict[str, Any]:
        """The fields that decide the result (the direction is a label, not an input)."""
        data = asdict(self)
        data.pop("direction")
        if self.records is None:  # cells from before the sweep keep their hashes
            data.pop("records")
        return data

    def digest(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def parse_overrides(items: list[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Split ``--set`` items into global ``key=value`` and per-strategy
    ``strategy.key=value`` overrides."""
    everywhere: dict[str, str] = {}
    per_strategy: dict[str, dict[str, str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise ValueError(f"--set {item!r}: expected key=value or strategy.key=value")
        strategy, dot, name = key.rpartition(".")
        if dot:
            per_strategy.setdefault(strategy, {})[name] = value
        else:
            everywhere[key] = value
    return everywhere, per_strategy


def _fields(cls: type[Strategy]) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(cls.config_class)}


def parse_records(text: str | list[str] | tuple[str, ...] | None,
                  profile: str) -> tuple[str, ...]:
    """``--records 32,128,all`` as budgets in ascending order (``all`` last); the profile's
    default when not given."""
    if text is None or (not isinstance(text, str) and not text):
        return DEFAULT_RECORDS[profile]
    items = text.split(",") if isinstance(text, str) else [i for t in text for i in t.split(",")]
    numbers: set[int] = set()
    everything = False
    for item in (i.strip().lower() for i in items):
        if item == ALL_RECORDS:
            everything = True
        elif item.isdigit() and int(item) > 0:
            numbers.add(int(item))
        else:
            raise ValueError(f"--records {item!r}: give positive numbers of private records or "
                             f"'{ALL_RECORDS}', comma-separated, e.g. 32,128,all")
    return (*map(str, sorted(numbers)), *((ALL_RECORDS,) if everything else ()))


def _large_for(cls: type[Strategy], large: str, small: str) -> str:
    """The LM a strategy's cells use: the one asked for, unless the bench runs on the default
    pair and the strategy names another LM for it (``lm_on_default_pair``)."""
    if cls.lm_on_default_pair and (large, small) == (DEFAULT_LARGE, DEFAULT_SMALL):
        return cls.lm_on_default_pair
    return large


def _small_for(cls: type[Strategy], large: str, small: str) -> str:
    """The default pair's same-tokenizer SM for strategies that want the LM's tokenizer, when
    the bench runs on the default pair; otherwise the SM asked for."""
    if cls.prefers_lm_tokenizer and (large, small) == (DEFAULT_LARGE, DEFAULT_SMALL):
        return SAME_TOKENIZER_SMALL
    return small


def enumerate_cells(
    profile: str,
    *,
    task: str,
    large: str,
    small: str,
    only: list[str] | None = None,
    overrides: list[str] | None = None,
    records: tuple[str, ...] = (),
) -> list[CellSpec]:
    """Every cell of ``profile``, in registry order, each config validated before anything
    runs (a typo should fail in a second, not after an hour of other cells).

    ``only``: strategy names, or ``strategy--setting`` cell ids, to keep. ``overrides``:
    ``key=value`` (applied to every strategy whose config has ``key``) or
    ``strategy.key=value``; they win over the settings' own values. ``records``: private-record
    budgets (:func:`parse_records`); each cell whose strategy trains on private records runs
    once per budget (its ``train_limit`` set to it), the others once. No budgets: every cell
    once, with its setting's own ``train_limit``.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    strategies = all_strategies()
    everywhere, per_strategy = parse_overrides(overrides or [])
    for name in per_strategy:
        if name not in strategies:
            raise ValueError(f"--set {name}.…: unknown strategy; registered: "
                             f"{', '.join(strategies)}")
    if records and (RECORDS_FIELD in everywhere
                    or any(RECORDS_FIELD in items for items in per_strategy.values())):
        raise ValueError(f"--set {RECORDS_FIELD}: the bench sets it from the private-record "
                         f"budgets; use --records N (e.g. --records 50) instead")
    wanted = set(only or [])
    cells: list[CellSpec] = []
    matched: set[str] = set()
    used_globals: set[str] = set()
    for name, cls in strategies.items():
        fields = _fields(cls)
        for key in per_strategy.get(name, {}):
            if key not in fields:
                raise ValueError(f"--set {name}.{key}: {name} has no setting {key!r}; "
                                 f"settings: {', '.join(sorted(fields))}")
        seen: set[str] = set()
        for label, setting in cls.bench_settings(profile):
            if not _LABEL.match(label) or "--" in label:
                raise ValueError(f"{name}.bench_settings: setting label {label!r} must be "
                                 "lower-case letters, digits and . _ - (no '--')")
            if label in seen:
                raise ValueError(f"{name}.bench_settings: setting {label!r} appears twice")
            seen.add(label)
            cell_id = f"{name}--{label}"
            merged = dict(setting)
            for key, value in everywhere.items():
                if key in fields:
                    merged[key] = value
                    used_globals.add(key)
            merged.update(per_strategy.get(name, {}))
            budgets: tuple[str | None, ...] = (
                records if records and RECORDS_FIELD in fields else (None,))
            for budget in budgets:
                # --only names a strategy, a setting (every budget) or one budget's cell
                names = {name, cell_id, f"{cell_id}--r{budget}"}
                if wanted and wanted.isdisjoint(names):
                    continue
                matched.update(names & wanted)
                cell = _with_budget(merged, budget)
                try:
                    cls.config_class.from_overrides(cell)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"cell {cell_id}: {exc}") from exc
                cells.append(CellSpec(strategy=name, setting=label, overrides=cell, task=task,
                                      large=_large_for(cls, large, small),
                                      small=_small_for(cls, large, small),
                                      profile=profile, direction=cls.direction,
                                      records=budget))
    missing = sorted(wanted - matched)
    if missing:
        raise ValueError(f"--only {', '.join(missing)}: no such strategy or cell in profile "
                         f"{profile!r}; strategies: {', '.join(strategies)}")
    unused = sorted(set(everywhere) - used_globals)
    if unused and cells:
        raise ValueError(f"--set {', '.join(unused)}: no selected strategy has such a setting")
    return cells


def _with_budget(overrides: dict[str, str], budget: str | None) -> dict[str, str]:
    """A cell's overrides at one private-record budget (``all``: no limit)."""
    if budget is None:
        return overrides
    cell = {k: v for k, v in overrides.items() if k != RECORDS_FIELD}
    if budget != ALL_RECORDS:
        cell[RECORDS_FIELD] = budget
    return cell
