"""Who guesses the LM's next tokens: the draft proposers of speculative decoding.

Speculative decoding needs guesses, not a second model. One driver
(:func:`~crossbound.inference.speculative.speculate`) verifies whatever a :class:`Proposer`
offers, so output stays the LM's own (greedy: token for token) whoever proposed:

- :class:`ModelDraft`: a small causal LM with the LM's tokenizer drafts token by token from
  its KV cache (arXiv:2211.17192); sampled drafts come with their distributions ``q``;
- ``CrossTokenizerDraft`` (:mod:`.cross_tokenizer`): a small LM with its own tokenizer; its
  drafts' text is re-tokenised for the LM;
- ``NgramProposer`` (:mod:`.lookup`): prompt lookup — the last n-gram's earlier occurrence in
  the prompt or the text so far, and the tokens that followed it; no model, ~0 cost;
- ``SuffixProposer`` (:mod:`.lookup`): a suffix automaton over the prompt and the text so far,
  and one over a corpus of earlier outputs; the longest match's continuation (after
  SuffixDecoding, arXiv:2411.04975).

``--draft`` names one (:mod:`.drafts`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from crossbound.inference.sampling import Sampling, draw, probabilities
from crossbound.inference.shortlist import ShortlistDraft
from crossbound.models.kv import DecodeState


@dataclass
class Proposal:
    """Each row's drafted LM token ids (any length, 0 included) and, when the drafts were
    sampled from distributions, those ``q`` ``(B, γ, V)`` (every row then has γ drafts)."""

    drafts: list[list[int]]
    q: torch.Tensor | None = None


class Proposer(ABC):
    """Proposes draft tokens for each row of a batch; the driver verifies them.

    A call runs :meth:`begin` (the rows' prompts, LM ids), then per step :meth:`propose` and
    :meth:`advance` (what each row really grew by), :meth:`select` when rows end, and
    :meth:`finish` with the call's outputs. ``seconds`` and ``passes`` count drafting's cost.
    """

    name: ClassVar[str]
    uses_model: ClassVar[bool] = False  # drafting runs model passes (else it costs ~0)

    def __init__(self) -> None:
        self.seconds = 0.0
        self.passes = 0

    @abstractmethod
    def begin(self, prompts: Sequence[Sequence[int]]) -> None:
        """A new batch: each row's prompt ids (the LM's tokens)."""

    @abstractmethod
    def propose(self, gamma: int, sampling: Sampling,
                generator: torch.Generator | None) -> Proposal:
        """Up to ``gamma`` drafts per row (a cross-tokenizer draft may give more)."""

    @abstractmethod
    def advance(self, kept: Sequence[int], nxt: Sequence[int]) -> None:
        """Row ``i`` grew by the first ``kept[i]`` tokens of its last proposal (none when
        nothing was proposed since) and then ``nxt[i]``."""

    @abstractmethod
    def select(self, keep: Sequence[int]) -> None:
        """Only rows ``keep`` (positions in the current batch) go on."""

    def finish(self, outputs: Sequence[Sequence[int]]) -> None:
        """The call ended with ``outputs`` (generated ids per row); a proposer that learns
        from earlier outputs keeps them here."""
        return None


def grown(proposal: Sequence[int], kept: int, nxt: int) -> list[int]:
    """What a row grew by: the kept drafts, then the LM's token."""
    return [*proposal[:kept], nxt]


class ModelDraft(Proposer):
    """A small causal LM with the LM's tokenizer drafts from its own KV cache.

    The cache lags the text by the tokens in ``pending`` (read with the next drafting pass):
    after drafting ``L`` tokens it holds ``d_1 … d_{L-1}``, so a row that kept ``k`` of them
    rewinds ``L-1-min(k, L-1)`` and owes ``d_L`` too when it kept all.
    ``draft_vocab`` > 0 drafts over the first ``draft_vocab`` ids only (:mod:`.shortlist`).
    """

    name = "model"
    uses_model = True

    def __init__(self, model: Any, pad_id: int, draft_vocab: int = 0) -> None:
        super().__init__()
        self.model = ShortlistDraft(model, draft_vocab) if draft_vocab else model
        self.pad_id = pad_id
        self.state = DecodeState(self.model, pad_id)
        self.pending: list[list[int]] = []
        self.last: list[list[int]] = []

    def begin(self, prompts: Sequence[Sequence[int]]) -> None:
        self.state = DecodeState(self.model, self.pad_id)
        self.pending = [list(p) for p in prompts]
        self.last = [[] for _ in prompts]

    def propose(self, gamma: int, sampling: Sampling,
                generator: torch.Generator | None) -> Proposal:
        seconds0, passes0 = self.state.seconds, self.state.forwards
        tokens: list[torch.Tensor] = []
        dists: list[torch.Tensor] = []
        rows: list[list[int]] = self.pending
        for _ in range(gamma):
            logits = self.state.feed(rows, 1)[:, -1]  # (B, V)
            if sampling.greedy:
                token = logits.argmax(-1)
            else:
                dist = probabilities(logits, sampling)
                token = draw(dist, generator)
                dists.append(dist)
            tokens.append(token)
            rows = [[int(t)] for t in token.tolist()]
        self.seconds += self.state.seconds - seconds0
        self.passes += self.state.forwards - passes0
        self.pending = [[] for _ in self.pending]  # now in the cache
        self.last = torch.stack(tokens, 1).tolist()  # (B, γ)
        return Proposal([list(d) for d in self.last],
                        torch.stack(dists, 1) if dists else None)

    def advance(self, kept: Sequence[int], nxt: Sequence[int]) -> None:
        drops: list[int] = []
        for i, (k, token) in enumerate(zip(kept, nxt, strict=True)):
            drafted = self.last[i]
            if not drafted:  # nothing drafted since: the cache reads the token later
                drops.append(0)
                self.pending[i] = [*self.pending[i], token]
                continue
            held = len(drafted) - 1  # d_1 … d_{L-1} are in the cache
            drops.append(held - min(k, held))
            self.pending[i] = [drafted[-1], token] if k >= len(drafted) else [token]
        if self.state.started:
            self.state.rewind(drops)
        self.last = [[] for _ in self.last]

    def select(self, keep: Sequence[int]) -> None:
        if self.state.started:
            self.state.select(list(keep))
        self.pending = [self.pending[i] for i in keep]
        self.last = [self.last[i] for i in keep]
