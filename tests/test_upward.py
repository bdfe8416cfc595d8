"""Upward transfer: the model party's LoRA copy learns from records / top-k, checked requests,
and the two strategies end to end on tiny models."""

from __future__ import annotations

import json

import pytest
import torch

from crossbound.boundary.logit_codec import TopkCodec
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.catalog import get_strategy
from crossbound.evaluate.synthetic_quality import TfidfKnn, label_agreement
from crossbound.evaluate.utility import choice_logprobs
from crossbound.models.loading import load_model
from crossbound.parties import ModelParty
from crossbound.parties.upward import UPWARD_MODEL
from crossbound.runner import run_strategy
from crossbound.training.topk_transfer import local_topk
from crossbound.upward.dp_synthetic import DPSyntheticConfig
from crossbound.upward.mutual_kt import MutualKTConfig

TASK = "clinic-triage:n=80,seed=5"
PARTY = "data-party-0"
DP_SMALL = {"per_label": "3", "min_chars": "1", "min_words": "1", "eval_limit": "12",
            "max_new_tokens": "24", "sm_batch_size": "8"}
# byte tokens: the public texts (prompt + answer) need more than the default 192
MKT_SMALL = {"rounds": "2", "transfer_limit": "12", "eval_limit": "12", "train_limit": "24",
             "max_length": "512"}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def party():
    return ModelParty(load_model("tiny-large"), batch_size=4)


def _records(n, answer=" yes"):
    return [{"prompt": f"Question {i}: is it so?\nAnswer:", "answer": answer} for i in range(n)]


def _finetune(records, **meta):
    return Message(Kind.RECORDS, PARTY, "model-party", records,
                   {"op": "lm_finetune", "epochs": 8.0, "lr": 1e-2, "batch_size": 4, **meta})


def _score(party, model):
    prompts = ["Question 99: is it so?\nAnswer:"]
    return party.handle(Message(Kind.TEXT, PARTY, "model-party", prompts,
                                {"op": "score_choices", "choices": ["yes", "no"],
                                 "model": model})).payload["choice_logprobs"][0]


def test_lm_finetune_teaches_a_copy_and_leaves_the_lm_alone(party):
    before = {k: v.clone() for k, v in party.lm.model.state_dict().items()}
    untuned = _score(party, "lm")
    reply = party.handle(_finetune(_records(16)))
    assert reply.kind == Kind.METRICS and reply.payload["received"] == 16
    assert reply.payload["loss_last"] < reply.payload["loss_first"]
    tuned = _score(party, UPWARD_MODEL)
    # The copy now prefers "yes" by far more than the untuned LM did.
    assert (tuned[0] - tuned[1]) > (untuned[0] - untuned[1]) + 0.4
    assert torch.equal(_score(party, "lm"), untuned)
    for name, value in party.lm.model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_the_tuned_model_is_per_party_and_must_exist_first(party):
    with pytest.raises(MessageError, match="no upward-tuned model"):
        _score(party, UPWARD_MODEL)
    party.handle(_finetune(_records(4)))
    other = Message(Kind.TEXT, "data-party-1", "model-party", ["hello there"],
                    {"op": "score_choices", "choices": ["yes"], "model": UPWARD_MODEL})
    with pytest.raises(MessageError, match="data-party-1 has no upward-tuned model"):
        party.handle(other)


@pytest.mark.parametrize(("records", "meta", "message"), [
    ([], {}, "1..4096 records"),
    ([{"prompt": "a", "answer": "b", "extra": 1}], {}, "exactly the fields"),
    ([{"prompt": "a", "answer": "  "}], {}, "non-empty"),
    ([{"prompt": "a" * 9000, "answer": "b"}], {}, "at most 8000"),
    (_records(2), {"epochs": 50.0}, "meta.epochs"),
    (_records(2), {"lora_rank": 0}, "meta.lora_rank"),
    (_records(2), {"reset": "yes"}, "meta.reset"),
])
def test_bad_finetune_requests_are_refused(party, records, meta, message):
    with pytest.raises(MessageError, match=message):
        party.handle(_finetune(records, **meta))


def _distill_request(ids, mask, targets, values, indices, vocab, **meta):
    codec = TopkCodec(k=values.shape[-1], value_bits=8, vocab_size=vocab)
    payload = {"ids": ids, "mask": mask, "targets": targets, **codec.encode(values, indices)}
    return Message(Kind.TENSORS, PARTY, "model-party", payload,
                   {"op": "lm_distill", "codec": codec.to_meta(), "lr": 1e-2, "epochs": 8.0,
                    "batch_size": 4, **meta})


def test_lm_distill_moves_the_copy_towards_the_targets(party):
    vocab = int(party.lm.model.config.vocab_size)
    ids = torch.randint(3, 200, (8, 10), dtype=torch.int32)
    mask = torch.ones_like(ids, dtype=torch.uint8)
    mask[5:, 7:] = 0
    targets = mask.clone()
    targets[:, 0] = 0
    targets[:5, 9] = 0  # a row's last token predicts past its end: no target there
    targets[5:, 6] = 0
    n = int(targets.sum())
    # The "SM" puts almost all mass on token 42, whatever the context.
    values = torch.tensor([[-0.01, -5.0, -6.0]]).repeat(n, 1)
    indices = torch.tensor([[42, 7, 9]]).repeat(n, 1)
    reply = party.handle(_distill_request(ids, mask, targets, values, indices, vocab))
    assert reply.payload["received"] == 8 and reply.payload["steps"] == 16
    rows = [r[: int(m.sum())].tolist() for r, m in zip(ids, mask, strict=True)]
    before = local_topk(party.lm.model, rows, 1)
    after = local_topk(party.upward.model(PARTY), rows, 1)
    share = [sum(int((r.indices[1:, 0] == 42).sum()) for r in replies) / n
             for replies in (before, after)]
    assert share[1] > 0.9 > share[0]


def test_bad_distill_requests_are_refused(party):
    vocab = int(party.lm.model.config.vocab_size)
    ids = torch.randint(3, 200, (2, 5), dtype=torch.int32)
    mask = torch.ones_like(ids, dtype=torch.uint8)
    targets = mask.clone()
    targets[:, 4] = 0
    values, indices = torch.full((8, 2), -1.0), torch.zeros((8, 2), dtype=torch.long)

    def refused(match, **changes):
        args = {"ids": ids, "mask": mask, "targets": targets, "values": values,
                "indices": indices, "vocab": vocab, **changes}
        with pytest.raises(MessageError, match=match):
            party.handle(_distill_request(**args))

    refused("must lie in", ids=torch.full((2, 5), vocab + 5, dtype=torch.int32))
    left_padded = mask.clone()
    left_padded[0, 0] = 0
    refused("right-padded", mask=left_padded, targets=left_padded)
    outside = targets.clone()
    mask_short = mask.clone()
    mask_short[1, 3:] = 0
    refused("only unpadded", mask=mask_short, targets=outside)
    refused(r"expected \(7, k\)", targets=torch.cat([targets[:, :3],
                                                     torch.tensor([[1, 0], [0, 0]],
                                                                  dtype=torch.uint8)], 1))
    refused("last token", targets=mask)
    refused("codec allows", vocab=vocab * 2)
    no_targets = {"ids": ids, "mask": mask}
    with pytest.raises(MessageError, match="ids, mask and targets"):
        party.handle(Message(Kind.TENSORS, PARTY, "model-party", no_targets,
                             {"op": "lm_distill"}))


def test_tfidf_judge_labels_by_words():
    real = [("chest pain and palpitations", "heart"), ("my heart races", "heart"),
            ("itchy rash on skin", "skin"), ("a spot on my skin", "skin")]
    judge = TfidfKnn([t for t, _ in real], [label for _, label in real], k=1)
    assert judge.predict(["pain in the chest", "rash that is itchy"]) == ["heart", "skin"]
    report = label_agreement([("heart races", "heart"), ("skin rash", "heart")], real, real, k=1)
    assert report["label_agreement"] == 0.5 and report["judge_accuracy_on_real"] == 1.0


def test_configs_refuse_bad_values():
    with pytest.raises(ValueError, match="exactly one of target_epsilon"):
        DPSyntheticConfig(target_epsilon=None)
    with pytest.raises(ValueError, match="top_p"):
        DPSyntheticConfig(top_p=0.0)
    with pytest.raises(ValueError, match="kd_weight"):
        MutualKTConfig(kd_weight=1.0)
    with pytest.raises(ValueError, match="rounds"):
        MutualKTConfig(rounds=0)
    assert get_strategy("dp-synthetic-data").direction == "upward"


def test_dp_synthetic_end_to_end_only_records_cross(tmp_path):
    result = run_strategy("dp-synthetic-data", task=TASK, large="tiny-large",
                          small="tiny-small", out_dir=tmp_path, config=DP_SMALL)
    dp = result.metrics["privacy"]["dp"]
    assert 0 < dp["epsilon"] <= 3.0 + 1e-6 and dp["delta"] == 1e-5
    assert dp["epsilon_rdp"] >= dp["epsilon_prv"] > 0
    synthetic = result.metrics["synthetic"]
    assert synthetic["requested"] == 18 and synthetic["sent"] >= 1
    utility = result.metrics["utility"]
    assert {"lm_before", "lm_after", "final", "lm_gain"} <= set(utility)
    assert result.metrics["lm_training"]["received"] == synthetic["sent"]
    rows = [json.loads(line) for line in (tmp_path / "transcript.jsonl").read_text().splitlines()]
    assert [(r["sender"], r["kind"]) for r in rows] == [(PARTY, "records"),
                                                       ("model-party", "metrics")]
    sent = (tmp_path / "synthetic.jsonl").read_text().splitlines()
    assert len(sent) == synthetic["sent"]
    assert "post-processing" in result.metrics["privacy"]["guarantee"]


def test_dp_synthetic_trains_the_whole_sm_under_dp(tmp_path):
    result = run_strategy("dp-synthetic-data", task=TASK, large="tiny-large",
                          small="tiny-small", out_dir=tmp_path,
                          config={**DP_SMALL, "sm_trainable": "full", "target_epsilon": "8",
                                  "consistency_filter": "false"})
    assert result.metrics["privacy"]["dp"]["epsilon"] <= 8.0 + 1e-6
    assert result.metrics["synthetic"]["sent"] == result.metrics["synthetic"]["deduplicated"]


def test_mutual_kt_end_to_end_same_and_different_tokenizers(tmp_path):
    same = run_strategy("mutual-kt", task=TASK, large="tiny-large", small="tiny-small",
                        out_dir=tmp_path / "same", config=MKT_SMALL)
    rounds = same.metrics["utility"]["per_round"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert all(r["bytes_up"] > 0 and r["bytes_down"] > 0 and "sm_local_only" in r
               for r in rounds)
    assert same.metrics["exposure"]["tokenizers"] == "same"
    kinds = {(json.loads(line)["sender"], json.loads(line)["kind"])
             for line in (tmp_path / "same" / "transcript.jsonl").read_text().splitlines()}
    assert kinds == {(PARTY, "token_ids"), (PARTY, "tensors"), ("model-party", "topk_logprobs"),
                     ("model-party", "metrics")}
    other = run_strategy("mutual-kt", task=TASK, large="tiny-large", small="tiny-other",
                         out_dir=tmp_path / "other", config={**MKT_SMALL, "rounds": "1",
                                                             "compare_local": "false"})
    alignment = other.metrics["exposure"]["alignment"]
    assert alignment["sm_to_lm"]["aligned_positions"] > 0
    assert "sm_local_only" not in other.metrics["utility"]["per_round"][0]


def test_lm_scores_from_the_tuned_copy_differ_only_for_its_party(party):
    party.handle(_finetune(_records(8)))
    prompts = ["Question 5: is it so?\nAnswer:"]
    mine = party.handle(Message(Kind.TEXT, PARTY, "model-party", prompts,
                                {"op": "score_choices", "choices": ["yes", "no"],
                                 "model": UPWARD_MODEL})).payload["choice_logprobs"]
    plain = choice_logprobs(party.lm.model, party.lm.tokenizer, prompts, ["yes", "no"])
    assert not torch.allclose(mine, plain)


def test_answer_positions_keep_only_the_targets_that_predict_the_answer():
    from crossbound.models.loading import load_tokenizer
    from crossbound.training.topk_transfer import TopkReply, same_tokenizer_rows
    from crossbound.upward.mutual_kt import answer_positions, tokenize_side

    tok = load_tokenizer("tiny-large")  # one byte per token
    texts = ["Q: x\nAnswer: yes", "Q: y\nAnswer:"]
    side = tokenize_side(tok, texts, 64)
    replies = [TopkReply(ids, torch.zeros(len(ids), 2), torch.zeros(len(ids), 2, dtype=torch.long))
               for ids in side.ids]
    rows = answer_positions(same_tokenizer_rows(replies), side, [12, len(texts[1])])
    assert len(rows) == 1  # the second text has no answer
    # positions 11..14 predict the characters " yes" (12..15)
    assert rows[0].positions.tolist() == [11, 12, 13, 14]
