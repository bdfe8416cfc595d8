"""Speculative decoding across tokenizers: the SM drafts in its tokens, the LM checks its own.

Each step, per row: the SM's cache is brought in line with the text so far (the SM's
tokenisation of prompt + generated text; the longest prefix it already holds is kept, the
rest rewound), the SM drafts ``γ`` tokens, their text is tokenised by the LM's tokenizer, and
the LM verifies those tokens in one pass like any draft. Output stays lossless because the LM
only ever keeps tokens it would have chosen itself:

- greedy: drafts are kept while they equal the LM's argmax (then the LM's own token);
- sampling: a re-tokenised draft is a deterministic proposal, ``q = δ(d)``. The rule of
  arXiv:2211.17192 then keeps ``d`` with probability ``p(d)`` and on rejection samples from
  ``p`` with ``d`` removed — exactly ``p`` overall.

Drafts cost the SM's passes and the LM's verification as usual; what the mismatch costs is
acceptance (text the SM drafts may tokenise differently in context), so the statistics
report it in LM tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from crossbound.inference.generation import (
    DecodeClock,
    DecodeStats,
    Generation,
    GenerationSettings,
    Target,
    still_generating,
)
from crossbound.inference.sampling import (
    accept_deterministic,
    accept_greedy,
    choose,
    probabilities,
)
from crossbound.inference.speculative import SpeculativeSettings, drafting
from crossbound.models.kv import DecodeState, Reply


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@torch.no_grad()
def cross_speculative_generate(
    target: Target,
    lm_tokenizer: Any,
    draft_model: Any,
    draft_tokenizer: Any,
    prompts: Sequence[str],
    settings: GenerationSettings,
    spec: SpeculativeSettings | None = None,
    *,
    lm_model: Any = None,
) -> Generation:
    """Generate for prompt *texts* with ``draft_model`` (its own tokenizer) drafting for the LM.

    ``prompts`` are full prompt texts (apply a chat template before). Returned ids are the
    LM's tokens; ``lm_model`` (when local) only contributes its generation config's EOS.
    """
    spec = spec or SpeculativeSettings()
    if not prompts:
        raise ValueError("no prompts")
    sampling, generator = settings.sampling, settings.generator()
    outputs = settings.outputs(lm_tokenizer, lm_model, len(prompts))
    reply: Reply = "argmax" if sampling.greedy else "logits"
    draft, control = drafting(draft_model, spec, draft_tokenizer.pad_token_id or 0)
    stats = DecodeStats(engine="speculative", rows=len(prompts),
                        extra={"mode": "cross-tokenizer"})
    clock = DecodeClock(target)

    lm_prompts = [list(lm_tokenizer(p)["input_ids"]) for p in prompts]
    if any(not p for p in lm_prompts):
        raise ValueError("every prompt needs at least one token")
    first = target.feed(lm_prompts, 1, reply)[:, -1]
    last = (first if sampling.greedy else choose(first, sampling, generator)).tolist()
    live = list(range(len(prompts)))
    for i in live:
        outputs.extend(i, [last[i]])
    sm_held: list[list[int]] = [[] for _ in live]  # what the SM's cache holds, per row
    keep = still_generating(live, outputs)
    live, last, sm_held = _keep(target, draft, keep, live, last, sm_held)

    while live:
        gamma = control.next()
        if gamma == 0:  # drafting does not pay now: the LM alone (the SM catches up later)
            scored = target.feed([[t] for t in last], 1, reply)[:, -1]
            nxt = (scored if sampling.greedy else choose(scored, sampling, generator)).tolist()
            for i, row in enumerate(live):
                outputs.extend(row, [nxt[i]])
            stats.plain_steps += 1
            keep = still_generating(live, outputs)
            live, last, sm_held = _keep(target, draft, keep, live, nxt, sm_held)
            continue
        # 1. bring the SM's cache in line with the text so far, then draft γ of its tokens
        rows, drops = [], []
        for i, row in enumerate(live):
            text = prompts[row] + lm_tokenizer.decode(outputs.ids[row], skip_special_tokens=True)
            wanted = list(draft_tokenizer(text)["input_ids"])
            common = min(_common_prefix(sm_held[i], wanted), len(wanted) - 1)
            drops.append(len(sm_held[i]) - common)
            rows.append(wanted[common:])
            sm_held[i] = wanted
        if draft.started:
            draft.rewind(drops)
        sm_seconds0 = draft.seconds
        sm_drafts = _greedy_drafts(draft, rows, gamma)  # (B, γ)
        for i in range(len(live)):
            sm_held[i] = sm_held[i] + sm_drafts[i, :-1].tolist()
        # 2. the drafts' text in the LM's tokens; the LM verifies them in one pass
        budget = [settings.max_new_tokens - len(outputs.ids[r]) for r in live]
        lm_drafts = []
        for i in range(len(live)):
            text = draft_tokenizer.decode(sm_drafts[i].tolist(), skip_special_tokens=True)
            ids = list(lm_tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []
            lm_drafts.append(ids[: max(0, min(spec.gamma_max, budget[i] - 1))])
        lm_before = target.seconds
        width = max(len(d) for d in lm_drafts)
        scored = target.feed([[t, *d] for t, d in zip(last, lm_drafts, strict=True)],
                             width + 1, reply)
        lm_pass_seconds = target.seconds - lm_before
        # 3. keep what the LM agrees with; rows' drafts differ in length, so each row's
        # outputs (right-aligned in the block) are moved to the left first
        lengths = torch.tensor([len(d) for d in lm_drafts], dtype=torch.long)
        cols = ((width - lengths)[:, None] + torch.arange(width + 1)).clamp(max=width)
        padded = torch.zeros((len(live), width), dtype=torch.long)
        for i, d in enumerate(lm_drafts):
            padded[i, : len(d)] = torch.tensor(d, dtype=torch.long)
        if sampling.greedy:
            n, token = accept_greedy(scored.gather(1, cols), padded, lengths)
        else:
            own = scored.gather(1, cols[:, :, None].expand(-1, -1, scored.shape[-1]))
            n, token = accept_deterministic(probabilities(own, sampling), padded, generator,
                                            lengths)
        kept_counts, nxt = n.tolist(), token.tolist()
        for i, row in enumerate(live):
            outputs.extend(row, [*lm_drafts[i][: kept_counts[i]], nxt[i]])
        target.rewind([len(d) - k for d, k in zip(lm_drafts, kept_counts, strict=True)])
        accepted = sum(kept_counts)
        rejections = sum(k < len(d) for d, k in zip(lm_drafts, kept_counts, strict=True))
        stats.add_verification(rows=len(live), gamma=gamma, drafted=sum(map(len, lm_drafts)),
                               accepted=accepted, rejections=rejections,
                               lm_seconds=lm_pass_seconds,
                               sm_seconds=draft.seconds - sm_seconds0)
        control.update(accepted, rejections,
                       (draft.seconds - sm_seconds0) / gamma / lm_pass_seconds
                       if lm_pass_seconds > 0 else None)
        keep = still_generating(live, outputs)
        live, last, sm_held = _keep(target, draft, keep, live, nxt, sm_held)

    return clock.finish(stats, outputs, (draft,))


def _greedy_drafts(draft: DecodeState, rows: list[list[int]], gamma: int) -> torch.Tensor:
    """γ greedy SM tokens per row ``(B, γ)``, the first pass reading each row's new tokens.

    Greedy even when the LM samples: across tokenizers the SM's probabilities are not a
    distribution over the LM's tokens, so the draft is used as a deterministic proposal.
    """
    tokens = []
    for _ in range(gamma):
        token = draft.feed(rows, 1)[:, -1].argmax(-1)
        tokens.append(token)
        rows = [[int(t)] for t in token.tolist()]
    return torch.stack(tokens, 1)


def _keep(target: Target, draft: DecodeState, keep: list[int], live: list[int],
          last: list[int],
          held: list[list[int]]) -> tuple[list[int], list[int], list[list[int]]]:
    if len(keep) == len(live):
        return live, last, held
    if not keep:
        return [], [], []
    target.select(keep)
    if draft.started:
        draft.select(keep)
    return [live[i] for i in keep], [last[i] for i in keep], [held[i] for i in keep]
