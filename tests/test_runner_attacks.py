"""Attacks are a measurement step of the runner: a strategy offers its tuned SM
(``ctx.offer_tuned_sm``), and the runner attacks it after ``run`` returns where the config's
``attacks`` asks, then lets it go; no strategy calls attack code itself."""

from __future__ import annotations

import ast
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import crossbound
from crossbound import runner
from crossbound.boundary.contracts import NOTHING
from crossbound.config_checks import Attacks
from crossbound.evaluate.leakage import small_model_leakage
from crossbound.models.loading import load_model
from crossbound.result import Result
from crossbound.runner import run_strategy
from crossbound.strategy import RunContext, Strategy, StrategyConfig
from crossbound.tasks.registry import load_task

TASK = "clinic-triage:n=120,seed=3"
SETTINGS = {"attack_limit": "6", "canary_candidates": "10", "precision": "fp32"}


@dataclass
class ToyConfig(Attacks, StrategyConfig):
    offer: bool = True  # whether the run offers its SM for attack


class Toy(Strategy[ToyConfig]):
    """Offers its SM, untuned (what the attacks measure does not matter here), for attack."""

    name = "toy-offers-its-sm"
    direction = "baseline"
    contract = NOTHING
    offered: weakref.ref[Any] | None = None

    def run(self, ctx: RunContext) -> Result:
        sm = ctx.load_small()
        if self.config.offer:
            ctx.offer_tuned_sm(sm.model, sm.tokenizer, ctx.task.parties[0][:8], max_length=96)
            Toy.offered = weakref.ref(sm.model)
        result = self.new_result(ctx)
        result.metrics["privacy"] = {"private_records_sent": 0}
        return result


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> type[Toy]:
    monkeypatch.setattr(runner, "_get_strategy", lambda name: Toy)
    Toy.offered = None
    return Toy


def _alive_after_the_run(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the offered SM is still alive when the runner goes on to the PII scan (the step
    after the run and its attacks), one bool per run."""
    alive: list[bool] = []
    scan = runner.pii_crossed_summary

    def spy(*args: Any, **kwargs: Any) -> dict[str, Any]:
        alive.append(Toy.offered is not None and Toy.offered() is not None)
        return scan(*args, **kwargs)

    monkeypatch.setattr(runner, "pii_crossed_summary", spy)
    return alive


def test_the_runner_attacks_an_offered_model_and_lets_it_go(toy, tmp_path, monkeypatch):
    alive = _alive_after_the_run(monkeypatch)
    result = run_strategy(toy.name, task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path, config=dict(SETTINGS))
    privacy = result.metrics["privacy"]
    assert privacy["measured"] == ["pii_crossed", "membership", "canaries"]
    assert result.metrics["efficiency"]["attack_seconds"] > 0
    assert alive == [False]  # the offered SM is let go once the attacks are done
    # The same numbers the attack code gives when called on that model directly.
    task = load_task(TASK)
    model = load_model("tiny-small")
    direct = small_model_leakage(model.model, model.tokenizer, task, task.parties[0][:8],
                                 [load_model("tiny-small", frozen=True).model], limit=6,
                                 canary_candidates=10, seed=0, max_length=96)
    assert {k: privacy[k] for k in direct} == direct


def test_no_attack_where_the_config_says_attacks_false(toy, tmp_path, monkeypatch):
    alive = _alive_after_the_run(monkeypatch)
    result = run_strategy(toy.name, task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path, config={**SETTINGS, "attacks": "false"})
    assert result.metrics["privacy"]["measured"] == ["pii_crossed"]
    assert "attack_seconds" not in result.metrics["efficiency"]
    assert toy.offered is not None and alive == [False]  # let go all the same


def test_a_run_that_offers_nothing_is_not_attacked_and_says_so(toy, tmp_path):
    result = run_strategy(toy.name, task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path, config={**SETTINGS, "offer": "false"})
    assert "membership" not in result.metrics["privacy"]
    assert any("offered no tuned model" in note for note in result.notes)


def test_a_config_without_the_attacks_group_is_never_attacked(tmp_path, monkeypatch):
    class Plain(Strategy[StrategyConfig]):
        name = "plain-offers"
        direction = "baseline"
        contract = NOTHING

        def run(self, ctx: RunContext) -> Result:
            sm = ctx.load_small()
            ctx.offer_tuned_sm(sm.model, sm.tokenizer, ctx.task.parties[0][:4], max_length=64)
            return self.new_result(ctx)

    monkeypatch.setattr(runner, "_get_strategy", lambda name: Plain)
    result = run_strategy(Plain.name, task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path)
    assert result.metrics["privacy"]["measured"] == ["pii_crossed"]


def test_no_strategy_calls_attack_code_itself():
    """The families offer models; only the runner imports the attacks (evaluate.leakage)."""
    root = Path(crossbound.__file__).parent
    offenders = []
    for family in ("baselines", "downward", "upward", "inference", "split"):
        for path in sorted((root / family).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module in (
                        "crossbound.evaluate.leakage", "crossbound.evaluate.membership",
                        "crossbound.evaluate.canaries"):
                    offenders.append(f"{path.name}: {node.module}")
    assert not offenders, offenders
