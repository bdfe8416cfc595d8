"""How many tokens to draft per step, and whether to draft at all: adaptive γ.

:class:`GammaController` prices a speculative step from what it measures — the running
acceptance rate, a draft pass's seconds, an LM pass's seconds as a function of its width —
and chooses γ; whether drafting pays at all it measures directly, from what the drafting
steps gained and cost. A proposer keeps its controllers across calls
(:attr:`~crossbound.inference.proposers.Proposer.controls`), so what one call learnt (that
this draft does not pay at this batch size, say) the next call starts from — as Hugging
Face's assistant keeps its confidence threshold across ``generate`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossbound.inference.generation import expected_speedup


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
    # A model draft ends a row's draft at a token it gives less than this probability
    # (0: drafts γ). 0.7 drafted most per unit of cost for the 0.5B drafting for the 1.5B,
    # simulated on held-out prompts of every task (python benchmarks/draft_policies.py).
    draft_confidence: float = 0.7

    def __post_init__(self) -> None:
        if not 1 <= self.gamma <= self.gamma_max:
            raise ValueError(f"need 1 <= gamma <= gamma_max, got {self.gamma}, {self.gamma_max}")
        if self.draft_vocab < 0:
            raise ValueError("draft_vocab must be >= 0 (0: the full vocabulary)")
        if not 0.0 <= self.decay < 1.0:
            raise ValueError("decay must be in [0, 1)")
        if self.probe_every < 1:
            raise ValueError("probe_every must be >= 1")
        if not 0.0 <= self.draft_confidence < 1.0:
            raise ValueError("draft_confidence must be in [0, 1) (0: no confidence stop)")


FIT_DECAY = 0.95  # weight of the past in the fit of an LM pass's cost to its width
GAIN_DECAY = 0.9  # weight of the past in the measured speed-up of drafting steps
PROBE_BACKOFF = 8  # a hopeless draft is probed at most every 8 × probe_every steps
# What a probe's draft must first read (the prompts, at a call's first probe) costs at most
# this share of the time decoded alone since the last probe: at batch 4 the 0.5B reads four
# prompts in ~2 s, a tenth of a 64-token call, while a probe after 8 plain steps reads 8.
PROBE_SHARE = 0.03
BACKLOG_MIN = 4  # tokens read beyond the usual that make a pass a measure of reading cost


class GammaController:
    """Chooses γ per step from the running acceptance probability and the measured costs.

    A step costs γ draft passes and one LM pass over γ+1 tokens per row. ``update``'s
    ``cost_ratio`` is one draft pass over a one-token LM pass (the paper's c; ~0 for a
    lookup), and :meth:`observe` fits an LM pass's seconds as ``a + b·(width − 1)`` over the
    passes seen (decayed least squares), so every drafted token also costs ``b/a`` of an LM
    pass to verify. The paper assumes b ≈ 0 (a GPU, memory-bound); on a CPU, at batch 8, it is
    not — and a proposer that costs nothing would otherwise always draft γ_max.

    γ maximises the expected speed-up. Whether drafting pays is *measured* once the fit
    gives a one-token pass's seconds ``a``: :meth:`record` keeps decayed sums of what the
    drafting steps gained (tokens per row) and cost (seconds), and drafting pays while
    ``tokens · a / seconds ≥ 1`` — the expected speed-up alone misjudges a draft whose
    length follows its confidence, and misses what a step costs beyond its passes. When
    drafting does not pay, :meth:`next` answers 0 (no drafts) except on a probe: every
    ``probe_every``-th step (backing off while the probes find drafting still does not pay;
    a probe's step alone decides whether drafting resumes),
    and only once the time decoded alone since the last probe is worth ``1 / PROBE_SHARE``
    times what the probe's draft must first read (its backlog) would cost at the measured
    seconds per token of such reading — or sooner, once the drafting steps measure as paying
    under the refined fit and would save more over the rest of the call than that reading.
    Drafting that pays per step stops too when it would not repay what its draft must first
    read (a model draft's prompts, at a call's first step).
    """

    def __init__(self, settings: SpeculativeSettings, own_length: bool = False) -> None:
        self.settings = settings
        self.gamma = settings.gamma
        self.own_length = own_length  # the proposer cuts its drafts: γ is only a cap
        self.kept = 0.0  # decayed counts of drafts kept and of rejections
        self.rejected = 0.0
        self.ratio: float | None = None
        self.worth = True  # whether drafting is expected to pay
        self.idle = 0  # steps without drafts since the last probe
        self.probe_every = settings.probe_every  # grows while probes find nothing
        self.probing = False  # the last step drafted as a probe
        self._fit = [0.0] * 5  # decayed Σ1, Σx, Σy, Σx², Σxy over LM passes (x: width − 1)
        self._gain = [0.0, 0.0]  # decayed tokens per row and seconds of the drafting steps
        self.idle_seconds = 0.0  # LM seconds decoding alone since the last probe
        self.catch_up: float | None = None  # seconds per backlog token a draft pass reads

    def next(self, backlog: int = 0, remaining: int = 0) -> int:
        """Drafts for the coming step (0: the LM decodes one token alone); ``backlog``: the
        tokens the proposer would first have to read (:meth:`Proposer.backlog`);
        ``remaining``: the most tokens a row may still generate in this call."""
        reading = (self.catch_up or 0.0) * backlog
        saving = self._saving(remaining)
        if self.worth:
            if reading <= 0 or saving is None or saving > reading:
                return self.gamma
            # Drafting pays per step, but not by enough to repay what the draft must first
            # read: a call at batch 4 on chat whose controller ended the last call at 1.01×
            # read four prompts (1.7 s) before it found drafting did not pay (0.91×).
            self.worth = False
        self.idle += 1
        # Decoding alone refines the fit of a one-token pass, and with it what the drafting
        # steps measured: a stop decided on an early fit (it kept suffix+model off for two
        # whole grounded prompts, measured 1.20× by then) is lifted once drafting would save
        # more over the rest of the call than the draft must first read.
        if (self.idle >= self.probe_every and self.idle_seconds * PROBE_SHARE >= reading) \
                or (saving is not None and saving > reading):
            self.idle, self.idle_seconds = 0, 0.0
            self.probing = True
            return self.gamma
        return 0

    def _saving(self, remaining: int) -> float | None:
        """Seconds drafting is measured to save over ``remaining`` more tokens (negative: to
        lose; None: not measured yet)."""
        measured = self.measured_speedup()
        cost = self.pass_cost()
        if measured is None or cost is None or measured <= 0:
            return None
        return remaining * cost[0] * (1.0 - 1.0 / measured)

    def observe(self, width: int, seconds: float) -> None:
        """An LM pass over ``width`` tokens per row took ``seconds`` (prefill excluded)."""
        if seconds <= 0:
            return
        if width == 1 and not self.worth:
            self.idle_seconds += seconds
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

    def record(self, tokens_per_row: float, seconds: float, spent: float | None = None,
               backlog: int = 0) -> None:
        """A drafting step grew each row by ``tokens_per_row`` on average in ``seconds``
        (its LM pass and its drafting passes, priced at their running cost); ``spent``: what
        it really took, its draft having first read ``backlog`` tokens."""
        if spent is not None and backlog >= BACKLOG_MIN and spent > seconds:
            per_token = (spent - seconds) / backlog
            self.catch_up = per_token if self.catch_up is None else (
                0.5 * self.catch_up + 0.5 * per_token)
        if seconds > 0 and self.probing:
            # A probe measures afresh: the stretch that stopped drafting is over, and one
            # good step among its decayed sums would not restart it (the 0.5B drafting chat
            # stayed off for 159 of ~200 steps in an earlier run, measured 1.13× the LM
            # alone, where drafting on every step simulates at 1.31–1.36×:
            # benchmarks/draft_policies.py).
            self._gain = [tokens_per_row, seconds]
        elif seconds > 0:
            self._gain = [GAIN_DECAY * self._gain[0] + tokens_per_row,
                          GAIN_DECAY * self._gain[1] + seconds]

    def measured_speedup(self) -> float | None:
        """The drafting steps' tokens per second over the LM alone's (None: not yet known)."""
        cost = self.pass_cost()
        if cost is None or self._gain[1] <= 0:
            return None
        return self._gain[0] * cost[0] / self._gain[1]

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
            self.gamma = s.gamma_max if self.own_length else max(
                range(1, s.gamma_max + 1), key=lambda g: expected_speedup(alpha, g, ratio))
            measured = self.measured_speedup()
            if measured is not None:
                self.worth = measured >= 1.0
            elif not self.own_length:  # a self-cut draft's length is unknown beforehand
                self.worth = expected_speedup(alpha, self.gamma, ratio) >= 1.0
        if self.worth:
            self.probe_every = s.probe_every
        elif self.probing:  # a probe that found drafting still does not pay: wait longer
            self.probe_every = min(2 * self.probe_every, PROBE_BACKOFF * s.probe_every)
        self.probing = False
        return self.gamma
