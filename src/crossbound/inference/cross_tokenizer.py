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
report it in LM tokens. The accept/verify loop is the one of every proposer
(:func:`~crossbound.inference.speculative.speculate`); only the drafting is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from crossbound.inference.gamma import SpeculativeSettings
from crossbound.inference.generation import Generation, GenerationSettings, Target
from crossbound.inference.proposers import Proposal, Proposer
from crossbound.inference.sampling import Sampling
from crossbound.inference.shortlist import ShortlistDraft
from crossbound.inference.speculative import speculate
from crossbound.models.kv import DecodeState


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class CrossTokenizerDraft(Proposer):
    """A small LM with its own tokenizer drafts; its drafts' text, in the LM's tokens, is the
    proposal. Each row's prompt *text* is given here (``texts``), the LM's ids to the driver.

    Drafts are greedy even when the LM samples: across tokenizers the SM's probabilities are
    not a distribution over the LM's tokens, so a draft is a deterministic proposal.
    """

    name = "model"
    uses_model = True

    def __init__(self, model: Any, draft_tokenizer: Any, lm_tokenizer: Any,
                 texts: Sequence[str], draft_vocab: int = 0) -> None:
        super().__init__()
        self.model = ShortlistDraft(model, draft_vocab) if draft_vocab else model
        self.draft_tokenizer, self.lm_tokenizer = draft_tokenizer, lm_tokenizer
        self.texts = list(texts)
        self.state = DecodeState(self.model, draft_tokenizer.pad_token_id or 0)
        self.generated: list[list[int]] = []  # the LM's tokens so far, per row
        self.held: list[list[int]] = []  # what the SM's cache holds, per row

    def begin(self, prompts: Sequence[Sequence[int]]) -> None:
        if len(prompts) != len(self.texts):
            raise ValueError(f"{len(prompts)} prompts for {len(self.texts)} prompt texts")
        self.generated = [[] for _ in prompts]
        self.held = [[] for _ in prompts]
        self.last = [[] for _ in prompts]

    def propose(self, gamma: int, sampling: Sampling,
                generator: torch.Generator | None) -> Proposal:
        seconds0, passes0 = self.state.seconds, self.state.forwards
        # 1. bring the SM's cache in line with the text so far (the longest prefix it holds
        # stays), then draft γ of its tokens
        rows, drops = [], []
        for i, generated in enumerate(self.generated):
            text = self.texts[i] + self.lm_tokenizer.decode(generated, skip_special_tokens=True)
            wanted = list(self.draft_tokenizer(text)["input_ids"])
            common = min(_common_prefix(self.held[i], wanted), len(wanted) - 1)
            drops.append(len(self.held[i]) - common)
            rows.append(wanted[common:])
            self.held[i] = wanted
        if self.state.started:
            self.state.rewind(drops)
        tokens = []
        for _ in range(gamma):
            token = self.state.feed(rows, 1)[:, -1].argmax(-1)  # (B,)
            tokens.append(token)
            rows = [[int(t)] for t in token.tolist()]
        sm_drafts = torch.stack(tokens, 1).tolist()  # (B, γ)
        # 2. the drafts' text in the LM's tokens
        self.last = []
        for i, drafted in enumerate(sm_drafts):
            self.held[i] = self.held[i] + drafted[:-1]
            text = self.draft_tokenizer.decode(drafted, skip_special_tokens=True)
            self.last.append(list(self.lm_tokenizer(text, add_special_tokens=False)["input_ids"])
                             if text else [])
        self.seconds += self.state.seconds - seconds0
        self.passes += self.state.forwards - passes0
        return Proposal([list(d) for d in self.last])

    def follow(self, grew: Sequence[Sequence[int]]) -> None:
        # The SM's cache is brought in line by text at the next proposal.
        for i, tokens in enumerate(grew):
            self.generated[i] += [int(t) for t in tokens]
        self.last = [[] for _ in self.generated]

    def select(self, keep: Sequence[int]) -> None:
        if self.state.started:
            self.state.select(list(keep))
        self.texts = [self.texts[i] for i in keep]
        self.generated = [self.generated[i] for i in keep]
        self.held = [self.held[i] for i in keep]
        self.last = [self.last[i] for i in keep]


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
    lm_prompts = [list(lm_tokenizer(p)["input_ids"]) for p in prompts]
    proposer = CrossTokenizerDraft(draft_model, draft_tokenizer, lm_tokenizer, prompts,
                                   spec.draft_vocab)
    return speculate(target, proposer, lm_tokenizer, lm_prompts, settings, spec,
                     lm_model=lm_model, extra={"mode": "cross-tokenizer"})
