"""The settings of ``lm-synthetic-data`` (:mod:`crossbound.downward.lm_synthetic`), apart from
the strategy so that its generation half (:mod:`crossbound.downward.lm_synthesis`) can read them
without importing the strategy back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crossbound.strategy import StrategyConfig


@dataclass
class LMSyntheticConfig(StrategyConfig):
    """The LM writes ``per_label`` messages per label; the SM fine-tunes on those that survive.

    ``seeds_per_prompt``: private messages shown per prompt (0: the task instruction only),
    drawn from at most ``seed_pool`` records per label. ``seed_privacy``: ``sanitize``
    (pseudonyms; ``sanitizer`` = ``presidio`` or the faster ``regex`` recognisers; the boundary
    guard then refuses any text with PII), ``perturb`` (token metric-DP at ``seed_epsilon`` on
    the SM's embeddings; on SmolLM2's, ε = 12 / 15 / 20 keep about 13 / 47 / 87 % of the
    tokens) or ``none`` (raw seeds cross: needs ``allow_raw_seeds=true``).
    Filters: ``min_chars`` / ``min_words`` and looping text (a sentence repeated), ``dedupe``
    (exact after normalising, or word 5-gram Jaccard above ``near_duplicate``; copies of a
    seed too), ``filter_agreement`` (the LM's calibrated label must equal the requested one).
    The rest tunes the SM like local-finetune."""

    party: int = 0
    per_label: int = 30
    seeds_per_prompt: int = 2
    seed_pool: int | None = None  # distinct records per label that may serve as seeds
    seed_privacy: Literal["sanitize", "perturb", "none"] = "sanitize"
    sanitizer: Literal["presidio", "regex"] = "presidio"
    seed_epsilon: float = 15.0
    allow_raw_seeds: bool = False
    max_new_tokens: int = 64
    prompts_per_request: int = 8
    lm_batch_size: int = 8  # the model party's batch size (in process)
    min_chars: int = 20
    min_words: int = 4
    dedupe: bool = True
    near_duplicate: float = 0.8
    filter_agreement: bool = True
    rationales: bool = False
    mix_private: bool = True
    epochs: float = 2.0
    lr: float = 2e-4
    batch_size: int = 8
    max_length: int = 192
    train_limit: int | None = None  # private records used (seeds and mixing)
    eval_limit: int | None = 200
    trainable: Literal["full", "lora", "linear"] = "full"
    lora_rank: int = 8
    save_model: bool = False

    def validate(self) -> None:
        super().validate()
        if self.party < 0 or self.per_label < 1 or not 0 <= self.seeds_per_prompt <= 16:
            raise ValueError("party must be >= 0, per_label >= 1, seeds_per_prompt in 0..16")
        if self.seed_privacy not in ("sanitize", "perturb", "none"):
            raise ValueError("seed_privacy must be sanitize, perturb or none")
        if self.sanitizer not in ("presidio", "regex"):
            raise ValueError("sanitizer must be presidio or regex")
        if self.seed_privacy == "none" and self.seeds_per_prompt > 0 and not self.allow_raw_seeds:
            raise ValueError("seed_privacy=none sends raw private records to the model party; "
                             "set allow_raw_seeds=true to accept that, or use seed_privacy="
                             "sanitize / perturb, or seeds_per_prompt=0")
        if not self.seed_epsilon > 0:
            raise ValueError(f"seed_epsilon must be > 0, got {self.seed_epsilon}")
        if not 1 <= self.max_new_tokens <= 512 or not 1 <= self.prompts_per_request <= 1024:
            raise ValueError("max_new_tokens must be in 1..512 and prompts_per_request 1..1024")
        if min(self.lm_batch_size, self.min_chars, self.min_words, self.batch_size) < 1:
            raise ValueError("lm_batch_size, min_chars, min_words and batch_size must be >= 1")
        if not 0.0 < self.near_duplicate <= 1.0:
            raise ValueError("near_duplicate must be in (0, 1]")
        if self.epochs <= 0 or self.lr <= 0 or self.max_length < 16:
            raise ValueError("epochs and lr must be > 0 and max_length >= 16")
        for name in ("seed_pool", "train_limit", "eval_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if self.trainable not in ("full", "lora", "linear") or self.lora_rank < 1:
            raise ValueError("trainable must be full, lora or linear; lora_rank >= 1")

