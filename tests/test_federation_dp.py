"""Differential privacy on fed-adapter's updates: clipping, noise, accounting, config, and
whole tiny federations (central, local, central under SecAgg+) over ``LocalGrid`` — the real
ServerApp logic and ClientApp in this process, no Ray — each finished into ``result.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("flwr")

from crossbound.boundary.messages import Kind
from crossbound.federation.adapter import build_adapted
from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.crossing import GLOBAL_ADAPTER
from crossbound.federation.dp import (
    central_aggregate,
    clip_delta,
    epsilons,
    noise_multiplier,
    privatise_update,
)
from crossbound.federation.fed_adapter import AdapterModelParty
from crossbound.federation.strategies import load_config
from crossbound.tasks.registry import load_task
from tests.test_federation import (
    TINY,
    assert_only_masked_updates_crossed,
    crossings,
    flower_identity,  # noqa: F401  (a fixture)
    last_updates,
    run_local,
)

pytestmark = [pytest.mark.federation, pytest.mark.usefixtures("one_thread")]

DELTA = 1e-5


def _adapter(seed: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"a.lora_A": torch.randn(64, 300, generator=gen) * scale,
            "a.lora_B": torch.randn(300, 64, generator=gen) * scale}


def _with_delta(start: dict[str, torch.Tensor], norm: float, seed: int,
                ) -> dict[str, torch.Tensor]:
    """``start`` plus a random direction of L2 norm ``norm`` over all tensors."""
    direction = _adapter(seed)
    total = math.sqrt(sum(float(d.double().pow(2).sum()) for d in direction.values()))
    return {n: start[n] + direction[n] * (norm / total) for n in start}


def _norm(delta: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(d.double().pow(2).sum()) for d in delta.values()))


def _std(values: list[torch.Tensor]) -> float:
    return float(torch.cat([v.double().flatten() for v in values]).std())


# ---------------------------------------------------------------- mechanisms


def test_clipping_bounds_the_norm_exactly_and_leaves_small_updates_alone():
    start = _adapter(0, 0.05)
    big, small = _with_delta(start, 5.0, 1), _with_delta(start, 0.5, 2)
    clipped, norm = clip_delta(big, start, 1.0)
    assert norm == pytest.approx(5.0, rel=1e-6)
    assert _norm(clipped) == pytest.approx(1.0, rel=1e-12)
    # the direction is kept: clipped = δ / 5
    torch.testing.assert_close(clipped["a.lora_A"], (big["a.lora_A"].double()
                                                     - start["a.lora_A"].double()) / norm)
    unclipped, norm = clip_delta(small, start, 1.0)
    assert norm == pytest.approx(0.5, rel=1e-6)
    for name in start:
        assert torch.equal(unclipped[name], small[name].double() - start[name].double())
    # What a party sends under central DP + SecAgg+ (float32): start + clipped δ.
    config = FedAdapterConfig(dp="central", dp_noise_multiplier=1.0, dp_clip=1.0,
                              secure_aggregation=True)
    sent = privatise_update(config, big, start)
    assert all(t.dtype == torch.float32 for t in sent.values())
    assert _norm({n: sent[n].double() - start[n].double() for n in start}) == \
        pytest.approx(1.0, rel=1e-5)


def test_central_noise_has_std_sigma_c_over_the_parties_asked():
    start = _adapter(0, 0.05)
    updates = [_with_delta(start, norm, 10 + i) for i, norm in enumerate((3.0, 0.4, 2.0))]
    # σ = 0: the fixed-denominator mean of the clipped deltas (4 asked, 3 answered)
    exact, norms = central_aggregate(start, updates, clip=1.0, sigma=0.0, asked=4)
    assert norms == pytest.approx([3.0, 0.4, 2.0], rel=1e-6)
    expected = {n: start[n].double() + sum(clip_delta(u, start, 1.0)[0][n] for u in updates)
                / 4 for n in start}
    for name in start:
        torch.testing.assert_close(exact[name].double(), expected[name], rtol=0, atol=1e-6)
    sigma, clip, asked = 1.3, 0.7, 4
    noised, _ = central_aggregate(start, updates, clip=clip, sigma=sigma, asked=asked,
                                  generator=torch.Generator().manual_seed(7))
    noise = [noised[n].double() - exact[n].double() for n in start]  # 38,400 values
    assert _std(noise) == pytest.approx(sigma * clip / asked, rel=0.02)
    assert abs(float(torch.cat([v.flatten() for v in noise]).mean())) < 3e-3


def test_local_noise_has_std_sigma_c_and_is_fresh_every_time():
    start = _adapter(0, 0.05)
    local = _with_delta(start, 3.0, 3)
    config = FedAdapterConfig(dp="local", dp_clip=0.5, dp_noise_multiplier=2.0)
    first = privatise_update(config, local, start)
    clipped, _ = clip_delta(local, start, 0.5)
    noise = [first[n].double() - start[n].double() - clipped[n] for n in start]
    assert _std(noise) == pytest.approx(2.0 * 0.5, rel=0.02)
    # Seeded from the OS, not from config.seed: the model party cannot regenerate it.
    second = privatise_update(config, local, start)
    assert not torch.equal(first["a.lora_A"], second["a.lora_A"])


# ---------------------------------------------------------------- accounting


def _exact_gaussian_epsilon(sigma: float, rounds: int, delta: float) -> float:
    """ε of ``rounds`` composed Gaussian mechanisms (μ-GDP with μ = √rounds / σ, exact;
    Balle & Wang 2018), by bisection: a plain reference for the accountants."""
    mu = math.sqrt(rounds) / sigma

    def phi(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2))

    def delta_of(eps: float) -> float:
        return phi(-eps / mu + mu / 2) - math.exp(eps) * phi(-eps / mu - mu / 2)

    low, high = 0.0, 100.0
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if delta_of(mid) > delta else (low, mid)
    return high


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # PRV at sample rate 1
@pytest.mark.parametrize(("sigma", "rounds"), [(1.0, 1), (2.0, 3), (0.8, 10)])
def test_epsilon_is_opacus_accountants_over_full_participation_rounds(sigma, rounds):
    from opacus.accountants import PRVAccountant, RDPAccountant

    eps = epsilons(sigma, rounds, DELTA)
    for name, accountant in (("prv", PRVAccountant()), ("rdp", RDPAccountant())):
        accountant.history = [(sigma, 1.0, rounds)]
        assert eps[name] == pytest.approx(accountant.get_epsilon(delta=DELTA), rel=1e-9)
    exact = _exact_gaussian_epsilon(sigma, rounds, DELTA)
    assert eps["rdp"] >= exact  # RDP is an upper bound; PRV is within its error bound
    assert eps["prv"] == pytest.approx(exact, abs=0.05)


def test_noise_is_calibrated_to_the_target_epsilon_over_the_planned_rounds():
    for rounds in (1, 3):
        config = FedAdapterConfig(dp="central", dp_epsilon=3.0, rounds=rounds)
        sigma = noise_multiplier(config)
        assert 2.95 <= epsilons(sigma, rounds, DELTA)["prv"] <= 3.0
    assert noise_multiplier(FedAdapterConfig(dp="local", dp_noise_multiplier=0.9)) == 0.9
    more = FedAdapterConfig(dp="central", dp_epsilon=3.0, rounds=3)
    assert noise_multiplier(more) > noise_multiplier(FedAdapterConfig(
        dp="central", dp_epsilon=3.0, rounds=1))  # more rounds, more noise per round


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(("text", "message"), [
    ('dp = "global"', r"dp must be one of \['none', 'central', 'local'\]"),
    ('dp = "central"', r"needs exactly one of dp_epsilon .* and dp_noise_multiplier"),
    ('dp = "local"\ndp_epsilon = 3.0\ndp_noise_multiplier = 1.0', r"exactly one of"),
    ('dp_epsilon = 3.0', r"set but dp = 'none'"),
    ('dp = "central"\ndp_epsilon = 3.0\naggregation = "median"',
     r"needs aggregation = 'fedavg', not 'median'"),
    ('dp = "local"\ndp_epsilon = 3.0\nmax_update_norm = 5.0', r"set it to 'none'"),
    ('dp = "central"\ndp_epsilon = 3.0\ndp_clip = 0', r"dp_clip must be a finite number > 0"),
    ('dp = "central"\ndp_noise_multiplier = -1.0', r"dp_noise_multiplier must be a finite"),
    ('dp = "central"\ndp_epsilon = 3.0\ndp_delta = 1.5', r"dp_delta must be in \(0, 1\)"),
    ('dp = "central"\ndp_epsilon = "3"', r"dp_epsilon must be float or none"),
])
def test_bad_dp_settings_fail_with_a_message_naming_them(tmp_path, text, message):
    path = tmp_path / "fed.toml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_dp_settings_round_trip_and_combine_with_secagg_and_max_update_norm(tmp_path):
    for config in (
            FedAdapterConfig(dp="central", dp_epsilon=3.0, secure_aggregation=True),
            FedAdapterConfig(dp="central", dp_noise_multiplier=1.1, max_update_norm=5.0),
            FedAdapterConfig(dp="local", dp_noise_multiplier=0.5, dp_clip=0.2,
                             dp_delta=1e-6)):
        assert load_config(config.write(tmp_path / "fed.toml")) == config
    assert FedAdapterConfig().dp == "none" and load_config(
        FedAdapterConfig().write(tmp_path / "d.toml")).dp_epsilon is None


# ---------------------------------------------------------------- whole tiny federations


def _finish(config: FedAdapterConfig, state: Any, out: Path) -> dict[str, Any]:
    """Write ``result.json`` for a LocalGrid run as a real run does, and read it back."""
    adapted = build_adapted(config.small, config.lora_rank, config.lora_alpha, config.seed)
    AdapterModelParty(config, load_task(config.task), adapted, None, state).finish(0.0, 0.0, out)
    return json.loads((out / "result.json").read_text())


def _sent_down(folder: Path, rnd: int) -> dict[str, torch.Tensor]:
    """The global adapter the model party sent data-party-0 to train in round ``rnd``."""
    return next(m.payload for m in crossings(folder / "data-party-0.jsonl")
                if m.kind == Kind.TENSORS and m.meta.get("artifact") == GLOBAL_ADAPTER
                and m.meta["op"] == "train" and m.meta["round"] == rnd)


@pytest.mark.usefixtures("flower_identity")
def test_central_dp_run_clips_at_the_model_party_and_reports_epsilon(tmp_path):
    config = FedAdapterConfig(**TINY, dp="central", dp_epsilon=8.0, dp_clip=0.5,
                              faults={"data-party-1": "crash:1"})
    state, grid, _ = run_local(config, tmp_path / "transcripts")
    data = _finish(config, state, tmp_path)
    dp = data["metrics"]["privacy"]["dp"]
    sigma = noise_multiplier(config)
    assert dp["mode"] == "central" and dp["unit"] == "data party (user-level)"
    assert dp["noise_multiplier"] == sigma and dp["rounds"] == 2 and dp["clip"] == 0.5
    assert 7.9 <= dp["epsilon"] == dp["epsilon_prv"] <= 8.0
    assert dp["epsilon_rdp"] == pytest.approx(epsilons(sigma, 2, DELTA)["rdp"])
    assert "dp" in data["metrics"]["privacy"]["measured"]
    first, second = dp["per_round"]
    # Round 1: party 1 crashed; the denominator is still the 3 parties asked.
    assert (first["asked"], first["aggregated"]) == (3, 2)
    assert first["noise_std"] == pytest.approx(sigma * 0.5 / 3)
    assert set(first["pre_clip_norms"]) == {"data-party-0", "data-party-2"}
    assert second["clipped_by"] == "model party" and second["aggregated"] == 3
    norms = second["pre_clip_norms"]
    assert norms == {p: pytest.approx(v["update-norm"], rel=1e-6)
                     for p, v in grid.ledger.train[2].items()}
    assert second["clipped_updates"] == sum(n > 0.5 for n in norms.values())
    # The released adapter: start + Σ clip(δ_i) / 3 + noise of std σC/3.
    start = _sent_down(tmp_path / "transcripts", 2)
    updates = last_updates(tmp_path / "transcripts", 2)
    assert state.final is not None
    exact, _ = central_aggregate(start, [u for u, _ in updates.values()], 0.5, 0.0, 3)
    noise = [state.final[n].double() - exact[n].double() for n in start]
    assert _std(noise) == pytest.approx(sigma * 0.5 / 3, rel=0.1)
    assert "ε = " in " ".join(data["notes"])


@pytest.mark.usefixtures("flower_identity")
def test_local_dp_run_sends_only_noised_updates_and_reports_epsilon(tmp_path):
    config = FedAdapterConfig(**TINY, dp="local", dp_noise_multiplier=0.5, dp_clip=0.2)
    state, _, _ = run_local(config, tmp_path / "transcripts")
    data = _finish(config, state, tmp_path)
    dp = data["metrics"]["privacy"]["dp"]
    assert dp["mode"] == "local" and dp["noise_multiplier"] == 0.5
    assert dp["epsilon"] == pytest.approx(epsilons(0.5, 2, DELTA)["prv"])
    assert all(r["clipped_by"] == "each data party" and r["pre_clip_norms"] is None
               and r["noise_std"] == pytest.approx(0.1) for r in dp["per_round"])
    # What crossed (the transcript) is the noised update: its δ has per-coordinate std σC
    # (the clipped signal is at most C over all coordinates).
    start = _sent_down(tmp_path / "transcripts", 2)
    updates = last_updates(tmp_path / "transcripts", 2)
    for update, _ in updates.values():
        assert _std([update[n].double() - start[n].double() for n in start]) == \
            pytest.approx(0.5 * 0.2, rel=0.1)
    # ... and the model party averaged them unweighted.
    assert state.final is not None
    for name, value in state.final.items():
        mean = sum(u[name].double() for u, _ in updates.values()) / 3
        torch.testing.assert_close(value.double(), mean, rtol=0, atol=1e-6)


@pytest.mark.usefixtures("flower_identity")
def test_central_dp_under_secure_aggregation_clips_at_each_party_and_reports_epsilon(
        tmp_path):
    secure = {**TINY, "rounds": 1, "evaluate_initial": False}
    config = FedAdapterConfig(**secure, secure_aggregation=True, dp="central",
                              dp_noise_multiplier=1.0, dp_clip=0.5)
    state, _, _ = run_local(config, tmp_path / "transcripts")
    data = _finish(config, state, tmp_path)
    dp = data["metrics"]["privacy"]["dp"]
    assert dp["epsilon"] == pytest.approx(epsilons(1.0, 1, DELTA)["prv"])
    assert dp["clipped_by"] == "each data party, before masking"
    (entry,) = dp["per_round"]
    assert (entry["asked"], entry["aggregated"]) == (3, 3)
    assert entry["clipped_updates"] is None and entry["pre_clip_norms"] is None
    assert_only_masked_updates_crossed(tmp_path / "transcripts",
                                       ["data-party-0", "data-party-1", "data-party-2"])
    # The same parties' plain updates (training is seeded) give the noiseless aggregate:
    # what SecAgg+ released differs from it by noise of std σC/n (+ quantisation).
    run_local(FedAdapterConfig(**secure), tmp_path / "plain")
    updates = last_updates(tmp_path / "plain", 1)
    start = _sent_down(tmp_path / "plain", 1)
    exact, _ = central_aggregate(start, [u for u, _ in updates.values()], 0.5, 0.0, 3)
    assert state.final is not None
    noise = [state.final[n].double() - exact[n].double() for n in start]
    assert _std(noise) == pytest.approx(1.0 * 0.5 / 3, rel=0.1)
