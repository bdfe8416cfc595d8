"""The config of ``fed-adapter``: aggregated LoRA adapters, with SecAgg+, DP and OT+ options."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Self

from crossbound.config_checks import check_at_least
from crossbound.federation.config import FederationConfig, check_finite_positive

Aggregation = Literal["fedavg", "median", "trimmed-mean"]
AGGREGATIONS: tuple[str, ...] = typing.get_args(Aggregation)
DPMode = Literal["none", "central", "local"]
DP_MODES: tuple[str, ...] = typing.get_args(DPMode)
BundleDType = Literal["float32", "bfloat16", "float16"]
# Settings only OT+ (fed-adapter with emulator_of) reads.
OFFSITE_ONLY = ("adapter_bottom", "adapter_top", "emulator_layers", "bundle_dtype")


@dataclass
class FedAdapterConfig(FederationConfig):
    """``fed-adapter``: data parties fine-tune LoRA adapters of their SM on their own records;
    the model party aggregates them round by round (FedAvg, McMahan et al., arXiv:1602.05629;
    coordinate-wise median or trimmed mean, Yin et al., arXiv:1803.01498), on Flower's
    simulation runtime (Beutel et al., arXiv:2007.14390) or its deployment runtime. The
    shared settings are :class:`~crossbound.federation.config.FederationConfig`'s; the model
    party sends its LoRA adapter of ``small`` and scores the global adapter through the
    parties (``eval_limit`` test records shared out among them).

    ``aggregation``: ``fedavg`` (weighted by each party's number of records), ``median`` or
    ``trimmed-mean`` (cutting ``trim_fraction`` of the values at each end).
    ``max_update_norm``: drop an update further than this (L2, over all adapter tensors) from
    the global adapter it started from (None: no bound; non-finite updates are always
    dropped). ``secure_aggregation``: the model party learns only the sum of the updates
    (SecAgg+, Bell et al., arXiv:2009.08524, as Flower implements it): each party masks its
    quantised, weighted adapter; ``secagg_shares`` (a fraction of the round's parties, or
    a count > 1) are the neighbours each party secret-shares its masking keys with, and
    ``secagg_threshold`` (a fraction of those shares, or a count > 1) is how many shares
    unmask a party, so up to shares − threshold neighbours of a party may drop out in a
    round; values are clipped to ±``secagg_clipping_range`` and quantised to
    ``secagg_quantization_bits`` bits. It works with ``aggregation = "fedavg"`` only and
    leaves nothing per party to validate (no ``max_update_norm``). ``dp``: differential
    privacy on the updates, a whole data party being the unit protected
    (:mod:`crossbound.federation.dp`): ``central`` (DP-FedAvg, McMahan et al.,
    arXiv:1710.06963: each update δ = local − global adapter is clipped to L2 norm
    ``dp_clip`` — by the model party, or with ``secure_aggregation`` by each party before
    masking —, the clipped deltas are averaged over the parties asked and the model party adds
    N(0, (σ·``dp_clip``/n)²)), ``local`` (each party clips and adds N(0, (σ·``dp_clip``)²)
    before sending) or ``none``; with DP on, averaging is unweighted and needs ``aggregation
    = "fedavg"``. σ is ``dp_noise_multiplier``, or (None) calibrated so that ε over
    ``rounds`` is at most ``dp_epsilon`` at ``dp_delta`` (give exactly one of the two).
    ``max_update_norm`` still drops (not clips) updates with central DP in plain rounds; with
    local DP the noise swamps any norm, so it is refused.

    With ``emulator_of`` ("OT+": federated offsite-tuning, Xiao et al., arXiv:2302.04870;
    :mod:`crossbound.federation.offsite_plus`): the data parties tune no SM of their own but
    the offsite-tuning emulator of the model party's LM ``emulator_of`` — its first
    ``adapter_bottom`` and last ``adapter_top`` blocks (the adapter) around
    ``emulator_layers`` evenly spaced middle blocks (None: half of them). The model party
    sends the emulator once to each data party (weights in ``bundle_dtype``); LoRA on the
    adapter blocks only is what is trained, aggregated (FedAvg, SecAgg+, DP: as above) and
    plugged into the full LM, which the model party scores after every round. ``small`` is
    not used. ``party_store``: the folder under which each data party keeps what it received
    (``PARTY/emulator``; empty: ``OUT/parties``).
    """

    name: ClassVar[str] = "fed-adapter"

    aggregation: Aggregation = "fedavg"
    trim_fraction: float = 0.2
    max_update_norm: float | None = None
    secure_aggregation: bool = False
    secagg_shares: float = 1.0
    secagg_threshold: float = 0.5
    secagg_clipping_range: float = 8.0
    secagg_quantization_bits: int = 22
    dp: DPMode = "none"
    # C bounds one party's whole update (all adapter tensors). Near the median pre-clip norm
    # is the usual choice (Andrew et al., arXiv:1905.03871): below it every step shrinks and
    # the noise σC/n with it (same signal to noise, slower); above it only the noise grows.
    # Measured (central, plain rounds: metrics.privacy.dp.per_round): smollm2-135m:layers=6,
    # LoRA r8, one epoch at lr 1e-3 on 68-129 records: 2.4-3.5; tiny test model: ~1.
    dp_clip: float = 3.0
    dp_noise_multiplier: float | None = None
    dp_epsilon: float | None = None
    dp_delta: float = 1e-5
    # OT+: fed-adapter on the offsite-tuning emulator of an LM (see the class docstring)
    emulator_of: str | None = None
    adapter_bottom: int = 2
    adapter_top: int = 2
    emulator_layers: int | None = None
    bundle_dtype: BundleDType = "bfloat16"
    party_store: str = ""

    def validate(self) -> None:
        super().validate()
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got "
                             f"{self.aggregation!r}")
        if not 0 <= self.trim_fraction < 0.5:
            raise ValueError(f"trim_fraction must be in [0, 0.5), got {self.trim_fraction}")
        if self.max_update_norm is not None and not self.max_update_norm > 0:
            raise ValueError(f"max_update_norm must be > 0 or None, got {self.max_update_norm}")
        if self.secure_aggregation:
            self._validate_secagg()
        self._validate_dp()
        self._validate_offsite()

    def _validate_secagg(self) -> None:
        if self.aggregation != "fedavg":
            raise ValueError(f"secure_aggregation sums the updates: it needs aggregation = "
                             f"'fedavg', not {self.aggregation!r}")
        if self.max_update_norm is not None:
            raise ValueError("secure_aggregation hides each update from the model party, so "
                             "max_update_norm cannot be checked; set it to 'none'")
        if self.min_parties < 2:
            raise ValueError("secure_aggregation needs min_parties >= 2: the sum of one "
                             "party's update is that update")
        for name in ("secagg_shares", "secagg_threshold"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0) or (value > 1 and value != int(value)):
                raise ValueError(f"{name} must be a fraction in (0, 1] or a whole count > 1, "
                                 f"got {value}")
        check_finite_positive(self, "secagg_clipping_range")
        if not 8 <= self.secagg_quantization_bits <= 30:
            raise ValueError(f"secagg_quantization_bits must be in [8, 30] (the masks are "
                             f"mod 2**32), got {self.secagg_quantization_bits}")

    def _validate_dp(self) -> None:
        check_finite_positive(self, "dp_clip")
        if not 0 < self.dp_delta < 1:
            raise ValueError(f"dp_delta must be in (0, 1), got {self.dp_delta}")
        check_finite_positive(self, "dp_noise_multiplier", "dp_epsilon", optional=True)
        if self.dp == "none":
            if self.dp_noise_multiplier is not None or self.dp_epsilon is not None:
                raise ValueError("dp_epsilon / dp_noise_multiplier are set but dp = 'none'; "
                                 "set dp = 'central' or 'local'")
            return
        if (self.dp_epsilon is None) == (self.dp_noise_multiplier is None):
            raise ValueError(f"dp = {self.dp!r} needs exactly one of dp_epsilon (a target ε "
                             "over all rounds) and dp_noise_multiplier (σ)")
        if self.aggregation != "fedavg":
            raise ValueError(f"dp averages clipped updates: it needs aggregation = 'fedavg', "
                             f"not {self.aggregation!r} (its sensitivity is not bounded)")
        if self.dp == "local" and self.max_update_norm is not None:
            raise ValueError("dp = 'local' noises every update far beyond any plausible "
                             "max_update_norm; set it to 'none'")

    def _validate_offsite(self) -> None:
        fields = FedAdapterConfig.__dataclass_fields__
        if self.emulator_of is None:
            for name in OFFSITE_ONLY:
                if getattr(self, name) != fields[name].default:
                    raise ValueError(f"{name} is an OT+ setting (fed-adapter on an emulator); "
                                     "set emulator_of = 'LM' to use it, or remove it")
            return
        if not self.emulator_of.strip():
            raise ValueError("emulator_of must name an LM (or be left out)")
        if self.small != fields["small"].default:
            raise ValueError("small is not used with emulator_of: the data parties tune the "
                             "emulator of that LM; remove small")
        check_at_least(self, 1, "adapter_bottom", "adapter_top")
        if self.emulator_layers is not None and self.emulator_layers < 0:
            raise ValueError(f"emulator_layers must be >= 0 or none, got {self.emulator_layers}")

    def for_run(self, out: Path) -> Self:
        if self.emulator_of is None or self.party_store:
            return self
        # Where each data party keeps the emulator it receives; absolute, because Ray
        # workers and SuperNodes do not share this process's working directory.
        return dataclasses.replace(self, party_store=str((out / "parties").resolve()))

    def check_parties(self, parties: int) -> None:
        super().check_parties(parties)
        if self.aggregation == "trimmed-mean" and \
                int(self.trim_fraction * self.min_parties) * 2 >= self.min_parties:
            raise ValueError(f"trim_fraction = {self.trim_fraction} would trim every one of "
                             f"{self.min_parties} updates (min_parties) in a round; lower it "
                             "or raise min_parties")

    @property
    def model_name(self) -> str:
        """What the data parties tune: the SM, or the emulator of ``emulator_of``."""
        return self.small if self.emulator_of is None else f"emulator of {self.emulator_of}"

