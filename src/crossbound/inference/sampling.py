"""Token choice: the sampling warp, and the accept/reject rules of speculative decoding.

The rule (Leviathan et al., arXiv:2211.17192, Algorithm 1; Chen et al., arXiv:2302.01318):
draft token ``d_j ~ q_j`` is kept with probability ``min(1, p_j(d_j) / q_j(d_j))``; at the
first rejection the token is drawn from ``norm(max(0, p_j - q_j))``; when all ``γ`` drafts
are kept a bonus token is drawn from ``p_{γ+1}``. Every emitted token is then distributed
exactly as ``p`` — the LM's (warped) distribution — whatever the draft model is. Greedy
decoding is the limit: keep drafts while they equal the LM's argmax.

``p`` and ``q`` are warped the same way (temperature, top-k, top-p) before the rule, so the
output follows the LM's *warped* distribution, as plain sampling with the same settings would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Sampling:
    """How a next token is chosen from logits. ``temperature == 0`` is greedy decoding."""

    temperature: float = 0.0
    top_k: int = 0  # 0: no top-k cut
    top_p: float = 1.0  # 1.0: no nucleus cut

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0: greedy), got {self.temperature}")
        if self.top_k < 0 or not 0.0 < self.top_p <= 1.0:
            raise ValueError("top_k must be >= 0 and top_p in (0, 1]")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def probabilities(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """The warped next-token distribution ``(..., V)`` of ``logits`` ``(..., V)``."""
    if sampling.greedy:
        raise ValueError("greedy decoding has no sampling distribution")
    scores = logits.float() / sampling.temperature
    if sampling.top_k and sampling.top_k < scores.shape[-1]:
        kth = scores.topk(sampling.top_k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_scores, order = scores.sort(dim=-1, descending=True)
        cumulative = sorted_scores.softmax(-1).cumsum(-1)
        # Drop a token when the tokens ranked above it already reach top_p (the top one stays).
        drop_sorted = (cumulative - sorted_scores.softmax(-1)) >= sampling.top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    return scores.softmax(-1)


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One sample per distribution: ``probs`` ``(..., V)`` → ids ``(...)``."""
    flat = probs.reshape(-1, probs.shape[-1])
    picked = torch.multinomial(flat, 1, generator=generator)
    return picked.reshape(probs.shape[:-1])


def choose(logits: torch.Tensor, sampling: Sampling,
           generator: torch.Generator | None) -> torch.Tensor:
    """Next token ids ``(...)`` from logits ``(..., V)``: argmax, or a sample of the warp."""
    if sampling.greedy:
        return logits.argmax(-1)
    return draw(probabilities(logits, sampling), generator)


def leading_true(flags: torch.Tensor) -> torch.Tensor:
    """Per row of ``flags`` ``(B, γ)``, how many entries are True before the first False."""
    return flags.long().cumprod(-1).sum(-1)


def _within(flags: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``flags`` ``(B, γ)`` with positions at or past each row's draft length cleared."""
    if lengths is None:
        return flags
    return flags & (torch.arange(flags.shape[1], device=flags.device) < lengths[:, None])


def accept_greedy(target_ids: torch.Tensor, drafts: torch.Tensor,
                  lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy verification.

    ``target_ids`` ``(B, γ+1)``: the LM's argmax after the context and after each draft
    prefix; ``drafts`` ``(B, γ)``. Returns accepted counts ``n`` ``(B,)`` and the next token
    ``(B,)``: the LM's own choice at position ``n`` (a correction, or the bonus when n == γ).
    ``lengths`` ``(B,)``: rows with fewer drafts (left-aligned, padded after).
    """
    n = leading_true(_within(target_ids[:, :-1] == drafts, lengths))
    return n, target_ids.gather(1, n[:, None])[:, 0]


def accept_deterministic(p: torch.Tensor, drafts: torch.Tensor,
                         generator: torch.Generator | None,
                         lengths: torch.Tensor | None = None,
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Stochastic verification of drafts proposed deterministically (``q = δ(d)``).

    The rule with a point-mass proposal: keep ``d_j`` with probability ``p_j(d_j)``; at the
    first rejection draw from ``p_j`` with ``d_j`` removed (``norm(max(0, p_j − δ_{d_j}))``).
    ``p`` ``(B, γ+1, V)``, ``drafts`` ``(B, γ)``, ``lengths`` as in :func:`accept_greedy`.
    """
    batch, gamma = drafts.shape
    p_d = p[:, :-1].gather(-1, drafts[:, :, None])[..., 0]  # (B, γ)
    u = torch.rand((batch, gamma), generator=generator, device=p.device)
    n = leading_true(_within(u < p_d, lengths))
    rows = torch.arange(batch, device=p.device)
    p_next = p[rows, n].clone()  # (B, V)
    limit = lengths if lengths is not None else torch.full_like(n, gamma)
    rejected = (n < limit).nonzero()[:, 0]
    if rejected.numel():
        p_next[rejected, drafts[rejected, n[rejected]]] = 0.0
    mass = p_next.sum(-1, keepdim=True)
    p_next = torch.where(mass > 0, p_next / mass.clamp(min=1e-30), p[rows, n])
    return n, draw(p_next, generator)


def accept_sampled(p: torch.Tensor, q: torch.Tensor, drafts: torch.Tensor,
                   generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stochastic verification (the rule in the module notes).

    ``p`` ``(B, γ+1, V)``: the LM's warped distributions; ``q`` ``(B, γ, V)``: the draft's,
    from which ``drafts`` ``(B, γ)`` were sampled. Returns accepted counts ``(B,)`` and the
    next token ``(B,)``.
    """
    batch, gamma = drafts.shape
    if q.shape[-1] < p.shape[-1]:  # a shortlist draft: q is zero past its last id
        q = torch.nn.functional.pad(q, (0, p.shape[-1] - q.shape[-1]))
    p_d = p[:, :-1].gather(-1, drafts[:, :, None])[..., 0]  # (B, γ)
    q_d = q.gather(-1, drafts[:, :, None])[..., 0]  # (B, γ)
    u = torch.rand((batch, gamma), generator=generator, device=p.device)
    # u < p/q, written without dividing (q_d > 0: the draft was sampled from q)
    n = leading_true(u * q_d < p_d)
    rows = torch.arange(batch, device=p.device)
    p_next = p[rows, n]  # (B, V): p at the first rejection, or p_{γ+1} when all were kept
    q_next = torch.zeros_like(p_next)
    rejected = n < gamma
    q_next[rejected] = q[rows[rejected], n[rejected]]
    residual = (p_next - q_next).clamp(min=0.0)
    mass = residual.sum(-1, keepdim=True)
    # mass is 0 only if p == q at that position, where no rejection can happen; rounding can
    # still bring it there, and then p itself is the right distribution.
    residual = torch.where(mass > 0, residual / mass.clamp(min=1e-30), p_next)
    return n, draw(residual, generator)
