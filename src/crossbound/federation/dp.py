"""Differential privacy on the adapter updates of ``fed-adapter``, with ε accounted over rounds.

The unit protected is a whole data party (user-level DP): two federations are neighbours if
one party's records — all of them — are there or not. A party's contribution to a round is its
update δ = local adapter − the global adapter it started from, over all tensors.

``dp = "central"`` — DP-FedAvg (McMahan et al., arXiv:1710.06963). Each δ is clipped to L2 norm
C; the clipped deltas are averaged with a fixed denominator n, the number of parties asked
this round (not those that answered: then one party moves the average by at most C/n whatever
the others do), and N(0, (σC/n)²) is added to every coordinate. Without secure aggregation the
model party clips (it sees every update: central DP trusts it, and protects what it releases —
the global adapter every data party receives each round, and the final one — not the updates
from the model party). With SecAgg+ it cannot see single updates, so each party clips its own
before masking; the model party learns the sum of the clipped updates (unnoised: against the
model party, SecAgg+ is the protection, not DP), puts it over n and adds the noise.

``dp = "local"`` — each data party clips its δ to C and adds N(0, (σC)²) itself before anything
crosses, so the model party (and its transcript) only ever holds noised updates. The noise on
one coordinate is as large as the whole clip norm: expect a much larger utility cost.

With DP on, averaging is unweighted: FedAvg's record-count weights would make one party's
influence w_i·C / Σ w_j, a sensitivity that depends on the weights (under SecAgg+ the weights
are hidden but the bound is the same); here every party weighs 1.

Accounting: a round is one Gaussian mechanism with noise multiplier σ (central: sensitivity C/n,
noise σC/n; local: sensitivity C and noise σC for each party's own release), and every party is
asked in every round (sample rate 1: no amplification by sampling), so R rounds compose R
Gaussian mechanisms; ε at δ comes from Opacus's PRV and RDP accountants
(:func:`crossbound.privacy.dp.epsilon_spent`), and σ is calibrated for the planned rounds when
only a target ε is given. A party that drops out of a round spends less than accounted: the
bound is conservative, not wrong. Not covered: the numbers each party reports in the clear
(record count, losses, steps, seconds) and its test scores.

Why not Flower's DP wrappers (``DifferentialPrivacyServerSideFixedClipping``,
``fixedclipping_mod``, ``LocalDpMod``): the server wrappers hook into ``Strategy.start``'s
``configure_train`` and average with FedAvg over the replies that arrived (a party that drops
out raises the others' sensitivity above C/n while the noise stays σC/n); the client mods speak
only the legacy FitIns/FitRes format, which plain rounds here do not use, and ``LocalDpMod``
calibrates each round alone by ε with the classic Gaussian bound rather than σ composed over
rounds. The pieces below are small enough to write plainly (Flower's ``compute_stdv`` is the
same σC/n).

Noise comes from a torch generator seeded with fresh OS entropy on every call, never from
``config.seed``: the seed is in the config every party holds, and anyone who could regenerate
the noise could subtract it. (torch's Mersenne Twister is not a cryptographic generator, as in
Opacus outside its ``secure_mode``.)
"""

from __future__ import annotations

import functools
import math
import secrets
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import torch

from crossbound.federation.adapter import Tensors
from crossbound.federation.contract import arrays_to_tensors, tensors_to_arrays
from crossbound.privacy.dp import calibrate_noise, epsilon_spent

if TYPE_CHECKING:
    from flwr.app import ArrayRecord
    from flwr.app import Message as FlowerMessage

    from crossbound.federation.adapter_config import FedAdapterConfig
    from crossbound.federation.crossing import BoundaryGrid

UNIT = "data party (user-level)"
ACCOUNTANT: Literal["prv"] = "prv"  # calibrates σ; both PRV and RDP are reported
Deltas = dict[str, torch.Tensor]  # float64, adapter names


# ---------------------------------------------------------------- mechanisms


def clip_delta(local: Mapping[str, torch.Tensor], start: Mapping[str, torch.Tensor],
               clip: float) -> tuple[Deltas, float]:
    """δ = local − start (float64) scaled so that its L2 norm over all tensors is at most
    ``clip``, and the norm before clipping."""
    delta = {name: local[name].double() - start[name].double() for name in start}
    norm = math.sqrt(sum(float(d.pow(2).sum()) for d in delta.values()))
    scale = clip / norm if norm > clip else 1.0
    return {name: d * scale for name, d in delta.items()}, norm


def new_generator() -> torch.Generator:
    """A generator seeded from the OS's entropy (see the module docstring)."""
    return torch.Generator().manual_seed(secrets.randbits(63))


def gaussian_noise(like: Mapping[str, torch.Tensor], std: float,
                   generator: torch.Generator | None = None) -> Deltas:
    """N(0, std²) for every coordinate of ``like`` (float64, same names and shapes)."""
    gen = generator if generator is not None else new_generator()
    return {name: torch.randn(tuple(t.shape), generator=gen, dtype=torch.float64) * std
            for name, t in like.items()}


def privatise_update(config: FedAdapterConfig, local: Mapping[str, torch.Tensor],
                     start: Mapping[str, torch.Tensor],
                     generator: torch.Generator | None = None) -> Tensors:
    """What an honest data party sends with DP on (float32): ``start`` + its clipped δ, plus
    N(0, (σC)²) per coordinate with local DP (with central DP it clips only, and only under
    SecAgg+, where the model party cannot)."""
    delta, _ = clip_delta(local, start, config.dp_clip)
    if config.dp == "local":
        std = noise_multiplier(config) * config.dp_clip
        noise = gaussian_noise(delta, std, generator)
        delta = {name: d + noise[name] for name, d in delta.items()}
    return {name: (start[name].double() + d).to(torch.float32) for name, d in delta.items()}


def noised_average(start: Mapping[str, torch.Tensor], summed: Mapping[str, torch.Tensor],
                   asked: int, std: float, generator: torch.Generator | None = None) -> Tensors:
    """``start + summed / asked + N(0, std²)`` per coordinate (float32): the central DP step,
    ``summed`` being the sum of the clipped deltas that arrived."""
    noise = gaussian_noise(summed, std, generator)
    return {name: (start[name].double() + summed[name] / asked + noise[name])
            .to(torch.float32) for name in start}


def central_aggregate(start: Mapping[str, torch.Tensor],
                      updates: Sequence[Mapping[str, torch.Tensor]], clip: float, sigma: float,
                      asked: int, generator: torch.Generator | None = None,
                      ) -> tuple[Tensors, list[float]]:
    """DP-FedAvg with the model party clipping: the new global adapter and each update's
    norm before clipping."""
    summed = {name: torch.zeros(tuple(t.shape), dtype=torch.float64)
              for name, t in start.items()}
    norms: list[float] = []
    for update in updates:
        delta, norm = clip_delta(update, start, clip)
        norms.append(norm)
        for name, d in delta.items():
            summed[name] += d
    return noised_average(start, summed, asked, sigma * clip / asked, generator), norms


def mean_update(updates: Sequence[Mapping[str, torch.Tensor]]) -> Tensors:
    """The unweighted mean of the updates (local DP: each is already noised)."""
    return {name: torch.stack([u[name].double() for u in updates]).mean(0).to(torch.float32)
            for name in updates[0]}


# ---------------------------------------------------------------- rounds (model party)


def dp_round(config: FedAdapterConfig, grid: BoundaryGrid, rnd: int, current: ArrayRecord,
             replies: Sequence[FlowerMessage], asked: int) -> ArrayRecord:
    """Aggregate a plain (not SecAgg+) round's validated replies with DP on."""
    start = arrays_to_tensors(current)
    parties = [grid.nodes[reply.metadata.src_node_id] for reply in replies]
    updates = [arrays_to_tensors(next(iter(reply.content.array_records.values())))
               for reply in replies]
    if config.dp == "central":
        sigma = noise_multiplier(config)
        aggregate, norms = central_aggregate(start, updates, config.dp_clip, sigma, asked)
        seen = dict(zip(parties, norms, strict=True))
        _note(grid, rnd, config, asked, len(updates), "model party",
              clipped=sum(n > config.dp_clip for n in norms),
              norms={party: round(n, 6) for party, n in sorted(seen.items())})
    else:
        aggregate = mean_update(updates)
        _note(grid, rnd, config, asked, len(updates), "each data party")
    return tensors_to_arrays(aggregate)


def dp_secure(config: FedAdapterConfig, grid: BoundaryGrid, rnd: int,
              start: Mapping[str, torch.Tensor], mean: Tensors, masked: int,
              asked: int) -> Tensors:
    """Finish a SecAgg+ round with DP on. ``mean``: the unmasked unweighted mean of the
    ``masked`` parties' (clipped, with local DP noised) adapters."""
    _note(grid, rnd, config, asked, masked, "each data party, before masking")
    if config.dp == "local":
        return mean
    summed = {name: (mean[name].double() - start[name].double()) * masked for name in start}
    std = noise_multiplier(config) * config.dp_clip / asked
    return noised_average(start, summed, asked, std)


def _note(grid: BoundaryGrid, rnd: int, config: FedAdapterConfig, asked: int,
          aggregated: int, clipped_by: str, clipped: int | None = None,
          norms: dict[str, float] | None = None) -> None:
    """Record what the model party can say about this round's DP step."""
    sigma = noise_multiplier(config)
    central = config.dp == "central"
    grid.ledger.dp[rnd] = {
        "asked": asked, "aggregated": aggregated, "clipped_by": clipped_by,
        # central: the noise the model party added to the average; local: each party's own
        "noise_std": sigma * config.dp_clip / asked if central else sigma * config.dp_clip,
        "clipped_updates": clipped, "pre_clip_norms": norms}  # None: not visible here


# ---------------------------------------------------------------- accounting


@contextmanager
def _quiet_accountant() -> Iterator[None]:
    # Opacus's PRV takes log(1 − q) = log(0) at sample rate 1 (harmless: masked out) and its
    # RDP warns when the best order is its largest (a large ε): neither concerns the result.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="opacus")
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        yield


@functools.lru_cache(maxsize=32)
def calibrated_sigma(epsilon: float, delta: float, rounds: int) -> float:
    """The smallest σ (PRV, Opacus's search) whose ε over ``rounds`` full-participation
    Gaussian rounds is at most ``epsilon`` at ``delta``."""
    with _quiet_accountant():
        return calibrate_noise(epsilon, delta, 1.0, rounds, ACCOUNTANT)


def noise_multiplier(config: FedAdapterConfig) -> float:
    """σ: ``dp_noise_multiplier``, or calibrated from ``dp_epsilon`` for ``config.rounds``
    (deterministic, so the model party and every data party get the same σ)."""
    if config.dp_noise_multiplier is not None:
        return config.dp_noise_multiplier
    if config.dp_epsilon is None:
        raise ValueError("dp needs dp_epsilon or dp_noise_multiplier")
    return calibrated_sigma(config.dp_epsilon, config.dp_delta, config.rounds)


def epsilons(sigma: float, rounds: int, delta: float) -> dict[str, float]:
    """ε after ``rounds`` Gaussian rounds of noise multiplier ``sigma`` at sample rate 1."""
    with _quiet_accountant():
        return {accountant: epsilon_spent(sigma, 1.0, rounds, delta, accountant)
                for accountant in ("prv", "rdp")}


def dp_summary(config: FedAdapterConfig, rounds: Sequence[Mapping[str, Any]],
               ) -> dict[str, Any] | None:
    """``metrics.privacy.dp`` of a run (None with DP off); ``rounds``: RoundReport dicts."""
    if config.dp == "none":
        return None
    sigma = noise_multiplier(config)
    eps = epsilons(sigma, config.rounds, config.dp_delta)
    central = config.dp == "central"
    secure = config.secure_aggregation
    return {
        "mode": config.dp,
        "mechanism": ("DP-FedAvg (McMahan et al., arXiv:1710.06963): updates clipped to "
                      "clip, averaged over the parties asked, Gaussian noise "
                      "σ·clip/n added by the model party") if central else
                     ("local DP: each data party clips its update to clip and adds Gaussian "
                      "noise σ·clip before it leaves"),
        "unit": UNIT,
        "epsilon": eps[ACCOUNTANT], "epsilon_prv": eps["prv"], "epsilon_rdp": eps["rdp"],
        "delta": config.dp_delta, "accountant": ACCOUNTANT,
        "noise_multiplier": sigma, "target_epsilon": config.dp_epsilon,
        "clip": config.dp_clip, "rounds": config.rounds, "sample_rate": 1.0,
        "clipped_by": ("model party" if central and not secure else
                       "each data party, before masking" if secure else "each data party"),
        "averaging": "unweighted" + (", over the parties asked (fixed denominator)"
                                     if central else ", over the updates that arrived"),
        "protects_against": (
            "anyone who sees a global adapter (the data parties, every round; whoever gets "
            "the final one); the model party " + ("sees only the unnoised sum (SecAgg+)"
                                                  if secure else "sees every raw update")
            if central else "the model party and anyone who sees what crossed or the "
                            "global adapter"),
        "not_covered": ["the numbers each party reports in the clear (record count, losses, "
                        "steps, seconds)", "test scores"],
        "per_round": [{"round": r["round"], **r["dp"]} for r in rounds if r.get("dp")],
        "note": "every party is asked every round (sample rate 1); a party that drops out "
                "of a round spends less than accounted, so ε is an upper bound",
    }
