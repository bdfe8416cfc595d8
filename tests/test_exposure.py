"""Model-exposure metrics: distillation fidelity and the emulator gap."""

from __future__ import annotations

import copy
import math

import pytest

from crossbound.evaluate import exposure
from crossbound.evaluate.exposure import emulator_gap, label_agreement, next_token_agreement
from crossbound.evaluate.utility import predict_labels
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


@pytest.mark.slow
def test_label_agreement_works_across_tokenizers():
    task = load_task("clinic-triage:n=60,seed=3")
    byte, bpe = load_model("tiny-small"), load_model("tiny-other")
    examples = list(task.test[:10])
    self_agreement = label_agreement((byte.model, byte.tokenizer), (byte.model, byte.tokenizer),
                                     task, examples)
    assert self_agreement["label_agreement"] == 1.0 and self_agreement["examples"] == 10
    across = label_agreement((byte.model, byte.tokenizer), (bpe.model, bpe.tokenizer), task,
                             examples)
    # The same numbers from each model's own labels, computed apart (each with its tokenizer)
    student = predict_labels(byte.model, byte.tokenizer, task, examples)
    teacher = predict_labels(bpe.model, bpe.tokenizer, task, examples)
    same = [s == t for s, t in zip(student, teacher, strict=True)]
    assert across["label_agreement"] == sum(same) / 10
    wrong = [i for i, ex in enumerate(examples) if teacher[i] != ex.target]
    where = across["agreement_where_teacher_wrong"]
    if wrong:
        assert where == sum(same[i] for i in wrong) / len(wrong)
    else:
        assert math.isnan(where)


def test_label_agreement_counts_what_the_labels_imply(monkeypatch):
    # Scripted labels: the teacher is wrong on examples 0-3 and the student copies it on 0-1;
    # the student is also wrong on 7-9, where the teacher is right. Agreement 5/10; where the
    # teacher is wrong, 2/4 (what a student can only learn from the teacher, not the labels).
    task = load_task("clinic-triage:n=60,seed=3")
    examples = list(task.test[:10])
    gold = [ex.target for ex in examples]
    other = {label: next(c for c in task.choices if c != label) for label in task.choices}
    teacher = [other[g] for g in gold[:4]] + gold[4:]
    student = teacher[:2] + gold[2:7] + [other[g] for g in gold[7:]]
    labels = {"student": student, "teacher": teacher}
    monkeypatch.setattr(exposure, "predict_labels",
                        lambda model, tok, task, examples, batch_size: labels[model])
    result = label_agreement(("student", None), ("teacher", None), task, examples)
    assert result == {"label_agreement": 0.5, "agreement_where_teacher_wrong": 0.5,
                      "examples": 10}
    # Roles matter: swapped, the "teacher" is wrong on 0-1 and 7-9 and copied on 0-1 only
    swapped = label_agreement(("teacher", None), ("student", None), task, examples)
    assert swapped["label_agreement"] == 0.5
    assert swapped["agreement_where_teacher_wrong"] == 0.4


def test_emulator_gap():
    gap = emulator_gap({"accuracy": 0.7}, {"accuracy": 0.4, "macro_f1": 0.3}, "accuracy")
    assert gap["gap"] == pytest.approx(0.3) and gap["metric"] == "accuracy"
    with pytest.raises(KeyError, match="emulator"):
        emulator_gap({"accuracy": 0.7}, {"macro_f1": 0.3}, "accuracy")
