"""The strategy framework, the baselines end to end on tiny models, the fast label scorer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import pytest
import torch

from crossbound.boundary.transcript import verify_transcript
from crossbound.catalog import all_strategies
from crossbound.config_checks import (
    check_at_least,
    check_choice,
    check_in_range,
    check_limits,
    check_positive,
)
from crossbound.evaluate.utility import (
    choice_logprobs,
    choice_logprobs_reference,
    classification_metrics,
    evaluate_model,
    rouge_l,
)
from crossbound.models import load_model
from crossbound.naming import DATA_PARTY, data_party
from crossbound.result import Result
from crossbound.runner import run_strategy
from crossbound.strategy import Registry, RunContext, Strategy, StrategyConfig
from crossbound.tasks.registry import load_task
from crossbound.training.causal_lm import answer_loss, build_batch

TASK = "clinic-triage:n=120,seed=3"


@dataclass
class DemoConfig(StrategyConfig):
    rate: float = 0.1
    mode: Literal["a", "b"] = "a"
    limit: int | None = None

    def validate(self) -> None:
        super().validate()
        if self.rate <= 0:
            raise ValueError("rate must be > 0")


def test_config_overrides_convert_and_validate():
    cfg = DemoConfig.from_overrides({"rate": "2", "mode": "b", "limit": "none"})
    assert cfg == DemoConfig(rate=2.0, mode="b", limit=None)
    assert DemoConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="choose one of"):
        DemoConfig.from_overrides({"mode": "c"})
    with pytest.raises(ValueError, match="no setting"):
        DemoConfig.from_overrides({"nope": "1"})
    with pytest.raises(ValueError, match="rate must be"):
        DemoConfig.from_overrides({"rate": "-1"})
    with pytest.raises(ValueError, match="expected int"):
        DemoConfig.from_overrides({"limit": "many"})


def test_registry_rejects_duplicates():
    strategies = all_strategies()
    assert {"local-finetune", "remote-lm"} <= set(strategies)
    registry = Registry("baseline")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(strategies["remote-lm"])


def test_the_type_argument_sets_config_class_and_types_the_config():
    from crossbound.baselines.remote_lm import RemoteLM, RemoteLMConfig

    assert RemoteLM.config_class is RemoteLMConfig
    assert RemoteLM().config == RemoteLMConfig()
    with pytest.raises(TypeError, match="takes a RemoteLMConfig"):
        RemoteLM(DemoConfig())  # type: ignore[arg-type]

    class Demo(Strategy[DemoConfig]):
        def run(self, ctx: RunContext) -> Result:
            raise NotImplementedError

    assert Demo.config_class is DemoConfig and Demo().config.rate == 0.1
    with pytest.raises(TypeError, match="drop config_class"):
        class Mismatched(Strategy[DemoConfig]):
            config_class = RemoteLMConfig

            def run(self, ctx: RunContext) -> Result:
                raise NotImplementedError


def test_config_checks_name_the_field_the_rule_and_the_value():
    cfg = DemoConfig()
    cfg.limit = 0
    with pytest.raises(ValueError, match="limit must be >= 1 or None, got 0"):
        check_limits(cfg, "limit")
    cfg.limit = None
    check_limits(cfg, "limit")
    cfg.rate = float("nan")
    with pytest.raises(ValueError, match="rate must be > 0, got nan"):
        check_positive(cfg, "rate")
    with pytest.raises(ValueError, match="rate must be >= 0, got nan"):
        check_at_least(cfg, 0, "rate")
    with pytest.raises(ValueError, match=r"seed must be in 1\.\.3, got 0"):
        check_in_range(cfg, "seed", 1, 3)
    with pytest.raises(ValueError, match="mode must be b or c, got 'a'"):
        check_choice(cfg, "mode", ("b", "c"))


def test_sm_training_checks_every_setting_under_its_own_name():
    from crossbound.baselines.local_finetune import LocalFinetuneConfig
    from crossbound.upward.mutual_kt import MutualKTConfig

    for bad, message in (({"epochs": 0.0}, "epochs must be > 0"), ({"lr": -1.0}, "lr must be"),
                         ({"batch_size": 0}, "batch_size must be >= 1"),
                         ({"max_length": 8}, "max_length must be >= 16"),
                         ({"trainable": "head"}, "trainable must be full, lora or linear"),
                         ({"lora_rank": 0}, "lora_rank must be >= 1"),
                         ({"eval_limit": 0}, "eval_limit must be >= 1 or None")):
        with pytest.raises(ValueError, match=message):
            LocalFinetuneConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sm_trainable must be full or lora, got 'linear'"):
        MutualKTConfig(sm_trainable="linear")  # type: ignore[arg-type]


def test_unset_lr_follows_the_size_of_what_trains():
    """2e-4 collapsed a fully fine-tuned 0.5B (docs/results.md): an unset rate is lower for
    anything over LARGE_TRAINABLE trainable weights, and a rate given is kept."""
    from crossbound.baselines.local_finetune import LocalFinetuneConfig
    from crossbound.config_checks import LARGE_MODEL_LR, LARGE_TRAINABLE, SMALL_MODEL_LR

    def model(trainable: int, frozen: int = 0) -> torch.nn.Module:
        # meta tensors: counted, never allocated
        module = torch.nn.Module()
        module.a = torch.nn.Parameter(torch.empty(trainable, device="meta"))
        module.b = torch.nn.Parameter(torch.empty(frozen, device="meta"), requires_grad=False)
        return module

    unset = LocalFinetuneConfig()
    assert unset.lr is None
    assert unset.rate_for(model(135_000_000)) == SMALL_MODEL_LR == 2e-4
    assert unset.rate_for(model(LARGE_TRAINABLE + 1)) == LARGE_MODEL_LR == 5e-5
    # LoRA on a large model: only the adapters train
    assert unset.rate_for(model(4_000_000, frozen=1_500_000_000)) == SMALL_MODEL_LR
    assert LocalFinetuneConfig(lr=1e-3).rate_for(model(LARGE_TRAINABLE + 1)) == 1e-3


def test_setting_groups_carry_defaults_checks_and_narrowed_literals():
    from crossbound.downward.lm_synthetic_config import LMSyntheticConfig
    from crossbound.downward.logit_kd import LogitKDConfig
    from crossbound.downward.offsite import OffsiteTuningConfig
    from crossbound.inference.proxy_strategy import ProxyTuningConfig
    from crossbound.upward.dp_synthetic import DPSyntheticConfig
    from crossbound.upward.mutual_kt import MutualKTConfig

    # a group's setting declared again keeps the group's check and takes the new default
    assert LogitKDConfig().epochs == 3.0 and LogitKDConfig().attacks is False
    assert ProxyTuningConfig().eval_limit == 60
    assert (DPSyntheticConfig().lm_lr, MutualKTConfig().lm_lr) == (5e-4, 1e-3)
    with pytest.raises(ValueError, match="epochs must be > 0"):
        LogitKDConfig(epochs=0.0)
    # a narrowed Literal: offsite-tuning trains its adapter blocks full or with LoRA only
    with pytest.raises(ValueError, match="trainable must be full or lora, got 'linear'"):
        OffsiteTuningConfig(trainable="linear")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"near_duplicate must be in \(0, 1\]"):
        LMSyntheticConfig(near_duplicate=0.0)
    with pytest.raises(ValueError, match="lm_batch_size must be >= 1"):
        DPSyntheticConfig(lm_batch_size=0)
    assert MutualKTConfig(lm_epochs=3.0).lm_training() == {
        "epochs": 3.0, "lr": 1e-3, "lora_rank": 8, "batch_size": 8}


def test_every_literal_setting_is_checked_by_the_base():
    with pytest.raises(ValueError, match="mode must be a or b, got 'c'"):
        DemoConfig(mode="c")  # type: ignore[arg-type]
    from crossbound.inference.cascade import CascadeConfig

    with pytest.raises(ValueError, match="router must be max_prob, margin, entropy or learned"):
        CascadeConfig(router="best")  # type: ignore[arg-type]


def test_bench_cells_are_declared_per_profile_and_read_only():
    from crossbound.strategy import cells
    from crossbound.upward.dp_synthetic import DPSyntheticData

    declared = cells(quick=[("small", {"eval_limit": "5"})])
    with pytest.raises(TypeError):
        declared["full"] = []  # type: ignore[index]

    class Demo(Strategy[DemoConfig]):
        bench_cells = declared

        def run(self, ctx: RunContext) -> Result:
            raise NotImplementedError

    assert Demo.bench_settings("quick") == [("small", {"eval_limit": "5"})]
    assert Demo.bench_settings("full") == []  # a profile not named runs none
    assert DPSyntheticData.bench_settings("quick") == []
    assert [label for label, _ in DPSyntheticData.bench_settings("full")] == ["eps3", "eps8"]


def test_kit_measurement_rules():
    from crossbound.baselines.common import label_metrics, mean_rouge

    task = load_task(TASK)
    examples = task.test[:4]
    assert task.choices is not None
    ids = torch.tensor([task.choices.index(ex.target) for ex in examples])
    scores = torch.nn.functional.one_hot(ids, len(task.choices)).float()
    assert label_metrics(task, examples, ids) == label_metrics(task, examples, scores)
    assert label_metrics(task, examples, ids)["accuracy"] == 1.0
    assert mean_rouge([ex.target for ex in examples], examples) == 1.0


def test_query_strategies_take_their_config_class_from_the_generic_base():
    from crossbound.inference.cascade import Cascade, CascadeConfig
    from crossbound.inference.private_prompt import PrivatePrompt, PrivatePromptConfig

    assert Cascade.config_class is CascadeConfig
    assert PrivatePrompt.config_class is PrivatePromptConfig
    assert Cascade.private_text_crosses and PrivatePrompt.private_text_crosses


def test_data_parties_are_named_in_one_place():
    assert data_party(0) == DATA_PARTY == "data-party-0" and data_party(3) == "data-party-3"
    with pytest.raises(ValueError, match=">= 0"):
        data_party(-1)
    with pytest.raises(TypeError):
        data_party("1")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["tiny-large", "tiny-other"])
def test_fast_label_scoring_matches_the_reference(name):
    lm = load_model(name)
    prompts = ["Route: chest pain\nAnswer:", "Hi\nAnswer:",
               "A longer message about a rash that itches at night\nAnswer:"]
    choices = ["cardiology", "dermatology", "neurology", "gastroenterology"]
    fast = choice_logprobs(lm.model, lm.tokenizer, prompts, choices, batch_size=2)
    slow = choice_logprobs_reference(lm.model, lm.tokenizer, prompts, choices)
    assert (fast - slow).abs().max() < 1e-4
    # Scoring a model that trains (its weights require grad) builds no autograd graph: one did
    # once, and a bench's SM scoring grew to 24 GB.
    assert any(p.requires_grad for p in lm.model.parameters()) and not fast.requires_grad


@pytest.mark.parametrize("name", ["tiny-large", "tiny-other"])
def test_answer_only_loss_equals_the_full_loss(name):
    lm = load_model(name)
    pairs = [("Route: chest pain\nAnswer:", " cardiology"), ("Hi there\nAnswer:", " skin")]
    batch = build_batch(lm.tokenizer, pairs, max_length=64)
    assert answer_loss(lm.model, batch).item() == pytest.approx(
        lm.model(**batch).loss.item(), rel=1e-5)


def test_record_loss_trains_on_every_token_and_answer_loss_on_the_answer_only():
    lm = load_model("tiny-small")
    pairs = [("Route: chest pain\nAnswer:", " cardiology"), ("Hi\nAnswer:", " skin")]
    answer = build_batch(lm.tokenizer, pairs, max_length=64)
    record = build_batch(lm.tokenizer, pairs, max_length=64, loss_on="record")
    assert torch.equal(answer["input_ids"], record["input_ids"])
    real = record["attention_mask"].bool()
    assert torch.equal(record["labels"][real], record["input_ids"][real])
    assert (record["labels"][~real] == -100).all()
    kept = answer["labels"] != -100
    assert torch.equal(answer["labels"][kept], record["labels"][kept])
    assert kept.sum() < real.sum()
    # the fast loss (LM head only where labels are) still equals the plain HF loss
    assert answer_loss(lm.model, record).item() == pytest.approx(
        lm.model(**record).loss.item(), rel=1e-5)
    with pytest.raises(ValueError, match="loss_on"):
        build_batch(lm.tokenizer, pairs, max_length=64, loss_on="prompt")  # type: ignore[arg-type]


def test_remote_lm_equals_evaluating_the_lm_directly(tmp_path):
    task = load_task(TASK)
    result = run_strategy("remote-lm", task=task, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path, config={"eval_limit": "20",
                                                    "prompts_per_request": "6"})
    lm = load_model("tiny-large")
    direct = evaluate_model(lm.model, lm.tokenizer, task, task.test[:20])
    assert result.metrics["utility"]["accuracy"] == pytest.approx(direct["accuracy"])


def test_metrics():
    m = classification_metrics(["a", "a", "b"], ["a", "b", "b"], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert rouge_l("refer to cardiology today", "refer to cardiology") == pytest.approx(6 / 7)
    assert rouge_l("", "x") == 0.0


def test_local_finetune_end_to_end_learns_and_sends_nothing(tmp_path):
    result = run_strategy(
        "local-finetune", task=TASK, large="tiny-large", small="tiny-small", out_dir=tmp_path,
        config={"epochs": "3", "lr": "3e-3", "eval_limit": "24", "attack_limit": "12",
                "canary_candidates": "20"},
    )
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["strategy"] == "local-finetune"
    utility, eff = data["metrics"]["utility"], data["metrics"]["efficiency"]
    assert {"sm_before", "sm_after", "accuracy", "macro_f1"} <= set(utility)
    assert eff["bytes_crossed"]["total"] == 0 and data["transcript"]["entries"] == 0
    assert eff["train_loss_last"] < eff["train_loss_first"]
    assert eff["train_lr"] == 3e-3  # the rate trained at is in the result, given or derived
    assert eff["wall_seconds"] > 0 and eff["peak_memory_mb"] > 0
    privacy = data["metrics"]["privacy"]
    assert {"loss", "min_k", "reference"} <= set(privacy["membership"]["attacks"])
    assert privacy["pii_crossed"]["occurrences"] == 0
    assert Result.read(tmp_path / "result.json").metrics == result.metrics
    membership = privacy["membership"]
    assert membership["scope"] == "answer" and membership["nonmembers_matched_on"] == "phrasing"
    canaries = privacy["canaries"]  # and the gain over the untuned SM, canary by canary
    assert canaries["mean_exposure"] == pytest.approx(
        canaries["reference_mean_exposure"] + canaries["mean_exposure_gain"])


def test_local_finetune_generative_mode_scores_the_whole_sequence(tmp_path):
    run_strategy(
        "local-finetune", task=TASK, large="tiny-large", small="tiny-small", out_dir=tmp_path,
        config={"epochs": "1", "loss_on": "record", "eval_limit": "8", "attack_limit": "6",
                "canary_candidates": "10"},
    )
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["config"]["loss_on"] == "record"
    assert data["metrics"]["privacy"]["membership"]["scope"] == "sequence"


def test_remote_lm_sends_private_text_and_records_it(tmp_path):
    result = run_strategy(
        "remote-lm", task=TASK, large="tiny-large", small="tiny-small", out_dir=tmp_path,
        config={"eval_limit": "20", "prompts_per_request": "8"},
    )
    eff = result.metrics["efficiency"]
    assert eff["lm_calls"] == 3 and eff["lm_tokens"] > 0
    by_kind = eff["bytes_crossed"]["by_kind"]
    assert by_kind["text"] > 0 and by_kind["tensors"] > 0
    assert result.transcript["entries"] == 6
    crossed = result.metrics["privacy"]["pii_crossed"]
    exposure = result.metrics["exposure"]
    assert exposure["lm_calls"] > 0 and exposure["lm_tokens"] > 0
    assert 0 < exposure["bytes_from_model_party"] < result.metrics["efficiency"][
        "bytes_crossed"]["total"]
    assert crossed["occurrences"] > 0 and crossed["by_direction"] == {
        "data-party-0->model-party": crossed["occurrences"]}
    report = verify_transcript(tmp_path / "transcript.jsonl")
    assert report.ok and report.entries == 6
    assert sum(report.bytes_by_kind.values()) == eff["bytes_crossed"]["total"]


def test_run_refuses_to_overwrite_a_previous_run(tmp_path):
    kwargs = {"task": TASK, "large": "tiny-large", "small": "tiny-small", "out_dir": tmp_path,
              "config": {"eval_limit": "4"}}
    run_strategy("remote-lm", **kwargs)
    with pytest.raises(FileExistsError, match="--overwrite"):
        run_strategy("remote-lm", **kwargs)
    run_strategy("remote-lm", overwrite=True, **kwargs)


def test_unknown_strategy_and_bad_task_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown strategy"):
        run_strategy("nope", task=TASK, large="tiny-large", small="tiny-small",
                      out_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown task"):
        run_strategy("remote-lm", task="nope", large="tiny-large", small="tiny-small",
                      out_dir=tmp_path)


def test_local_finetune_with_dp_reports_its_budget(tmp_path):
    result = run_strategy(
        "local-finetune", task=TASK, large="tiny-large", small="tiny-small", out_dir=tmp_path,
        config={"epochs": "1", "lr": "1e-2", "eval_limit": "8", "trainable": "lora",
                "dp_epsilon": "3", "batch_size": "16", "attacks": "false"},
    )
    dp = result.metrics["privacy"]["dp"]
    assert dp["epsilon"] <= 3.0 + 1e-6 and dp["noise_multiplier"] > 0 and dp["steps"] > 0
    # trainable=full under DP trains every weight but the (tied) embeddings / LM head
    full = run_strategy("local-finetune", task=TASK, large="tiny-large", small="tiny-small",
                        out_dir=tmp_path / "x", config={"dp_epsilon": "3", "epochs": "1",
                                                        "eval_limit": "8", "attacks": "false",
                                                        "batch_size": "16"})
    assert full.metrics["privacy"]["dp"]["frozen"] == ["model.embed_tokens.weight"]


@pytest.mark.parametrize("strategy", ["local-finetune", "logit-kd", "lm-synthetic-data"])
def test_a_party_the_task_does_not_have_is_refused(tmp_path, strategy):
    with pytest.raises(ValueError, match="party 2 does not exist: the task has 1"):
        run_strategy(strategy, task=TASK, large="tiny-large", small="tiny-small",
                     out_dir=tmp_path, config={"party": "2"})


def test_the_default_pair_gives_same_tokenizer_strategies_the_same_tokenizer_sm():
    from crossbound.bench.cells import enumerate_cells
    from crossbound.catalog import default_small
    from crossbound.defaults import DEFAULT_LARGE, DEFAULT_SMALL, SAME_TOKENIZER_SMALL
    from crossbound.models.registry import get_spec

    assert get_spec(DEFAULT_LARGE).tokenizer == get_spec(SAME_TOKENIZER_SMALL).tokenizer
    assert get_spec(DEFAULT_LARGE).tokenizer != get_spec(DEFAULT_SMALL).tokenizer
    assert default_small("proxy-tuning", DEFAULT_LARGE) == SAME_TOKENIZER_SMALL
    assert default_small("speculative", DEFAULT_LARGE) == SAME_TOKENIZER_SMALL
    assert default_small("local-finetune", DEFAULT_LARGE) == DEFAULT_SMALL
    assert default_small("proxy-tuning", "tiny-large") == DEFAULT_SMALL  # another LM: no guess
    cells = enumerate_cells("full", task="clinic-triage", large=DEFAULT_LARGE,
                            small=DEFAULT_SMALL)
    smalls = {c.strategy: c.small for c in cells}
    assert smalls["proxy-tuning"] == smalls["speculative"] == SAME_TOKENIZER_SMALL
    assert smalls["local-finetune"] == smalls["logit-kd"] == DEFAULT_SMALL
    # A pair the user chose is kept for every cell.
    chosen = enumerate_cells("quick", task="clinic-triage", large="tiny-large", small="tiny-small")
    assert {c.small for c in chosen} == {"tiny-small"}
