"""Token-level metric-DP text perturbation: the exponential mechanism over embedding distance.

Every token ``x`` of a text is replaced independently by a token ``y`` drawn with

    P(y | x) = exp(-ε·d(x, y) / 2) / Z(x),      Z(x) = Σ_{y' ∈ C(x)} exp(-ε·d(x, y') / 2),

where ``d`` is the Euclidean distance between the two tokens' (by default unit-normalised) input
embeddings and ``C(x)`` the candidate set. This is SanText (Yue et al. 2021, arXiv 2106.01221);
CusText (Chen et al. 2023, ACL Findings) restricts ``C(x)`` to the K nearest tokens; InferDPT
(arXiv 2310.12214) perturbs prompts with the same mechanism before they reach a remote LM.

Guarantee (ε·d-privacy, i.e. metric local DP; Chatzikokolakis et al. 2013): the score
``-d(x, y)`` changes by at most ``d(x, x')`` when ``x`` becomes ``x'`` (triangle inequality), so
with sensitivity measured in units of ``d`` (Δ = 1 per unit distance) the factor ε/2 bounds the
numerator's and the normaliser's change by ``exp(ε·d(x, x')/2)`` each, and for every output y

    P(y | x) ≤ exp(ε · d(x, x')) · P(y | x')     for all x, x' with C(x) = C(x').

With unit-normalised embeddings ``d ∈ [0, 2]``, so any two tokens of one candidate set are
(2ε)-indistinguishable in the plain LDP sense. Tokens are perturbed independently, so for two
token sequences of equal length the bound composes to ``exp(ε · Σ_i d(x_i, x'_i))``; decoding
the output to text is post-processing and keeps it. Caveats, stated rather than hidden:

* ``candidates=K`` makes ``C(x)`` input-dependent (x's K nearest). The bound then holds only for
  pairs whose candidate sets coincide; an output outside ``C(x')`` rules ``x'`` out entirely.
* The unit is the token: texts that tokenise to different lengths are not covered, and a
  value split over several tokens (a phone number) gets the composed, weaker bound.
* Tokens are split into classes that never mix (WordPiece whole words vs ``##`` continuations;
  protected/special/unused tokens are in no class: never replaced, never produced), so the token's
  class is revealed, as the word structure is.

The distance table is never materialised: rows are computed on demand for the distinct tokens
seen, in chunks, and cached under a byte budget, so a 50k vocabulary is practical on a CPU.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

_UNUSED = re.compile(r"^(\[unused\d+\]|<unused\d+>)$")
NO_CLASS = -1  # protected, special, unused or out-of-tokenizer rows: kept, never produced


def token_classes(tokenizer: Any, vocab_size: int, protect: set[int]) -> Tensor:
    """Class of each embedding row, shape ``(V,)``: tokens only ever replace tokens of their class.

    WordPiece vocabularies (many ``##`` pieces) get class 0 for whole-word tokens and class 1 for
    continuation pieces, so a perturbed word keeps its structure (every piece is still perturbed,
    within its class). Byte-level BPE vocabularies are one class. Reserved ``[unusedN]`` rows
    (untrained) and rows past the tokenizer's length are excluded, as are protected ids.
    """
    known = min(vocab_size, len(tokenizer))
    pieces = tokenizer.convert_ids_to_tokens(list(range(known)))
    wordpiece = sum(1 for p in pieces if p and p.startswith("##")) > 0.01 * known
    classes = torch.full((vocab_size,), NO_CLASS, dtype=torch.long)
    for i, piece in enumerate(pieces):
        if i in protect or piece is None or _UNUSED.match(piece):
            continue
        classes[i] = 1 if wordpiece and piece.startswith("##") and len(piece) > 2 else 0
    return classes


class EmbeddingMetric:
    """Distances between token embeddings, computed per row on demand and cached.

    ``vectors`` ``(V, d)`` are unit-normalised when ``normalize`` (so ``d = sqrt(2 - 2 cos)``).
    Entries between tokens of different classes are ``inf``. One metric can serve perturbers at
    many ε (see :meth:`TokenPerturber.with_epsilon`): distances do not depend on ε.
    """

    def __init__(
        self,
        embeddings: Tensor,
        classes: Tensor,
        *,
        normalize: bool = True,
        chunk_size: int = 1024,
        cache_mb: float = 256.0,
    ) -> None:
        if embeddings.ndim != 2 or classes.shape != embeddings.shape[:1]:
            raise ValueError(
                f"embeddings must be (V, d) and classes (V,); got {tuple(embeddings.shape)} and "
                f"{tuple(classes.shape)}"
            )
        vectors = embeddings.detach().to("cpu", torch.float32)
        if normalize:
            vectors = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.vectors = vectors  # (V, d)
        self.sq_norms = vectors.pow(2).sum(1)  # (V,)
        self.classes = classes.to("cpu", torch.long)  # (V,)
        self._excluded = self.classes == NO_CLASS  # (V,)
        self._one_class = bool((self.classes[~self._excluded] == 0).all())
        self.normalize = normalize
        self.chunk_size = chunk_size
        self.cache_bytes = int(cache_mb * 2**20)
        self._rows: OrderedDict[tuple[int, int], tuple[Tensor, ...]] = OrderedDict()
        self._held = 0
        self._log_z: dict[tuple[int, float], Tensor] = {}  # (k, ε) -> (V,) float64, nan = unknown
        self.planned: set[float] = set()  # ε values every log-normaliser pass also fills in

    @property
    def size(self) -> int:
        return int(self.vectors.shape[0])

    def _compute(self, ids: Tensor) -> Tensor:
        """Distance rows ``(n, V)``; ``inf`` outside each row's class, exactly 0 on the diagonal."""
        a = self.vectors[ids]  # (n, d)
        dots = a @ self.vectors.T  # (n, V)
        # ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b, in place to keep one (n, V) buffer alive.
        dist = dots.mul_(-2).add_(self.sq_norms[None, :]).add_(self.sq_norms[ids][:, None])
        dist = dist.clamp_(min=0).sqrt_()
        dist[torch.arange(len(ids)), ids] = 0.0  # rounding leaves ~1e-4 on the diagonal
        if self._one_class:  # byte-level BPE: only the excluded columns are out of reach
            dist[:, self._excluded] = math.inf
            return dist
        other = self.classes[None, :] != self.classes[ids][:, None]  # (n, V)
        return dist.masked_fill_(other, math.inf)

    def _chunks(self, ids: Tensor) -> Any:
        for start in range(0, len(ids), self.chunk_size):
            part = ids[start : start + self.chunk_size]
            yield start, part, self._compute(part)

    def _cached(self, ids: Tensor, k: int, build: Callable[[Tensor], list[tuple[Tensor, ...]]]
                ) -> list[tuple[Tensor, ...]]:
        """Per-id cached entries under key ``(id, k)``; ``build`` computes the missing ones."""
        keys = [(int(i), k) for i in ids.tolist()]
        missing = sorted({key[0] for key in keys if key not in self._rows})
        if missing:
            for i, entry in zip(missing, build(torch.tensor(missing)), strict=True):
                size = sum(t.numel() * t.element_size() for t in entry)
                self._rows[(i, k)] = entry
                self._held += size
        out = []
        for key in keys:
            self._rows.move_to_end(key)
            out.append(self._rows[key])
        while self._held > self.cache_bytes and len(self._rows) > len(set(keys)):
            _, old = self._rows.popitem(last=False)  # least recently used
            self._held -= sum(t.numel() * t.element_size() for t in old)
        return out

    def rows(self, ids: Tensor) -> Tensor:
        """Full distance rows ``(n, V)`` for token ids ``(n,)`` (cached per id)."""
        def build(todo: Tensor) -> list[tuple[Tensor, ...]]:
            return [(row.clone(),) for _, _, block in self._chunks(todo) for row in block]

        return torch.stack([e[0] for e in self._cached(ids, 0, build)])

    def nearest(self, ids: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """The ``k`` nearest tokens of each id (itself first): ids and distances, ``(n, k)``."""
        k = min(k, self.size)

        def build(todo: Tensor) -> list[tuple[Tensor, ...]]:
            found: list[tuple[Tensor, ...]] = []
            for _, _, block in self._chunks(todo):
                dist, idx = block.topk(k, dim=1, largest=False)  # (c, k), ascending
                found.extend(zip(idx, dist, strict=True))
            return found

        entries = self._cached(ids, k, build)
        return torch.stack([e[0] for e in entries]), torch.stack([e[1] for e in entries])

    def cross_distance(self, a: Tensor, b: Tensor) -> Tensor:
        """Distances ``(n, m)`` from ``a`` ``(n,)`` to ``b`` ``(m,)``, inf across classes."""
        dots = self.vectors[a] @ self.vectors[b].T  # (n, m)
        dist = dots.mul_(-2).add_(self.sq_norms[b][None, :]).add_(self.sq_norms[a][:, None])
        dist = dist.clamp_(min=0).sqrt_().masked_fill_(a[:, None] == b[None, :], 0.0)
        return dist.masked_fill_(self.classes[a][:, None] != self.classes[b][None, :], math.inf)

    def log_normalizer(self, ids: Tensor, epsilon: float, k: int = 0) -> Tensor:
        """``log Z(x)`` ``(n,)`` float64 over all class members (``k=0``) or the k nearest.

        Missing entries are computed in one chunked pass that also fills every ε in
        :attr:`planned`, so a sweep over ε pays for each distance row once.
        """
        wanted = sorted({float(epsilon), *self.planned})
        for eps in wanted:
            unknown = torch.full((self.size,), math.nan, dtype=torch.float64)
            self._log_z.setdefault((k, eps), unknown)
        table = self._log_z[(k, float(epsilon))]
        todo = torch.unique(ids[torch.isnan(table[ids])])
        if len(todo):
            # Lazily, one (chunk, V) block alive at a time.
            blocks = [(0, todo, self.nearest(todo, k)[1])] if k else self._chunks(todo)
            for _, part, dist in blocks:
                for eps in wanted:
                    # d(x, x) = 0 is in every row, so the largest term is exp(0) = 1: a plain
                    # sum of exponentials cannot overflow (far terms may underflow: harmless),
                    # and skips logsumexp's max pass, the bulk of a sweep's time.
                    weights = _scores(dist, eps, torch.float32).exp_()  # (c, C)
                    self._log_z[(k, eps)][part] = weights.sum(1).double().log()
        return table[ids]


def _scores(dist: Tensor, epsilon: float, dtype: torch.dtype = torch.float64) -> Tensor:
    """Mechanism log-weights ``-ε·d/2``, ``-inf`` for non-candidates (ε may be 0: 0·inf is nan)."""
    scores = (-epsilon / 2) * dist.to(dtype)  # (..., C); -inf where d = inf when ε > 0
    return scores.masked_fill_(torch.isinf(dist), -math.inf) if epsilon == 0 else scores


class TokenPerturber:
    """Replace each token by one sampled from the exponential mechanism (see the module doc).

    ``embeddings`` ``(V, d)`` is a model's input embedding table and ``tokenizer`` its tokenizer.
    ``candidates`` is ``"all"`` (SanText) or an int K (CusText-style K nearest). ``protect`` ids
    are never replaced nor produced (default: the tokenizer's special tokens). Sampling uses a
    private ``torch.Generator`` seeded with ``seed``: equal seeds and calls give equal outputs.
    """

    def __init__(
        self,
        embeddings: Tensor,
        tokenizer: Any,
        epsilon: float,
        candidates: str | int = "all",
        protect: set[int] | None = None,
        seed: int = 0,
        *,
        normalize: bool = True,
        metric: EmbeddingMetric | None = None,
    ) -> None:
        if not epsilon >= 0:  # also rejects nan
            raise ValueError(f"epsilon must be >= 0 (math.inf keeps every token); got {epsilon}")
        if candidates != "all" and not (isinstance(candidates, int) and candidates >= 2):
            raise ValueError(f"candidates must be 'all' or an int >= 2; got {candidates!r}")
        self.tokenizer = tokenizer
        self.epsilon = float(epsilon)
        self.candidates = candidates
        self.protect = set(tokenizer.all_special_ids) if protect is None else set(protect)
        self.seed = seed
        if metric is None:
            classes = token_classes(tokenizer, int(embeddings.shape[0]), self.protect)
            metric = EmbeddingMetric(embeddings, classes, normalize=normalize)
        self.metric = metric
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def k(self) -> int:
        """Candidate-set size key for the metric's caches: 0 means the whole class."""
        return 0 if self.candidates == "all" else int(self.candidates)

    def with_epsilon(self, epsilon: float, seed: int | None = None) -> TokenPerturber:
        """The same mechanism at another ε, sharing this one's distance caches."""
        return TokenPerturber(
            self.metric.vectors, self.tokenizer, epsilon, self.candidates, self.protect,
            self.seed if seed is None else seed, metric=self.metric,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "mechanism": "token-metric-dp", "epsilon": self.epsilon,
            "candidates": self.candidates, "normalize": self.metric.normalize,
            "vocab": self.metric.size, "seed": self.seed,
            "guarantee": "epsilon*d-privacy per token; d = Euclidean distance between "
            + ("unit-normalised " if self.metric.normalize else "") + "input embeddings",
        }

    def perturbable(self, ids: Tensor) -> Tensor:
        """Mask ``(n,)`` of the ids the mechanism replaces (those in a class)."""
        ids = ids.long()
        inside = (ids >= 0) & (ids < self.metric.size)
        cls = self.metric.classes[ids.clamp(0, self.metric.size - 1)]
        return inside & (cls != NO_CLASS)

    def candidate_table(self, ids: Tensor) -> tuple[Tensor | None, Tensor]:
        """Candidates and distances for distinct ids: ``(None, (n, V))`` or ``((n, K), (n, K))``."""
        if self.candidates == "all":
            return None, self.metric.rows(ids)
        return self.metric.nearest(ids, self.k)

    def probabilities(self, token_id: int) -> tuple[Tensor, Tensor]:
        """Exact ``P(· | token_id)``: candidate ids and their probabilities (the slow reference)."""
        ids = torch.tensor([token_id])
        if math.isinf(self.epsilon) or not self.perturbable(ids).item():
            return ids, torch.ones(1, dtype=torch.float64)  # kept with certainty
        cand, dist = self.candidate_table(ids)
        probs = torch.softmax(_scores(dist[0], self.epsilon), dim=0)
        return (torch.arange(self.metric.size) if cand is None else cand[0]), probs

    def perturb_ids(self, sequences: Sequence[Sequence[int]]) -> list[list[int]]:
        """Perturb token-id sequences, all positions in one batched pass."""
        flat = torch.tensor([i for seq in sequences for i in seq], dtype=torch.long)
        out = flat.clone()
        mask = self.perturbable(flat)
        if mask.any() and not math.isinf(self.epsilon):
            out[mask] = self._sample(flat[mask])
        result, start = [], 0
        for seq in sequences:
            result.append(out[start : start + len(seq)].tolist())
            start += len(seq)
        return result

    def _sample(self, occ: Tensor) -> Tensor:
        """One draw per occurrence ``(n,)`` by inverse CDF, one CDF per distinct token."""
        uniq, inv = torch.unique(occ, return_inverse=True)
        u = torch.rand(len(occ), generator=self.generator, dtype=torch.float64)  # (n,)
        # Lay the occurrences out as (distinct, max count) so one searchsorted serves a chunk.
        order = torch.argsort(inv, stable=True)
        counts = torch.bincount(inv, minlength=len(uniq))
        rank = torch.arange(len(occ)) - (torch.cumsum(counts, 0) - counts)[inv[order]]
        draws = torch.zeros((len(uniq), int(counts.max())), dtype=torch.float64)
        draws[inv[order], rank] = u[order]
        picked = torch.empty_like(draws, dtype=torch.long)
        # Full rows are (c, V): 256 of them keep the float32 softmax + float64 CDF near 150 MB.
        step = max(1, self.metric.chunk_size // 4) if self.candidates == "all" else 65536
        for start in range(0, len(uniq), step):
            part = slice(start, start + step)
            cand, dist = self.candidate_table(uniq[part])
            probs = torch.softmax(_scores(dist, self.epsilon, torch.float32), dim=1)  # (c, C)
            cdf = torch.cumsum(probs, dim=1, dtype=torch.float64)  # float64: 50k-term sums
            # right=True: the first index whose cdf exceeds u, never a zero-probability token.
            idx = torch.searchsorted(cdf, draws[part] * cdf[:, -1:], right=True)
            idx = idx.clamp_(max=cdf.shape[1] - 1)
            picked[part] = idx if cand is None else torch.gather(cand, 1, idx)
        out = torch.empty_like(occ)
        out[order] = picked[inv[order], rank]
        return out

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=False))

    def perturb(self, text: str) -> str:
        """Tokenise, perturb every token, decode."""
        return self.perturb_batch([text])[0]

    def perturb_batch(self, texts: Sequence[str]) -> list[str]:
        return [self.decode(ids) for ids in self.perturb_ids([self.encode(t) for t in texts])]

    def expected_keep_rate(
        self, epsilon: float | None = None, token_ids: Sequence[int] | None = None,
        sample: int = 2000,
    ) -> float:
        """Share of tokens left unchanged: the mean of ``P(x | x) = 1 / Z(x)`` over a sample.

        ``token_ids`` (e.g. every token of a corpus, so frequent tokens weigh more) or, if None,
        ``sample`` tokens drawn uniformly from the perturbable vocabulary with a fixed seed.
        Exact per token (no sampling noise from the mechanism itself).
        """
        eps = self.epsilon if epsilon is None else float(epsilon)
        if math.isinf(eps):
            return 1.0
        if token_ids is None:
            pool = torch.nonzero(self.metric.classes != NO_CLASS).flatten()
            pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))[:sample]
            ids = pool[pick]
        else:
            ids = torch.tensor(list(token_ids), dtype=torch.long)
            ids = ids[self.perturbable(ids)]
        if len(ids) == 0:
            return 1.0
        return float(torch.exp(-self.metric.log_normalizer(ids, eps, self.k)).mean())


class PerturbedText:
    """A text transform ``list[str] -> list[str]`` that perturbs what ``inner`` returns.

    Privacy composes by wrapping (DESIGN.md): ``PerturbedText(perturber, inner=sanitiser)``
    sanitises and then perturbs, and still looks like a text transform to a strategy.
    """

    def __init__(
        self, perturber: TokenPerturber, inner: Callable[[list[str]], list[str]] | None = None
    ) -> None:
        self.perturber = perturber
        self.inner = inner
        self.name = f"token-dp(eps={perturber.epsilon:g})"

    def __call__(self, texts: Sequence[str]) -> list[str]:
        texts = list(texts)
        if self.inner is not None:
            texts = self.inner(texts)
        return self.perturber.perturb_batch(texts)

    def describe(self) -> dict[str, Any]:
        inner = getattr(self.inner, "name", None) if self.inner is not None else None
        return {**self.perturber.describe(), "inner": inner}
