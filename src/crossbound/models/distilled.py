"""Small models distilled from a large one on public text, sharing its tokenizer: the recipe.

A distilled model (``smollm2-135m-draft``) is a layer-dropped copy of an LM trained to imitate
it on public text. The models layer knows it by its :class:`DistillRecipe` — the registry names
the recipe and the cache keys the entry by the recipe's hash — and loads the entry once it is
built. Building it trains a model, which is the training layer's work
(:func:`crossbound.training.distilled_model.distill_into`); whoever prepares the entry hands
that builder in as a :data:`Distiller` (``crossbound models prepare NAME`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Status = Callable[[str], None]


@dataclass(frozen=True)
class DistillRecipe:
    teacher: str = "smollm2-135m"
    student: str = "smollm2-135m:layers=6"
    corpora: tuple[str, ...] = ("wiki-sample", "lee-news")
    held_out: int = 40  # texts kept out of training to measure agreement
    steps: int = 240
    batch_size: int = 8
    max_length: int = 128
    lr: float = 5e-4
    seed: int = 0


# Builds a distilled model from its recipe into a folder (HF format) and returns what the
# cache manifest records; the status callback gets progress lines.
Distiller = Callable[[DistillRecipe, Path, Status | None], dict[str, Any]]
