"""Names: specs with options, and the data parties' names.

``base:key=value,key=value`` names models and tasks: ``smollm2-135m:layers=6`` and
``clinic-triage:n=500,seed=3`` read the same way everywhere. Data party *i* is
``data-party-<i>`` (:func:`data_party`) in every message, transcript and key file; the model
party is ``boundary.contracts.MODEL_PARTY``.
"""

from __future__ import annotations

import operator
from typing import Any


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``base:key=value,...`` into the base name and its options (strings)."""
    spec = spec.strip()
    if not spec:
        raise ValueError("empty name")
    base, sep, rest = spec.partition(":")
    options: dict[str, str] = {}
    if sep and not rest:
        raise ValueError(f"{spec!r}: nothing after ':' (expected key=value,...)")
    for part in filter(None, rest.split(",")) if sep else ():
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{spec!r}: option {part!r} is not key=value")
        if key.strip() in options:
            raise ValueError(f"{spec!r}: option {key.strip()!r} given twice")
        options[key.strip()] = value.strip()
    return base.strip(), options


def coerce(value: str) -> Any:
    """Turn an option string into bool/int/float/None when it plainly is one."""
    lowered = value.lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    if lowered in {"none", "null"}:
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def data_party(index: int) -> str:
    """The name of data party ``index``: ``data-party-0``, ``data-party-1``, ..."""
    if operator.index(index) < 0:  # TypeError for what is not an integer
        raise ValueError(f"a data party's index is >= 0, got {index}")
    return f"data-party-{operator.index(index)}"


# The data party of a single-party run (every strategy's run speaks for party 0's side).
DATA_PARTY = data_party(0)
