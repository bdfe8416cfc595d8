"""A run's contract is known before it starts: ``Strategy.contract_for(config)``. The runner
wires the boundary with it, the run holds to it (no strategy swaps it mid-run), and the result
names it; every registered strategy runs here once on the tiny models, and the strategies whose
contract a setting changes run once more with that setting."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from crossbound.boundary.contracts import OPEN_TEXT, AccessContract, role_of
from crossbound.boundary.transcript import verify_transcript
from crossbound.catalog import all_strategies, get_strategy
from crossbound.cli import app as cli_app
from crossbound.result import Result
from crossbound.runner import run_strategy
from crossbound.service.serve import ServeError, contract_named
from crossbound.strategy import RunContext, Strategy, StrategyConfig

TASK = "clinic-triage:n=120,seed=3"
SMALL_TASK = "clinic-triage:n=60,seed=0"

# (strategy, task, small model, --set overrides, the contract's name when not the class's)
RUNS: dict[str, tuple[str, str, str, dict[str, str], str | None]] = {
    "remote-lm": ("remote-lm", TASK, "tiny-small", {"eval_limit": "6"}, None),
    "local-finetune": ("local-finetune", TASK, "tiny-small",
                       {"epochs": "0.5", "eval_limit": "6", "attacks": "false"}, None),
    "logit-kd": ("logit-kd", TASK, "tiny-small",
                 {"eval_limit": "6", "epochs": "0.5", "transfer_limit": "8",
                  "max_length": "64"}, None),
    "lm-synthetic-data": ("lm-synthetic-data", TASK, "tiny-small", {
        "sanitizer": "regex", "eval_limit": "4", "epochs": "0.5", "train_limit": "30",
        "max_length": "96", "per_label": "1", "max_new_tokens": "12", "min_chars": "1",
        "min_words": "1", "filter_agreement": "false"}, None),
    "lm-synthetic-data raw seeds": ("lm-synthetic-data", TASK, "tiny-small", {
        "seed_privacy": "none", "allow_raw_seeds": "true", "eval_limit": "4", "epochs": "0.5",
        "train_limit": "30", "max_length": "96", "per_label": "1", "max_new_tokens": "12",
        "min_chars": "1", "min_words": "1", "filter_agreement": "false", "dedupe": "false"},
        "raw-private-seeds-to-lm"),
    "offsite-tuning": ("offsite-tuning", TASK, "tiny-small", {
        "adapter_bottom": "1", "adapter_top": "1", "emulator_layers": "1", "epochs": "0.5",
        "train_limit": "8", "eval_limit": "4", "max_length": "64", "compare_full": "false",
        "prompts_per_request": "4"}, None),
    "dp-synthetic-data": ("dp-synthetic-data", TASK, "tiny-small", {
        "per_label": "2", "min_chars": "1", "min_words": "1", "eval_limit": "6",
        "max_new_tokens": "12", "sm_batch_size": "8", "sm_epochs": "1"}, None),
    "mutual-kt": ("mutual-kt", TASK, "tiny-small", {
        "rounds": "1", "transfer_limit": "6", "eval_limit": "6", "train_limit": "16",
        "max_length": "512", "compare_local": "false"}, None),
    "cascade": ("cascade", TASK, "tiny-small", {
        "sanitizer": "regex", "sm_epochs": "0", "eval_limit": "6", "validation_limit": "6",
        "reference_raw": "false"}, None),
    "cascade raw prompts": ("cascade", TASK, "tiny-small", {
        "protect": "none", "allow_raw": "true", "sm_epochs": "0", "eval_limit": "6",
        "validation_limit": "6", "reference_raw": "false"}, OPEN_TEXT.name),
    "private-prompt": ("private-prompt", TASK, "tiny-small", {
        "sanitizer": "regex", "sm_epochs": "0", "eval_limit": "6", "validation_limit": "6",
        "reference_raw": "false"}, None),
    "proxy-tuning": ("proxy-tuning", SMALL_TASK, "tiny-small", {
        "eval_limit": "2", "train_limit": "4", "alphas": "1"}, None),
    "speculative": ("speculative", SMALL_TASK, "tiny-small", {
        "limit": "2", "max_new_tokens": "4", "compare": "false"}, None),
    "split-finetune": ("split-finetune", SMALL_TASK, "tiny-small", {
        "train_limit": "8", "eval_limit": "2", "epochs": "0.5", "max_length": "64",
        "evaluate_before": "false", "compare_full_memory": "false", "attack": "false"}, None),
    "split-finetune head at the model party": ("split-finetune", SMALL_TASK, "tiny-small", {
        "u_shape": "false", "train_limit": "8", "eval_limit": "2", "epochs": "0.5",
        "max_length": "64", "evaluate_before": "false", "compare_full_memory": "false",
        "attack": "false"}, "split-head-at-model"),
    "split-inference": ("split-inference", SMALL_TASK, "tiny-small", {
        "eval_limit": "2", "max_length": "64", "attack": "false"}, None),
}


def test_every_strategy_names_the_contract_of_its_default_config():
    for name, cls in all_strategies().items():
        contract = cls.contract_for(cls.config_class())
        assert isinstance(contract, AccessContract), name
        # The class attribute is what the default config implies (listings show it).
        assert contract is cls.contract, name


def test_every_registered_strategy_is_run_here():
    assert {strategy for strategy, *_ in RUNS.values()} == set(all_strategies())


@pytest.mark.parametrize("label", RUNS)
def test_a_run_holds_to_the_contract_its_config_implies(label, tmp_path):
    strategy, task, small, overrides, named = RUNS[label]
    cls = get_strategy(strategy)
    contract = cls.contract_for(cls.config_class.from_overrides(overrides))
    assert contract.name == (named or cls.contract.name)
    result = run_strategy(strategy, task=task, large="tiny-large", small=small,
                          out_dir=tmp_path, config=dict(overrides))
    assert result.transcript["contract"] == contract.name
    if "contract" in result.metrics["privacy"]:  # the strategy reports it too
        assert result.metrics["privacy"]["contract"] == contract.name
    if result.transcript["entries"]:
        assert verify_transcript(tmp_path / "transcript.jsonl").ok
    # Every crossing is one the contract allows (its direction, kind and size).
    for line in (tmp_path / "transcript.jsonl").read_text().splitlines():
        entry = json.loads(line)
        rules = [r for r in contract.rules if r.sender == role_of(entry["sender"])
                 and entry["kind"] in {k.value for k in r.kinds}]
        assert rules, f"{entry['sender']} sent {entry['kind']}: not in {contract.describe()}"
        assert any(r.max_bytes is None or entry["bytes"] <= r.max_bytes for r in rules)


def test_the_runner_refuses_a_contract_changed_mid_run(tmp_path, monkeypatch):
    class Swapper(Strategy[StrategyConfig]):
        name = "contract-swapper"
        contract = OPEN_TEXT

        def run(self, ctx: RunContext) -> Result:
            ctx.boundary.contract = None  # what contract_for is there to replace
            return Result(strategy=self.name, config={}, task={}, models={})

    from crossbound import runner

    monkeypatch.setattr(runner, "_get_strategy", lambda name: Swapper)
    with pytest.raises(RuntimeError, match="contract_for"):
        run_strategy(Swapper.name, task=TASK, large="tiny-large", small="tiny-small",
                     out_dir=tmp_path)


def test_a_served_model_party_holds_to_the_contract_the_runs_settings_imply():
    """``crossbound serve --contract STRATEGY [--set k=v]``: the contract a data party's run of
    that strategy with those settings holds to (``contract_for``), not the class default."""
    cascade = get_strategy("cascade")
    assert contract_named("cascade") is cascade.contract
    assert contract_named("cascade", {"protect": "none", "allow_raw": "true"}) is OPEN_TEXT
    raw_seeds = {"seed_privacy": "none", "allow_raw_seeds": "true"}
    assert contract_named("lm-synthetic-data", raw_seeds).name == "raw-private-seeds-to-lm"
    assert contract_named(OPEN_TEXT.name) is OPEN_TEXT
    with pytest.raises(ServeError, match="takes no settings"):
        contract_named(OPEN_TEXT.name, {"protect": "none"})
    with pytest.raises(ServeError, match=r"cascade's contract.*no setting 'nope'"):
        contract_named("cascade", {"nope": "1"})
    with pytest.raises(ServeError, match="allow_raw"):  # the config's own checks run
        contract_named("cascade", {"protect": "none"})


def test_serve_cli_takes_the_strategys_settings(tmp_path):
    """The settings are checked before any model loads: a bad one exits at once (code 2)."""
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\ndata-party-0 = "key-of-data-party-0-0123456789"\n')
    runner = CliRunner()
    base = ["serve", "--model", "tiny-large", "--keys", str(keys), "--contract", "cascade"]
    refused = runner.invoke(cli_app, [*base, "--set", "protect=none"])
    assert refused.exit_code == 2 and "allow_raw" in refused.output
    malformed = runner.invoke(cli_app, [*base, "--set", "protect"])
    assert malformed.exit_code == 1 and "expected key=value" in malformed.output
