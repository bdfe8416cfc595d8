"""Speculative decoding (Leviathan et al., arXiv:2211.17192): something proposes, the LM verifies.

Per step, for every row of the batch at once (:func:`speculate`, the one driver):

1. a :class:`~crossbound.inference.proposers.Proposer` drafts up to ``γ`` tokens per row — a
   small model from its KV cache, a small model with another tokenizer, or a lookup in text
   already seen (prompt lookup, a suffix automaton), which costs no model pass at all;
2. the LM scores ``[last token, d_1 … d_L]`` in *one* forward pass from its KV cache (rows
   with fewer drafts are right-aligned in the block);
3. each row keeps its longest acceptable draft prefix (``n_b`` tokens) plus one token of the
   LM's own (a correction, or a bonus when all were kept) — :mod:`.sampling` has the rules;
4. the LM's cache takes back each row's rejected drafts, and the proposer learns what each
   row really grew by.

Rows advance by their own ``n_b + 1`` tokens: the caches track positions per row, so no row
waits for the slowest. Greedy output equals the LM's own greedy decoding token for token
(:func:`~crossbound.inference.generation.direct_generate`) whatever proposed; sampled output
follows the LM's distribution (drafts sampled from ``q`` by the rule of the paper, any other
draft as a point-mass proposal). With ``adaptive``, ``γ`` follows the running acceptance rate
and the measured costs — a draft pass, and each extra token an LM pass verifies — maximising
the expected speed-up of the paper's Theorem 3.8; where no ``γ`` pays, the LM decodes alone.

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
from crossbound.inference.proposers import ModelDraft, Proposer
from crossbound.inference.sampling import (
    accept_deterministic,
    accept_greedy,
    accept_sampled,
    choose,
    probabilities,
)
from crossbound.models.kv import Reply


@dataclass(frozen=True)
class SpeculativeSettings:
    """``gamma``: drafts per step (the first step's, when ``adaptive``). ``adaptive`` also
    stops drafting while it does not pay (expected speed-up < 1: the LM decodes alone) and
    drafts again every ``probe_every`` steps to see whether it pays again (twice as long
    after each probe that found it still does not, up to ``PROBE_BACKOFF`` times)."""

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


FIT_DECAY = 0.95  # weight of the past in the fit of an LM pass's cost to its width
PROBE_BACKOFF = 8  # a hopeless draft is probed at most every 8 × probe_every steps


class GammaController:
    """Chooses γ per step from the running acceptance probability and the measured costs.

    A step costs γ draft passes and one LM pass over γ+1 tokens per row. ``update``'s
    ``cost_ratio`` is one draft pass over a one-token LM pass (the paper's c; ~0 for a
    lookup), and :meth:`observe` fits an LM pass's seconds as ``a + b·(width − 1)`` over the
    passes seen (decayed least squares), so every drafted token also costs ``b/a`` of an LM
    pass to verify. The paper assumes b ≈ 0 (a GPU, memory-bound); on a CPU, at batch 8, it is
    not — and a proposer that costs nothing would otherwise always draft γ_max.

    γ maximises the expected speed-up; when even the best γ is expected to be slower than the
    LM alone, :meth:`next` answers 0 (no drafts) except on every ``probe_every``-th step
    (backing off while the probes find drafting still does not pay).
    """

    def __init__(self, settings: SpeculativeSettings) -> None:
        self.settings = settings
        self.gamma = settings.gamma
        self.kept = 0.0  # decayed counts of drafts kept and of rejections
        self.rejected = 0.0
        self.ratio: float | None = None
        self.worth = True  # whether drafting is expected to pay
        self.idle = 0  # steps without drafts since the last probe
        self.probe_every = settings.probe_every  # grows while probes find nothing
        self.probing = False  # the last step drafted as a probe
        self._fit = [0.0] * 5  # decayed Σ1, Σx, Σy, Σx², Σxy over LM passes (x: width − 1)

    def next(self) -> int:
        """Drafts for the coming step (0: the LM decodes one token alone)."""
        if self.worth:
            return self.gamma
        self.idle += 1
        if self.idle >= self.probe_every:
            self.idle = 0
            self.probing = True
            return self.gamma
        return 0

    def observe(self, width: int, seconds: float) -> None:
        """An LM pass over ``width`` tokens per row took ``seconds`` (prefill excluded)."""
        if seconds <= 0:
            return
        x = float(width - 1)
        for i, value in enumerate((1.0, x, seconds, x * x, x * seconds)):
            self._fit[i] = FIT_DECAY * self._fit[i] + value

    def pass_cost(self) -> tuple[float, float] | None:
        """``(a, b)``: seconds of a one-token LM pass and per extra token in it; None until
        passes of different widths were seen."""
        n, sx, sy, sxx, sxy = self._fit
        if n <= 0:
            return None
        spread = sxx / n - (sx / n) ** 2
        if spread < 0.1:
            return None
        slope = max(0.0, (sxy / n - sx * sy / n / n) / spread)
        base = sy / n - slope * sx / n
        return (base, slope) if base > 0 else None

    def one_token_seconds(self, fallback: float) -> float:
        """A one-token LM pass's seconds as fitted (``fallback`` until it can be)."""
        cost = self.pass_cost()
        return cost[0] if cost is not None else fallback

    def verify_ratio(self) -> float:
        """What verifying one more token adds to an LM pass, over a one-token pass."""
        cost = self.pass_cost()
        return cost[1] / cost[0] if cost is not None else 0.0

    def update(self, accepted: int, rejections: int, cost_ratio: float | None) -> int:
        s = self.settings
        self.kept = s.decay * self.kept + accepted
        self.rejected = s.decay * self.rejected + rejections
        if cost_ratio is not None and cost_ratio >= 0:
            self.ratio = cost_ratio if self.ratio is None else (
                s.decay * self.ratio + (1 - s.decay) * cost_ratio)
        if s.adaptive and self.ratio is not None and self.kept + self.rejected > 0:
            # Clamped so that one unlucky (or lucky) stretch cannot pin γ to an end for good.
            alpha = min(0.98, max(0.02, self.kept / (self.kept + self.rejected)))
            ratio = self.ratio + self.verify_ratio()
            self.gamma = max(range(1, s.gamma_max + 1),
                             key=lambda g: expected_speedup(alpha, g, ratio))
            self.worth = expected_speedup(alpha, self.gamma, ratio) >= 1.0
        if self.worth:
            self.probe_every = s.probe_every
        elif self.probing:  # a probe that found drafting still does not pay: wait longer
            self.probe_every = min(2 * self.probe_every, PROBE_BACKOFF * s.probe_every)
        self.probing = False
        return self.gamma


@torch.no_grad()
def speculate(
    target: Target,
    proposer: Proposer,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    settings: GenerationSettings,
    spec: SpeculativeSettings | None = None,
    *,
    lm_model: Any = None,
    extra: dict[str, Any] | None = None,
) -> Generation:
    """Generate for ``prompts`` (the LM's ids) with ``proposer`` drafting for ``target``.

    ``tokenizer`` is the LM's; ``lm_model`` (the LM's HF model, when local) only contributes
    its generation config's EOS ids — pass it to
    :func:`~crossbound.inference.generation.direct_generate` too when comparing the two.
    ``extra`` goes into the statistics as is.
    """
    spec = spec or SpeculativeSettings()
    check_prompts(prompts)
    sampling, generator = settings.sampling, settings.generator()
    # EOS comes from the LM's side only (its tokenizer, its generation config when local), so
    # rows end exactly where the LM alone would end them.
    outputs = settings.outputs(tokenizer, lm_model, len(prompts))
    reply: Reply = "argmax" if sampling.greedy else "logits"
    control = GammaController(spec)
    stats = DecodeStats(engine="speculative", rows=len(prompts),
                        extra={"proposer": proposer.name, **(extra or {})})
    clock = DecodeClock(target)
    seconds0, passes0 = proposer.seconds, proposer.passes
    proposer.begin(prompts)

    # Prefill: the LM reads the prompts and picks the first token.
    stats.lm_row_passes += len(prompts)
    first = target.feed([list(p) for p in prompts], 1, reply)[:, -1]
    last = (first if sampling.greedy else choose(first, sampling, generator)).tolist()
    live = list(range(len(prompts)))
    live, last = _advance(target, proposer, outputs, live, [0] * len(live), [[]] * len(live),
                          last)
    while live:
        budgets = [settings.max_new_tokens - len(outputs.ids[r]) for r in live]
        gamma = min(control.next(), max(budgets) - 1)
        drafts: list[list[int]] = [[] for _ in live]
        q: torch.Tensor | None = None
        draft_seconds, draft_passes = 0.0, 0
        if gamma > 0:
            before = proposer.seconds, proposer.passes
            proposal = proposer.propose(gamma, sampling, generator)
            draft_seconds = proposer.seconds - before[0]
            draft_passes = proposer.passes - before[1]
            drafts, q = proposal.drafts, proposal.q
            if q is None:  # no row verifies drafts past its budget (or past γ_max)
                drafts = [d[: max(0, min(spec.gamma_max, b - 1))]
                          for d, b in zip(drafts, budgets, strict=True)]
        width = max(len(d) for d in drafts)
        stats.lm_row_passes += len(live)
        lm_before = target.seconds
        scored = target.feed([[t, *d] for t, d in zip(last, drafts, strict=True)], width + 1,
                             reply)
        lm_seconds = target.seconds - lm_before
        control.observe(width + 1, lm_seconds)
        if width == 0:  # nothing to verify: the LM alone this step
            nxt = (scored[:, -1] if sampling.greedy
                   else choose(scored[:, -1], sampling, generator)).tolist()
            stats.plain_steps += 1
            live, last = _advance(target, proposer, outputs, live, [0] * len(live), drafts,
                                  nxt)
            continue
        kept, nxt = _verify(scored, drafts, q, sampling, generator)
        target.rewind([len(d) - k for d, k in zip(drafts, kept, strict=True)])
        accepted = sum(kept)
        rejections = sum(k < len(d) for d, k in zip(drafts, kept, strict=True))
        stats.add_verification(rows=len(live), gamma=gamma, drafted=sum(map(len, drafts)),
                               accepted=accepted, rejections=rejections,
                               lm_seconds=lm_seconds, sm_seconds=draft_seconds,
                               sm_passes=draft_passes)
        control.update(accepted, rejections,
                       draft_seconds / gamma / control.one_token_seconds(lm_seconds)
                       if lm_seconds > 0 else None)
        live, last = _advance(target, proposer, outputs, live, kept, drafts, nxt)

    stats.sm_seconds = proposer.seconds - seconds0
    stats.sm_forward_passes = proposer.passes - passes0
    generation = clock.finish(stats, outputs)
    proposer.finish(generation.ids)
    return generation


def _verify(scored: torch.Tensor, drafts: list[list[int]], q: torch.Tensor | None,
            sampling: Any, generator: torch.Generator) -> tuple[list[int], list[int]]:
    """Kept drafts per row and the LM's next token per row.

    ``scored`` ``(B, W+1)`` argmax ids or ``(B, W+1, V)`` logits of the block in which row
    ``b``'s ``[last, *drafts[b]]`` sat right-aligned; the rules want each row's outputs from
    its first column, so they are moved left first (columns past a row's end repeat its last).
    """
    batch, width = len(drafts), scored.shape[1] - 1
    lengths = torch.tensor([len(d) for d in drafts], dtype=torch.long)
    cols = ((width - lengths)[:, None] + torch.arange(width + 1)).clamp(max=width)  # (B, W+1)
    padded = torch.zeros((batch, width), dtype=torch.long)
    for i, d in enumerate(drafts):
        padded[i, : len(d)] = torch.tensor(d, dtype=torch.long)
    if sampling.greedy:
        n, token = accept_greedy(scored.gather(1, cols), padded, lengths)
    else:
        own = scored.gather(1, cols[:, :, None].expand(-1, -1, scored.shape[-1]))
        p = probabilities(own, sampling)  # (B, W+1, V)
        if q is not None:  # sampled from q (every row has W drafts): the rule of the paper
            n, token = accept_sampled(p, q, padded, generator)
        else:  # a deterministic proposal, q = δ(d)
            n, token = accept_deterministic(p, padded, generator, lengths)
    return n.tolist(), token.tolist()


def _advance(target: Target, proposer: Proposer, outputs: Any, live: list[int],
             kept: Sequence[int], drafts: Sequence[Sequence[int]],
             nxt: list[int]) -> tuple[list[int], list[int]]:
    """Rows grow by their kept drafts and the LM's token; the rows that ended leave the LM's
    state and the proposer's. Returns the rows still generating and their last tokens."""
    for i, row in enumerate(live):
        outputs.extend(row, [*drafts[i][: kept[i]], nxt[i]])
    proposer.advance(kept, nxt)
    keep = still_generating(live, outputs)
    if len(keep) == len(live):
        return live, nxt
    if keep:
        target.select(keep)
        proposer.select(keep)
    return [live[i] for i in keep], [nxt[i] for i in keep]


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
    """Generate with ``draft_model`` (a local HF causal LM with ``tokenizer``'s ids, the LM's)
    drafting for ``target`` (the LM): :func:`speculate` with a
    :class:`~crossbound.inference.proposers.ModelDraft`."""
    spec = spec or SpeculativeSettings()
    proposer = ModelDraft(draft_model, tokenizer.pad_token_id or 0, spec.draft_vocab)
    return speculate(target, proposer, tokenizer, prompts, settings, spec, lm_model=lm_model)
