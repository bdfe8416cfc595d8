"""Downward transfer: distillation losses, teacher targets across tokenizers, logit-kd."""

from __future__ import annotations

import json

import pytest
import torch

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import ContractViolation, GuardContext
from crossbound.boundary.messages import Kind, Message
from crossbound.downward.logit_kd import LOGITS_DOWN
from crossbound.models.loading import load_model, load_tokenizer
from crossbound.parties import ModelParty
from crossbound.runner import run_strategy
from crossbound.tasks.registry import load_task
from crossbound.training.distill import kd_loss
from crossbound.training.topk_transfer import (
    TopkReply,
    VocabMap,
    align_rows,
    query_topk,
    same_tokenizer_rows,
)

TASK = "clinic-triage:n=120,seed=3"
DIVS = ["forward_kl", "reverse_kl", "jsd"]


# ------------------------------------------------------------------ losses


def _reference(student_logits, teacher_logp, divergence, beta=0.5):
    """Plainly correct full-vocabulary divergences, one position at a time."""
    out = []
    for s, t in zip(student_logits, teacher_logp, strict=True):
        q = torch.softmax(s.double(), -1)
        p = torch.softmax(t.double(), -1)
        if divergence == "forward_kl":
            out.append((p * (p.log() - q.log())).sum())
        elif divergence == "reverse_kl":
            out.append((q * (q.log() - p.log())).sum())
        else:
            m = beta * p + (1 - beta) * q
            out.append(beta * (p * (p / m).log()).sum() + (1 - beta) * (q * (q / m).log()).sum())
    return torch.stack(out).float()


@pytest.mark.parametrize("divergence", DIVS)
def test_topk_with_k_equal_vocab_is_the_full_divergence(divergence):
    g = torch.Generator().manual_seed(0)
    student = torch.randn(5, 11, generator=g) * 2
    teacher = torch.log_softmax(torch.randn(5, 11, generator=g) * 2, -1)
    dense = kd_loss(student, teacher, divergence=divergence, beta=0.3)
    top = teacher.topk(11, -1)
    sparse = kd_loss(student, top.values, top.indices, divergence=divergence, beta=0.3)
    ref = _reference(student, teacher, divergence, beta=0.3)
    assert torch.allclose(dense, ref, atol=1e-5) and torch.allclose(sparse, ref, atol=1e-5)
    assert (dense >= -1e-6).all()
    same = kd_loss(teacher.clone(), teacher, divergence=divergence)
    assert same.abs().max() < 1e-5


@pytest.mark.parametrize("divergence", DIVS)
def test_entries_outside_the_support_carry_no_nan_gradients(divergence):
    student = torch.randn(3, 9, requires_grad=True)
    values = torch.log_softmax(torch.randn(3, 4), -1)
    values[0, 2:] = -torch.inf  # ids a vocabulary map could not place
    ids = torch.tensor([[1, 2, 3, 4], [0, 5, 6, 7], [8, 1, 2, 3]])
    loss = kd_loss(student, values, ids, divergence=divergence, temperature=2.0).sum()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    # the −inf entries behave as if they were not there
    alone = kd_loss(student[:1].detach(), values[:1, :2], ids[:1, :2], divergence=divergence,
                    temperature=2.0)
    assert kd_loss(student[:1].detach(), values[:1], ids[:1], divergence=divergence,
                   temperature=2.0).item() == pytest.approx(alone.item(), abs=1e-6)


@pytest.mark.parametrize("divergence", DIVS)
def test_tail_bucket_is_the_divergence_between_coarsened_distributions(divergence):
    g = torch.Generator().manual_seed(1)
    student = torch.randn(4, 13, generator=g) * 2
    teacher = torch.log_softmax(torch.randn(4, 13, generator=g) * 2, -1)
    full = teacher.topk(13, -1)
    whole = kd_loss(student, full.values, full.indices, divergence=divergence, beta=0.3,
                    tail=True)
    assert torch.allclose(whole, _reference(student, teacher, divergence, beta=0.3), atol=1e-4)
    top = teacher.topk(3, -1)
    got = kd_loss(student, top.values, top.indices, divergence=divergence, beta=0.3, tail=True)
    # by hand: the top-3 and "everything else", for teacher and student alike
    q_all = torch.softmax(student, -1)
    p3, q3 = top.values.exp(), q_all.gather(-1, top.indices)
    p = torch.cat([p3, 1 - p3.sum(-1, keepdim=True)], -1)
    q = torch.cat([q3, 1 - q3.sum(-1, keepdim=True)], -1)
    assert torch.allclose(got, _reference(q.log(), p.log(), divergence, beta=0.3), atol=1e-5)
    # without the bucket the student is pushed to put all its mass on the top 3
    plain = kd_loss(student, top.values, top.indices, divergence=divergence, beta=0.3)
    assert not torch.allclose(got, plain, atol=1e-3)


def test_tail_bucket_survives_quantised_sums_and_unplaced_ids():
    student = torch.randn(2, 9, requires_grad=True)
    values = torch.log(torch.tensor([[0.6, 0.45, 0.01], [0.5, 0.2, 0.1]]))  # row 0 sums past 1
    values[1, 2] = -torch.inf
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    for divergence in DIVS:
        student.grad = None
        loss = kd_loss(student, values, ids, divergence=divergence, tail=True,
                       temperature=2.0).sum()
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    with pytest.raises(ValueError, match="log-probs"):
        kd_loss(student, values.abs(), ids, tail=True)


def test_kd_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="divergence"):
        kd_loss(torch.zeros(1, 3), torch.zeros(1, 3), divergence="kl")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="line up"):
        kd_loss(torch.zeros(2, 5), torch.zeros(2, 3), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="no finite"):
        kd_loss(torch.zeros(1, 5), torch.full((1, 2), -torch.inf), torch.zeros(1, 2).long())


# ------------------------------------------------------------------ teacher targets


def _boundary(lm: str, contract=LOGITS_DOWN) -> Boundary:
    boundary = Boundary(contract=contract)
    boundary.attach(ModelParty(load_model(lm)))
    return boundary


def test_same_tokenizer_targets_are_the_lms_own_distribution():
    lm = load_model("tiny-large")
    boundary = Boundary(contract=LOGITS_DOWN)
    boundary.attach(ModelParty(lm))
    text = "Rash on both arms since Monday."
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    wire: dict[str, int] = {}
    replies = query_topk(boundary, "data-party-0", [ids, ids[:5]], k=4, value_bits=16,
                         rows_per_request=1, wire=wire)
    assert wire["tokens"] == len(ids) + 5 and wire["reply_bytes"] > 0
    rows = same_tokenizer_rows(replies)
    assert rows[0].positions.tolist() == list(range(len(ids) - 1))
    with torch.no_grad():
        full = torch.log_softmax(lm.model(input_ids=torch.tensor([ids])).logits[0], -1)
    top = full.topk(4, -1)
    assert torch.equal(rows[0].indices, top.indices[:-1])
    assert torch.allclose(rows[0].values, top.values[:-1], atol=2e-3)


def test_alignment_across_tokenizers_keeps_shared_boundaries():
    byte_tok, bpe_tok = load_tokenizer("tiny-small"), load_tokenizer("tiny-other")
    text = "Message: chest pain since Monday.\nAnswer: cardiology"
    t = bpe_tok(text, add_special_tokens=False, return_offsets_mapping=True)

    n = len(t["input_ids"])
    # a made-up teacher reply: at each position, the true next token first
    nxt = torch.tensor([*t["input_ids"][1:], t["input_ids"][0]])
    indices = torch.stack([nxt, (nxt + 1) % len(bpe_tok), (nxt + 2) % len(bpe_tok)], -1)
    values = torch.log_softmax(torch.tensor([[2.0, 0.0, -1.0]]).repeat(n, 1), -1)
    reply = TopkReply(list(t["input_ids"]), values, indices)
    vocab_map = VocabMap(bpe_tok, byte_tok)
    rows, stats = align_rows([text], [reply], [t["offset_mapping"]], byte_tok, vocab_map, 256)
    row = rows[0]
    s_ids = byte_tok(text, add_special_tokens=False)["input_ids"]
    assert row.ids.tolist() == s_ids
    assert 0 < stats["aligned_share"] < 1 and stats["aligned_positions"] == len(row.positions)
    # wherever the teacher's next token was placed, its first byte is the student's next token
    for pos, top_id, value in zip(row.positions.tolist(), row.indices[:, 0].tolist(),
                                  row.values[:, 0].tolist(), strict=True):
        assert top_id == s_ids[pos + 1] and value > -1.0


def test_token_ids_of_a_private_record_are_refused():
    task = load_task(TASK)
    lm = load_model("tiny-large")
    boundary = Boundary(contract=LOGITS_DOWN)
    boundary.attach(ModelParty(lm))
    record = task.parties[0][0].text
    ids = lm.tokenizer(record, add_special_tokens=False)["input_ids"]
    boundary.guard_contexts["data-party-0"] = GuardContext(private_texts=[record])
    request = Message(Kind.TOKEN_IDS, "data-party-0", "model-party",
                      {"ids": torch.tensor([ids])}, {"op": "topk_logprobs", "k": 2})
    with pytest.raises(ContractViolation, match="tokenizer"):
        boundary.request(request)  # no decoder registered: cannot be checked, so refused
    boundary.guard_contexts["data-party-0"].decode = lm.tokenizer.decode
    with pytest.raises(ContractViolation, match="private record"):
        boundary.request(request)
    public = lm.tokenizer(task.public[0].text, add_special_tokens=False)["input_ids"]
    boundary.request(Message(Kind.TOKEN_IDS, "data-party-0", "model-party",
                             {"ids": torch.tensor([public])}, {"op": "topk_logprobs", "k": 2}))
    big = Message(Kind.TOKEN_IDS, "data-party-0", "model-party",
                  {"ids": torch.tensor([public])}, {"op": "topk_logprobs", "k": 1025})
    with pytest.raises(Exception, match="k"):
        boundary.request(big)


# ------------------------------------------------------------------ the strategy


def test_logit_kd_end_to_end_same_tokenizer(tmp_path):
    run_strategy("logit-kd", task=TASK, large="tiny-large", small="tiny-small",
                 out_dir=tmp_path,
                 config={"eval_limit": "12", "epochs": "1", "transfer_limit": "20",
                         "max_length": "96", "top_k": "8", "value_bits": "8",
                         "attacks": "true", "attack_limit": "6", "canary_candidates": "10"})
    data = json.loads((tmp_path / "result.json").read_text())
    m = data["metrics"]
    assert {"sm_before", "sm_after", "accuracy"} <= set(m["utility"])
    assert set(m["efficiency"]["bytes_crossed"]["by_kind"]) == {"token_ids", "topk_logprobs"}
    assert m["efficiency"]["lm_calls"] == 2 and m["exposure"]["lm_tokens"] > 0
    # 8 one-byte values + 8 byte-vocabulary ids + scales, plus the message header
    assert 16 < m["efficiency"]["topk_bytes_per_token"] < 40
    assert m["exposure"]["tokenizers"] == "same"
    assert 0.0 <= m["exposure"]["top1_agreement_with_lm"] <= 1.0
    assert m["privacy"]["private_records_sent"] == 0
    assert m["privacy"]["measured"] == ["pii_crossed", "membership", "canaries"]
    crossed = m["privacy"]["pii_crossed"]
    assert crossed["occurrences"] == 0 and crossed["entries_scanned"] == 4
    # the 2 token-id requests were decoded and scanned; only the 2 top-k replies carry no text
    assert any(note.startswith("2 tensor payloads") for note in crossed["notes"])


def test_logit_kd_across_tokenizers_and_in_sequence_mode(tmp_path):
    run_strategy("logit-kd", task=TASK, large="tiny-other", small="tiny-small",
                 out_dir=tmp_path / "cross",
                 config={"eval_limit": "8", "epochs": "0.5", "transfer_limit": "12",
                         "max_length": "64", "divergence": "jsd"})
    cross = json.loads((tmp_path / "cross" / "result.json").read_text())["metrics"]
    assert cross["exposure"]["tokenizers"] == "different"
    assert cross["exposure"]["alignment"]["aligned_share"] > 0.1
    run_strategy("logit-kd", task=TASK, large="tiny-large", small="tiny-small",
                 out_dir=tmp_path / "seq",
                 config={"eval_limit": "8", "epochs": "0.5", "transfer_limit": "8",
                         "max_length": "64", "mode": "sequence", "max_new_tokens": "4"})
    seq = json.loads((tmp_path / "seq" / "result.json").read_text())["metrics"]
    assert seq["efficiency"]["bytes_crossed"]["by_kind"]["text"] > 0


def test_logit_kd_rejects_bad_settings(tmp_path):
    for bad in ({"top_k": "2000"}, {"value_bits": "7"}, {"transfer": "nowhere"},
                {"kd_weight": "1.5"}, {"divergence": "kl"}):
        with pytest.raises(ValueError):
            run_strategy("logit-kd", task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "bad", config=bad)
