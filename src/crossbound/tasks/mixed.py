"""``clinic-mix``: in-domain clinic-triage queries mixed with general ones the SM never trained on.

What a cascade is for: the data party's SM is tuned on its domain (the clinic's training
records, the only private training data here) and the LM knows more of the world. The
validation and test splits mix the clinic's own with movie-review snippets (Rotten Tomatoes,
fresh/rotten) at ``general`` share, under one instruction. ``meta.domain`` says which is
which (``clinic`` or ``general``), and accuracy is reported per domain.

``labels="per-domain"`` (the default) answers each query from its own domain's labels — the
six departments, or fresh/rotten — as a workload of several tasks does, where each query comes
with its own answer format; ``labels="shared"`` makes every query pick among all eight.
"""

from __future__ import annotations

import random

from crossbound.tasks.base import Example, Task
from crossbound.tasks.clinic_triage import build_clinic_triage
from crossbound.tasks.clinic_vocab import DEPARTMENTS
from crossbound.tasks.real import MOVIE_CHOICES, build_movie_sentiment

MIX_INSTRUCTION = (
    f"If the message is from a patient, route it to one department: {', '.join(DEPARTMENTS)}. "
    "If it is a movie review snippet, answer fresh (positive) or rotten (negative). Answer "
    "with one word only."
)


def _tagged(examples: tuple[Example, ...], domain: str) -> list[Example]:
    return [Example(id=ex.id, text=ex.text, target=ex.target, pii=ex.pii, canary=ex.canary,
                    meta={**ex.meta, "domain": domain}) for ex in examples]


def _mix(clinic: list[Example], general: list[Example], share: float, rng: random.Random,
         split: str) -> tuple[Example, ...]:
    """All of ``clinic`` plus enough of ``general`` that it makes ``share`` of the result."""
    want = round(len(clinic) * share / (1 - share))
    if want > len(general):
        raise ValueError(f"general={share} needs {want} general {split} records; only "
                         f"{len(general)} are available (lower general or n)")
    mixed = clinic + rng.sample(general, want)
    rng.shuffle(mixed)
    return tuple(mixed)


LABEL_MODES = ("per-domain", "shared")


def build_clinic_mix(n: int = 600, seed: int = 0, general: float = 0.5,
                     canaries: int = 10, public: int = 200, labels: str = "per-domain") -> Task:
    """clinic-triage (``n`` records, department target) with general queries mixed into its
    validation and test splits at share ``general`` (0 < general < 1); ``labels``: each query
    answered from its domain's labels (``per-domain``) or from all of them (``shared``)."""
    if isinstance(general, bool) or not isinstance(general, int | float) or \
            not 0.0 < float(general) < 1.0:
        raise ValueError(f"general must be a share in (0, 1), got {general!r}")
    if labels not in LABEL_MODES:
        raise ValueError(f"labels must be one of {', '.join(LABEL_MODES)}, got {labels!r}")
    clinic = build_clinic_triage(n=n, seed=seed, canaries=canaries, public=public)
    movies = build_movie_sentiment(n=None, seed=seed)
    rng = random.Random(seed)
    general_pool = _tagged((*movies.validation, *movies.test), "general")
    rng.shuffle(general_pool)
    half = len(general_pool) // 2  # validation draws from one half, test from the other
    validation = _mix(_tagged(clinic.validation, "clinic"), general_pool[:half], general, rng,
                      "validation")
    test = _mix(_tagged(clinic.test, "clinic"), general_pool[half:], general, rng, "test")
    return Task(
        name="clinic-mix",
        description=f"clinic-triage with {general:.0%} general (movie-review) queries in its "
                    "validation and test splits; the SM trains on the clinic's records only",
        instruction=MIX_INSTRUCTION,
        parties=tuple(tuple(_tagged(p, "clinic")) for p in clinic.parties),
        validation=validation,
        test=test,
        public=clinic.public,
        choices=(*DEPARTMENTS, *MOVIE_CHOICES),
        metric="accuracy",
        params={"n": n, "seed": seed, "general": general, "canaries": canaries,
                "public": public, "labels": labels},
        label_sets={"clinic": DEPARTMENTS, "general": MOVIE_CHOICES}
        if labels == "per-domain" else {},
    )
