"""Reconstruction attacks on token-level metric-DP text: how much of the original comes back?

The attacker sees the perturbed text (what crossed the boundary) and knows the mechanism: the
embedding table, ε and the candidate rule (Kerckhoffs). Attacks, weakest to strongest:

* ``identity``: guess that each observed token is the original (recovers what the mechanism kept).
* ``nearest``: map each observed token to the nearest token of a public vocabulary (the tokens
  seen in public text), the "nearest embedding" inversion of Song & Raghunathan (2020).
* ``bayes``: the maximum a posteriori original under the mechanism,
  ``argmax_x prior(x) · P(y | x)`` with ``P(y | x) = exp(-ε·d(x, y)/2) / Z(x)``, over the ``k``
  nearest tokens of ``y`` plus the ``k`` most probable tokens under the prior (exact whenever the
  MAP lies in that set). With a uniform prior this is Bayes-optimal per token.
* ``lm``: the same likelihood times a causal LM's probability of ``x`` given the reconstruction
  so far, decoded greedily left to right (a masked-LM-free, offline version of the LM attacks
  SanText and CusText evaluate against, arXiv 2106.01221 §5, and of InferDPT's threat model,
  arXiv 2310.12214). The LM must share the perturber's tokenizer.

:func:`reconstruction_curve` sweeps ε and reports the keep rate and each attack's recovery rate,
the share of original tokens the attack gets back (by alignment, since re-tokenising the
perturbed text need not give one token per original token).
"""

from __future__ import annotations

import difflib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from crossbound.privacy.token_dp import NO_CLASS, TokenPerturber

Sequences = Sequence[Sequence[int]]


def public_counts(perturber: TokenPerturber, texts: Sequence[str]) -> Tensor:
    """Token counts ``(V,)`` over public text: the attacker's knowledge of the language."""
    counts = torch.zeros(perturber.metric.size, dtype=torch.float64)
    for text in texts:
        ids = torch.tensor(perturber.encode(text), dtype=torch.long)
        ids = ids[perturber.perturbable(ids)]
        counts.index_add_(0, ids, torch.ones(len(ids), dtype=torch.float64))
    return counts


def log_prior(perturber: TokenPerturber, counts: Tensor, alpha: float = 0.1) -> Tensor:
    """Add-α smoothed log-frequency prior ``(V,)``; ``-inf`` for tokens never emitted."""
    weights = (counts + alpha).masked_fill(perturber.metric.classes == NO_CLASS, 0.0)
    return torch.log(weights / weights.sum())


def mechanism_candidates(
    perturber: TokenPerturber, ys: Tensor, pool: int, extra: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Candidate originals of observed tokens ``ys`` ``(n,)`` and ``log P(y | x)`` for each.

    Candidates are the ``pool`` nearest tokens of ``y`` (within its class), plus ``extra`` ids
    ``(m,)`` for every row; returns ids ``(n, C)`` and log-likelihoods ``(n, C)`` (float64,
    ``-inf`` where ``x`` cannot produce ``y``). ``ys`` must be perturbable.
    """
    metric, eps = perturber.metric, perturber.epsilon
    cand, dist = metric.nearest(ys, pool)  # (n, pool) each; inf across classes
    if extra is not None and len(extra):
        cand = torch.cat([cand, extra[None, :].expand(len(ys), -1)], dim=1)  # (n, C)
        dist = torch.cat([dist, metric.cross_distance(ys, extra)], dim=1)  # d symmetric
    uniq, inv = torch.unique(cand, return_inverse=True)
    log_z = metric.log_normalizer(uniq, eps, perturber.k)[inv]  # (n, C)
    loglik = (-eps / 2) * dist.double() - log_z
    loglik = loglik.masked_fill(torch.isinf(dist), -math.inf)
    if perturber.k:
        # Top-K candidates: y is a possible output of x only if y is among x's K nearest.
        kth = metric.nearest(uniq, perturber.k)[1][:, -1][inv]  # (n, C)
        loglik = loglik.masked_fill(dist > kth, -math.inf)
    return cand, loglik


class Attack(ABC):
    """Guess the original token ids from observed (perturbed) ones, sequence by sequence."""

    name: str = "attack"

    @abstractmethod
    def reconstruct(self, perturber: TokenPerturber, observed: Sequences) -> list[list[int]]:
        """One guessed id per observed id."""

    def _per_token(self, perturber: TokenPerturber, observed: Sequences,
                   guess: Callable[[Tensor], Tensor]) -> list[list[int]]:
        """Apply ``guess`` (distinct perturbable ids ``(n,)`` -> ids ``(n,)``) position-wise."""
        flat = torch.tensor([i for seq in observed for i in seq], dtype=torch.long)
        out = flat.clone()
        mask = perturber.perturbable(flat)
        if mask.any() and not math.isinf(perturber.epsilon):
            uniq, inv = torch.unique(flat[mask], return_inverse=True)
            out[mask] = guess(uniq)[inv]
        result, start = [], 0
        for seq in observed:
            result.append(out[start : start + len(seq)].tolist())
            start += len(seq)
        return result


class IdentityAttack(Attack):
    """Guess the observed token itself."""

    name = "identity"

    def reconstruct(self, perturber: TokenPerturber, observed: Sequences) -> list[list[int]]:
        return [list(seq) for seq in observed]


class NearestAttack(Attack):
    """Map each observed token to the nearest token (same class) of ``vocabulary`` ``(m,)``."""

    name = "nearest"

    def __init__(self, vocabulary: Tensor) -> None:
        self.vocabulary = vocabulary.to(torch.long)

    def reconstruct(self, perturber: TokenPerturber, observed: Sequences) -> list[list[int]]:
        def guess(ys: Tensor) -> Tensor:
            out = ys.clone()
            for start in range(0, len(ys), 1024):  # (1024, m) distances at a time
                part = ys[start : start + 1024]
                dist = perturber.metric.cross_distance(part, self.vocabulary)  # (n, m)
                low, best = dist.min(1)
                # No vocabulary token in y's class: keep y.
                out[start : start + 1024] = torch.where(
                    torch.isinf(low), part, self.vocabulary[best])
            return out

        return self._per_token(perturber, observed, guess)


class BayesAttack(Attack):
    """MAP original under the mechanism and a prior ``(V,)`` log-weights (None: uniform)."""

    def __init__(self, prior: Tensor | None = None, k: int = 64) -> None:
        self.prior = prior
        self.k = k
        self.name = "bayes-uniform" if prior is None else "bayes-prior"

    def reconstruct(self, perturber: TokenPerturber, observed: Sequences) -> list[list[int]]:
        top = None if self.prior is None else self.prior.topk(self.k).indices

        def guess(ys: Tensor) -> Tensor:
            out = torch.empty_like(ys)
            for start in range(0, len(ys), 2048):  # bounds the (n, C) tables
                part = ys[start : start + 2048]
                cand, score = mechanism_candidates(perturber, part, self.k, top)
                if self.prior is not None:
                    score = score + self.prior[cand]
                best = score.argmax(1, keepdim=True)  # (n, 1)
                out[start : start + 2048] = torch.gather(cand, 1, best)[:, 0]
            return out

        return self._per_token(perturber, observed, guess)


class LMAttack(Attack):
    """Rescore the likeliest originals at each position with a causal LM, left to right.

    Chooses ``argmax_x log P(y_t | x) + w · log P_LM(x | x̂_<t)`` greedily. With ``k`` the
    candidates are the k best of the ``pool`` nearest tokens of ``y_t`` (plus, given a ``prior``,
    the ``pool`` most frequent tokens), ranked by the mechanism likelihood (times the prior);
    with ``k=None`` every token of the vocabulary is a candidate (exact per-step MAP under the
    LM as prior; ``candidates="all"`` perturbers only). Batched over sequences with a KV cache:
    one LM step per position for the whole batch.
    """

    name = "lm"

    def __init__(self, model: Any, k: int | None = 16, pool: int = 64, batch_size: int = 32,
                 lm_weight: float = 1.0, prior: Tensor | None = None,
                 start_id: int | None = None) -> None:
        self.model, self.k, self.pool, self.prior = model, k, pool, prior
        self.batch_size, self.lm_weight, self.start_id = batch_size, lm_weight, start_id
        if k is None:
            self.name = "lm-full"

    def _table(self, perturber: TokenPerturber, flat: Tensor) -> tuple[Tensor, Tensor]:
        """Candidates and log-likelihoods ``(N, k)`` for every observed position ``(N,)``."""
        assert self.k is not None
        cand = flat[:, None].repeat(1, self.k)  # non-perturbable: the token itself, only
        loglik = torch.full((len(flat), self.k), -math.inf, dtype=torch.float64)
        loglik[:, 0] = 0.0
        mask = perturber.perturbable(flat)
        if mask.any() and not math.isinf(perturber.epsilon):
            uniq, inv = torch.unique(flat[mask], return_inverse=True)
            top = None if self.prior is None else self.prior.topk(self.pool).indices
            pool_ids, pool_ll = mechanism_candidates(perturber, uniq, max(self.pool, self.k), top)
            rank = pool_ll if self.prior is None else pool_ll + self.prior[pool_ids]
            best = rank.topk(self.k, dim=1).indices  # (u, k)
            cand[mask] = torch.gather(pool_ids, 1, best)[inv]
            loglik[mask] = torch.gather(pool_ll, 1, best)[inv]
        return cand, loglik

    def _full_loglik(self, perturber: TokenPerturber, ys: Tensor) -> Tensor:
        """``log P(y_b | x)`` for every x: ``(B, V)``; non-perturbable ``y`` only from itself."""
        metric, eps = perturber.metric, perturber.epsilon
        out = torch.full((len(ys), metric.size), -math.inf, dtype=torch.float64)
        out[torch.arange(len(ys)), ys] = 0.0
        mask = perturber.perturbable(ys)
        if mask.any() and not math.isinf(eps):
            log_z = metric.log_normalizer(torch.arange(metric.size), eps)  # (V,), cached
            dist = metric.rows(ys[mask])  # (b, V), inf across classes; d symmetric
            out[mask] = ((-eps / 2) * dist.double() - log_z).masked_fill(torch.isinf(dist),
                                                                          -math.inf)
        return out

    def _lm_scores(self, inp: Tensor, past: Any, cand: Tensor | None) -> tuple[Tensor, Any]:
        """LM scores ``(B, k)`` of candidates ``cand`` ``(B, k)`` (None: all), and the new cache.

        Scores are logits, not log-probabilities: the log-softmax normaliser is the same for
        every candidate of a row, so the argmax is unchanged. Only the k candidate rows of the
        output embedding are used, which skips the (B, V) vocabulary projection.
        """
        head = self.model.get_output_embeddings()
        plain = (isinstance(head, torch.nn.Linear) and head.bias is None
                 and getattr(self.model.config, "final_logit_softcapping", None) is None)
        if cand is None or not plain:
            out = self.model(input_ids=inp, past_key_values=past, use_cache=True)
            logits = out.logits[:, -1].float()  # (B, V_lm)
            return (logits if cand is None else logits.gather(1, cand)), out.past_key_values
        out = self.model.get_decoder()(input_ids=inp, past_key_values=past, use_cache=True)
        hidden = out.last_hidden_state[:, -1]  # (B, d)
        logits = torch.einsum("bkd,bd->bk", head.weight[cand], hidden)  # (B, k)
        return logits.float(), out.past_key_values

    @torch.no_grad()
    def reconstruct(self, perturber: TokenPerturber, observed: Sequences) -> list[list[int]]:
        if self.k is None and perturber.k:
            raise ValueError("LMAttack(k=None) scores the whole vocabulary; it needs a "
                             "perturber with candidates='all' (give k for top-K perturbers)")
        tok = perturber.tokenizer
        start_id = self.start_id
        if start_id is None:
            start_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        flat = torch.tensor([i for seq in observed for i in seq], dtype=torch.long)
        cand, loglik = (None, None) if self.k is None else self._table(perturber, flat)
        device = next(self.model.parameters()).device
        offsets = [0]
        for seq in observed:
            offsets.append(offsets[-1] + len(seq))
        result: list[list[int]] = [[] for _ in observed]
        for b0 in range(0, len(observed), self.batch_size):
            rows = [r for r in range(b0, min(b0 + self.batch_size, len(observed))) if observed[r]]
            if not rows:
                continue
            length = max(len(observed[r]) for r in rows)
            # (B, T) flat positions of the observed ids; past a row's end, its last position
            # again (the choices made there are discarded).
            where = torch.tensor([[offsets[r] + min(t, len(observed[r]) - 1)
                                   for t in range(length)] for r in rows], dtype=torch.long)
            # Every row starts at position 0 and padding sits at the end, so causal attention
            # needs no mask: a row's real prefix never sees its padding.
            inp = torch.full((len(rows), 1), start_id, dtype=torch.long, device=device)
            past, picked = None, []
            for t in range(length):
                pos = where[:, t]  # (B,)
                if cand is None or loglik is None:
                    lm, past = self._lm_scores(inp, past, None)
                    ll = self._full_loglik(perturber, flat[pos])  # (B, V)
                    score = ll + self.lm_weight * lm[:, : ll.shape[1]].cpu().double()
                    choice = score.argmax(1, keepdim=True)  # (B, 1): the id itself
                else:
                    ct = cand[pos]  # (B, k)
                    lm, past = self._lm_scores(inp, past, ct.to(device))
                    score = loglik[pos] + self.lm_weight * lm.cpu().double()
                    choice = torch.gather(ct, 1, score.argmax(1, keepdim=True))  # (B, 1)
                picked.append(choice)
                inp = choice.to(device)
            chosen = torch.cat(picked, dim=1)  # (B, T)
            for j, r in enumerate(rows):
                result[r] = chosen[j, : len(observed[r])].tolist()
        return result


def recovery_rate(originals: Sequences, guesses: Sequences, aligned: bool = False) -> float:
    """Share of original tokens recovered: positional if ``aligned``, else by sequence alignment.

    Unaligned uses difflib's matching blocks (a longest-common-subsequence style alignment), for
    guesses made on a re-tokenised text whose length may differ from the original's.
    """
    total = sum(len(o) for o in originals)
    if total == 0:
        return 1.0
    hits = 0
    for orig, guess in zip(originals, guesses, strict=True):
        if aligned:
            hits += sum(a == b for a, b in zip(orig, guess, strict=False))
        else:
            matcher = difflib.SequenceMatcher(None, list(orig), list(guess), autojunk=False)
            hits += sum(block.size for block in matcher.get_matching_blocks())
    return hits / total


def reconstruction_curve(
    perturber_factory: Callable[[float], TokenPerturber],
    texts: Sequence[str],
    epsilons: Sequence[float],
    attacks: Sequence[Attack],
    observe: Literal["text", "ids"] = "text",
    extra: Callable[[Sequence[str], list[str]], dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Per ε: keep rate (observed and expected) and each attack's recovery rate.

    ``observe="text"``: attackers see the decoded perturbed text and re-tokenise it (what
    crosses the boundary); ``"ids"``: they see the perturbed ids (positional scoring).
    ``extra(originals, perturbed_texts)`` adds metrics, e.g. PII survival. Build perturbers
    with :meth:`TokenPerturber.with_epsilon` so they share one metric: every ε's normalisers are
    then computed in one pass.
    """
    perturbers = [perturber_factory(float(eps)) for eps in epsilons]
    for p in perturbers:
        p.metric.planned |= {float(e) for e in epsilons if math.isfinite(e)}
    rows: list[dict[str, Any]] = []
    for eps, perturber in zip(epsilons, perturbers, strict=True):
        started = time.perf_counter()
        originals = [perturber.encode(t) for t in texts]
        perturbed = perturber.perturb_ids(originals)
        perturbed_texts = [perturber.decode(ids) for ids in perturbed]
        flat = [i for seq in originals for i in seq]
        observed = perturbed if observe == "ids" else [perturber.encode(t) for t in perturbed_texts]
        row: dict[str, Any] = {
            "epsilon": float(eps),
            "tokens": len(flat),
            "keep_rate": recovery_rate(originals, perturbed, aligned=True),
            "expected_keep_rate": perturber.expected_keep_rate(token_ids=flat),
            "perturb_seconds": time.perf_counter() - started,
            "recovery": {},
            "attack_seconds": {},
        }
        for attack in attacks:
            started = time.perf_counter()
            guesses = attack.reconstruct(perturber, observed)
            row["recovery"][attack.name] = recovery_rate(originals, guesses, observe == "ids")
            row["attack_seconds"][attack.name] = time.perf_counter() - started
        if extra is not None:
            row.update(extra(texts, perturbed_texts))
        rows.append(row)
    return rows
