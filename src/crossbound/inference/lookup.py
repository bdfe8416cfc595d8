"""Draft-free proposers: drafts looked up in text already seen, no model run.

Input-grounded generation (rewrite, extract, summarise, answer from a document) copies spans
of its input; templated outputs repeat earlier outputs. A lookup finds where the text so far
ends the same way as something seen before and proposes what followed there. It costs
microseconds, so only the LM's verification of the extra tokens is at stake; adaptive γ
(:class:`~crossbound.inference.speculative.GammaController`) weighs that against acceptance.

- :class:`NgramProposer`: prompt lookup (as Hugging Face's ``prompt_lookup_num_tokens``): for
  ``n`` from ``max_n`` down to ``min_n``, the last ``n`` tokens' latest earlier occurrence in
  the prompt plus the text generated so far, and up to γ tokens that followed it.
- :class:`SuffixProposer`: the *longest* suffix of the text so far that occurred before —
  in the prompt and text so far (one :class:`SuffixAutomaton` per row), or in a corpus of
  earlier outputs (one shared automaton, grown after every call) — and what followed it, at
  most ``factor`` × the match length (after SuffixDecoding, arXiv:2411.04975). The corpus
  holds what the LM itself generated before, so drafts from it tell the model party nothing
  it has not produced; do not seed it with private text that must not cross: drafts do.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from crossbound.inference.proposers import Proposal, Proposer
from crossbound.inference.sampling import Sampling


class _NgramIndex:
    """One row's tokens and, for every n-gram (n ≤ ``max_n``), the ends of its occurrences."""

    def __init__(self, tokens: Sequence[int], max_n: int) -> None:
        self.max_n = max_n
        self.tokens: list[int] = []
        self.ends: dict[tuple[int, ...], list[int]] = {}
        self.extend(tokens)

    def extend(self, tokens: Sequence[int]) -> None:
        for token in tokens:
            self.tokens.append(int(token))
            end = len(self.tokens)
            for n in range(1, min(self.max_n, end) + 1):
                self.ends.setdefault(tuple(self.tokens[end - n:end]), []).append(end)

    def lookup(self, gamma: int, min_n: int) -> list[int]:
        """Up to ``gamma`` tokens that followed the latest earlier occurrence of the last
        n-gram, for the largest ``n`` that has one (``[]``: none)."""
        size = len(self.tokens)
        for n in range(min(self.max_n, size - 1), min_n - 1, -1):
            ends = self.ends.get(tuple(self.tokens[size - n:]), [])
            # the last entry is the suffix itself; the one before is its latest earlier match
            if len(ends) >= 2:
                start = ends[-2]
                return self.tokens[start:start + gamma]
        return []


class NgramProposer(Proposer):
    """Prompt lookup over the prompt and the text generated so far (see the module notes)."""

    name = "ngram"

    def __init__(self, max_n: int = 3, min_n: int = 1) -> None:
        super().__init__()
        if not 1 <= min_n <= max_n:
            raise ValueError(f"ngram needs 1 <= min <= max, got min={min_n}, max={max_n}")
        self.max_n, self.min_n = int(max_n), int(min_n)
        self.rows: list[_NgramIndex] = []

    def begin(self, prompts: Sequence[Sequence[int]]) -> None:
        self.rows = [_NgramIndex(p, self.max_n) for p in prompts]
        self.last = [[] for _ in prompts]

    def propose(self, gamma: int, sampling: Sampling,
                generator: torch.Generator | None) -> Proposal:
        started = time.perf_counter()
        self.last = [row.lookup(gamma, self.min_n) for row in self.rows]
        self.seconds += time.perf_counter() - started
        return Proposal([list(d) for d in self.last])

    def follow(self, grew: Sequence[Sequence[int]]) -> None:
        for row, tokens in zip(self.rows, grew, strict=True):
            row.extend(tokens)
        self.last = [[] for _ in self.rows]

    def select(self, keep: Sequence[int]) -> None:
        self.rows = [self.rows[i] for i in keep]
        self.last = [self.last[i] for i in keep]


class SuffixAutomaton:
    """The suffix automaton of a token sequence, built online (Blumer et al. 1985).

    Every substring of ``tokens`` is a path from state 0; a state stands for the substrings
    that end at the same set of positions, ``first[s]`` being the first such end and
    ``length[s]`` the longest one's length. Documents are appended with unique negative
    separators between them, so no match spans two. Size and time are linear in the tokens.
    """

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.next: list[dict[int, int]] = [{}]
        self.link = [-1]
        self.length = [0]
        self.first = [-1]
        self.last = 0
        self.documents = 0

    def __len__(self) -> int:
        return len(self.tokens)

    def _state(self, length: int, first: int, link: int, nxt: dict[int, int]) -> int:
        self.next.append(nxt)
        self.link.append(link)
        self.length.append(length)
        self.first.append(first)
        return len(self.length) - 1

    def extend(self, token: int) -> None:
        position = len(self.tokens)
        self.tokens.append(token)
        cur = self._state(self.length[self.last] + 1, position, 0, {})
        p = self.last
        while p != -1 and token not in self.next[p]:
            self.next[p][token] = cur
            p = self.link[p]
        if p != -1:
            q = self.next[p][token]
            if self.length[p] + 1 == self.length[q]:
                self.link[cur] = q
            else:
                clone = self._state(self.length[p] + 1, self.first[q], self.link[q],
                                    dict(self.next[q]))
                while p != -1 and self.next[p].get(token) == q:
                    self.next[p][token] = clone
                    p = self.link[p]
                self.link[q] = self.link[cur] = clone
        self.last = cur

    def add_document(self, tokens: Sequence[int]) -> None:
        """Append ``tokens`` as a document of their own (a corpus of many)."""
        if self.tokens:
            self.documents += 1
            self.extend(-self.documents)  # unique: no match runs across it
        for token in tokens:
            self.extend(int(token))

    def walk(self, state: int, matched: int, token: int) -> tuple[int, int]:
        """The state and length of the longest suffix of (text of ``state`` + ``token``) that
        occurs here, from the longest one of the text (``state``, ``matched`` tokens)."""
        while state and token not in self.next[state]:
            state = self.link[state]
            matched = self.length[state]
        if token in self.next[state]:
            return self.next[state][token], matched + 1
        return 0, 0

    def continuation(self, state: int, count: int) -> list[int]:
        """Up to ``count`` tokens after the first occurrence of ``state``'s strings (stopping
        at a document's end)."""
        start = self.first[state] + 1
        out: list[int] = []
        for token in self.tokens[start:start + count]:
            if token < 0:
                break
            out.append(token)
        return out

    def earlier_suffix(self) -> tuple[int, int]:
        """The state and length of the longest suffix of the whole sequence that also ends
        earlier (0, 0: none)."""
        end = len(self.tokens) - 1
        state = self.last
        while state and self.first[state] >= end:
            state = self.link[state]
        return state, self.length[state]


# Drafts per matched token. `python benchmarks/lookup_policies.py` (Qwen2.5-Coder-1.5B's greedy
# outputs for test prompts 8-15 of each of benchmarks/speculative.py's tasks, γ 10): factor 8
# gets 2.03 tokens per LM pass on grounded where 2 got 1.87, 2.93 where 2.80 on faq-extract,
# 1.89 where 1.77 on triage-reply; the longer drafts cost only their verification.
FACTOR = 8.0


class SuffixProposer(Proposer):
    """The longest earlier match, in the row's own text or in earlier outputs (module notes).

    ``min_match``: shortest match that proposes; ``factor``: at most ``factor`` × the match
    length tokens are proposed (a long match predicts further); ``max_corpus_tokens``: the
    corpus is rebuilt from the latest outputs when it grows past this.
    """

    name = "suffix"

    def __init__(self, min_match: int = 1, factor: float = FACTOR,
                 max_corpus_tokens: int = 200_000) -> None:
        super().__init__()
        if min_match < 1 or factor <= 0 or max_corpus_tokens < 1:
            raise ValueError("suffix needs min >= 1, factor > 0 and corpus >= 1 tokens")
        self.min_match, self.factor = int(min_match), float(factor)
        self.max_corpus_tokens = int(max_corpus_tokens)
        self.corpus = SuffixAutomaton()
        self.history: list[list[int]] = []  # the corpus's documents, oldest first
        self.rows: list[SuffixAutomaton] = []
        self.matches: list[tuple[int, int]] = []  # per row: (corpus state, match length)

    def remember(self, outputs: Sequence[Sequence[int]]) -> None:
        """Add outputs to the corpus (rebuilt from the latest ones past its size cap)."""
        new = [list(map(int, o)) for o in outputs if o]
        self.history.extend(new)
        if len(self.corpus) + sum(len(o) + 1 for o in new) <= self.max_corpus_tokens:
            for doc in new:
                self.corpus.add_document(doc)
            return
        kept: list[list[int]] = []
        total = 0
        for doc in reversed(self.history):  # the latest half of the cap, oldest first
            if total + len(doc) > self.max_corpus_tokens // 2:
                break
            kept.insert(0, doc)
            total += len(doc) + 1
        self.history = kept
        self.corpus = SuffixAutomaton()
        for doc in kept:
            self.corpus.add_document(doc)

    def begin(self, prompts: Sequence[Sequence[int]]) -> None:
        self.rows, self.matches = [], []
        for prompt in prompts:
            row = SuffixAutomaton()
            row.add_document(prompt)
            self.rows.append(row)
            self.matches.append(self._walk((0, 0), prompt))
        self.last = [[] for _ in prompts]

    def _walk(self, match: tuple[int, int], tokens: Sequence[int]) -> tuple[int, int]:
        state, length = match
        for token in tokens:
            state, length = self.corpus.walk(state, length, int(token))
        return state, length

    def propose(self, gamma: int, sampling: Sampling,
                generator: torch.Generator | None) -> Proposal:
        started = time.perf_counter()
        self.last = []
        for row, (state, corpus_length) in zip(self.rows, self.matches, strict=True):
            own_state, own_length = row.earlier_suffix()
            length = max(own_length, corpus_length)
            count = min(gamma, int(self.factor * length))
            if length < self.min_match or count < 1:
                self.last.append([])
            elif own_length >= corpus_length:  # ties: the row's own text (input-grounded)
                self.last.append(row.continuation(own_state, count))
            else:
                self.last.append(self.corpus.continuation(state, count))
        self.seconds += time.perf_counter() - started
        return Proposal([list(d) for d in self.last])

    def follow(self, grew: Sequence[Sequence[int]]) -> None:
        for i, tokens in enumerate(grew):
            for t in tokens:
                self.rows[i].extend(int(t))
            self.matches[i] = self._walk(self.matches[i], tokens)
        self.last = [[] for _ in self.rows]

    def select(self, keep: Sequence[int]) -> None:
        self.rows = [self.rows[i] for i in keep]
        self.matches = [self.matches[i] for i in keep]
        self.last = [self.last[i] for i in keep]

    def finish(self, outputs: Sequence[Sequence[int]]) -> None:
        self.remember(outputs)
