"""How good labelled synthetic records are, judged against the real records (on the data side).

Label agreement: a k-nearest-neighbour classifier over TF-IDF word vectors, fit on the real
labelled records, labels each synthetic record; agreement is the share where that label is
the one the record was generated for. The same classifier's accuracy on held-out real records
says how far to trust it (a judge that is itself at chance says nothing). It needs no model
and no training, so it judges every strategy's records alike.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import torch

_WORD = re.compile(r"[a-z]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class TfidfKnn:
    """k-NN by cosine similarity of TF-IDF vectors (sub-linear tf, smoothed idf)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[str], k: int = 5) -> None:
        if not texts or len(texts) != len(labels):
            raise ValueError("need as many labels as texts, and at least one text")
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k = min(k, len(texts))
        self.labels = list(labels)
        docs = [Counter(_words(t)) for t in texts]
        df: Counter[str] = Counter(w for d in docs for w in d)
        self.vocab = {w: i for i, w in enumerate(sorted(df))}
        n = len(docs)
        self.idf = torch.tensor([math.log((1 + n) / (1 + df[w])) + 1 for w in sorted(df)])
        self.matrix = self._vectors(docs)  # (n, V)

    def _vectors(self, docs: Sequence[Counter[str]]) -> torch.Tensor:
        out = torch.zeros((len(docs), len(self.vocab)))
        for row, counts in enumerate(docs):
            for word, count in counts.items():
                col = self.vocab.get(word)
                if col is not None:
                    out[row, col] = 1 + math.log(count)
        out *= self.idf
        return torch.nn.functional.normalize(out, dim=-1)

    def predict(self, texts: Sequence[str]) -> list[str]:
        if not texts:
            return []
        sims = self._vectors([Counter(_words(t)) for t in texts]) @ self.matrix.T  # (m, n)
        top = sims.topk(self.k, dim=-1)
        out: list[str] = []
        for sim_row, idx_row in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            votes: Counter[str] = Counter()
            for sim, idx in zip(sim_row, idx_row, strict=True):
                votes[self.labels[idx]] += sim
            # ties go to the most similar neighbour's label (its vote came first)
            out.append(max(votes, key=lambda label: votes[label]))
        return out


def label_agreement(synthetic: Sequence[tuple[str, str]], real: Sequence[tuple[str, str]],
                    held_out: Sequence[tuple[str, str]], k: int = 5) -> dict[str, float | str]:
    """Agreement of (text, label) ``synthetic`` records with a k-NN judge fit on ``real``
    ones, and the judge's own accuracy on ``held_out`` real records."""
    judge = TfidfKnn([t for t, _ in real], [label for _, label in real], k)

    def accuracy(pairs: Sequence[tuple[str, str]]) -> float:
        if not pairs:
            return 0.0
        predicted = judge.predict([t for t, _ in pairs])
        return sum(p == label for p, (_, label) in zip(predicted, pairs, strict=True)) / len(pairs)

    return {"label_agreement": round(accuracy(synthetic), 4),
            "judge_accuracy_on_real": round(accuracy(held_out), 4),
            "judge": f"{judge.k}-NN over TF-IDF words, fit on {len(real)} real records"}
