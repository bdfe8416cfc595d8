"""Split a data set over data parties: IID or label-skewed (Dirichlet) non-IID."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal, TypeVar

import numpy as np

from crossbound.tasks.base import Example

Scheme = Literal["iid", "dirichlet"]
T = TypeVar("T")


def partition(
    examples: Sequence[Example],
    n_parties: int,
    scheme: Scheme = "iid",
    alpha: float = 0.5,
    seed: int = 0,
) -> list[list[Example]]:
    """Deal ``examples`` to ``n_parties``; each party gets at least one example.

    Non-IID splits skew by ``example.meta["group"]`` when the task sets it (e.g. the department
    of a free-text clinic message), else by the target label.

    ``dirichlet``: for every label, the share each party receives is drawn from
    Dir(alpha · 1); small alpha gives parties few labels each (the usual non-IID benchmark
    setting, e.g. FedAvg studies), large alpha approaches IID.
    """
    if n_parties < 1:
        raise ValueError(f"n_parties must be >= 1, got {n_parties}")
    if len(examples) < n_parties:
        raise ValueError(f"cannot give {n_parties} parties one example each from {len(examples)}")
    rng = random.Random(seed)
    if scheme == "iid":
        order = list(examples)
        rng.shuffle(order)
        return [order[i::n_parties] for i in range(n_parties)]
    if scheme != "dirichlet":
        raise ValueError(f"unknown partition scheme {scheme!r}; use 'iid' or 'dirichlet'")
    if alpha <= 0:
        raise ValueError(f"dirichlet alpha must be > 0, got {alpha}")
    by_label: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        by_label[ex.meta.get("group", ex.target)].append(ex)
    np_rng = np.random.default_rng(seed)
    parties: list[list[Example]] = [[] for _ in range(n_parties)]
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        shares = np_rng.dirichlet([alpha] * n_parties)
        cuts = (np.cumsum(shares)[:-1] * len(group)).astype(int)
        for index, chunk in enumerate(np.split(np.arange(len(group)), cuts)):
            parties[index].extend(group[i] for i in chunk)
    # A party left empty by the draw takes one example from the largest party, so every
    # party can train; the skew is otherwise kept.
    for party in parties:
        if not party:
            donor = max(parties, key=len)
            party.append(donor.pop())
    for party in parties:
        rng.shuffle(party)
    return parties
