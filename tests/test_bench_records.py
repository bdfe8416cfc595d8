"""The bench's private-record sweep and its shared LM (computed once, charged to every cell)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from crossbound.bench.cells import DEFAULT_RECORDS, enumerate_cells, parse_records
from crossbound.bench.run import BenchArgs, run_bench
from crossbound.bench.shared import BenchShare
from crossbound.boundary.messages import Kind, Message
from crossbound.models.loading import load_model
from crossbound.parties import ModelParty
from crossbound.runner import run_strategy

TASK = "clinic-triage:n=120,seed=3"


def test_records_parse_sorted_with_all_last_and_reject_nonsense():
    assert parse_records("128, 32,all,32", "quick") == ("32", "128", "all")
    assert parse_records(None, "full") == DEFAULT_RECORDS["full"]
    assert parse_records([], "quick") == DEFAULT_RECORDS["quick"]
    assert parse_records(["16", "8"], "quick") == ("8", "16")
    for bad in ("0", "-3", "lots", "32,,64"):
        with pytest.raises(ValueError, match="positive numbers of private records"):
            parse_records(bad, "quick")


def test_swept_cells_run_once_per_budget_and_the_others_once():
    cells = enumerate_cells("quick", task=TASK, large="a", small="b",
                            only=["remote-lm", "local-finetune--no-dp"],
                            records=("32", "all"))
    by_id = {c.id: c for c in cells}
    assert set(by_id) == {"remote-lm--raw-prompts", "local-finetune--no-dp--r32",
                          "local-finetune--no-dp--rall"}
    assert by_id["local-finetune--no-dp--r32"].overrides["train_limit"] == "32"
    # "all": no limit at all, not the profile's own 120
    assert "train_limit" not in by_id["local-finetune--no-dp--rall"].overrides
    assert by_id["remote-lm--raw-prompts"].records is None
    # one budget's cell by its id; the hash differs between budgets
    one = enumerate_cells("quick", task=TASK, large="a", small="b",
                          only=["local-finetune--no-dp--r32"], records=("32", "all"))
    assert [c.id for c in one] == ["local-finetune--no-dp--r32"]
    assert by_id["local-finetune--no-dp--r32"].digest() != \
        by_id["local-finetune--no-dp--rall"].digest()
    # a record-independent cell hashes as it did before the sweep existed
    assert "records" not in by_id["remote-lm--raw-prompts"].identity()
    with pytest.raises(ValueError, match="use --records"):
        enumerate_cells("quick", task=TASK, large="a", small="b",
                        overrides=["local-finetune.train_limit=10"], records=("32",))


# ---------------------------------------------------------------- the shared LM's memo


def _ask(op: str, payload: object, kind: Kind = Kind.TEXT, **meta: object) -> Message:
    return Message(kind=kind, sender="data-party-0", receiver="model-party", payload=payload,
                   meta={"op": op, **meta})


@pytest.fixture(scope="module")
def lm():
    return load_model("tiny-large", frozen=True)


class _Shared(BenchShare):
    """A BenchShare over an already loaded model (the tests load it once)."""

    def __init__(self, model) -> None:
        super().__init__("tiny-large")
        self._models[next(model.model.parameters()).dtype] = (model, 1.5)


def test_memo_answers_exactly_as_the_party_and_asks_the_lm_only_for_what_is_new(lm):
    plain = ModelParty(lm)
    shared = _Shared(lm)
    shared.begin_cell()
    party = shared.party()
    prompts = ["Patient: chest pain since noon.", "Patient: refill of my inhaler please."]
    choices = ["urgent", "routine"]
    first = party.handle(_ask("score_choices", prompts, choices=choices))
    expected = plain.handle(_ask("score_choices", prompts, choices=choices))
    assert torch.equal(first.payload["choice_logprobs"], expected.payload["choice_logprobs"])
    assert first.meta == expected.meta  # lm_tokens as the party counts them
    assert shared.reused()["items"] == 0
    # a new cell: one prompt seen, one new; only the new one reaches the LM
    shared.begin_cell()
    calls: list[int] = []
    real = ModelParty.handle

    def counting(self, request):
        calls.append(len(request.payload) if request.kind == Kind.TEXT else -1)
        return real(self, request)

    again = shared.party()
    try:
        ModelParty.handle = counting  # type: ignore[method-assign]
        mixed = again.handle(_ask("score_choices", [prompts[1], "Patient: rash on arm."],
                                  choices=choices))
    finally:
        ModelParty.handle = real  # type: ignore[method-assign]
    assert calls == [1]
    assert torch.equal(mixed.payload["choice_logprobs"][0],
                       expected.payload["choice_logprobs"][1])
    reused = shared.reused()
    assert reused["items"] == 1 and reused["lm_seconds"] > 0
    assert reused["load_seconds"] == 1.5  # the other cell paid for the load


def test_memo_generations_and_topk_rows_match_the_party(lm):
    plain, shared = ModelParty(lm), _Shared(lm)
    party = shared.party()
    prompts = ["Question: what is a triage nurse?\nAnswer:"]
    gen = _ask("generate", prompts, max_new_tokens=6)
    assert party.handle(gen).payload == plain.handle(gen).payload
    assert party.handle(gen).payload == plain.handle(gen).payload  # from the memo
    ids = torch.tensor([[5, 9, 11, 3], [7, 7, 2, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    for bits in (32, 8):
        ask = _ask("topk_logprobs", {"ids": ids, "mask": mask}, Kind.TOKEN_IDS, k=4,
                   value_bits=bits)
        mine, theirs = party.handle(ask), plain.handle(ask)
        assert mine.meta == theirs.meta
        for key in theirs.payload:
            assert torch.equal(mine.payload[key], theirs.payload[key]), (bits, key)
    assert shared.reused()["items"] == 1 + 2  # the generation once, both rows for 8 bits


def test_memo_leaves_state_ops_and_tuned_copies_to_the_cells_party(lm):
    shared = _Shared(lm)
    party = shared.party()
    ask = _ask("score_choices", ["Patient: cough."], choices=["a", "b"], model="upward-tuned")
    with pytest.raises(Exception, match=r"upward|tuned|copy"):
        party.handle(ask)  # no upward copy in this cell: the party says so, not the memo
    assert shared.reused()["items"] == 0
    assert shared.party().party is not party.party  # a fresh party per cell


# ---------------------------------------------------------------- through the bench


def test_bench_sweeps_budgets_and_charges_reused_work(tmp_path: Path):
    args = BenchArgs(profile="quick", task=TASK, large="tiny-large", small="tiny-small",
                     only=["remote-lm", "cascade", "local-finetune--no-dp"],
                     records=["16", "24"],
                     overrides=["eval_limit=6", "cascade.validation_limit=4",
                                "cascade.sm_epochs=1", "local-finetune.epochs=1",
                                "local-finetune.attacks=false"])
    results = run_bench(args, tmp_path / "bench", report=False)
    cells = {c["id"]: c for c in results["cells"]}
    assert set(cells) == {"remote-lm--raw-prompts", "cascade--max-prob--r16",
                          "cascade--max-prob--r24", "local-finetune--no-dp--r16",
                          "local-finetune--no-dp--r24"}
    assert all(c["status"] == "ok" for c in cells.values()), cells
    assert results["args"]["records"] == ["16", "24"]
    assert (cells["cascade--max-prob--r16"]["records"],
            cells["cascade--max-prob--r24"]["records"]) == (16, 24)
    assert cells["remote-lm--raw-prompts"]["records"] is None
    # the cascade's second budget routes the same test prompts: answers came from memory
    efficiency = cells["cascade--max-prob--r24"]["metrics"]["efficiency"]
    reused = efficiency["reused_work"]
    assert reused["items"] > 0
    assert efficiency["wall_seconds"] == pytest.approx(
        efficiency["wall_seconds_measured"] + reused["lm_seconds"] + reused["load_seconds"],
        abs=2e-3)
    # the SM alone at a budget is the cascade's SM: trained once, by whichever cell came first
    for budget in ("16", "24"):
        pair = [cells[f"{cell}--r{budget}"]["metrics"]["efficiency"].get("reused_work", {})
                for cell in ("cascade--max-prob", "local-finetune--no-dp")]
        assert sorted(r.get("sm_trainings", 0) for r in pair) == [0, 1], budget
    # ...and what crossed is what crosses without the shared LM, byte for byte
    alone = run_strategy("cascade", task=TASK, large="tiny-large", small="tiny-small",
                         out_dir=tmp_path / "alone",
                         config=dict(cells["cascade--max-prob--r24"]["overrides"]))
    shared_run = json.loads((tmp_path / "bench/cells/cascade--max-prob--r24/result.json")
                            .read_text())
    assert shared_run["metrics"]["efficiency"]["bytes_crossed"] == \
        alone.metrics["efficiency"]["bytes_crossed"]
    assert shared_run["metrics"]["utility"] == alone.metrics["utility"]


def test_default_pair_gives_offsite_the_small_lm_and_proxy_the_same_tokenizer_sm():
    from crossbound.defaults import DEFAULT_LARGE, DEFAULT_SMALL, SAME_TOKENIZER_SMALL

    cells = {c.id: c for c in enumerate_cells(
        "full", task=TASK, large=DEFAULT_LARGE, small=DEFAULT_SMALL,
        only=["offsite-tuning--adapter-full", "proxy-tuning--alpha-1", "remote-lm"],
        records=("32",))}
    assert cells["offsite-tuning--adapter-full--r32"].large == SAME_TOKENIZER_SMALL
    assert cells["offsite-tuning--adapter-full--r32"].overrides["bundle_dtype"] == "bfloat16"
    assert cells["proxy-tuning--alpha-1--r32"].small == SAME_TOKENIZER_SMALL
    assert cells["remote-lm--raw-prompts"].large == DEFAULT_LARGE
    # another pair is taken as asked
    other = enumerate_cells("full", task=TASK, large="tiny-large", small="tiny-small",
                            only=["offsite-tuning--adapter-full"], records=("32",))
    assert {(c.large, c.small) for c in other} == {("tiny-large", "tiny-small")}
