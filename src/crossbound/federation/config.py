"""The config of a federation run: one TOML or JSON file for ``crossbound federate CONFIG``.

A flat table of settings (the dataclass fields below) plus an optional ``[faults]`` table::

    strategy = "fed-adapter"
    task = "clinic-triage:parties=4,partition=dirichlet,alpha=0.5"
    small = "smollm2-135m:layers=6"
    rounds = 3
    aggregation = "median"

    [faults]                 # robustness experiments: parties that misbehave on purpose
    "data-party-3" = "scale:1000"

Values are checked on creation (type and range), so a bad file fails before Flower or Ray
start, with a one-line message naming the setting. TOML has no null: ``eval_limit = "none"``
(JSON: ``null``) for a setting that takes None.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from crossbound.config_checks import check_at_least, check_limits
from crossbound.strategy import StrategyConfig

Aggregation = Literal["fedavg", "median", "trimmed-mean"]
STRATEGIES = ("fed-adapter", "fed-mutual-kt")
Combine = Literal["min-ce", "all"]
COMBINES: tuple[str, ...] = typing.get_args(Combine)
AGGREGATIONS: tuple[str, ...] = typing.get_args(Aggregation)
PARTY_NAME = re.compile(r"^data-party-(\d+)$")
Runtime = Literal["simulation", "deployment"]
RUNTIMES: tuple[str, ...] = typing.get_args(Runtime)
DPMode = Literal["none", "central", "local"]
DP_MODES: tuple[str, ...] = typing.get_args(DPMode)
# A fault a data party can be told to commit (tests and robustness experiments only):
# "nan" fills its update with NaN; "scale:F" sends global + F·(local − global); "crash:R"
# raises instead of training in round R; "hang:R" answers round R only after the model
# party has stopped waiting (round_timeout + 5 s; in simulation give workers >= 2, or the
# hung Ray worker holds up every party).
FAULT = re.compile(r"^(nan|scale:[-+0-9.eE]+|(crash|hang):[0-9]+)$")
# Settings only fed-mutual-kt reads (refused, when changed, under another strategy).
MUTUAL_ONLY = ("large", "transfer_limit", "top_k", "value_bits", "kd_weight", "temperature",
               "combine", "lm_targets", "lm_epochs", "lm_lr", "lm_lora_rank", "party_small")
# Settings only OT+ (fed-adapter with emulator_of) reads.
OFFSITE_ONLY = ("adapter_bottom", "adapter_top", "emulator_layers", "bundle_dtype")
BundleDType = Literal["float32", "bfloat16", "float16"]
FAULT_HELP = "use 'nan', 'scale:F', 'crash:R' or 'hang:R' (R: a round number)"


@dataclass
class FederationConfig(StrategyConfig):
    """``fed-adapter``: data parties fine-tune LoRA adapters of their SM on their own records;
    the model party aggregates them round by round (FedAvg, McMahan et al., arXiv:1602.05629;
    coordinate-wise median or trimmed mean, Yin et al., arXiv:1803.01498), on Flower's
    simulation runtime (Beutel et al., arXiv:2007.14390).

    ``task``: a task with options; its ``parties`` option sets how many data parties there
    are. ``small``: the data parties' SM (the model party sends its LoRA adapter).
    ``local_epochs``: passes over a party's records per round. ``aggregation``: ``fedavg``
    (weighted by each party's number of records), ``median`` or ``trimmed-mean`` (cutting
    ``trim_fraction`` of the values at each end). ``eval_limit``: test records the global
    adapter is scored on after every round (shared out among the parties; None: the whole
    test split). ``max_update_norm``: drop an update further than this (L2, over all adapter
    tensors) from the global adapter it started from (None: no bound; non-finite updates are
    always dropped). ``round_timeout``: seconds the model party waits for the replies of one
    round (a party that has not answered by then is reported and left out of that round).
    ``min_parties``: a round is aggregated from the updates of the parties that answered if
    there are at least this many (a party that crashed, timed out, was offline or sent an
    invalid update drops out of that round only); with fewer, the run stops naming who was
    missing. ``secure_aggregation``: the model party learns only the sum of the updates
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
    local DP the noise swamps any norm, so it is refused. ``runtime``:
    ``simulation`` (Ray, one process) or ``deployment`` (a Flower SuperLink and one SuperNode
    process per data party, started on this machine; see :mod:`crossbound.federation.deploy`).
    ``workers``: data parties trained at the same time (Ray actors, each with ``threads``
    torch threads). ``faults``: party name -> ``nan``, ``scale:F``, ``crash:R`` or
    ``hang:R``, a deliberately faulty party for robustness experiments.

    ``fed-mutual-kt`` (FedMKT, Fan et al., arXiv:2406.02224): no adapter is aggregated; every
    round each data party trains its own SM (LoRA ``lora_rank``; ``local_epochs`` over its
    records at ``lr``, loss ``kd_weight``·KD(LM) + (1 − ``kd_weight``)·CE) on the LM's top-k
    log-probs over the task's public split (``transfer_limit`` texts, prompt + public
    answer; a task without one uses the built-in fallback corpus, see
    ``tasks.public_text``), then sends its SM's top-k on the same texts, moved onto the LM's
    tokens (``lm_targets``: ``answer`` positions only, or ``all``). The model party combines the
    parties' knowledge — ``min-ce``: per text, the party whose top-k gives the public answer
    the lowest cross-entropy (FedMKT's selection); ``all``: every party's rows — and distils
    it into a LoRA copy (``lm_lora_rank``) of ``large`` for ``lm_epochs`` at ``lm_lr``; the
    tuned LM's top-k goes down in the next round. ``top_k`` entries per token at
    ``value_bits`` both ways. ``party_small``: party name -> SM spec, for parties whose SM
    differs from ``small`` (heterogeneous SMs; tokenizers may differ from the LM's). Each SM
    is scored on the first ``eval_limit`` test records by its party, the LM by the model
    party. Secure aggregation, the aggregation rule and ``max_update_norm`` do not apply.

    ``fed-adapter`` with ``emulator_of`` ("OT+": federated offsite-tuning, Xiao et al.,
    arXiv:2302.04870; :mod:`crossbound.federation.offsite_plus`): the data parties tune no SM
    of their own but the offsite-tuning emulator of the model party's LM ``emulator_of`` —
    its first ``adapter_bottom`` and last ``adapter_top`` blocks (the adapter) around
    ``emulator_layers`` evenly spaced middle blocks (None: half of them). The model party
    sends the emulator once to each data party (weights in ``bundle_dtype``); LoRA on the
    adapter blocks only is what is trained, aggregated (FedAvg, SecAgg+, DP: as above) and
    plugged into the full LM, which the model party scores after every round. ``small`` is
    not used. ``party_store``: the folder under which each data party keeps what it received
    (``PARTY/emulator``; empty: ``OUT/parties``).
    """

    strategy: str = "fed-adapter"
    task: str = "clinic-triage:parties=4,partition=dirichlet,alpha=0.5"
    small: str = "smollm2-135m:layers=6"
    rounds: int = 3
    local_epochs: float = 1.0
    lr: float = 1e-3
    batch_size: int = 8
    max_length: int = 192
    lora_rank: int = 8
    lora_alpha: int = 16
    aggregation: Aggregation = "fedavg"
    trim_fraction: float = 0.2
    eval_limit: int | None = 200
    evaluate_initial: bool = True
    max_update_norm: float | None = None
    round_timeout: float = 3600.0
    min_parties: int = 2
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
    runtime: Runtime = "simulation"
    workers: int = 1
    threads: int = 1
    keep_payloads: bool = True
    # fed-mutual-kt (see the class docstring)
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
    # fed-adapter on the offsite-tuning emulator of an LM ("OT+", see the class docstring)
    emulator_of: str | None = None
    adapter_bottom: int = 2
    adapter_top: int = 2
    emulator_layers: int | None = None
    bundle_dtype: BundleDType = "bfloat16"
    party_store: str = ""
    out: str = "runs/federate"
    faults: dict[str, str] = field(default_factory=dict)
    party_small: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        _check_types(self)
        super().validate()
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got "
                             f"{self.strategy!r}")
        for name in ("task", "small", "out"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")
        check_at_least(self, 1, "rounds", "batch_size", "lora_rank", "lora_alpha", "workers",
                       "threads", "min_parties")
        for name in ("local_epochs", "lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        if self.max_length < 16:
            raise ValueError(f"max_length must be >= 16, got {self.max_length}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got "
                             f"{self.aggregation!r}")
        if not 0 <= self.trim_fraction < 0.5:
            raise ValueError(f"trim_fraction must be in [0, 0.5), got {self.trim_fraction}")
        check_limits(self, "eval_limit")
        if not self.round_timeout > 0:
            raise ValueError(f"round_timeout must be > 0 seconds, got {self.round_timeout}")
        if self.max_update_norm is not None and not self.max_update_norm > 0:
            raise ValueError(f"max_update_norm must be > 0 or None, got {self.max_update_norm}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {self.runtime!r}")
        if self.secure_aggregation:
            self._validate_secagg()
        self._validate_dp()
        if self.strategy == "fed-mutual-kt":
            self._validate_mutual()
        else:
            self._refuse_mutual_settings()
        self._validate_offsite()
        for party, fault in self.faults.items():
            if not PARTY_NAME.match(party):
                raise ValueError(f"faults: {party!r} is not a data party name (data-party-N)")
            if not FAULT.match(fault) or (fault.startswith("scale:")
                                          and not _is_number(fault[6:])):
                raise ValueError(f"faults: {party} = {fault!r}: {FAULT_HELP}")

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
        if not (math.isfinite(self.secagg_clipping_range) and self.secagg_clipping_range > 0):
            raise ValueError(f"secagg_clipping_range must be > 0, got "
                             f"{self.secagg_clipping_range}")
        if not 8 <= self.secagg_quantization_bits <= 30:
            raise ValueError(f"secagg_quantization_bits must be in [8, 30] (the masks are "
                             f"mod 2**32), got {self.secagg_quantization_bits}")

    def _validate_mutual(self) -> None:
        from crossbound.boundary.logit_codec import VALUE_BITS

        if self.secure_aggregation or self.max_update_norm is not None:
            raise ValueError("fed-mutual-kt exchanges top-k log-probs, not updates to sum or "
                             "bound: set secure_aggregation = false and max_update_norm = "
                             "'none'")
        if self.aggregation != "fedavg":
            raise ValueError("fed-mutual-kt combines the parties' knowledge with `combine` "
                             f"({list(COMBINES)}), not with aggregation = "
                             f"{self.aggregation!r}")
        if not self.large.strip():
            raise ValueError("large must not be empty")
        if not 1 <= self.top_k <= 1024 or self.value_bits not in VALUE_BITS:
            raise ValueError(f"top_k must be in 1..1024 and value_bits one of {VALUE_BITS}")
        check_limits(self, "transfer_limit")
        if not 0.0 <= self.kd_weight < 1.0:
            raise ValueError("kd_weight must be in [0, 1): each SM keeps some cross-entropy "
                             "on its own records")
        for name in ("temperature", "lm_epochs", "lm_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        if self.lm_lora_rank < 1:
            raise ValueError(f"lm_lora_rank must be >= 1, got {self.lm_lora_rank}")
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

    def _refuse_mutual_settings(self) -> None:
        """A fed-mutual-kt setting changed under another strategy would silently do nothing
        (e.g. ``party_small`` would not give a party its own SM): say so instead."""
        defaults = FederationConfig.__dataclass_fields__
        for name in MUTUAL_ONLY:
            default = defaults[name]
            value = (default.default_factory() if default.default_factory
                     is not dataclasses.MISSING else default.default)
            if getattr(self, name) != value:
                raise ValueError(f"{name} is a fed-mutual-kt setting; {self.strategy} does not "
                                 f"use it: remove it or set strategy = 'fed-mutual-kt'")

    def _validate_offsite(self) -> None:
        fields = FederationConfig.__dataclass_fields__
        if self.emulator_of is None:
            for name in OFFSITE_ONLY:
                if getattr(self, name) != fields[name].default:
                    raise ValueError(f"{name} is an OT+ setting (fed-adapter on an emulator); "
                                     "set emulator_of = 'LM' to use it, or remove it")
            return
        if self.strategy != "fed-adapter":
            raise ValueError(f"emulator_of (OT+) is a fed-adapter setting; {self.strategy} "
                             "does not use it")
        if not self.emulator_of.strip():
            raise ValueError("emulator_of must name an LM (or be left out)")
        if self.small != fields["small"].default:
            raise ValueError("small is not used with emulator_of: the data parties tune the "
                             "emulator of that LM; remove small")
        for name in ("adapter_bottom", "adapter_top"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.emulator_layers is not None and self.emulator_layers < 0:
            raise ValueError(f"emulator_layers must be >= 0 or none, got {self.emulator_layers}")

    @property
    def model_name(self) -> str:
        """What the data parties tune: the SM, or the emulator of ``emulator_of``."""
        return self.small if self.emulator_of is None else f"emulator of {self.emulator_of}"

    def small_of(self, party: str) -> str:
        """The SM of ``party`` (``party_small`` overrides ``small``)."""
        return self.party_small.get(party, self.small)

    def _validate_dp(self) -> None:
        if not (math.isfinite(self.dp_clip) and self.dp_clip > 0):
            raise ValueError(f"dp_clip must be a finite number > 0, got {self.dp_clip}")
        if not 0 < self.dp_delta < 1:
            raise ValueError(f"dp_delta must be in (0, 1), got {self.dp_delta}")
        for name in ("dp_noise_multiplier", "dp_epsilon"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0 or None, got {value}")
        if self.dp == "none":
            if self.dp_noise_multiplier is not None or self.dp_epsilon is not None:
                raise ValueError("dp_epsilon / dp_noise_multiplier are set but dp = 'none'; "
                                 "set dp = 'central' or 'local'")
            return
        if self.strategy != "fed-adapter":
            raise ValueError(f"dp noises fed-adapter's adapter updates; {self.strategy} sends "
                             "none: set dp = 'none'")
        if (self.dp_epsilon is None) == (self.dp_noise_multiplier is None):
            raise ValueError(f"dp = {self.dp!r} needs exactly one of dp_epsilon (a target ε "
                             "over all rounds) and dp_noise_multiplier (σ)")
        if self.aggregation != "fedavg":
            raise ValueError(f"dp averages clipped updates: it needs aggregation = 'fedavg', "
                             f"not {self.aggregation!r} (its sensitivity is not bounded)")
        if self.dp == "local" and self.max_update_norm is not None:
            raise ValueError("dp = 'local' noises every update far beyond any plausible "
                             "max_update_norm; set it to 'none'")

    # ------------------------------------------------------------ files

    def to_toml(self) -> str:
        """TOML text that :func:`load_config` reads back to an equal config (TOML has no
        null: a setting that is None is written as the string ``"none"``)."""
        import tomli_w  # a dependency of flwr, which federation needs anyway

        data = {k: "none" if v is None else v for k, v in self.to_dict().items()}
        for table in ("faults", "party_small"):  # a table must come after the plain keys
            value = data.pop(table)
            if value:
                data[table] = value
        return tomli_w.dumps(data)

    def write(self, path: str | Path) -> Path:
        """Write ``path`` as TOML (``.toml``) or JSON (anything else)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        text = self.to_toml() if out.suffix.lower() == ".toml" else \
            json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        out.write_text(text, encoding="utf-8")
        return out


def load_config(path: str | Path) -> FederationConfig:
    """Read a ``.toml`` or ``.json`` federation config; errors name the file and the setting."""
    source = Path(path)
    if source.suffix.lower() not in (".toml", ".json"):
        raise ValueError(f"{source}: a federation config is a .toml or .json file")
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{source}: no such config file") from None
    try:
        data = tomllib.loads(text) if source.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{source}: not valid {source.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a table of settings at the top level")
    try:
        return FederationConfig.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{source}: {exc}") from exc


# ---------------------------------------------------------------- checks


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _check_types(config: FederationConfig) -> None:
    """Refuse a value of the wrong type (``rounds = "3"``), naming the setting. An int is
    taken where a float is expected (``lr = 1``) and stored as a float."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        hint = hints[f.name]
        args = typing.get_args(hint)
        if typing.get_origin(hint) is Literal:
            if value not in args:
                raise ValueError(f"{f.name} must be one of {list(args)}, got {value!r}")
            continue
        if f.name in ("faults", "party_small"):
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                what = "fault" if f.name == "faults" else "model spec"
                raise ValueError(f"{f.name} must be a table of party name = {what} strings")
            continue
        allowed = args if args else (hint,)
        if type(None) in allowed and isinstance(value, str) and value.lower() == "none":
            setattr(config, f.name, None)  # TOML has no null
            continue
        if value is None and type(None) in allowed:
            continue
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            setattr(config, f.name, float(value))
            continue
        ok = any(isinstance(value, t) and not (t is int and isinstance(value, bool))
                 for t in allowed if isinstance(t, type) and t is not type(None))
        if not ok:
            expected = " or ".join("none" if t is type(None) else t.__name__ for t in allowed)
            raise ValueError(f"{f.name} must be {expected}, got {value!r} "
                             f"({type(value).__name__})")
