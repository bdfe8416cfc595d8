"""Privacy attacks: ROC metrics, membership inference, canary exposure, PII that crossed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from crossbound.boundary.messages import Kind, Message, encode
from crossbound.boundary.transcript import Transcript
from crossbound.cli import app
from crossbound.evaluate.canaries import (
    Canary,
    canaries_in_records,
    canary_exposure,
    chance_exposure,
    random_candidates,
    secret_logperplexity,
    secret_logperplexity_reference,
    task_canaries,
)
from crossbound.evaluate.membership import (
    example_pairs,
    lira_offline_attack,
    membership_inference,
    mia_metrics,
    min_k_prob,
    reference_attack,
    target_logprobs,
)
from crossbound.evaluate.pii_crossed import PiiIndex, scan_transcript
from crossbound.models.loading import load_model
from crossbound.tasks.registry import load_task
from crossbound.training.causal_lm import answer_loss, build_batch, finetune

TASK = "clinic-triage:n=200,seed=0"
CANARY_TASK = "clinic-triage:n=60,seed=0,canaries=2"


pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------ ROC metrics


def _auc_pairs(pos, neg):
    """Slow reference: P(member score > non-member score), ties counted half."""
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_roc_metrics_on_hand_made_scores():
    perfect = mia_metrics([3.0, 4.0, 5.0], [0.0, 1.0, 2.0])
    assert perfect["auc"] == 1.0 and perfect["advantage"] == 1.0
    assert perfect["tpr_at_1pct_fpr"] == 1.0 and perfect["tpr_at_0.1pct_fpr"] == 1.0
    assert mia_metrics([0.0, 1.0], [2.0, 3.0])["auc"] == 0.0
    same = mia_metrics([1.0] * 5, [1.0] * 5)
    assert same["auc"] == 0.5 and same["advantage"] == 0.0 and same["tpr_at_1pct_fpr"] == 0.0
    ties = mia_metrics([2.0, 1.0], [1.0, 0.0])  # (2>1, 2>0, 1=1 half, 1>0) / 4
    assert ties["auc"] == pytest.approx(0.875)
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 6, 40), rng.integers(0, 5, 30)  # many ties
    assert mia_metrics(pos, neg)["auc"] == pytest.approx(_auc_pairs(pos, neg))
    with pytest.raises(ValueError, match="NaN"):
        mia_metrics([float("nan")], [0.0])


def test_tpr_at_low_fpr_is_read_conservatively():
    neg = np.arange(1000.0)  # FPR steps of 0.001
    pos = np.r_[[999.5] * 5, [998.5] * 5, [990.5] * 5, [0.5] * 5]
    m = mia_metrics(pos, neg)
    # 999.5: FPR 0, TPR .25; 998.5: FPR .001, TPR .5; 990.5: FPR .009, TPR .75.
    assert m["tpr_at_0.1pct_fpr"] == 0.5 and m["tpr_at_1pct_fpr"] == 0.75
    assert "note" not in m
    assert "resolution-limited" in mia_metrics(pos, neg[:999])["note"]


def test_reference_and_lira_scores():
    target = np.array([-1.0, -2.0, -3.0])
    one = reference_attack(target, np.array([-1.5, -1.5, -1.5]))
    assert np.allclose(one, [0.5, -0.5, -1.5])
    refs = np.array([[-2.0, -2.0, -2.0], [-2.0, -2.0, -2.0]])  # equal refs: mean of probs
    assert np.allclose(reference_attack(target, refs), target + 2.0)
    refs = np.array([[-2.0, -1.0, -3.0], [-1.0, -2.0, -4.0]])  # mu (-1.5, -1.5, -3.5)
    z = lira_offline_attack(target, refs)
    pooled = math.sqrt(3 * 0.5 / 3)  # every example's ddof-1 variance is 0.5
    assert np.allclose(z, (target - refs.mean(0)) / pooled)
    with pytest.raises(ValueError, match="at least 2"):
        lira_offline_attack(target, refs[:1])


# ------------------------------------------------------------------ membership inference


def test_target_logprobs_match_the_training_loss():
    task = load_task(TASK)
    loaded = load_model("tiny-small")
    pairs = example_pairs(task, task.train[:5])
    lps = target_logprobs(loaded.model, loaded.tokenizer, pairs, batch_size=2, max_length=96)
    with torch.no_grad():
        loss = answer_loss(loaded.model, build_batch(loaded.tokenizer, pairs, 96))
    assert -np.concatenate(lps).mean() == pytest.approx(float(loss), rel=1e-5)
    texts = [ex.text for ex in task.train[:3]]
    whole = target_logprobs(loaded.model, loaded.tokenizer, [("", t) for t in texts], eos=False,
                            max_length=512)
    assert [len(v) for v in whole] == [len(t.encode()) - 1 for t in texts]  # byte tokens
    mean = min_k_prob(loaded.model, loaded.tokenizer, texts, k=1.0, max_length=512)
    assert np.allclose(mean, [v.mean() for v in whole])
    low = min_k_prob(loaded.model, loaded.tokenizer, texts, k=0.2, max_length=512)
    assert np.allclose(low, [np.sort(v)[: math.ceil(0.2 * len(v))].mean() for v in whole])
    assert (low < mean).all()


@pytest.fixture(scope="module")
def overfit():
    """tiny-small fine-tuned hard on 8 records (answer loss), and its untuned base."""
    task = load_task(TASK)
    members = list(task.train[:8])
    tuned = load_model("tiny-small")
    finetune(tuned.model, tuned.tokenizer, example_pairs(task, members), epochs=100, lr=1e-2,
             batch_size=8, max_length=64)
    return task, members, tuned, load_model("tiny-small")


def test_membership_inference_finds_overfit_members(overfit):
    task, members, tuned, base = overfit
    nonmembers = list(task.test[:8])
    refs = [base.model, load_model("tiny-large")]  # same byte tokenizer, never saw the members
    result = membership_inference(tuned.model, tuned.tokenizer, task, members, nonmembers,
                                  refs, max_length=64)
    attacks = result["attacks"]
    assert set(attacks) == {"loss", "min_k", "reference", "lira_offline"}
    assert result["members"] == result["nonmembers"] == 8 and result["references"] == 2
    assert attacks["loss"]["auc"] >= 0.9 and attacks["reference"]["auc"] >= 0.9
    assert attacks["lira_offline"]["auc"] >= 0.8
    assert "resolution-limited" in attacks["loss"]["note"]
    assert result["mean_loss_members"] < result["mean_loss_nonmembers"]


def test_membership_inference_is_near_chance_on_unseen_records(overfit):
    task, _, tuned, base = overfit
    a, b = list(task.test[8:38]), list(task.validation[:20]) + list(task.test[38:48])
    result = membership_inference(tuned.model, tuned.tokenizer, task, a, b, [base],
                                  max_length=64)
    for name in ("loss", "reference"):
        assert 0.25 <= result["attacks"][name]["auc"] <= 0.75, result["attacks"][name]


# ------------------------------------------------------------------ canaries


def test_fast_canary_scorer_equals_the_slow_reference():
    canary = task_canaries(load_task(CANARY_TASK))[0]
    context, lead = canary.split()
    assert lead == " " and not context.endswith(" ")
    continuations = [lead + s for s in [canary.secret, *random_candidates(canary.secret, 12)]]
    continuations.append(" 12-3456789")  # a different length, padded in its batch
    for name in ("tiny-small", "tiny-other"):  # byte tokens; BPE on Gemma-3 (sliding window)
        loaded = load_model(name)
        fast = secret_logperplexity(loaded.model, loaded.tokenizer, context, continuations,
                                    batch_size=5)
        slow = secret_logperplexity_reference(loaded.model, loaded.tokenizer, context,
                                              continuations)
        assert np.allclose(fast, slow, atol=1e-3), name


def test_random_candidates_keep_the_format():
    cands = random_candidates("3741-4466", 500, seed=1)
    assert len(set(cands)) == 500 and "3741-4466" not in cands
    assert all(len(c) == 9 and c[4] == "-" and c.replace("-", "").isdigit() for c in cands)
    assert cands == random_candidates("3741-4466", 500, seed=1)
    assert cands != random_candidates("3741-4466", 500, seed=2)
    with pytest.raises(ValueError, match="only 9"):
        random_candidates("7", 10)
    with pytest.raises(ValueError, match="digits"):
        Canary("x", "code abc", "abc")


def test_chance_exposure_is_the_mean_over_uniform_ranks():
    for r in (1, 10, 1000):
        ranks = np.arange(1, r + 2)
        assert chance_exposure(r) == pytest.approx(np.mean(np.log2(r + 1) - np.log2(ranks)))
    assert chance_exposure(1000) == pytest.approx(1 / math.log(2), abs=0.01)


def test_canary_exposure_of_a_fresh_model_is_near_chance():
    task = load_task("clinic-triage:n=60,seed=0,canaries=10")
    loaded = load_model("tiny-small")
    result = canary_exposure(loaded.model, loaded.tokenizer, task_canaries(task),
                             n_candidates=200, extraction=False)
    assert result["canaries"] == 10 and result["chance"] == pytest.approx(chance_exposure(200))
    assert result["mean_exposure"] < 3.5 and result["max_exposure"] < 7.0


def _window(canary: Canary, width: int) -> Canary:
    end = canary.text.index(canary.secret) + len(canary.secret) + 1
    return Canary(canary.id, canary.text[max(0, end - width) : end], canary.secret)


def test_canary_exposure_and_extraction_of_a_memorised_canary():
    task = load_task(CANARY_TASK)
    # Train on 48-character windows of the records (keeps the test fast; a tiny model needs
    # hundreds of steps to memorise whole 400-character records).
    canaries = [_window(c, 48) for c in task_canaries(task)]
    others = [ex.text[-48:] for ex in task.train if ex.canary is None][:6]
    loaded = load_model("tiny-small")
    fresh = canary_exposure(loaded.model, loaded.tokenizer, canaries)
    finetune(loaded.model, loaded.tokenizer, [("", c.text) for c in canaries] +
             [("", t) for t in others], epochs=150, lr=2e-2, batch_size=8, max_length=50)
    result = canary_exposure(loaded.model, loaded.tokenizer, canaries)
    assert result["max_possible"] == pytest.approx(math.log2(1001))
    assert fresh["mean_exposure"] < 4.0 and fresh["extracted"] == 0
    assert result["mean_exposure"] > 8.0 and result["extracted"] == 2
    assert all(r["rank"] <= 2 for r in result["per_canary"])


def test_canaries_in_records():
    secrets = {"ct-1": "3741-4466", "ct-1-r1": "3741-4466", "ct-2": "81862"}
    records = ["the code is 81862", {"text": "PIN 3741-4466", "n": 1}, "nothing", "81862 again"]
    assert canaries_in_records(records, secrets) == {"3741-4466": [1], "81862": [0, 3]}
    assert canaries_in_records(["no secrets"], ["123"]) == {}


# ------------------------------------------------------------------ PII that crossed


def _write_transcript(path, task, keep_payloads=True):
    record = next(ex for ex in task.train if ex.canary is not None)
    email = next(s.value for ex in task.test for s in ex.pii if s.kind == "EMAIL")
    with Transcript(path, keep_payloads=keep_payloads) as transcript:
        messages = [
            Message(Kind.TEXT, "data", "model", [record.text, task.public[0].text]),
            Message(Kind.TEXT, "model", "data", ["Refer to cardiology."]),
            Message(Kind.RECORDS, "data", "model", [{"text": f"note: {record.canary}"}]),
            Message(Kind.LOGITS, "model", "data", {"logits": torch.zeros(2, 3)}),
            Message(Kind.METRICS, "data", "model", {"loss": 0.5}, meta={"contact": email}),
        ]
        for m in messages:
            transcript.append(m.sender, m.receiver, m.kind.value, encode(m))
    return record, email


def test_pii_crossed_finds_record_pii_canaries_and_meta(tmp_path):
    task = load_task("clinic-triage:n=60,seed=0")
    record, email = _write_transcript(tmp_path / "t.jsonl", task)
    scan = scan_transcript(tmp_path / "t.jsonl", task, max_findings=3)
    values = {s.value for s in record.pii}
    assert scan["entries"] == scan["scanned"] == 5 and scan["unscanned"] == 0
    assert scan["payload_not_text"] == 1  # the logits
    assert scan["canaries_crossed"] == [record.canary]
    assert scan["distinct_values"] >= len(values) + 1  # the record's values and the e-mail
    assert set(scan["by_pii_kind"]) >= {s.kind for s in record.pii} | {"EMAIL"}
    assert scan["by_message_kind"]["records"] == 1 and scan["by_message_kind"]["metrics"] == 1
    assert "model->data" not in scan["by_direction"]
    assert len(scan["findings"]) == 3 and scan["findings_truncated"]
    first = scan["findings"][0]
    assert first["seq"] == 0 and first["value"] in values and first["example_id"] == record.id
    full = scan_transcript(tmp_path / "t.jsonl", PiiIndex(task), max_findings=100)
    assert {f["value"] for f in full["findings"]} >= values | {email}
    meta = next(f for f in full["findings"] if f["where"] == "meta")
    assert meta["value"] == email and meta["split"] == "test"


def test_pii_crossed_reports_entries_without_payloads(tmp_path):
    task = load_task("clinic-triage:n=60,seed=0")
    _write_transcript(tmp_path / "t.jsonl", task, keep_payloads=False)
    scan = scan_transcript(tmp_path / "t.jsonl", task)
    assert scan["unscanned"] == scan["entries"] == 5 and scan["occurrences"] == 0
    assert "without payloads" in scan["notes"][0]


def test_audit_cli_with_pii(tmp_path):
    task_name = "clinic-triage:n=60,seed=0"
    record, _ = _write_transcript(tmp_path / "transcript.jsonl", load_task(task_name))
    runner = CliRunner()
    shown = runner.invoke(app, ["audit", str(tmp_path), "--pii", task_name])
    assert shown.exit_code == 0, shown.output
    assert "intact" in shown.output and "PII of" in shown.output
    assert record.canary in shown.output and "first findings" in shown.output
    as_json = runner.invoke(app, ["audit", str(tmp_path), "--pii", task_name, "--json",
                                  "--pii-findings", "2"])
    data = json.loads(as_json.output)
    assert data["ok"] and data["pii"]["occurrences"] > 0 and len(data["pii"]["findings"]) == 2
    bad = runner.invoke(app, ["audit", str(tmp_path), "--pii", "no-such-task"])
    assert bad.exit_code == 1 and "no-such-task" in bad.output
    lines = (tmp_path / "transcript.jsonl").read_text().splitlines()
    (tmp_path / "transcript.jsonl").write_text("\n".join(lines[1:]) + "\n")
    tampered = runner.invoke(app, ["audit", str(tmp_path), "--pii", task_name])
    assert tampered.exit_code == 3 and "skipped" in tampered.output


def test_scores_do_not_depend_on_batching():
    task = load_task(TASK)
    loaded = load_model("tiny-small")
    pairs = example_pairs(task, task.train[:6], scope="record")
    one = target_logprobs(loaded.model, loaded.tokenizer, pairs, batch_size=1, max_length=80)
    six = target_logprobs(loaded.model, loaded.tokenizer, pairs, batch_size=6, max_length=80)
    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(one, six, strict=True))
