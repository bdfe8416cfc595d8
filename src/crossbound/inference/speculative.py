"""Speculative decoding (Leviathan et al., arXiv:2211.17192): the SM drafts, the LM verifies.

Per step, for every row of the batch at once:

1. the SM (the draft model) proposes ``γ`` tokens, one forward pass each, from its KV cache;
2. the LM scores ``[last token, d_1 … d_γ]`` in *one* forward pass from its KV cache;
3. each row keeps its longest acceptable draft prefix (``n_b`` tokens) plus one token of the
   LM's own (a correction, or a bonus when all were kept) — :mod:`.sampling` has the rules;
4. both caches take back each row's rejected drafts (:meth:`DecodeState.rewind`).

Rows advance by their own ``n_b + 1`` tokens: the caches track positions per row, so no row
waits for the slowest. Greedy output equals the LM's own greedy decoding token for token
(:func:`~crossbound.inference.generation.direct_generate`); sampled output follows the LM's
distribution. With ``adaptive``, ``γ`` follows the running acceptance rate and the measured
draft/verify cost ratio, maximising the expected speed-up of the paper's Theorem 3.8.

The LM is a :class:`~crossbound.inference.generation.Target`: local, or a model party behind
the boundary (greedy verification then only needs the LM's argmax ids to cross back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.inference.generation import (
    DecodeClock,
    DecodeStats,
    Generation,
    GenerationSettings,
    Target,
    check_prompts,
    expected_speedup,
    still_generating,
)
from crossbound.inference.sampling import (
    accept_greedy,
    accept_sampled,
    choose,
    draw,
    probabilities,
)
from crossbound.inference.shortlist import ShortlistDraft
from crossbound.models.kv import DecodeState, Reply


@dataclass(frozen=True)
class SpeculativeSettings:
    """``gamma``: drafts per step (the first step's, when ``adaptive``). ``adaptive`` also
    stops drafting while it does not pay (expected speed-up < 1: the LM decodes alone) and
    drafts again every ``probe_every`` steps to see whether it pays again."""

    gamma: int = 4
    adaptive: bool = True
    gamma_max: int = 10
    decay: float = 0.8  # weight of the past in the running acceptance / cost estimates
    draft_vocab: int = 0  # > 0: the SM drafts over token ids below this only (.shortlist)
    probe_every: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.gamma <= self.gamma_max:
            raise ValueError(f"need 1 <= gamma <= gamma_max, got {self.gamma}, {self.gamma_max}")
        if self.draft_vocab < 0:
            raise ValueError("draft_vocab must be >= 0 (0: the full vocabulary)")
        if not 0.0 <= self.decay < 1.0:
            raise ValueError("decay must be in [0, 1)")
        if self.probe_every < 1:
            raise ValueError("probe_every must be >= 1")


class GammaController:
    """Chooses γ per step from the running acceptance probability and cost ratio.

    γ maximises the expected speed-up; when even the best γ is expected to be slower than the
    LM alone, :meth:`next` answers 0 (no drafts) except on every ``probe_every``-th step.
    """

    def __init__(self, settings: SpeculativeSettings) -> None:
        self.settings = settings
        self.gamma = settings.gamma
        self.kept = 0.0  # decayed counts of drafts kept and of rejections
        self.rejected = 0.0
        self.ratio: float | None = None
        self.worth = True  # whether drafting is expected to pay
        self.idle = 0  # steps without drafts since the last probe

    def next(self) -> int:
        """Drafts for the coming step (0: the LM decodes one token alone)."""
        if self.worth:
            return self.gamma
        self.idle += 1
        if self.idle >= self.settings.probe_every:
            self.idle = 0
            return self.gamma
        return 0

    def update(self, accepted: int, rejections: int, cost_ratio: float | None) -> int:
        s = self.settings
        self.kept = s.decay * self.kept + accepted
        self.rejected = s.decay * self.rejected + rejections
        if cost_ratio is not None and cost_ratio > 0:
            self.ratio = cost_ratio if self.ratio is None else (
                s.decay * self.ratio + (1 - s.decay) * cost_ratio)
        if s.adaptive and self.ratio is not None and self.kept + self.rejected > 0:
            # Clamped so that one unlucky (or lucky) stretch cannot pin γ to an end for good.
            alpha = min(0.98, max(0.02, self.kept / (self.kept + self.rejected)))
            ratio = self.ratio
            self.gamma = max(range(1, s.gamma_max + 1),
                             key=lambda g: expected_speedup(alpha, g, ratio))
            self.worth = expected_speedup(alpha, self.gamma, ratio) >= 1.0
        return self.gamma


@torch.no_grad()
def drafting(draft_model: Any, spec: SpeculativeSettings,
             pad: int) -> tuple[DecodeState, GammaController]:
    """The SM's KV-cached drafting state (drafting over the first ``spec.draft_vocab`` token
    ids only, where set) and the controller of its γ."""
    if spec.draft_vocab:
        draft_model = ShortlistDraft(draft_model, spec.draft_vocab)
    return DecodeState(draft_model, pad), GammaController(spec)


def speculative_generate(
    target: Target,
    draft_model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    settings: GenerationSettings,
    spec: SpeculativeSettings | None = None,
    *,
    lm_model: Any = None,
) -> Generation:
    """Generate with ``draft_model`` (local HF causal LM) drafting for ``target`` (the LM).

    Both share ``tokenizer``'s ids (the LM's). ``lm_model`` (the LM's HF model, when local)
    only contributes its generation config's EOS ids; pass it to
    :func:`~crossbound.inference.generation.direct_generate` too when comparing the two.
    """
    spec = spec or SpeculativeSettings()
    check_prompts(prompts)
    sampling, generator = settings.sampling, settings.generator()
    # EOS comes from the LM's side only (its tokenizer, its generation config when local), so
    # rows end exactly where the LM alone would end them.
    outputs = settings.outputs(tokenizer, lm_model, len(prompts))
    reply: Reply = "argmax" if sampling.greedy else "logits"
    draft, control = drafting(draft_model, spec, tokenizer.pad_token_id or 0)
    stats = DecodeStats(engine="speculative", rows=len(prompts))
    clock = DecodeClock(target)

    # Prefill: the LM reads the prompts and picks the first token; the SM reads prompt + that
    # token in its first drafting pass.
    first = target.feed([list(p) for p in prompts], 1, reply)[:, -1]
    last = first if sampling.greedy else choose(first, sampling, generator)
    live = list(range(len(prompts)))
    for i in live:
        outputs.extend(i, [int(last[i])])
    pending: list[list[int]] = [[*p, int(t)] for p, t in zip(prompts, last.tolist(),
                                                               strict=True)]
    keep = still_generating(live, outputs)
    live, last, pending = _keep_rows(target, None, keep, live, last, pending)

    while live:
        remaining = max(settings.max_new_tokens - len(outputs.ids[r]) for r in live)
        gamma = min(control.next(), remaining - 1)
        if gamma == 0:
            # The LM alone this step; the SM reads the new token with its next drafts.
            scored = target.feed([[int(t)] for t in last.tolist()], 1, reply)[:, -1]
            nxt = scored if sampling.greedy else choose(scored, sampling, generator)
            for i, row in enumerate(live):
                outputs.extend(row, [int(nxt[i])])
            pending = [[*p, int(t)] for p, t in zip(pending, nxt.tolist(), strict=True)]
            stats.plain_steps += 1
            keep = still_generating(live, outputs)
            live, last, pending = _keep_rows(target, draft, keep, live, nxt, pending)
            continue
        sm_seconds0 = draft.seconds
        drafts, q = _draft(draft, pending, gamma, settings, generator)
        sm_pass_seconds = (draft.seconds - sm_seconds0) / gamma
        lm_before = target.seconds
        verify_rows = [[int(t), *d] for t, d in zip(last.tolist(), drafts.tolist(), strict=True)]
        scored = target.feed(verify_rows, gamma + 1, reply)
        lm_pass_seconds = target.seconds - lm_before
        if sampling.greedy:
            n, nxt = accept_greedy(scored, drafts)
        else:
            assert q is not None
            n, nxt = accept_sampled(probabilities(scored, sampling), q, drafts, generator)
        for i, row in enumerate(live):
            kept = int(n[i])
            outputs.extend(row, [*drafts[i, :kept].tolist(), int(nxt[i])])
        target.rewind(gamma - n)
        draft.rewind((gamma - 1 - n).clamp(min=0))
        # The SM has seen drafts 1..γ-1; a row that kept all γ still owes it d_γ.
        pending = [[int(nxt[i])] if int(n[i]) < gamma else [int(drafts[i, -1]), int(nxt[i])]
                   for i in range(len(live))]
        rejections = int((n < gamma).sum())
        stats.add_verification(rows=len(live), gamma=gamma, drafted=gamma * len(live),
                               accepted=int(n.sum()), rejections=rejections,
                               lm_seconds=lm_pass_seconds,
                               sm_seconds=draft.seconds - sm_seconds0)
        control.update(int(n.sum()), rejections,
                       sm_pass_seconds / lm_pass_seconds if lm_pass_seconds > 0 else None)
        keep = still_generating(live, outputs)
        live, last, pending = _keep_rows(target, draft, keep, live, nxt, pending)

    return clock.finish(stats, outputs, (draft,))


def _draft(draft: DecodeState, pending: list[list[int]], gamma: int,
           settings: GenerationSettings,
           generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """γ draft tokens per row ``(B, γ)`` and, when sampling, their distributions ``(B, γ, V)``."""
    sampling = settings.sampling
    tokens: list[torch.Tensor] = []
    dists: list[torch.Tensor] = []
    rows: list[list[int]] = pending
    for _ in range(gamma):
        logits = draft.feed(rows, 1)[:, -1]  # (B, V)
        if sampling.greedy:
            token = logits.argmax(-1)
        else:
            dist = probabilities(logits, sampling)
            token = draw(dist, generator)
            dists.append(dist)
        tokens.append(token)
        rows = [[int(t)] for t in token.tolist()]
    q = torch.stack(dists, 1) if dists else None
    return torch.stack(tokens, 1), q


def _keep_rows(target: Target, draft: DecodeState | None, keep: list[int], live: list[int],
               last: torch.Tensor,
               pending: list[list[int]]) -> tuple[list[int], torch.Tensor, list[list[int]]]:
    """Drop the rows that ended from both models' states."""
    if len(keep) == len(live):
        return live, last, pending
    if not keep:
        return [], last[:0], []
    target.select(keep)
    if draft is not None and draft.started:
        draft.select(keep)
    return [live[i] for i in keep], last[keep], [pending[i] for i in keep]
