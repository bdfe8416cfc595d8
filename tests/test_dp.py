"""DP-SGD through Opacus: the accountants, calibration, and training a LoRA'd tiny model."""

from __future__ import annotations

import pytest
import torch

from crossbound.models import load_model
from crossbound.privacy.dp import (
    DPConfig,
    calibrate_noise,
    dp_finetune,
    epsilon_spent,
    per_sample_answer_loss,
)
from crossbound.training.causal_lm import build_batch
from crossbound.training.lora import add_lora, freeze_all_but_linear, freeze_embeddings


def test_accountants_match_the_values_opacus_publishes():
    # Opacus's own tests: noise 1.5, sampling rate 0.04, 2,250 steps, delta 1e-5.
    assert epsilon_spent(1.5, 0.04, 2250, 1e-5, "rdp") == pytest.approx(7.329, abs=0.01)
    assert epsilon_spent(1.5, 0.04, 2250, 1e-5, "prv") == pytest.approx(6.777, abs=0.01)


def test_calibrated_noise_reaches_the_target_epsilon():
    sigma = calibrate_noise(3.0, 1e-5, 0.05, 200, "prv")
    assert epsilon_spent(sigma, 0.05, 200, 1e-5, "prv") <= 3.0
    assert epsilon_spent(sigma * 0.9, 0.05, 200, 1e-5, "prv") > 3.0


@pytest.mark.parametrize("kwargs", [
    {"target_epsilon": None, "noise_multiplier": None},
    {"target_epsilon": 3.0, "noise_multiplier": 1.0},
    {"target_epsilon": -1.0},
    {"max_grad_norm": 0.0},
    {"delta": 1.5},
])
def test_bad_dp_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        DPConfig(**kwargs)


PAIRS = [(f"Message {i}: my chest hurts\nAnswer:", " cardiology") for i in range(12)] + [
    (f"Message {i}: a rash on my arm\nAnswer:", " dermatology") for i in range(12)]


def test_per_sample_loss_averages_to_the_batch_loss():
    lm = load_model("tiny-small")
    batch = build_batch(lm.tokenizer, PAIRS[:7], 64)
    per_sample = per_sample_answer_loss(lm.model, batch)
    assert per_sample.shape == (7,)
    # Answers have equal token counts here, so the per-record mean equals the token mean.
    assert per_sample.mean().item() == pytest.approx(lm.model(**batch).loss.item(), rel=1e-5)


@pytest.mark.parametrize("mode", ["lora", "linear", "full"])
def test_dp_training_runs_and_reports_its_budget(mode):
    lm = load_model("tiny-small")
    model = add_lora(lm.model) if mode == "lora" else lm.model
    if mode == "linear":
        freeze_all_but_linear(model)
    if mode == "full":  # every weight but the (tied) embeddings / LM head, norms included
        assert freeze_embeddings(model) == ["model.embed_tokens.weight"]
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    stats, report = dp_finetune(model, lm.tokenizer, PAIRS, DPConfig(target_epsilon=3.0),
                                epochs=2, lr=1e-2, batch_size=6, max_length=64)
    assert report.epsilon <= 3.0 + 1e-6 and report.delta == pytest.approx(1 / 240)
    assert report.steps == 8 and report.sample_rate == pytest.approx(0.25)
    assert report.epsilon_rdp >= report.epsilon_prv * 0.8
    changed = [n for n, p in model.named_parameters()
               if p.requires_grad and not torch.equal(p, before[n])]
    assert changed and stats.examples_seen > 0
    if mode == "full":
        assert any("norm" in n for n in changed) and len(changed) == len(before)
    # The hooks are gone: the model runs as an ordinary module afterwards.
    out = model(**build_batch(lm.tokenizer, PAIRS[:2], 64))
    assert torch.isfinite(out.loss)
