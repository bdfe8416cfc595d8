"""crossbound: large/small model collaboration across a trust boundary, measured.

The public API is importable from here; heavy modules load on first use, so importing
``crossbound`` is cheap and has no side effects.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "crossbound.models",
    "prepare_model": "crossbound.models",
    "model_specs": "crossbound.models",
    "load_task": "crossbound.tasks.registry",
    "task_specs": "crossbound.tasks.registry",
    "Task": "crossbound.tasks.base",
    "Example": "crossbound.tasks.base",
    "run_strategy": "crossbound.runner",
    "all_strategies": "crossbound.catalog",
    "get_strategy": "crossbound.catalog",
    "Result": "crossbound.result",
    "Boundary": "crossbound.boundary",
    "Message": "crossbound.boundary",
    "Kind": "crossbound.boundary",
    "Transcript": "crossbound.boundary",
    "TranscriptKey": "crossbound.boundary",
    "SignedHead": "crossbound.boundary",
    "verify_transcript": "crossbound.boundary",
    "evaluate_model": "crossbound.evaluate.utility",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'crossbound' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
