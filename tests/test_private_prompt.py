"""private-prompt: protected prompts cross, the SM answers from the raw ones, the reference LM
utility is measured off the protocol.

A scripted model party stands in for a strong LM (it recognises which record a protected
prompt came from by its words and answers that record's label), so that what the fusion
gains, and what crossed, can be checked exactly; one run uses the tiny models themselves.
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from crossbound.boundary.contracts import MODEL_PARTY, get_guard, verbatim_private_text
from crossbound.boundary.messages import Kind, Message
from crossbound.inference.private_prompt import PrivatePromptConfig, fuse, pick_weight
from crossbound.runner import MEASUREMENT_NAME, run_strategy
from crossbound.tasks.registry import load_task

TASK = "clinic-triage:n=120,seed=3"
FAST = {"sanitizer": "regex", "sm_epochs": "0", "eval_limit": "12", "validation_limit": "10"}
STRUCTURED = ("EMAIL", "PHONE", "MRN", "DATE")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{4,}", text.lower()))


class OracleLM:
    """Answers each prompt with the label of the task record whose words it shares most
    (placeholders do not hide that); the content-free prompt gets a flat row."""

    name = MODEL_PARTY

    def __init__(self, task_name: str = TASK, helpful: bool = True) -> None:
        task = load_task(task_name)
        self.records = [(_words(ex.text), ex.target) for ex in (*task.validation, *task.test)]
        self.helpful = helpful
        self.prompts: list[str] = []
        self.registered_guards: set[object] = set()  # the process-wide guard, mid-run

    def handle(self, request: Message) -> Message:
        self.registered_guards.add(get_guard("no-raw-private-text"))
        choices = request.meta["choices"]
        self.prompts += request.payload
        rows = []
        for prompt in request.payload:
            message = prompt.rsplit("Message:", 1)[1].split("\nAnswer:")[0]
            row = [0.0] * len(choices)
            if self.helpful and message.strip() != "N/A":
                words = _words(message)
                _, label = max(self.records, key=lambda r: len(r[0] & words))
                row[choices.index(label)] = 5.0
            rows.append(row)
        return Message(Kind.TENSORS, MODEL_PARTY, request.sender,
                       {"choice_logprobs": torch.tensor(rows)},
                       {"op": request.meta["op"], "lm_tokens": len(request.payload)})


def _run(tmp_path, party=None, task=TASK, **settings):
    config = {**FAST, **{k: str(v) for k, v in settings.items()}}
    return run_strategy("private-prompt", task=task, large="tiny-large", small="tiny-small",
                        out_dir=tmp_path, config=config, model_party=party, overwrite=True)


def test_pick_weight_prefers_the_smaller_weight_on_ties():
    sm = torch.log_softmax(torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), -1)
    lm = torch.log_softmax(torch.tensor([[0.0, 3.0], [0.0, 3.0], [3.0, 0.0]]), -1)
    gold = torch.tensor([1, 1, 0])
    weight, by_weight = pick_weight(sm, lm, gold, [4.0, 0.0, 1.0])
    assert by_weight == {"0": pytest.approx(2 / 3, abs=1e-4), "1": 1.0, "4": 1.0}
    assert weight == 1.0
    assert torch.equal(fuse(sm, lm, 0.0), sm)
    useless = torch.zeros_like(lm)
    assert pick_weight(sm, useless, gold, [0.5, 0.0, 2.0])[0] == 0.0


def test_a_strong_lm_helps_and_no_structured_pii_crosses(tmp_path):
    lm = OracleLM()
    guard = get_guard("no-raw-private-text")
    result = _run(tmp_path, lm)
    utility = result.metrics["utility"]
    assert utility["lm_protected"] >= 0.9  # the oracle sees through placeholders
    assert utility["fusion_weight"] > 0 and utility["final"] >= 0.9
    assert utility["final"] > utility["sm_alone"]
    assert utility["lm_raw"] >= 0.9 and utility["eval_examples"] == 12
    privacy = result.metrics["privacy"]
    assert privacy["prompts_sent"] == 22 and privacy["prompts_withheld"] == 0
    assert privacy["pii_crossed"]["occurrences"] == 0
    assert privacy["pii_replaced_by_kind"]
    # the protocol's prompts carry placeholders, never the records' structured PII; the
    # raw prompts went over the measurement channel only
    task = load_task(TASK)
    protocol, reference = lm.prompts[:23], lm.prompts[23:]
    assert len(reference) == 13  # 12 raw test prompts and a content-free one
    values = {s.value for ex in (*task.validation, *task.test) for s in ex.pii
              if s.kind in STRUCTURED}
    assert not any(v in p for p in protocol for v in values)
    assert any("[" in p and "]" in p for p in protocol)
    assert any(v in p for p in reference for v in values)
    traffic = result.metrics["measurement_traffic"]
    assert traffic["entries"] == 2 and traffic["lm_calls"] == 1
    entries = (tmp_path / MEASUREMENT_NAME).read_text().splitlines()
    assert len(entries) == 2
    assert result.metrics["efficiency"]["lm_calls"] == 2  # 22 prompts + content-free, by 16
    # The sanitiser guard ran on the run's boundary only, never in the process-wide registry
    assert lm.registered_guards == {verbatim_private_text}
    assert get_guard("no-raw-private-text") is guard


def test_an_unhelpful_lm_leaves_the_sm_alone(tmp_path):
    result = _run(tmp_path, OracleLM(helpful=False), reference_raw="false")
    utility = result.metrics["utility"]
    assert utility["fusion_weight"] == 0.0
    assert utility["final"] == utility["sm_alone"]
    assert "lm_raw" not in utility and "measurement_traffic" not in result.metrics
    assert not (tmp_path / MEASUREMENT_NAME).exists()


@pytest.mark.slow
def test_prompts_the_guard_would_refuse_are_withheld_not_sent(tmp_path):
    # Perturbation at a huge ε changes nothing: every prompt is a private record verbatim, so
    # the guard would refuse it; none is sent and the SM answers alone.
    lm = OracleLM()
    result = _run(tmp_path, lm, protect="perturb", epsilon=10000, reference_raw="false")
    privacy = result.metrics["privacy"]
    assert privacy["prompts_sent"] == 0 and privacy["prompts_withheld"] == 22
    assert lm.prompts == [] and result.metrics["efficiency"]["lm_calls"] == 0
    assert result.metrics["utility"]["final"] == result.metrics["utility"]["sm_alone"]
    # at a small ε the words are replaced and the prompts go out
    lm = OracleLM()
    result = _run(tmp_path, lm, protect="perturb", epsilon=2, reference_raw="false")
    assert result.metrics["privacy"]["prompts_sent"] == 22
    assert "perturbed" in result.metrics["privacy"]["protection"]


@pytest.mark.slow
def test_end_to_end_on_tiny_models(tmp_path):
    result = _run(tmp_path, sm_epochs=0.5, train_limit=16, eval_limit=6, validation_limit=4)
    m = result.metrics
    assert {"final", "sm_alone", "lm_protected", "lm_raw", "accuracy"} <= set(m["utility"])
    assert m["privacy"]["pii_crossed"]["occurrences"] == 0
    assert m["efficiency"]["lm_calls"] == 1 and m["measurement_traffic"]["lm_calls"] == 1
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["strategy"] == "private-prompt"


@pytest.mark.slow
def test_free_text_tasks_get_a_draft_and_a_local_answer(tmp_path):
    result = _run(tmp_path, task="support-qa", eval_limit=3, max_new_tokens=4,
                  reference_raw="true")
    utility = result.metrics["utility"]
    assert {"final", "rouge_l", "sm_alone", "lm_protected", "lm_raw"} <= set(utility)
    assert result.metrics["efficiency"]["lm_calls"] == 1


def test_config_is_checked():
    with pytest.raises(ValueError, match="protect"):
        PrivatePromptConfig(protect="encrypt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weights"):
        PrivatePromptConfig(weights="a,b")
    with pytest.raises(ValueError, match="weights"):
        PrivatePromptConfig(weights="-1")
    with pytest.raises(ValueError, match="epsilon"):
        PrivatePromptConfig(epsilon=0)
