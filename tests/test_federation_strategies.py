"""Federated strategies: one config class per strategy over a shared base, the registry that
maps each name to its config and run, and files written before the configs were split.

No model is loaded and nothing runs on Flower: seconds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.config import FederationConfig
from crossbound.federation.mutual_config import FedMutualKTConfig
from crossbound.federation.strategies import (
    FEDERATED_STRATEGIES,
    FederatedStrategySpec,
    config_from_dict,
    config_from_overrides,
    federated_strategy,
    load_config,
    register_federated,
)

pytestmark = pytest.mark.federation

TASK = "clinic-triage:n=80,seed=5,parties=3"

# `FederationConfig(...).to_toml()` of the single config before the split: every setting of
# every strategy, the others' at their defaults, None as "none".
OLD_TOML = """\
seed = 0
precision = "auto"
strategy = "fed-adapter"
task = "clinic-triage:n=80,seed=5,parties=3"
small = "tiny-small"
rounds = 2
local_epochs = 1.0
lr = 0.001
batch_size = 8
max_length = 192
lora_rank = 8
lora_alpha = 16
aggregation = "median"
trim_fraction = 0.2
eval_limit = 200
evaluate_initial = true
max_update_norm = "none"
round_timeout = 3600.0
min_parties = 2
secure_aggregation = false
secagg_shares = 1.0
secagg_threshold = 0.5
secagg_clipping_range = 8.0
secagg_quantization_bits = 22
dp = "none"
dp_clip = 3.0
dp_noise_multiplier = "none"
dp_epsilon = "none"
dp_delta = 1e-05
runtime = "simulation"
workers = 1
threads = 1
keep_payloads = true
large = "smollm2-135m"
transfer_limit = 200
top_k = 16
value_bits = 8
kd_weight = 0.5
temperature = 1.0
combine = "min-ce"
lm_targets = "answer"
lm_epochs = 2.0
lm_lr = 0.001
lm_lora_rank = 8
emulator_of = "none"
adapter_bottom = 2
adapter_top = 2
emulator_layers = "none"
bundle_dtype = "bfloat16"
party_store = ""
out = "runs/federate"

[faults]
data-party-1 = "scale:10"
"""

# Its JSON (`write("x.json")`) of a fed-mutual-kt config: the same, with null for None.
OLD_JSON = (
    '{"adapter_bottom": 2, "adapter_top": 2, "aggregation": "fedavg", "batch_size": 8, '
    '"bundle_dtype": "bfloat16", "combine": "min-ce", "dp": "none", "dp_clip": 3.0, '
    '"dp_delta": 1e-05, "dp_epsilon": null, "dp_noise_multiplier": null, '
    '"emulator_layers": null, "emulator_of": null, "eval_limit": 200, "evaluate_initial": '
    'true, "faults": {}, "kd_weight": 0.5, "keep_payloads": true, "large": "tiny-large", '
    '"lm_epochs": 2.0, "lm_lora_rank": 8, "lm_lr": 0.001, "lm_targets": "answer", '
    '"local_epochs": 1.0, "lora_alpha": 16, "lora_rank": 8, "lr": 0.001, "max_length": 192, '
    '"max_update_norm": null, "min_parties": 2, "out": "runs/federate", "party_small": '
    '{"data-party-2": "tiny-other"}, "party_store": "", "precision": "auto", "round_timeout": '
    '3600.0, "rounds": 3, "runtime": "simulation", "secagg_clipping_range": 8.0, '
    '"secagg_quantization_bits": 22, "secagg_shares": 1.0, "secagg_threshold": 0.5, '
    '"secure_aggregation": false, "seed": 0, "small": "smollm2-135m:layers=6", "strategy": '
    '"fed-mutual-kt", "task": "clinic-triage:parties=4,partition=dirichlet,alpha=0.5", '
    '"temperature": 1.0, "threads": 1, "top_k": 4, "transfer_limit": 200, "trim_fraction": '
    '0.2, "value_bits": 8, "workers": 1}')


def test_every_registered_strategy_has_its_own_config_class():
    assert sorted(FEDERATED_STRATEGIES) == ["fed-adapter", "fed-mutual-kt"]
    assert federated_strategy("fed-adapter").config_class is FedAdapterConfig
    assert federated_strategy("fed-mutual-kt").config_class is FedMutualKTConfig
    for name, spec in FEDERATED_STRATEGIES.items():
        config = spec.config_class()
        assert config.strategy == name and isinstance(config, FederationConfig)
        assert set(FederationConfig.settings()) <= set(spec.config_class.settings())
    # No setting is in both strategies' configs but the shared ones.
    own = [set(s.config_class.settings()) - set(FederationConfig.settings())
           for s in FEDERATED_STRATEGIES.values()]
    assert not own[0] & own[1]
    with pytest.raises(ValueError, match=r"strategy must be one of \['fed-adapter', 'fed-mu"):
        federated_strategy("fed-kt")


def test_the_registry_refuses_a_name_twice_and_a_config_of_another_strategy():
    spec = FEDERATED_STRATEGIES["fed-adapter"]
    again = FederatedStrategySpec("fed-adapter", FedAdapterConfig, "the same name again",
                                  spec.model_party, spec.data_party)
    with pytest.raises(ValueError, match="'fed-adapter' is already registered"):
        register_federated(again)
    assert FEDERATED_STRATEGIES["fed-adapter"] is spec
    with pytest.raises(ValueError, match="FedAdapterConfig is the config of 'fed-adapter'"):
        dataclasses.replace(spec, name="fed-other")


def test_the_shared_base_and_a_wrong_strategy_are_refused():
    with pytest.raises(TypeError, match="settings every federated strategy shares"):
        FederationConfig()
    with pytest.raises(ValueError, match="FedAdapterConfig is the config of 'fed-adapter'"):
        FedAdapterConfig(strategy="fed-mutual-kt")


def test_a_config_file_written_before_the_split_loads_as_its_strategy(tmp_path):
    toml = tmp_path / "old.toml"
    toml.write_text(OLD_TOML)
    assert load_config(toml) == FedAdapterConfig(
        task=TASK, small="tiny-small", rounds=2, aggregation="median",
        faults={"data-party-1": "scale:10"})
    path = tmp_path / "old.json"
    path.write_text(OLD_JSON)
    assert load_config(path) == FedMutualKTConfig(
        large="tiny-large", party_small={"data-party-2": "tiny-other"}, top_k=4)


def test_a_written_config_holds_its_strategy_settings_only_and_reads_back(tmp_path):
    mutual = FedMutualKTConfig(task=TASK, large="tiny-large", eval_limit=None,
                               party_small={"data-party-2": "tiny-other"})
    adapter = FedAdapterConfig(task=TASK, dp="central", dp_epsilon=3.0,
                               faults={"data-party-0": "nan"})
    for config in (mutual, adapter):
        for name in ("c.toml", "c.json"):
            path = config.write(tmp_path / name)
            assert load_config(path) == config
            assert set(config.to_dict()) == set(type(config).settings())
    data = json.loads(mutual.write(tmp_path / "m.json").read_text())
    assert "aggregation" not in data and data["party_small"] == {"data-party-2": "tiny-other"}
    assert "party_small" not in adapter.to_toml() and "[faults]" in adapter.to_toml()


@pytest.mark.parametrize(("settings", "message"), [
    ({"roundz": 3}, r"fed-adapter has no setting 'roundz'; its settings: seed, precision, "
                    r"strategy, task"),
    ({"strategy": "fed-mutual-kt", "aggregation": "median"},
     r"aggregation is a fed-adapter setting; fed-mutual-kt does not use it: remove it or set "
     r"strategy = 'fed-adapter' \(fed-mutual-kt's settings: .*lm_lora_rank, party_small\)"),
    ({"strategy": "fed-mutual-kt", "dp": "central"}, r"dp is a fed-adapter setting"),
    ({"strategy": "fed-mutual-kt", "emulator_of": "tiny-large"},
     r"emulator_of is a fed-adapter setting"),
    ({"top_k": 8}, r"top_k is a fed-mutual-kt setting; fed-adapter does not use it"),
    ({"strategy": 3}, r"strategy must be a string"),
])
def test_a_setting_the_strategy_lacks_is_refused_naming_the_valid_ones(settings, message):
    with pytest.raises(ValueError, match=message):
        config_from_dict(settings)


def test_another_strategys_settings_at_their_defaults_are_dropped():
    config = config_from_dict({"strategy": "fed-mutual-kt", "secure_aggregation": False,
                               "aggregation": "fedavg", "emulator_of": None, "dp": "none"})
    assert config == FedMutualKTConfig()
    assert config_from_dict({"top_k": 16, "party_small": {}}) == FedAdapterConfig()


def test_set_overrides_build_the_named_strategy_as_the_bench_passes_them():
    # benchmarks/federation_scaling.py always passes secure_aggregation (a fed-adapter
    # setting) and the run's strategy.
    fixed = {"small": "tiny-small", "rounds": "2", "secure_aggregation": "False",
             "runtime": "simulation", "task": TASK}
    mutual = config_from_overrides({**fixed, "strategy": "fed-mutual-kt", "top_k": "8"})
    assert isinstance(mutual, FedMutualKTConfig) and (mutual.top_k, mutual.rounds) == (8, 2)
    secure = config_from_overrides({**fixed, "secure_aggregation": "True", "lr": "1"})
    assert isinstance(secure, FedAdapterConfig) and secure.secure_aggregation
    assert secure.lr == 1.0 and isinstance(secure.lr, float)
    with pytest.raises(ValueError, match="has no setting 'no_such_setting'"):
        config_from_overrides({"no_such_setting": "1"})
    with pytest.raises(ValueError, match="secure_aggregation is a fed-adapter setting"):
        config_from_overrides({**fixed, "strategy": "fed-mutual-kt",
                               "secure_aggregation": "True"})


def test_each_config_checks_what_only_the_task_can_say():
    adapter = FedAdapterConfig(task=TASK, faults={"data-party-3": "nan"})
    with pytest.raises(ValueError, match="faults: data-party-3 does not exist"):
        adapter.check_parties(3)
    FedAdapterConfig(task=TASK, aggregation="trimmed-mean", trim_fraction=0.4).check_parties(3)
    mutual = FedMutualKTConfig(task=TASK, party_small={"data-party-5": "tiny-other"})
    with pytest.raises(ValueError, match="party_small: data-party-5 does not exist"):
        mutual.check_parties(3)
    with pytest.raises(ValueError, match="min_parties = 4 exceeds the 3 data parties"):
        FedMutualKTConfig(task=TASK, min_parties=4).check_parties(3)


def test_ot_plus_keeps_its_party_store_under_the_output_folder(tmp_path):
    config = FedAdapterConfig(emulator_of="tiny-large")
    assert config.for_run(tmp_path).party_store == str((tmp_path / "parties").resolve())
    assert FedAdapterConfig().for_run(tmp_path) == FedAdapterConfig()
    assert FedMutualKTConfig().for_run(tmp_path) == FedMutualKTConfig()


def test_cli_lists_the_registered_strategies_and_their_settings():
    from crossbound.cli import app as cli_app

    result = CliRunner().invoke(cli_app, ["federate", "--list-strategies"])
    assert result.exit_code == 0, result.output
    for text in ("fed-adapter", "fed-mutual-kt", "shared settings: seed, precision, strategy"):
        assert text in result.output


def test_the_data_parties_handlers_come_from_the_registry():
    pytest.importorskip("flwr")
    from crossbound.federation.client import handle_train
    from crossbound.federation.mutual_client import handle_train as mutual_train

    adapter = FEDERATED_STRATEGIES["fed-adapter"].data_party()
    mutual = FEDERATED_STRATEGIES["fed-mutual-kt"].data_party()
    assert adapter.train is handle_train and mutual.train is mutual_train
    assert adapter.mods(FedAdapterConfig()) == []
    assert len(adapter.mods(FedAdapterConfig(secure_aggregation=True))) == 1
    assert mutual.mods(FedMutualKTConfig()) == []


def test_the_example_configs_load_as_the_strategy_they_name():
    root = Path(__file__).resolve().parents[1] / "configs"
    kinds = {path.name: type(load_config(path)).__name__ for path in root.glob("*.toml")}
    assert kinds.get("federate-mutual-kt.toml") == "FedMutualKTConfig"
    assert kinds.get("federate-clinic-triage.toml") == "FedAdapterConfig"
