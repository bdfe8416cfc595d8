"""Real-text tasks, public proxy corpora and user task files (offline, fast)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crossbound.tasks import package_data
from crossbound.tasks.base import Example, Task
from crossbound.tasks.construction_faq import (
    CATEGORY_NAMES,
    build_construction_faq,
    construction_questions,
)
from crossbound.tasks.corpora import (
    corpus_as_examples,
    corpus_description,
    corpus_names,
    load_corpus,
    strip_wiki_markup,
)
from crossbound.tasks.loaders import load_file_task
from crossbound.tasks.package_data import package_dir
from crossbound.tasks.real import build_movie_sentiment, build_support_qa
from crossbound.tasks.registry import load_task

SRC = Path(__file__).resolve().parents[1] / "src"


def _splits(task: Task) -> dict[str, tuple[Example, ...]]:
    return {
        "train": task.train,
        "validation": task.validation,
        "test": task.test,
        "public": task.public,
    }


def _assert_disjoint_by_text(task: Task) -> None:
    seen: dict[str, str] = {}
    for split, examples in _splits(task).items():
        for ex in examples:
            key = ex.text.casefold()
            assert key not in seen, f"{ex.text!r} is in both {seen[key]} and {split}"
            seen[key] = split
    ids = [ex.id for examples in _splits(task).values() for ex in examples]
    assert len(ids) == len(set(ids))


# --- support-qa ---------------------------------------------------------------------------------


def test_support_qa_builds_free_text_task() -> None:
    task = build_support_qa()
    assert task.metric == "rouge_l" and task.choices is None
    assert len(task.parties) == 1
    sizes = {name: len(split) for name, split in _splits(task).items()}
    assert sizes["train"] >= 50 and all(sizes.values()), sizes
    assert all(ex.text.strip() and ex.target.strip() for ex in task.train)
    assert all(ex.id.startswith("sqa-") and len(ex.id) == 10 for ex in task.train)
    assert task.params["seed"] == 0
    _assert_disjoint_by_text(task)


def test_support_qa_is_deterministic_and_seeded() -> None:
    assert build_support_qa(seed=3).fingerprint() == build_support_qa(seed=3).fingerprint()
    assert build_support_qa(seed=3).fingerprint() != build_support_qa(seed=4).fingerprint()


def test_support_qa_single_topic_has_no_repeated_question() -> None:
    task = build_support_qa(topics="tech_support")
    questions = [ex.text for split in _splits(task).values() for ex in split]
    # tech_support.yml repeats its questions ~100 times each; every one appears once here.
    assert len(questions) == len(set(questions)) == 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"validation": 0.5, "test": 0.3, "public": 0.2},
        {"test": -0.1},
        {"public": 1.0},
        {"seed": "x"},
        {"topics": "no_such_topic"},
        {"topics": "../../etc"},
    ],
)
def test_support_qa_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, FileNotFoundError)):
        build_support_qa(**kwargs)


# --- movie-sentiment ----------------------------------------------------------------------------


def test_movie_sentiment_is_balanced_and_disjoint() -> None:
    task = build_movie_sentiment(n=400, seed=1)
    assert task.choices == ("fresh", "rotten") and task.metric == "accuracy"
    total = sum(len(split) for split in _splits(task).values())
    assert total == 400
    for split in _splits(task).values():
        counts = Counter(ex.target for ex in split)
        assert counts["fresh"] == counts["rotten"], counts
    assert all(ex.id.startswith("mov-") for ex in task.train)
    _assert_disjoint_by_text(task)


def test_movie_sentiment_is_deterministic() -> None:
    first = build_movie_sentiment(n=200, seed=5)
    assert first.fingerprint() == build_movie_sentiment(n=200, seed=5).fingerprint()
    assert first.fingerprint() != build_movie_sentiment(n=200, seed=6).fingerprint()


def test_movie_sentiment_all() -> None:
    task = build_movie_sentiment(n=None)
    assert task.params["n"] > 4000
    assert Counter(ex.target for ex in task.train)["fresh"] * 2 == len(task.train)


@pytest.mark.parametrize("n", [11, 4, 10**6, True, "100"])
def test_movie_sentiment_rejects_bad_n(n: Any) -> None:
    with pytest.raises(ValueError, match="n must be"):
        build_movie_sentiment(n=n)


def test_fingerprints_are_identical_in_a_fresh_process() -> None:
    code = (
        "from crossbound.tasks.real import build_movie_sentiment, build_support_qa\n"
        "print(build_support_qa(seed=2).fingerprint())\n"
        "print(build_movie_sentiment(n=300, seed=2).fingerprint())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [
        build_support_qa(seed=2).fingerprint(),
        build_movie_sentiment(n=300, seed=2).fingerprint(),
    ]


# --- construction-faq ---------------------------------------------------------------------------


def test_construction_faq_builds_a_stratified_classification_task() -> None:
    task = build_construction_faq()
    assert task.metric == "accuracy" and task.choices is not None
    assert len(task.choices) == 39 and list(task.choices) == sorted(task.choices)
    assert {"building permit", "rot tax deduction", "hidden defects"} <= set(task.choices)
    assert task.params["labels"] == "english"
    assert [len(task.train), len(task.validation), len(task.test), len(task.public)] == [
        247,
        57,
        96,
        96,
    ]
    for split in _splits(task).values():
        assert all(ex.target in task.choices and ex.text.strip() for ex in split)
    # Stratified: every category, even a 7-question one, is in training, test and public.
    for split in (task.train, task.test, task.public):
        assert {ex.target for ex in split} == set(task.choices)
    assert all(ex.id.startswith("cfaq-") and ex.meta["source_id"] for ex in task.train)
    assert task.prompt(task.train[0]).startswith("Which topic of Swedish construction law")
    _assert_disjoint_by_text(task)


def test_construction_faq_english_names_cover_exactly_the_data_categories() -> None:
    # A package version with new or renamed categories must fail here, not label silently.
    assert set(CATEGORY_NAMES) == {category for _, category, _ in construction_questions()}
    names = list(CATEGORY_NAMES.values())
    assert len(set(names)) == len(names) == 39
    # Scored by their tokens: no name may be the start of another.
    assert not [(a, b) for a in names for b in names if a != b and b.startswith(a)]
    assert all(name == name.lower().strip() and 1 <= len(name.split()) <= 4 for name in names)


def test_construction_faq_label_modes_cut_the_same_splits() -> None:
    english = build_construction_faq(seed=1)
    ids = build_construction_faq(seed=1, labels="ids")
    assert ids.choices is not None and english.choices is not None
    assert set(ids.choices) == set(CATEGORY_NAMES)
    assert {"bygglov", "rot-avdrag", "dolda-fel", "takläggning", "dispute"} <= set(ids.choices)
    assert set(english.choices) == set(CATEGORY_NAMES.values())
    for (name, mine), theirs in zip(_splits(english).items(), _splits(ids).values(), strict=True):
        assert [(ex.id, ex.text) for ex in mine] == [(ex.id, ex.text) for ex in theirs], name
        for en, sv in zip(mine, theirs, strict=True):
            assert en.meta["category"] == sv.meta["category"] == sv.target
            assert en.target == CATEGORY_NAMES[sv.target]
    assert english.fingerprint() != ids.fingerprint()
    assert ids.params["labels"] == "ids"
    assert load_task("construction-faq:seed=1,labels=ids").fingerprint() == ids.fingerprint()
    assert load_task("construction-faq:seed=1").fingerprint() == english.fingerprint()


def test_construction_faq_unnamed_category_fails_in_english_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crossbound.tasks import construction_faq

    fewer = {k: v for k, v in CATEGORY_NAMES.items() if k != "bygglov"}
    monkeypatch.setattr(construction_faq, "CATEGORY_NAMES", fewer)
    with pytest.raises(ValueError, match=r"no English name \(bygglov\).*labels=ids"):
        build_construction_faq()
    assert "bygglov" in (build_construction_faq(labels="ids").choices or ())


def test_construction_faq_keeps_each_question_once() -> None:
    task = build_construction_faq()
    texts = [ex.text for split in _splits(task).values() for ex in split]
    assert len(texts) == 496  # 503 records, 7 of them repeat an earlier question
    assert sum(t in ("What is ABS18?", "What is ABS 18?") for t in texts) == 1


def test_construction_faq_is_deterministic_and_seeded() -> None:
    first = build_construction_faq(seed=3)
    assert first.fingerprint() == build_construction_faq(seed=3).fingerprint()
    assert first.fingerprint() != build_construction_faq(seed=4).fingerprint()


def test_construction_faq_in_a_fresh_process() -> None:
    code = (
        "from crossbound.tasks.construction_faq import build_construction_faq\n"
        "print(build_construction_faq(seed=2).fingerprint())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": "54321"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [build_construction_faq(seed=2).fingerprint()]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": "x"}, "seed must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"test": -0.1}, "test must be a fraction"),
        ({"public": 1.0}, "public must be a fraction"),
        ({"validation": "0.1"}, "validation must be a fraction"),
        ({"validation": 0.5, "test": 0.3, "public": 0.2}, "leaves no training data"),
        ({"validation": 0.4, "test": 0.4, "public": 0.19}, "with no training question"),
        ({"labels": "swedish"}, "labels must be one of english, ids"),
        ({"labels": None}, "labels must be one of english, ids"),
    ],
)
def test_construction_faq_rejects_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_construction_faq(**kwargs)


def test_construction_faq_without_its_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = package_data.importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "zaragoza_construction_faq" else real_find_spec(name, *args)

    build_construction_faq()  # parsed and cached first: the lookup must still run again
    monkeypatch.setattr(package_data.importlib.util, "find_spec", find_spec)
    with pytest.raises(
        ModuleNotFoundError, match=r"pip install zaragoza-construction-faq==1\.2\.1"
    ):
        build_construction_faq()


# --- corpora ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "min_docs", "min_mean_chars"),
    [("lee-news", 250, 500), ("wiki-sample", 1000, 250), ("guardian-headlines", 3000, 30)],
)
def test_corpora_load_real_text(name: str, min_docs: int, min_mean_chars: int) -> None:
    texts = load_corpus(name)
    assert len(texts) >= min_docs
    assert sum(map(len, texts)) / len(texts) >= min_mean_chars
    assert len(set(texts)) == len(texts)
    assert corpus_description(name)
    assert load_corpus(name, limit=5) == texts[:5]


def test_wiki_sample_has_no_markup_left() -> None:
    texts = load_corpus("wiki-sample")
    for marker in ("[[", "]]", "{{", "}}", "<ref", "'''", "==", "&nbsp;", "{|"):
        assert not any(marker in t for t in texts), marker
    assert all(len(t) >= 200 for t in texts)


def test_strip_wiki_markup() -> None:
    wikitext = (
        "==History==\n{{Infobox|name={{nested}}}}\n"
        "'''Anarchism''' is a [[political philosophy]] that advocates [[self-governance|self-"
        "governed]] societies.<ref name=a>{{cite book|title=X}}</ref> It is described in "
        "[http://example.org a book] and [[File:X.jpg|thumb|A [[caption]] here]] many other works "
        "that discuss the idea at considerable length, in some detail and over many pages.<ref "
        "name=b/>\n"
        "{| class=wikitable\n|-\n| cell\n|}\n* a list item\n[[Category:Politics]]"
    )
    (paragraph,) = strip_wiki_markup(wikitext)
    assert paragraph.startswith("Anarchism is a political philosophy that advocates self-governed")
    assert "a book and many other works" in paragraph
    assert not any(mark in paragraph for mark in ("[", "{", "<", "'''", "cell", "caption"))


def test_corpus_names_and_errors() -> None:
    assert corpus_names() == ["lee-news", "wiki-sample", "guardian-headlines"]
    with pytest.raises(ValueError, match="lee-news"):
        load_corpus("nope")
    with pytest.raises(ValueError, match="limit"):
        load_corpus("lee-news", limit=-1)
    examples = corpus_as_examples("guardian-headlines", limit=3)
    assert [ex.id for ex in examples] == [f"guardian-headlines-{i:06d}" for i in range(3)]
    assert all(ex.target == "" and ex.text for ex in examples)


def test_missing_package_names_the_install_command() -> None:
    with pytest.raises(ModuleNotFoundError, match="pip install"):
        package_dir("no_such_package_for_crossbound")


# --- user task files ----------------------------------------------------------------------------


def _jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _labelled(n: int = 40) -> list[dict[str, str]]:
    return [{"text": f"message number {i}", "target": ("spam", "ham")[i % 2]} for i in range(n)]


def test_jsonl_classification_is_inferred(tmp_path: Path) -> None:
    task = load_file_task(_jsonl(tmp_path / "mail.jsonl", _labelled()))
    assert task.name == "mail" and task.choices == ("ham", "spam")
    assert task.metric == "accuracy"
    assert sum(len(s) for s in _splits(task).values()) == 40
    assert len(task.validation) == 4 and len(task.test) == 8 and not task.public
    assert task.fingerprint() == load_file_task(tmp_path / "mail.jsonl").fingerprint()
    _assert_disjoint_by_text(task)


def test_csv_free_text_is_inferred(tmp_path: Path) -> None:
    rows = [[f"question {i}?", f"answer {i}"] for i in range(20)]
    path = _csv(tmp_path / "qa.csv", ["question", "answer"], rows)
    task = load_file_task(path, text_field="question", target_field="answer", public=0.2)
    assert task.choices is None and task.metric == "rouge_l"
    assert len(task.public) == 4 and task.train[0].target.startswith("answer")
    assert task.instruction == "Respond to the message."


def test_explicit_choices_and_label_errors(tmp_path: Path) -> None:
    records = _labelled()
    records[5]["target"] = "eggs"
    path = _jsonl(tmp_path / "mail.jsonl", records)
    with pytest.raises(ValueError, match=r"line 6: label 'eggs' is not one of"):
        load_file_task(path, choices="spam|ham")
    records[5]["target"] = "spam"
    task = load_file_task(_jsonl(path, records), choices="spam|ham|unsure")
    assert task.choices == ("spam", "ham", "unsure")


def test_rare_labels_mean_free_text(tmp_path: Path) -> None:
    records = _labelled()
    records[0]["target"] = "once"  # a value seen only once: not a label column
    assert load_file_task(_jsonl(tmp_path / "t.jsonl", records)).choices is None


def test_bad_rows_are_reported_together(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in _labelled(20)]
    lines[1] = '{"text": "broken", '
    lines[3] = "[1, 2]"
    lines[5] = json.dumps({"text": "no target"})
    lines[7] = json.dumps({"text": "  ", "target": "spam"})
    lines[9] = json.dumps({"text": "number", "target": 1})
    lines[11] = json.dumps({"text": "x", "target": "spam", "split": "dev"})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_file_task(path)
    message = str(info.value)
    assert str(path) in message and "6 problem(s)" in message
    for expected in (
        "line 2: invalid JSON",
        "line 4: expected a JSON object",
        "line 6: missing field 'target'",
        "line 8: field 'text' is empty",
        "line 10: field 'target' must be a string",
        "line 12: unknown split 'dev'",
    ):
        assert expected in message


def test_at_most_ten_problems_are_listed(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", [{"text": f"t{i}"} for i in range(25)])
    with pytest.raises(ValueError, match=r"25 problem\(s\)") as info:
        load_file_task(path)
    assert "line 10:" in str(info.value) and "line 11:" not in str(info.value)
    assert "and 15 more" in str(info.value)


def test_csv_errors_name_physical_lines(tmp_path: Path) -> None:
    rows = [[f"text {i}", "a" if i % 2 else "b"] for i in range(12)]
    rows[2][0] = "spans\ntwo lines"  # record 3 occupies lines 4-5
    rows.append(["only one field"])
    path = _csv(tmp_path / "t.csv", ["text", "target"], rows)
    with pytest.raises(ValueError, match=r"line 15: has 1 fields but the header has 2"):
        load_file_task(path)


def test_empty_missing_and_tiny_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        load_file_task(tmp_path / "empty.jsonl")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv"):
        load_file_task(tmp_path / "nowhere.csv")
    with pytest.raises(ValueError, match="only 5 row"):
        load_file_task(_jsonl(tmp_path / "tiny.jsonl", _labelled(5)))
    (tmp_path / "t.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\.jsonl or \.csv"):
        load_file_task(tmp_path / "t.txt")


def test_explicit_split_column(tmp_path: Path) -> None:
    names = ["train"] * 12 + ["validation"] * 3 + ["test"] * 4 + ["public"] * 1
    rows = [[f"id{i}", f"text {i}", ("x", "y")[i % 2], s] for i, s in enumerate(names)]
    task = load_file_task(_csv(tmp_path / "s.csv", ["id", "text", "target", "split"], rows))
    assert [len(task.train), len(task.validation), len(task.test), len(task.public)] == [
        12,
        3,
        4,
        1,
    ]
    assert task.train[0].id == "id0" and task.public[0].id == "id19"
    assert task.params["split"] == "file"


def test_split_on_some_rows_only_is_an_error(tmp_path: Path) -> None:
    records: list[dict[str, str]] = _labelled(12)
    records[0]["split"] = "test"
    with pytest.raises(ValueError, match="'split' is set on 1 of 12 rows"):
        load_file_task(_jsonl(tmp_path / "t.jsonl", records))


def test_duplicate_texts_share_a_split(tmp_path: Path) -> None:
    records = [{"text": f"message {i % 15}", "target": f"reply {i}"} for i in range(45)]
    task = load_file_task(_jsonl(tmp_path / "dup.jsonl", records), seed=7)
    where: dict[str, set[str]] = {}
    for split, examples in _splits(task).items():
        for ex in examples:
            where.setdefault(ex.text, set()).add(split)
    assert all(len(splits) == 1 for splits in where.values())
