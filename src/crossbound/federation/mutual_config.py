"""The config of ``fed-mutual-kt``: the LM and the parties' SMs exchange top-k knowledge."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from crossbound.boundary.logit_codec import VALUE_BITS
from crossbound.config_checks import check_at_least, check_limits
from crossbound.federation.config import PARTY_NAME, FederationConfig, check_finite_positive

Combine = Literal["min-ce", "all"]
COMBINES: tuple[str, ...] = typing.get_args(Combine)


@dataclass
class FedMutualKTConfig(FederationConfig):
    """``fed-mutual-kt`` (FedMKT, Fan et al., arXiv:2406.02224): no adapter is aggregated;
    every round each data party trains its own SM (LoRA ``lora_rank``; ``local_epochs`` over
    its records at ``lr``, loss ``kd_weight``·KD(LM) + (1 − ``kd_weight``)·CE) on the LM's
    top-k log-probs over the task's public split (``transfer_limit`` texts, prompt + public
    answer; a task without one uses the built-in fallback corpus, see
    ``tasks.public_text``), then sends its SM's top-k on the same texts, moved onto the LM's
    tokens (``lm_targets``: ``answer`` positions only, or ``all``). The model party combines
    the parties' knowledge — ``min-ce``: per text, the party whose top-k gives the public
    answer the lowest cross-entropy (FedMKT's selection); ``all``: every party's rows — and
    distils it into a LoRA copy (``lm_lora_rank``) of ``large`` for ``lm_epochs`` at
    ``lm_lr``; the tuned LM's top-k goes down in the next round. ``top_k`` entries per token
    at ``value_bits`` both ways. ``party_small``: party name -> SM spec, for parties whose SM
    differs from ``small`` (heterogeneous SMs; tokenizers may differ from the LM's). Each SM
    is scored on the first ``eval_limit`` test records by its party, the LM by the model
    party. No update crosses, so there is nothing to aggregate, bound, mask or noise (those
    are ``fed-adapter`` settings), and a fault can only be ``crash:R`` or ``hang:R``.
    """

    name: ClassVar[str] = "fed-mutual-kt"

    large: str = "smollm2-135m"
    transfer_limit: int | None = 200
    top_k: int = 16
    value_bits: int = 8
    kd_weight: float = 0.5
    temperature: float = 1.0
    combine: Combine = "min-ce"
    lm_targets: Literal["answer", "all"] = "answer"
    lm_epochs: float = 2.0
    lm_lr: float = 1e-3
    lm_lora_rank: int = 8
    party_small: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        super().validate()
        if not self.large.strip():
            raise ValueError("large must not be empty")
        if not 1 <= self.top_k <= 1024 or self.value_bits not in VALUE_BITS:
            raise ValueError(f"top_k must be in 1..1024 and value_bits one of {VALUE_BITS}")
        check_limits(self, "transfer_limit")
        if not 0.0 <= self.kd_weight < 1.0:
            raise ValueError("kd_weight must be in [0, 1): each SM keeps some cross-entropy "
                             "on its own records")
        check_finite_positive(self, "temperature", "lm_epochs", "lm_lr")
        check_at_least(self, 1, "lm_lora_rank")
        if self.combine not in COMBINES:
            raise ValueError(f"combine must be one of {list(COMBINES)}, got {self.combine!r}")
        if self.lm_targets not in ("answer", "all"):
            raise ValueError(f"lm_targets must be 'answer' or 'all', got {self.lm_targets!r}")
        bad = [f"{p} = {f}" for p, f in self.faults.items() if f.split(":")[0] not in
               ("crash", "hang")]
        if bad:
            raise ValueError(f"faults: {bad[0]}: fed-mutual-kt parties send no update to "
                             "corrupt; use 'crash:R' or 'hang:R'")
        for party, spec in self.party_small.items():
            if not PARTY_NAME.match(party) or not spec.strip():
                raise ValueError(f"party_small: {party!r} = {spec!r}: give a data party name "
                                 "(data-party-N) and a model spec")

    def party_tables(self) -> dict[str, dict[str, str]]:
        return {**super().party_tables(), "party_small": self.party_small}

    def small_of(self, party: str) -> str:
        """The SM of ``party`` (``party_small`` overrides ``small``)."""
        return self.party_small.get(party, self.small)
