"""A lookup drafts where it finds a match, the model draft where it does not.

A lookup (:mod:`.lookup`) costs microseconds and is right for long stretches of
input-grounded text — a name, a date, a sentence copied from the prompt — but has nothing,
or only a guess from a one-token match, where the LM writes text of its own; a model draft
(:class:`~crossbound.inference.proposers.ModelDraft`) costs a third of an LM pass per token
there but guesses well. Taking turns, each drafts where it is good. Simulated on the 1.5B's
greedy outputs for held-out prompts (``python benchmarks/draft_policies.py --lookups suffix``:
a draft pass 0.362 of an LM pass, each verified token 0.025 more), ``suffix`` then the 0.5B
beat either alone on every task but faq-extract: chat 1.53× the LM alone against the 0.5B's
1.36× and ``suffix``'s 1.34×, grounded 1.86× against 1.59× and 1.80×, triage-reply 1.91×
against 1.46× and 1.70×. Measured (``benchmarks/speculative.py``, README) it is the best on
triage-reply but only level with ``suffix`` on grounded and chat, and behind it on
faq-extract, where it drafted on only 4 of its steps: the simulation leaves out the draft's
first reading of each prompt, which a real call pays once whenever the model drafts at all.

The model draft does not read the text the lookup drafted until it drafts again
(:meth:`~crossbound.inference.proposers.Proposer.follow`): its next pass reads all of it at
once, a pass over several tokens that costs little more than one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from crossbound.inference.proposers import ModelDraft, Proposal, Proposer
from crossbound.inference.sampling import Sampling


class LookupFirst(Proposer):
    """``lookup`` proposes first; rows it has nothing for take ``model``'s drafts.

    Greedy, rows take turns one by one (the model drafts for the whole batch when any row
    needs it: a batched pass costs about what a row's pass does). Sampling verifies a model's
    drafts against their distributions ``q``, which a lookup row has none of, so a step
    takes the lookup's drafts whenever any row has one and the model's otherwise.
    """

    name = "lookup-first"
    uses_model = True

    def __init__(self, lookup: Proposer, model: ModelDraft) -> None:
        super().__init__()
        if lookup.uses_model:
            raise ValueError(f"{lookup.name} runs a model: a lookup goes first")
        self.lookup, self.model = lookup, model
        self.sets_own_length = model.sets_own_length
        self.from_lookup = 0  # rows' steps drafted by each (what benchmarks report)
        self.from_model = 0

    def expect(self, ids: Sequence[int]) -> None:
        self.lookup.expect(ids)
        self.model.expect(ids)

    def backlog(self) -> int:
        return self.model.backlog()

    def begin(self, prompts: Sequence[Sequence[int]]) -> None:
        self.lookup.begin(prompts)
        self.model.begin(prompts)
        self.last = [[] for _ in prompts]

    def propose(self, gamma: int, sampling: Sampling,
                generator: torch.Generator | None) -> Proposal:
        looked = self.lookup.propose(gamma, sampling, generator).drafts
        missing = [not d for d in looked]
        proposal = Proposal([list(d) for d in looked])
        by_model = [False] * len(looked)
        if any(missing) and (sampling.greedy or all(missing)):
            drafted = self.model.propose(gamma, sampling, generator)
            if drafted.q is not None:  # sampled: every row's drafts are the model's
                proposal, by_model = drafted, [True] * len(looked)
            else:
                proposal = Proposal([m if miss else d for d, m, miss
                                     in zip(looked, drafted.drafts, missing, strict=True)])
                by_model = missing
        self.from_model += sum(by_model)
        self.from_lookup += sum(bool(d) and not m
                                for d, m in zip(proposal.drafts, by_model, strict=True))
        self.seconds = self.lookup.seconds + self.model.seconds
        self.passes = self.model.passes
        self.unit_seconds = self.model.unit_seconds
        self.last = [list(d) for d in proposal.drafts]
        return proposal

    def follow(self, grew: Sequence[Sequence[int]]) -> None:
        self.lookup.follow(grew)
        self.model.follow(grew)
        self.last = [[] for _ in grew]

    def select(self, keep: Sequence[int]) -> None:
        self.lookup.select(keep)
        self.model.select(keep)
        self.last = [self.last[i] for i in keep]

    def finish(self, outputs: Sequence[Sequence[int]]) -> None:
        self.lookup.finish(outputs)
        self.model.finish(outputs)
