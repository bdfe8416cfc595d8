"""lm-synthetic-data: parsing and de-duplication, seed protection, filters, the run end to end.

Tiny random LMs write gibberish, so most checks use a scripted model party whose "LM" writes
known messages (good ones, duplicates, seed copies, junk, mislabelled ones): the filters'
counts are then exact. One run uses the tiny models themselves, end to end.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import torch

from crossbound.boundary.contracts import MODEL_PARTY, get_guard, verbatim_private_text
from crossbound.boundary.messages import Kind, Message
from crossbound.downward.lm_synthetic import LMSyntheticConfig
from crossbound.downward.synthetic_text import (
    dedupe,
    distance_to_real,
    generation_prompt,
    normalise,
    parse_continuation,
    repetitive,
)
from crossbound.runner import run_strategy
from crossbound.tasks.registry import load_task

TASK = "clinic-triage:n=120,seed=3"
FAST = {"sanitizer": "regex", "eval_limit": "4", "epochs": "0.5", "train_limit": "30",
        "max_length": "96"}


# ------------------------------------------------------------------ text pieces


def test_parse_cuts_at_cues_and_drops_short_or_junk():
    assert parse_continuation(" My knee has been swollen for a week.\n\nMessage: next") == (
        "My knee has been swollen for a week.")
    assert parse_continuation("Chest pain when I climb stairs, twice now.\nAnswer: cardiology"
                              ) == "Chest pain when I climb stairs, twice now."
    assert parse_continuation('"Itchy rash on both arms since Monday." Message: x') == (
        "Itchy rash on both arms since Monday.")
    # the LM repeated the cue it was given; a tail cut off by the token limit goes
    assert parse_continuation("Message: I keep getting headaches. They last for hou") == (
        "I keep getting headaches.")
    # ... unless too little would remain
    assert parse_continuation("Bad cough. It has lasted three weeks and keeps me up") == (
        "Bad cough. It has lasted three weeks and keeps me up")
    assert parse_continuation("ok") is None
    assert parse_continuation("\n\nMessage: something long enough to keep") is None
    assert parse_continuation("x" * 40, min_words=4) is None
    assert parse_continuation("x" * 40) == "x" * 40


def test_dedupe_exact_near_and_seed_copies():
    base = "I have had a sharp pain in my lower back since I lifted a heavy box on Monday"
    texts = [
        base,
        base.upper() + "!!",  # exact after normalising
        base.replace("Monday", "Tuesday"),  # near: one word of 17 differs
        "My skin is red and itchy after the new soap",
        "Dear doctor, my skin is red and itchy after the new soap.",  # near: Jaccard 7/9
        "Headaches every morning for two weeks now, worse with screens",
        "the seed message itself, shown to the LM as an example of the label",
    ]
    seeds = ["The seed message itself, shown to the LM as an example of the label."]
    keep, removed = dedupe(texts, threshold=0.6, against=seeds)
    assert keep == [0, 3, 5]
    assert removed == {"exact": 1, "near": 2, "copies": 1}
    keep, removed = dedupe(texts, threshold=0.95)  # stricter: only the exact copy goes
    assert keep == [0, 2, 3, 4, 5, 6] and removed == {"exact": 1, "near": 0, "copies": 0}
    assert normalise("  Hello,   WORLD_x! ") == "hello world x"
    assert repetitive("I'm going to the gym. Fine. I'm going to the gym! I'm going")
    assert not repetitive("Fine. Fine. My knee hurts. It hurts when I walk.")  # short ones


def test_distance_to_real_counts_private_word_runs_but_not_public_ones():
    private = ["my name is Ann and my knee hurts when I walk up the stairs at night",
               "it's mild and I can manage day to day with some rest"]
    public = ["it's mild and I can manage day to day, thanks"]
    far = "a totally different message about a skin rash on my arm"
    copy = "my name is Ann and my knee hurts when I walk up the stairs"
    template = "my stomach hurts, it's mild and I can manage day to day"
    d = distance_to_real([far, copy, template], private, public)
    assert d["verbatim_8gram_share"] == pytest.approx(1 / 3, abs=1e-3)  # template run: public
    assert 0.0 < d["mean_max_jaccard_5gram"] < 1.0
    assert distance_to_real([copy], private)["mean_max_jaccard_5gram"] > 0.7
    assert distance_to_real([], private)["verbatim_8gram_share"] == 0.0


def test_generation_prompt_shape():
    task = load_task(TASK)
    prompt = generation_prompt(task, "neurology", ["Headache\nsince Monday."], "Keep it short.")
    assert prompt.startswith(task.instruction)
    assert 'answer is "neurology"' in prompt and "Keep it short." in prompt
    assert "Message: Headache since Monday.\nAnswer: neurology" in prompt  # flattened
    assert prompt.endswith("\n\nMessage:")
    bare = generation_prompt(task, "neurology", [])
    assert "Message: " not in bare and bare.endswith("Message:")


# ------------------------------------------------------------------ a scripted model party

SYMPTOM = {"cardiology": "my heart races", "dermatology": "a rash spreads on my skin",
           "gastroenterology": "my stomach burns", "neurology": "my head throbs",
           "orthopedics": "my knee gives way", "respiratory": "I wheeze at night"}


class ScriptedLM:
    """Writes, for the k-th prompt of a label: 0 a good message, 1 its exact duplicate,
    2 junk, 3 a copy of the prompt's first seed, 4 a message the LM then labels otherwise,
    5 another good one. Scores a message by the departments it names (calibration: no-op)."""

    name = MODEL_PARTY

    def __init__(self, junk_only: bool = False) -> None:
        self.seen: Counter[str] = Counter()
        self.prompts: list[str] = []
        self.ops: Counter[str] = Counter()
        self.junk_only = junk_only
        self.registered_guards: set[object] = set()  # the process-wide guard, mid-run

    def handle(self, request: Message) -> Message:
        op = request.meta["op"]
        self.ops[op] += 1
        self.registered_guards.add(get_guard("no-raw-private-text"))
        self.prompts += request.payload
        if op == "generate":
            payload: object = [self._write(p) for p in request.payload]
            kind = Kind.TEXT
        else:
            choices = request.meta["choices"]
            rows = []
            for prompt in request.payload:
                message = prompt.rsplit("Message:", 1)[1].split("\nAnswer:")[0].lower()
                rows.append([float(c in message) for c in choices])
            payload, kind = {"choice_logprobs": torch.tensor(rows)}, Kind.TENSORS
        tokens = sum(len(p.split()) for p in request.payload)
        return Message(kind, MODEL_PARTY, request.sender, payload,
                       {"op": op, "lm_tokens": tokens})

    def _write(self, prompt: str) -> str:
        if prompt.endswith("Reason (one sentence):"):
            return " Because the message names it. And more words"
        label = re.search(r'answer is "(\w+)"', prompt).group(1)  # type: ignore[union-attr]
        k = self.seen[label] % 6
        self.seen[label] += 1
        if self.junk_only:
            return "ok"
        good = f" Since last week {SYMPTOM[label]}, see {label} please."
        if k in (0, 1):
            return good if k == 0 else good.upper() + "\n\nMessage: more"
        if k == 2:
            return "?? ok"
        if k == 3:
            seeds = re.findall(r"Message: (.+)\nAnswer:", prompt)
            return seeds[0] if seeds else "no seed to copy here, a filler message"
        other = "dermatology" if label != "dermatology" else "cardiology"
        if k == 4:
            return f"Sometimes {SYMPTOM[label]}, maybe it is {other} though."
        return f"For two days {SYMPTOM[label]}, {label} I think. Answer: {label}"


def _run(tmp_path, party=None, **settings):
    config = {**FAST, **{k: str(v) for k, v in settings.items()}}
    return run_strategy("lm-synthetic-data", task=TASK, large="tiny-large", small="tiny-small",
                        out_dir=tmp_path, config=config, model_party=party, overwrite=True)


def test_filters_count_exactly_and_seeds_cross_sanitised(tmp_path):
    lm = ScriptedLM()
    guard = get_guard("no-raw-private-text")
    result = _run(tmp_path, lm, per_label=6, seeds_per_prompt=2, mix_private="false")
    syn = result.metrics["synthetic"]
    # per label: 6 written, junk dropped (5), duplicate and seed copy removed (3), one
    # mislabelled (2): 12 kept of 36
    assert {k: syn[k] for k in ("requested", "generated", "parsed", "deduplicated", "kept")} == {
        "requested": 36, "generated": 36, "parsed": 30, "deduplicated": 18, "kept": 12}
    assert syn["duplicates_removed"] == {"exact": 6, "near": 0, "copies": 6}
    assert syn["label_agreement_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert set(syn["per_label"].values()) == {2} and syn["train_examples"] == 12
    assert lm.ops == {"generate": 5, "score_choices": 3}  # 36/8 and (18 + 1)/8 requests
    # what reached the LM: placeholders, never the seeds' PII; a content-free calibration row
    task = load_task(TASK)
    values = {s.value for ex in task.train for s in ex.pii if len(s.value) > 4}
    assert not any(v in p for p in lm.prompts for v in values)
    assert any("[PERSON_" in p for p in lm.prompts)
    assert sum("Message: N/A\nAnswer:" in p for p in lm.prompts) == 1
    privacy = result.metrics["privacy"]
    assert privacy["pii_crossed"]["occurrences"] == 0
    assert privacy["private_records_sent"] == 0 and privacy["seeds"].startswith("seeds sanitised")
    labels = Counter(ex.target for ex in task.parties[0][:30])
    assert privacy["seed_messages_sent"] == sum(6 * min(2, n) for n in labels.values())
    assert 0 < privacy["seed_records_sent"] <= 30
    assert privacy["contract"] == "synthetic-data-down"
    # The sanitiser guard ran on the run's boundary only: the process-wide registry kept the
    # plain verbatim check throughout the run (another run in the process would see that).
    assert lm.registered_guards == {verbatim_private_text}
    assert get_guard("no-raw-private-text") is guard
    records = [json.loads(line) for line in (tmp_path / "synthetic.jsonl").read_text().splitlines()]
    assert result.artifacts["synthetic_data"] == str(tmp_path / "synthetic.jsonl")
    assert len(records) == 12 and all(r["lm_label"] == r["label"] for r in records)
    assert all(r["text"].startswith(("Since last week", "For two days")) for r in records)
    assert all("Answer" not in r["text"] for r in records)  # parsed
    rejected = Counter(json.loads(line)["dropped"] for line in
                       (tmp_path / "synthetic-rejected.jsonl").read_text().splitlines())
    assert rejected == {"parse": 6, "duplicate": 12, "label disagreement": 6} == syn["dropped"]
    assert result.metrics["efficiency"]["lm_calls"] == 8
    assert 0 <= syn["to_private"]["verbatim_8gram_share"] <= 1


@pytest.mark.slow
def test_without_agreement_filter_or_seeds(tmp_path):
    lm = ScriptedLM()
    result = _run(tmp_path, lm, per_label=6, seeds_per_prompt=0, filter_agreement="false",
                  rationales="false")
    syn = result.metrics["synthetic"]
    # no seeds: the "copy" prompt writes a filler message, identical across labels
    assert (syn["parsed"], syn["deduplicated"], syn["kept"]) == (30, 19, 19)
    assert syn["label_agreement_rate"] is None and "score_choices" not in lm.ops
    assert syn["train_examples"] == 19 + 30  # mixed with the 30 private records
    assert not any("Message: " in p.rsplit("\n\n", 1)[0] for p in lm.prompts)  # no examples
    privacy = result.metrics["privacy"]
    assert privacy["seed_messages_sent"] == 0 and privacy["private_records_sent"] == 0
    assert privacy["seeds"] == "no seeds (task description only)"


@pytest.mark.slow
def test_raw_seeds_need_an_explicit_opt_in(tmp_path):
    with pytest.raises(ValueError, match="allow_raw_seeds"):
        LMSyntheticConfig(seed_privacy="none")
    with pytest.raises(ValueError, match="allow_raw_seeds"):
        _run(tmp_path, ScriptedLM(), seed_privacy="none")
    LMSyntheticConfig(seed_privacy="none", seeds_per_prompt=0)  # nothing private to send
    result = _run(tmp_path / "raw", ScriptedLM(), seed_privacy="none", allow_raw_seeds="true",
                  per_label=2, seeds_per_prompt=1, filter_agreement="false")
    privacy = result.metrics["privacy"]
    assert privacy["contract"] == "raw-private-seeds-to-lm"
    assert privacy["private_records_sent"] == privacy["seed_records_sent"] > 0
    assert privacy["seeds"].startswith("raw private seeds")


def test_perturbed_seeds_and_rationales(tmp_path):
    lm = ScriptedLM()
    result = _run(tmp_path, lm, seed_privacy="perturb", seed_epsilon=2, per_label=2,
                  seeds_per_prompt=1, filter_agreement="false", rationales="true")
    privacy = result.metrics["privacy"]
    assert privacy["seeds"].startswith("seeds perturbed") and privacy["private_records_sent"] == 0
    task = load_task(TASK)
    originals = {" ".join(ex.text.split()) for ex in task.train}
    shown = [s for p in lm.prompts if 'answer is "' in p  # generation prompts
             for s in re.findall(r"Message: (.+)\nAnswer: [a-z]", p)]
    assert len(shown) == 12 and not set(shown) & originals
    assert privacy["pii_crossed"]["occurrences"] == 0
    # rationales: one generate request more, stored with the records
    assert result.metrics["synthetic"]["rationales"] == result.metrics["synthetic"]["kept"]
    records = (tmp_path / "synthetic.jsonl").read_text().splitlines()
    assert all(json.loads(r)["rationale"].endswith(".") for r in records)


def test_nothing_surviving_or_free_text_fails_clearly(tmp_path):
    with pytest.raises(RuntimeError, match=r"requested: 6, generated: 6, parsed: 0.*Hint"):
        _run(tmp_path, ScriptedLM(junk_only=True), per_label=1)
    assert (tmp_path / "synthetic-rejected.jsonl").read_text().count('"parse"') == 6
    with pytest.raises(ValueError, match="classification task"):
        run_strategy("lm-synthetic-data", task="clinic-triage:n=30,seed=3,target=reply",
                     large="tiny-large", small="tiny-small", out_dir=tmp_path / "free",
                     model_party=ScriptedLM())
    for bad in ({"per_label": 0}, {"near_duplicate": 0}, {"seed_epsilon": 0},
                {"seed_privacy": "mask"}, {"trainable": "half"}):
        with pytest.raises(ValueError):
            LMSyntheticConfig(**bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the tiny models themselves


@pytest.mark.slow
def test_end_to_end_on_tiny_models_with_sanitised_seeds(tmp_path):
    # Tiny random LMs repeat one character: keep what they write (no agreement filter, one
    # word allowed) so that something survives de-duplication.
    result = _run(tmp_path, per_label=2, seeds_per_prompt=1, max_new_tokens=12, min_chars=8,
                  min_words=1, filter_agreement="false", prompts_per_request=12,
                  lm_batch_size=12)
    m = result.metrics
    syn = m["synthetic"]
    assert syn["kept"] <= syn["deduplicated"] <= syn["parsed"] <= syn["generated"] <= 12
    assert syn["requested"] == 12 and syn["kept"] >= 1
    assert sum(syn["per_label"].values()) == syn["kept"]
    assert m["privacy"]["pii_crossed"]["occurrences"] == 0
    assert m["privacy"]["seed_messages_sent"] == syn["generated"]
    assert {"sm_before", "sm_after", "accuracy"} <= set(m["utility"])
    assert m["efficiency"]["lm_calls"] == 1 and m["efficiency"]["lm_tokens"] > 0
    assert set(m["efficiency"]["bytes_crossed"]["by_kind"]) == {"text"}
    lines = (tmp_path / "synthetic.jsonl").read_text().splitlines()
    assert len(lines) == syn["kept"]
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["artifacts"]["synthetic_data"].endswith("synthetic.jsonl")
