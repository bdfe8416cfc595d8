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

from crossbound.inference.gamma import GammaController, SpeculativeSettings
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
    :meth:`finish` with the call's outputs. ``seconds`` and ``passes`` count drafting's cost;
    ``last`` holds each row's last proposal until the row's growth is known.
    """

    name: ClassVar[str]
    uses_model: ClassVar[bool] = False  # drafting runs model passes (else it costs ~0)
    # Each row's draft ends where the proposer stops trusting it: γ is then only a cap, and
    # adaptive γ leaves it at γ_max (it still decides whether drafting pays at all).
    sets_own_length: bool = False

    def __init__(self) -> None:
        self.seconds = 0.0
        self.passes = 0
        # Seconds of one drafting pass that reads one or two tokens per row (a running mean;
        # None: no such pass yet, or drafting runs no model). The driver prices a step's
        # drafting with it, not with the step's own seconds: a pass that first reads a
        # prompt, or the text that went by while drafting paused, is a one-off.
        self.unit_seconds: float | None = None
        # adaptive γ per (batch size, settings), kept across calls (:mod:`.gamma`)
        self.controls: dict[tuple[int, SpeculativeSettings], GammaController] = {}
        self.last: list[list[int]] = []

    def expect(self, ids: Sequence[int]) -> None:
        """Ids the LM may produce besides text (its EOS): a proposer that drafts from a
        restricted vocabulary keeps them in it."""
        return None

    def backlog(self) -> int:
        """Tokens the next drafting pass must read beyond the usual one or two per row (a
        model draft's prompts, or the text that went by while drafting paused)."""
        return 0

    @abstractmethod
    def begin(self, prompts: Sequence[Sequence[int]]) -> None:
        """A new batch: each row's prompt ids (the LM's tokens)."""

    @abstractmethod
    def propose(self, gamma: int, sampling: Sampling,
                generator: torch.Generator | None) -> Proposal:
        """Up to ``gamma`` drafts per row (a cross-tokenizer draft may give more)."""

    def advance(self, kept: Sequence[int], nxt: Sequence[int]) -> None:
        """Row ``i`` grew by the first ``kept[i]`` tokens of its last proposal (none when
        nothing was proposed since) and then ``nxt[i]``."""
        self.follow([grown(d, k, t) for d, k, t in zip(self.last, kept, nxt, strict=True)])

    @abstractmethod
    def follow(self, grew: Sequence[Sequence[int]]) -> None:
        """Row ``i`` grew by ``grew[i]`` since the last step, whoever proposed those tokens
        (another proposer's, when proposers take turns: :class:`LookupFirst`); forgets the
        last proposal."""

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

    ``draft_vocab`` > 0 drafts over the first ``draft_vocab`` ids, the batch's prompt tokens,
    earlier outputs' tokens and the EOS ids only (:mod:`.shortlist`). ``confidence`` > 0 ends
    a row's draft at the first token the draft gives less than that probability (the token
    itself is still proposed: verifying it costs little), and drafting stops when no row is
    left confident — a draft's own confidence predicts acceptance token by token, where a
    fixed γ can only follow the average (a dynamic draft length, as Hugging Face's
    ``assistant_confidence_threshold`` does). When sampling,
    rows are not cut (every row needs its γ draws from ``q``); the passes still stop.
    """

    name = "model"
    uses_model = True
    SEEN_LIMIT = 16_384  # earlier outputs' distinct tokens kept in the shortlist, at most
    UNIT_DECAY = 0.8  # weight of the past in the running mean of a pass's seconds

    def __init__(self, model: Any, pad_id: int, draft_vocab: int = 0,
                 confidence: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= confidence < 1.0:
            raise ValueError(f"confidence must be in [0, 1), got {confidence}")
        self.shortlist = ShortlistDraft(model, draft_vocab) if draft_vocab else None
        self.model = self.shortlist if self.shortlist is not None else model
        self.pad_id = pad_id
        self.confidence = confidence
        self.sets_own_length = confidence > 0
        self.state = DecodeState(self.model, pad_id)
        self.pending: list[list[int]] = []
        self.expected: set[int] = set()
        self.seen: set[int] = set()

    def expect(self, ids: Sequence[int]) -> None:
        self.expected = {int(i) for i in ids}

    def backlog(self) -> int:
        return sum(max(0, len(p) - 2) for p in self.pending)

    def begin(self, prompts: Sequence[Sequence[int]]) -> None:
        self.state = DecodeState(self.model, self.pad_id)
        self.pending = [list(p) for p in prompts]
        self.last = [[] for _ in prompts]
        if self.shortlist is not None:
            self.shortlist.focus({*self.expected, *self.seen, *(t for p in prompts for t in p)})

    def finish(self, outputs: Sequence[Sequence[int]]) -> None:
        if self.shortlist is None:
            return
        for out in outputs:
            for token in out:
                if len(self.seen) >= self.SEEN_LIMIT:
                    return
                self.seen.add(int(token))

    def propose(self, gamma: int, sampling: Sampling,
                generator: torch.Generator | None) -> Proposal:
        seconds0, passes0 = self.state.seconds, self.state.forwards
        tokens: list[torch.Tensor] = []
        dists: list[torch.Tensor] = []
        rows: list[list[int]] = self.pending
        batch = len(rows)
        cut = [gamma] * batch  # each row's proposal ends after this many drafts
        unsure = torch.zeros(batch, dtype=torch.bool)
        for step in range(gamma):
            unit = max(len(r) for r in rows) <= 2
            before = self.state.seconds
            logits = self.state.feed(rows, 1)[:, -1]  # (B, V)
            if unit:
                self._observe_unit(self.state.seconds - before)
            if sampling.greedy:
                token = logits.argmax(-1)
                dist = torch.softmax(logits, -1) if self.confidence else None
            else:
                dist = probabilities(logits, sampling)
                token = draw(dist, generator)
                dists.append(dist)
            tokens.append(token)
            rows = [[int(t)] for t in token.tolist()]
            if dist is not None and self.confidence:
                low = dist.max(-1).values < self.confidence
                for b in (low & ~unsure).nonzero().flatten().tolist():
                    cut[b] = step + 1
                unsure |= low
                if bool(unsure.all()):
                    break
        self.seconds += self.state.seconds - seconds0
        self.passes += self.state.forwards - passes0
        self.pending = [[] for _ in self.pending]  # now in the cache
        self.last = torch.stack(tokens, 1).tolist()  # (B, passes): what the cache holds
        if dists:  # sampled: every row keeps its draws (q describes them all)
            return Proposal([list(d) for d in self.last], torch.stack(dists, 1))
        return Proposal([d[: cut[b]] for b, d in enumerate(self.last)])

    def _observe_unit(self, seconds: float) -> None:
        self.unit_seconds = seconds if self.unit_seconds is None else (
            self.UNIT_DECAY * self.unit_seconds + (1 - self.UNIT_DECAY) * seconds)

    def follow(self, grew: Sequence[Sequence[int]]) -> None:
        # The cache holds the row's text but ``pending`` and, after drafting L tokens,
        # d_1 … d_{L-1} (``last`` keeps every drafted token, cut or not). It keeps the drafts
        # the row really grew by — all but the row's newest token, which the next pass reads.
        drops: list[int] = []
        for i, tokens in enumerate(grew):
            drafted = self.last[i]
            if not drafted:  # nothing drafted since: the cache reads the tokens later
                drops.append(0)
                self.pending[i] = [*self.pending[i], *map(int, tokens)]
                continue
            held = drafted[:-1]
            same = 0
            while same < min(len(held), len(tokens) - 1) and held[same] == tokens[same]:
                same += 1
            drops.append(len(held) - same)
            self.pending[i] = [int(t) for t in tokens[same:]]
        if self.state.started:
            self.state.rewind(drops)
        self.last = [[] for _ in self.last]

    def select(self, keep: Sequence[int]) -> None:
        if self.state.started:
            self.state.select(list(keep))
        self.pending = [self.pending[i] for i in keep]
        self.last = [self.last[i] for i in keep]
