"""Model-exposure metrics: distillation fidelity and the emulator gap."""

from __future__ import annotations

import copy
import math

import pytest

from crossbound.evaluate.exposure import emulator_gap, label_agreement, next_token_agreement
from crossbound.models.loading import load_model
from crossbound.tasks.registry import load_task

TEXTS = ["Patient reports chest pain since Monday.", "Rash on both arms, itching at night.",
         "x"]


def test_a_model_agrees_with_itself_and_not_with_a_stranger():
    large, small = load_model("tiny-large"), load_model("tiny-small")
    same = next_token_agreement(large.model, copy.deepcopy(large.model), large.tokenizer, TEXTS)
    assert same["top1_agreement"] == 1.0
    assert same["kl_teacher_student"] == pytest.approx(0, abs=1e-5)
    lengths = [len(large.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TEXTS]
    assert same["positions"] == sum(n - 1 for n in lengths if n >= 2)
    other = next_token_agreement(small.model, large.model, large.tokenizer, TEXTS)
    # random tiny models both favour a few bytes, so top-1 often agrees; their KL shows them apart
    assert other["kl_teacher_student"] > 0.01 and other["top1_agreement"] < 1.0


def test_next_token_agreement_refuses_different_vocabularies():
    byte, bpe = load_model("tiny-small"), load_model("tiny-other")
    with pytest.raises(ValueError, match="label_agreement"):
        next_token_agreement(byte.model, bpe.model, byte.tokenizer, TEXTS)
    with pytest.raises(ValueError, match="no texts"):
        next_token_agreement(byte.model, byte.model, byte.tokenizer, [])


def test_label_agreement_works_across_tokenizers():
    task = load_task("clinic-triage:n=60,seed=3")
    byte, bpe = load_model("tiny-small"), load_model("tiny-other")
    examples = list(task.test[:10])
    self_agreement = label_agreement((byte.model, byte.tokenizer), (byte.model, byte.tokenizer),
                                     task, examples)
    assert self_agreement["label_agreement"] == 1.0 and self_agreement["examples"] == 10
    across = label_agreement((byte.model, byte.tokenizer), (bpe.model, bpe.tokenizer), task,
                             examples)
    assert 0.0 <= across["label_agreement"] <= 1.0
    where = across["agreement_where_teacher_wrong"]
    assert math.isnan(where) or 0.0 <= where <= 1.0


def test_emulator_gap():
    gap = emulator_gap({"accuracy": 0.7}, {"accuracy": 0.4, "macro_f1": 0.3}, "accuracy")
    assert gap["gap"] == pytest.approx(0.3) and gap["metric"] == "accuracy"
    with pytest.raises(KeyError, match="emulator"):
        emulator_gap({"accuracy": 0.7}, {"macro_f1": 0.3}, "accuracy")
