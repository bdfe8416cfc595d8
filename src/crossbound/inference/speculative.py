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
draft as a point-mass proposal). With ``adaptive`` (:mod:`.gamma`), ``γ`` follows the running
acceptance rate and the measured costs — a draft pass, and each extra token an LM pass
verifies — maximising the expected speed-up of the paper's Theorem 3.8 (a model draft that
stops at its own low confidence drafts up to ``γ_max``); while drafting steps are measured
slower than the LM alone, the LM decodes alone, probing now and then.

The LM is a :class:`~crossbound.inference.generation.Target`: local, or a model party behind
the boundary (greedy verification then only needs the LM's argmax ids to cross back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from crossbound.inference.gamma import GammaController, SpeculativeSettings
from crossbound.inference.generation import (
    DecodeClock,
    DecodeStats,
    Generation,
    GenerationSettings,
    Target,
    check_prompts,
    still_generating,
)
from crossbound.inference.lookup_first import LookupFirst
from crossbound.inference.proposers import ModelDraft, Proposer
from crossbound.inference.sampling import (
    accept_deterministic,
    accept_greedy,
    accept_sampled,
    choose,
    probabilities,
)
from crossbound.models.kv import Reply


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
    # The proposer's controller for this batch size and these settings, warm from its
    # earlier calls (an LM pass's cost depends on the batch).
    control = proposer.controls.setdefault(
        (len(prompts), spec), GammaController(spec, own_length=proposer.sets_own_length))
    control.probing = False
    stats = DecodeStats(engine="speculative", rows=len(prompts),
                        extra={"proposer": proposer.name, **(extra or {})})
    clock = DecodeClock(target)
    seconds0, passes0 = proposer.seconds, proposer.passes
    proposer.expect(sorted(outputs.eos))
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
        backlog = proposer.backlog()
        gamma = min(control.next(backlog, max(budgets)), max(budgets) - 1)
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
        # A model draft's step is priced at its passes' running cost (a pass that first read
        # a prompt, or text that went by while drafting paused, is a one-off).
        unit = proposer.unit_seconds
        step_draft = draft_passes * unit if unit is not None and draft_passes else draft_seconds
        control.record((accepted + len(live)) / len(live), lm_seconds + step_draft,
                       lm_seconds + draft_seconds, backlog)
        control.update(accepted, rejections,
                       step_draft / max(1, draft_passes or gamma)
                       / control.one_token_seconds(lm_seconds) if lm_seconds > 0 else None)
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


def model_draft(draft_model: Any, tokenizer: Any, spec: SpeculativeSettings,
                first: Proposer | None = None) -> Proposer:
    """A :class:`~crossbound.inference.proposers.ModelDraft` with ``spec``'s shortlist and
    confidence stop, behind the lookup ``first`` when given (:mod:`.lookup_first`); keep one
    for every batch of a run, so adaptive γ starts warm."""
    model = ModelDraft(draft_model, tokenizer.pad_token_id or 0, spec.draft_vocab,
                       spec.draft_confidence)
    return model if first is None else LookupFirst(first, model)


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
    proposer = model_draft(draft_model, tokenizer, spec)
    return speculate(target, proposer, tokenizer, prompts, settings, spec, lm_model=lm_model)
