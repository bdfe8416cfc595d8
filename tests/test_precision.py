"""bf16 precision: resolution, where it applies, and fast paths against fp32 references.

The rest of the suite pins fp32 (conftest sets ``$CROSSBOUND_PRECISION``); these tests choose
the precision explicitly, so they run the bf16 paths on any CPU (emulated where the CPU has no
bf16 instructions: slower, same semantics).
"""

from __future__ import annotations

import copy

import pytest
import torch

from crossbound.catalog import get_strategy
from crossbound.evaluate.utility import choice_logprobs, choice_logprobs_reference
from crossbound.inference.gamma import SpeculativeSettings
from crossbound.inference.generation import GenerationSettings, encode_prompts
from crossbound.inference.speculative import speculative_generate
from crossbound.models.kv import DecodeState
from crossbound.models.loading import load_model
from crossbound.models.precision import (
    active_precision,
    cpu_has_bf16,
    precision_scope,
    resolve_precision,
)
from crossbound.runner import run_strategy
from crossbound.training.causal_lm import finetune

TASK = "clinic-triage:n=120,canaries=0"


def test_resolution_explicit_environment_and_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    monkeypatch.setenv("CROSSBOUND_PRECISION", "bf16")
    assert resolve_precision("auto") == "bf16"
    assert resolve_precision("fp32") == "fp32"  # an explicit setting wins over the variable
    monkeypatch.setenv("CROSSBOUND_PRECISION", "auto")
    assert resolve_precision("auto") == ("bf16" if cpu_has_bf16() else "fp32")
    monkeypatch.setenv("CROSSBOUND_PRECISION", "fp16")
    with pytest.raises(ValueError, match="CROSSBOUND_PRECISION"):
        resolve_precision("auto")
    with pytest.raises(ValueError, match=r"choose one of \['auto', 'fp32', 'bf16'\]"):
        resolve_precision("half")  # type: ignore[arg-type]


def test_every_strategy_takes_a_validated_precision_setting() -> None:
    cls = get_strategy("local-finetune")
    assert cls.config_class.from_overrides({"precision": "bf16"}).precision == "bf16"
    with pytest.raises(ValueError, match="precision"):
        cls.config_class.from_overrides({"precision": "fp16"})
    assert cls.config_class().precision == "auto"


def test_frozen_models_take_the_scope_precision_trained_ones_keep_fp32() -> None:
    with precision_scope("bf16") as resolved:
        assert resolved == "bf16" and active_precision() == "bf16"
        assert load_model("tiny-small", frozen=True).dtype == torch.bfloat16
        trained = load_model("tiny-small")
        assert trained.dtype == torch.float32
        # autocast is on: an fp32 layer computes in bf16 inside the scope
        layer = torch.nn.Linear(4, 4)
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16
    assert active_precision() == "fp32"  # the suite's pin, back after the scope
    assert load_model("tiny-small", frozen=True).dtype == torch.float32


def _pairs() -> list[tuple[str, str]]:
    words = ["cardiology", "dermatology", "orthopedics", "neurology"]
    return [(f"message {i}: route to", f" {words[i % 4]}") for i in range(32)]


def test_bf16_training_keeps_fp32_master_weights_and_tracks_fp32() -> None:
    base = load_model("tiny-small")
    runs = {}
    for precision in ("fp32", "bf16"):
        model = copy.deepcopy(base.model)
        for p in model.parameters():
            p.requires_grad_(True)
        with precision_scope(precision):  # type: ignore[arg-type]
            runs[precision] = finetune(model, base.tokenizer, _pairs(), epochs=8, lr=1e-2,
                                       batch_size=8, max_length=64)
        assert all(p.dtype == torch.float32 for p in model.parameters())
    fp32, bf16 = runs["fp32"], runs["bf16"]
    assert bf16.first_loss == pytest.approx(fp32.first_loss, rel=0.02)
    # It learns as fp32 does (with autocast's weight-cast cache on, the loop kept the first
    # step's bf16 weights and the loss stayed at 5.36 where fp32 reached 1.91).
    assert fp32.last_loss < 0.5 * fp32.first_loss
    assert bf16.last_loss == pytest.approx(fp32.last_loss, rel=0.2)


def test_bf16_label_scores_agree_with_the_fp32_reference() -> None:
    fp32 = load_model("tiny-large")
    with precision_scope("bf16"):
        bf16 = load_model("tiny-large", frozen=True)
        prompts = [f"Patient message {i}: pain in the {part} since {day}. Department:"
                   for i, (part, day) in enumerate(zip(["knee", "chest", "skin", "head"] * 3,
                                                       ["Monday", "May", "noon"] * 4, strict=True))]
        choices = [" cardiology", " dermatology", " orthopedics", " ENT"]
        fast = choice_logprobs(bf16.model, bf16.tokenizer, prompts, choices, batch_size=5)
    slow = choice_logprobs_reference(fp32.model, fp32.tokenizer, prompts, choices)
    assert (fast - slow).abs().max().item() < 0.05  # nats per label token
    margin = slow.topk(2, dim=1).values
    clear = (margin[:, 0] - margin[:, 1]) > 0.1
    assert torch.equal(fast.argmax(1)[clear], slow.argmax(1)[clear])


def test_greedy_speculative_in_bf16_equals_the_lm_alone_in_bf16() -> None:
    with precision_scope("bf16"):
        lm = load_model("tiny-large", frozen=True)
        draft = load_model("tiny-small", frozen=True)
        tok = lm.tokenizer
        prompts = encode_prompts(tok, ["hello there", "The patient reports chest pain.", "a"])
        expected = []
        for p in prompts:
            out = lm.model.generate(torch.tensor([p]), max_new_tokens=12, do_sample=False,
                                    pad_token_id=tok.pad_token_id)
            expected.append(out[0, len(p):].tolist())
        for batch in ([0, 1, 2], [1]):
            rows = [prompts[i] for i in batch]
            got = speculative_generate(DecodeState(lm.model, tok.pad_token_id), draft.model,
                                       tok, rows, GenerationSettings(max_new_tokens=12),
                                       SpeculativeSettings(gamma=3, adaptive=False),
                                       lm_model=lm.model)
            assert got.ids == [expected[i] for i in batch]


def test_a_run_records_its_precision(tmp_path) -> None:
    result = run_strategy("remote-lm", task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path, config={"eval_limit": "8", "precision": "bf16"})
    assert result.metrics["efficiency"]["precision"] == "bf16"
    assert result.config["precision"] == "bf16"


def test_lora_under_bf16_holds_frozen_weights_in_bf16_and_trains_fp32_adapters() -> None:
    from crossbound.training.lora import add_lora

    base = load_model("tiny-small")
    runs = {}
    for precision in ("fp32", "bf16"):
        # The same adapters' initial values in both runs (LoRA draws them from the global RNG,
        # which earlier tests leave in any state: the comparison was order-dependent).
        torch.manual_seed(0)
        model = add_lora(copy.deepcopy(base.model), rank=8)
        with precision_scope(precision):  # type: ignore[arg-type]
            runs[precision] = finetune(model, base.tokenizer, _pairs(), epochs=8, lr=3e-2,
                                       batch_size=8, max_length=64)
        trained = {p.dtype for p in model.parameters() if p.requires_grad}
        frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
        assert trained == {torch.float32}
        assert frozen == {torch.bfloat16 if precision == "bf16" else torch.float32}
    # (LoRA r8 on a random 2-block model learns slowly: 5.59 -> 5.35 in fp32)
    # A LoRA run loads its base frozen: bf16 from the start, and peft's adapters still fp32.
    with precision_scope("bf16"):
        loaded = add_lora(load_model("tiny-small", frozen=True).model, rank=8)
    assert {p.dtype for p in loaded.parameters() if p.requires_grad} == {torch.float32}
    assert {p.dtype for p in loaded.parameters() if not p.requires_grad} == {torch.bfloat16}
    assert runs["fp32"].last_loss < 0.97 * runs["fp32"].first_loss
    assert runs["bf16"].last_loss == pytest.approx(runs["fp32"].last_loss, rel=0.02)


def test_dp_sgd_under_bf16_clips_and_noises_in_fp32_and_tracks_fp32() -> None:
    from crossbound.privacy.dp import DPConfig, dp_finetune
    from crossbound.training.lora import add_lora

    runs = {}
    for precision in ("fp32", "bf16"):
        lm = load_model("tiny-small")
        torch.manual_seed(0)  # the same initial adapters in both runs
        model = add_lora(lm.model)
        with precision_scope(precision):  # type: ignore[arg-type]
            # Before the fix, bf16 failed in Opacus's noise step (a bf16 gradient assigned to
            # an fp32 parameter).
            runs[precision] = dp_finetune(model, lm.tokenizer, _pairs() * 2,
                                          DPConfig(target_epsilon=30.0), epochs=4, lr=1e-2,
                                          batch_size=8, max_length=64)
        assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    (fp32, fp32_report), (bf16, bf16_report) = runs["fp32"], runs["bf16"]
    assert bf16_report.epsilon == pytest.approx(fp32_report.epsilon)
    assert bf16.first_loss == pytest.approx(fp32.first_loss, rel=0.02)
    assert bf16.last_loss == pytest.approx(fp32.last_loss, rel=0.05)
