"""What every decoding engine shares: settings, the LM it talks to, results, and the LM alone.

The LM is a :class:`Target`: something that takes ragged blocks of token ids for a batch and
returns logits (or just their argmax) for the last positions, can take back each row's last
tokens, and can drop rows. A local :class:`~crossbound.models.kv.DecodeState` is one; a
model party across the boundary is another
(:class:`~crossbound.inference.remote.RemoteTarget`). The engines never look further.

:func:`direct_generate` is the LM alone — the baseline every speed-up is measured against and
the reference every speculative output must equal token for token (greedy).
:func:`expected_speedup` is speculative decoding's speed-up model: the statistics report it and
the adaptive draft length (:mod:`~crossbound.inference.speculative`) maximises it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from crossbound.inference.sampling import Sampling, choose
from crossbound.inference.stopping import Outputs, eos_ids
from crossbound.models.kv import Reply


class Target(Protocol):
    """The LM as the engines see it (local or behind the boundary)."""

    forwards: int  # forward passes run so far
    seconds: float  # time they took, as this side saw it (round trips included)

    def feed(self, rows: Sequence[Sequence[int]], keep: int = 1,
             reply: Reply = "logits") -> torch.Tensor: ...

    def rewind(self, drop: torch.Tensor | Sequence[int]) -> None: ...

    def select(self, index: torch.Tensor | Sequence[int]) -> None: ...


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings every engine takes. ``temperature == 0``: greedy."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()  # stop strings: a row ends at the token completing one
    use_eos: bool = True  # end a row at its EOS token
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        self.sampling  # noqa: B018  (validates temperature, top_k, top_p)

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.temperature, self.top_k, self.top_p)

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def outputs(self, tokenizer: Any, model: Any, rows: int) -> Outputs:
        return Outputs(tokenizer, rows, self.max_new_tokens,
                       eos_ids(tokenizer, model) if self.use_eos else set(), tuple(self.stop))


def expected_speedup(alpha: float, gamma: int, cost_ratio: float) -> float:
    """Expected wall-time speed-up over the LM alone (arXiv:2211.17192, Theorem 3.8).

    ``alpha``: per-token acceptance probability; ``gamma``: drafts per step; ``cost_ratio``:
    one draft pass over one LM pass. Tokens per step are ``(1 − α^{γ+1}) / (1 − α)``; a step
    costs ``γ·c + 1`` LM passes. Assumes an LM pass over γ+1 tokens costs what one over a
    single token does (nearly so when memory-bound; less so on a CPU).
    """
    if gamma < 1 or not 0.0 <= alpha <= 1.0 or cost_ratio < 0:
        raise ValueError("need gamma >= 1, alpha in [0, 1] and cost_ratio >= 0")
    tokens = gamma + 1.0 if alpha >= 1.0 else (1.0 - alpha ** (gamma + 1)) / (1.0 - alpha)
    return tokens / (gamma * cost_ratio + 1.0)


@dataclass
class DecodeStats:
    """What one generation call cost and, for speculative decoding, how drafts fared."""

    engine: str
    rows: int
    new_tokens: int = 0
    seconds: float = 0.0
    lm_forward_passes: int = 0
    lm_row_passes: int = 0  # rows summed over the LM's passes (a batch of 8: 8 per pass)
    sm_forward_passes: int = 0
    lm_seconds: float = 0.0
    sm_seconds: float = 0.0
    drafted: int = 0  # draft tokens the LM checked (summed over rows)
    accepted: int = 0  # of which it kept
    rejections: int = 0  # row-steps that ended on a rejected draft
    verify_rows: int = 0  # row-steps of verification (one per row per LM pass)
    gamma_sum: int = 0  # γ summed over verification passes (mean γ = gamma_sum / passes)
    verify_passes: int = 0
    plain_steps: int = 0  # LM passes without drafts (not paying, per adaptive γ; or none found)
    step_lm_seconds: float = 0.0  # LM time in verification passes (prefill excluded)
    step_sm_seconds: float = 0.0  # SM time in drafting passes (prefill excluded)
    step_sm_passes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def add_verification(self, *, rows: int, gamma: int, drafted: int, accepted: int,
                         rejections: int, lm_seconds: float, sm_seconds: float,
                         sm_passes: int | None = None) -> None:
        """Count one speculative step: the proposer drafted up to ``gamma`` tokens for ``rows``
        rows (``drafted`` tokens in ``sm_passes`` model passes — ``gamma`` when not given, 0
        for a lookup — and ``sm_seconds``), the LM verified them in one pass (``lm_seconds``)
        and kept ``accepted``; ``rejections`` rows ended on a rejected draft."""
        self.drafted += drafted
        self.accepted += accepted
        self.rejections += rejections
        self.verify_rows += rows
        self.verify_passes += 1
        self.gamma_sum += gamma
        self.step_lm_seconds += lm_seconds
        self.step_sm_seconds += sm_seconds
        self.step_sm_passes += gamma if sm_passes is None else sm_passes

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def acceptance_rate(self) -> float:
        """Kept drafts over drafted tokens (drafts after a rejection count as not kept)."""
        return self.accepted / self.drafted if self.drafted else 0.0

    @property
    def alpha(self) -> float:
        """Per-token acceptance probability α of arXiv:2211.17192 (the geometric model's
        estimate: kept drafts over drafts that were actually put to the test)."""
        tested = self.accepted + self.rejections
        return self.accepted / tested if tested else 0.0

    @property
    def mean_accepted_length(self) -> float:
        """Drafts kept per row per LM verification pass."""
        return self.accepted / self.verify_rows if self.verify_rows else 0.0

    @property
    def cost_ratio(self) -> float:
        """c of arXiv:2211.17192: one SM drafting pass over one LM verification pass."""
        if not self.step_sm_passes or not self.verify_passes or self.step_lm_seconds <= 0:
            return 0.0
        return (self.step_sm_seconds / self.step_sm_passes) / (
            self.step_lm_seconds / self.verify_passes)

    @property
    def tokens_per_lm_forward(self) -> float:
        """New tokens per row per LM forward pass, the prefill included: 1 for the LM alone,
        more where the LM kept drafts (each pass is a round trip when the LM is remote)."""
        return self.new_tokens / self.lm_row_passes if self.lm_row_passes else 0.0

    @property
    def mean_gamma(self) -> float:
        return self.gamma_sum / self.verify_passes if self.verify_passes else 0.0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "engine": self.engine, "rows": self.rows, "new_tokens": self.new_tokens,
            "seconds": round(self.seconds, 4),
            "tokens_per_second": round(self.tokens_per_second, 3),
            "lm_forward_passes": self.lm_forward_passes,
            "tokens_per_lm_forward": round(self.tokens_per_lm_forward, 4),
            "sm_forward_passes": self.sm_forward_passes,
            "lm_seconds": round(self.lm_seconds, 4), "sm_seconds": round(self.sm_seconds, 4),
        }
        if self.engine == "speculative":
            data.update({
                "drafted": self.drafted, "accepted": self.accepted,
                "acceptance_rate": round(self.acceptance_rate, 4),
                "alpha": round(self.alpha, 4),
                "mean_accepted_length": round(self.mean_accepted_length, 4),
                "tokens_per_lm_pass": round((self.accepted + self.verify_rows)
                                            / max(1, self.verify_rows), 4),
                "verify_passes": self.verify_passes,
                "plain_steps": self.plain_steps,
                "mean_gamma": round(self.mean_gamma, 3),
                "cost_ratio": round(self.cost_ratio, 4),
                "theoretical_speedup": round(expected_speedup(
                    self.alpha, max(1, round(self.mean_gamma)), self.cost_ratio), 4)
                if self.verify_passes else 0.0,
            })
        data.update(self.extra)
        return data


@dataclass
class Generation:
    """Generated token ids and texts per prompt, why each ended, and what it cost."""

    ids: list[list[int]]
    texts: list[str]
    finish: list[str]
    stats: DecodeStats

    def to_dict(self) -> dict[str, Any]:
        return {"texts": self.texts, "ids": self.ids, "finish": self.finish,
                "stats": self.stats.to_dict()}


def merge_stats(parts: Sequence[DecodeStats]) -> DecodeStats:
    """One account of several calls of one engine (e.g. the batches of a run): counts and
    times add up, so rates are over the whole."""
    if not parts:
        raise ValueError("no statistics to merge")
    total = DecodeStats(engine=parts[0].engine, rows=0, extra=dict(parts[0].extra))
    for part in parts:
        if part.engine != total.engine:
            raise ValueError(f"cannot merge {part.engine} statistics into {total.engine}")
        for name, value in vars(part).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(total, name, getattr(total, name) + value)
    return total


def prompt_texts(tokenizer: Any, texts: Sequence[str], chat: bool = False) -> list[str]:
    """The prompts as text; ``chat`` wraps each as a user turn in the tokenizer's template."""
    if not texts:
        raise ValueError("no prompts")
    if not chat:
        return list(texts)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("this tokenizer has no chat template; pass chat=False")
    return [str(tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                              add_generation_prompt=True, tokenize=False))
            for text in texts]


def encode_prompts(tokenizer: Any, texts: Sequence[str], chat: bool = False) -> list[list[int]]:
    """Token ids of each prompt (see :func:`prompt_texts` for ``chat``)."""
    out: list[list[int]] = []
    for text in prompt_texts(tokenizer, texts, chat):
        ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
        if not ids:
            raise ValueError(f"prompt {text!r} tokenises to nothing")
        out.append(ids)
    return out


def check_prompts(prompts: Sequence[Sequence[int]]) -> None:
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")


def still_generating(live: list[int], outputs: Outputs) -> list[int]:
    """Batch positions (into ``live``) of the rows still generating."""
    return [i for i, row in enumerate(live) if not outputs.done(row)]


def advance_rows(outputs: Outputs, live: list[int], tokens: torch.Tensor,
                 states: Sequence[Any]) -> tuple[list[int], torch.Tensor]:
    """One token per live row: ``tokens[i]`` ``(B,)`` is row ``live[i]``'s. The rows that are
    done leave ``live``, ``tokens`` and every KV-cached state in ``states`` (``select``);
    returns the rows still generating and their last tokens (none left: ``[]``)."""
    for i, row in enumerate(live):
        outputs.extend(row, [int(tokens[i])])
    keep = still_generating(live, outputs)
    if not keep:
        return [], tokens
    if len(keep) < len(live):
        for state in states:
            state.select(keep)
        tokens, live = tokens[keep], [live[i] for i in keep]
    return live, tokens


class DecodeClock:
    """Measures one generation call: wall time from its creation, and the LM target's forward
    passes and seconds since then (a remote target counts its round trips' time)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.started = time.perf_counter()
        self.passes0, self.seconds0 = target.forwards, target.seconds

    def finish(self, stats: DecodeStats, outputs: Outputs,
               small: Sequence[Any] = ()) -> Generation:
        """Fill in ``stats`` — time, the LM's passes and seconds, the local models' (``small``:
        KV-cached states) totals, new tokens — and return the call's generation."""
        stats.seconds = time.perf_counter() - self.started
        stats.lm_forward_passes = self.target.forwards - self.passes0
        stats.lm_seconds = self.target.seconds - self.seconds0
        if small:
            stats.sm_forward_passes = sum(s.forwards for s in small)
            stats.sm_seconds = sum(s.seconds for s in small)
        stats.new_tokens = sum(len(ids) for ids in outputs.ids)
        return Generation(outputs.ids, outputs.texts(), list(outputs.reasons()), stats)


@torch.no_grad()
def direct_generate(target: Target, tokenizer: Any, prompts: Sequence[Sequence[int]],
                    settings: GenerationSettings, model: Any = None) -> Generation:
    """The LM alone, one token per forward pass, over the same KV-cached state machinery.

    ``model`` (the LM's HF model, when local) only contributes its generation config's EOS.
    """
    check_prompts(prompts)
    outputs = settings.outputs(tokenizer, model, len(prompts))
    sampling, generator = settings.sampling, settings.generator()
    reply: Reply = "argmax" if sampling.greedy else "logits"
    clock = DecodeClock(target)
    live = list(range(len(prompts)))
    rows: list[list[int]] = [list(p) for p in prompts]
    stats = DecodeStats(engine="direct", rows=len(prompts))
    while live:
        stats.lm_row_passes += len(rows)
        out = target.feed(rows, 1, reply)[:, -1]
        tokens = out if sampling.greedy else choose(out, sampling, generator)
        live, tokens = advance_rows(outputs, live, tokens, (target,))
        rows = [[int(t)] for t in tokens]
    return clock.finish(stats, outputs)
