"""The settings of ``lm-synthetic-data`` (:mod:`crossbound.downward.lm_synthetic`), apart from
the strategy so that its generation half (:mod:`crossbound.downward.lm_synthesis`) can read them
without importing the strategy back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crossbound.config_checks import (
    Records,
    SMFineTuning,
    SyntheticFilters,
    check_at_least,
    check_in_range,
    check_limits,
    check_positive,
)
from crossbound.strategy import StrategyConfig


@dataclass
class LMSyntheticConfig(SyntheticFilters, SMFineTuning, Records, StrategyConfig):
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
    The rest tunes the SM like local-finetune (``train_limit``: the private records used, as
    seeds and mixed in)."""

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
    dedupe: bool = True
    filter_agreement: bool = True
    rationales: bool = False
    mix_private: bool = True
    save_model: bool = False

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 1, "per_label", "lm_batch_size")
        check_in_range(self, "seeds_per_prompt", 0, 16)
        check_limits(self, "seed_pool")
        if self.seed_privacy == "none" and self.seeds_per_prompt > 0 and not self.allow_raw_seeds:
            raise ValueError("seed_privacy=none sends raw private records to the model party; "
                             "set allow_raw_seeds=true to accept that, or use seed_privacy="
                             "sanitize / perturb, or seeds_per_prompt=0")
        check_positive(self, "seed_epsilon")
        check_in_range(self, "max_new_tokens", 1, 512)
        check_in_range(self, "prompts_per_request", 1, 1024)
