"""Tests for the generated clinic-triage task: determinism, exact PII, canaries, splits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from crossbound.tasks import clinic_vocab as V
from crossbound.tasks.base import Example, Task
from crossbound.tasks.clinic_triage import (
    DEPARTMENTS,
    PII_KINDS,
    URGENCY,
    build_clinic_triage,
    held_out_phrases,
)

SRC = Path(__file__).resolve().parents[1] / "src"
PHONE = r"\(\d{3}\) 555-01\d\d|\d{3}-555-01\d\d|\d{3}\.555\.01\d\d|\+1 \d{3} 555 01\d\d"


@cache
def _task(**options: Any) -> Task:
    return build_clinic_triage(**options)


def _all_private(task: Task) -> tuple[Example, ...]:
    return (*task.train, *task.validation, *task.test)


def _canary_set(task: Task) -> set[tuple[str, str]]:
    return set(task.canaries.items())


def test_same_seed_same_data() -> None:
    a = build_clinic_triage(n=300, seed=7, canaries=5)
    b = build_clinic_triage(n=300, seed=7, canaries=5)
    assert a.fingerprint() == b.fingerprint()
    assert _canary_set(a) == _canary_set(b)
    assert a.train == b.train


@pytest.mark.parametrize("hash_seed", ["1", "4242"])
def test_fingerprint_stable_across_processes(hash_seed: str) -> None:
    code = (
        "from crossbound.tasks.clinic_triage import build_clinic_triage as b; "
        "t = b(n=300, seed=7, canaries=5, canary_repeats=2, target='reply', held_out=0.3); "
        "print(t.fingerprint()); print(sorted(t.canaries.items()))"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    local = build_clinic_triage(
        n=300, seed=7, canaries=5, canary_repeats=2, target="reply", held_out=0.3
    )
    assert out[0] == local.fingerprint()
    assert out[1] == str(sorted(local.canaries.items()))


def test_different_seed_different_data() -> None:
    a, b = _task(seed=0), _task(seed=1)
    assert a.fingerprint() != b.fingerprint()
    assert {ex.text for ex in a.train}.isdisjoint({ex.text for ex in b.train})
    assert set(a.canaries.values()) != set(b.canaries.values())


def test_split_sizes_ids_and_people() -> None:
    task = _task()
    assert len(task.parties) == 1
    assert (len(task.train), len(task.validation), len(task.test)) == (420, 60, 120)
    assert len(task.public) == 200
    ids = [ex.id for ex in (*_all_private(task), *task.public)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"ct-\d{6}", ex.id) for ex in _all_private(task))
    assert all(re.fullmatch(r"ct-pub-\d{6}", ex.id) for ex in task.public)
    # A person's messages stay in one split, so held-out records are non-members per person too.
    train_people = {ex.meta["person_id"] for ex in task.train}
    held_out = {ex.meta["person_id"] for ex in (*task.validation, *task.test)}
    assert train_people.isdisjoint(held_out)
    assert len(train_people) < len(task.train)  # some people write more than once
    for ex in _all_private(task):
        assert set(ex.meta) >= {"department", "urgency", "person_id"}
        assert ex.meta["department"] in DEPARTMENTS and ex.meta["urgency"] in URGENCY


def test_params_recorded() -> None:
    task = _task(n=100, seed=3, target="urgency", canaries=2, canary_repeats=3, public=5)
    assert task.params == {
        "n": 100, "seed": 3, "target": "urgency", "canaries": 2, "canary_repeats": 3,
        "public": 5, "validation": 0.1, "test": 0.2, "held_out": 0.4, "noise": 0.05,
    }
    custom = _task(n=100, held_out=0.25, noise=0.2)
    assert (custom.params["held_out"], custom.params["noise"]) == (0.25, 0.2)


def test_pii_spans_exact_and_well_formed() -> None:
    task = _task(n=1000, canaries=20)
    first, last = set(V.FIRST_NAMES), set(V.SURNAMES)
    for ex in _all_private(task):
        previous_end = 0
        for span in ex.pii:
            assert ex.text[span.start : span.end] == span.value
            assert span.start >= previous_end, f"{ex.id}: overlapping spans"
            previous_end = span.end
            value = span.value
            if span.kind == "PERSON":
                given, _, family = value.partition(" ")
                assert given in first and (not family or family in last), value
            elif span.kind == "PHONE":
                assert re.fullmatch(PHONE, value), value
            elif span.kind == "EMAIL":
                assert re.fullmatch(r"[a-z0-9._]+@[a-z.]+", value)
                assert value.split("@")[1] in V.EMAIL_DOMAINS
            elif span.kind == "MRN":
                assert re.fullmatch(r"\d{7}|\d{4}-\d{3}", value), value
            elif span.kind == "DATE":
                assert re.search(r"(19|20)\d\d", value), value
            elif span.kind == "ADDRESS":
                assert re.match(r"\d+ ", value) and value.rsplit(", ", 1)[1] in V.CITIES
            else:
                assert span.kind == "ID" and value == ex.canary
    # A person's values are stable: one e-mail address per person across messages.
    by_person: dict[str, set[str]] = {}
    for ex in _all_private(task):
        for span in ex.pii:
            if span.kind == "EMAIL":
                by_person.setdefault(ex.meta["person_id"], set()).add(span.value)
    assert all(len(emails) == 1 for emails in by_person.values())


def test_every_pii_kind_appears_and_formats_vary() -> None:
    task = _task()
    spans = [span for ex in task.train for span in ex.pii]
    kinds = Counter(span.kind for span in spans)
    for kind in (*PII_KINDS, "ID"):
        assert kinds[kind] > 0, kind
    phones = [s.value for s in spans if s.kind == "PHONE"]
    assert any(p.startswith("(") for p in phones) and any(p.startswith("+1") for p in phones)
    dates = [s.value for s in spans if s.kind == "DATE"]
    assert any("/" in d for d in dates) and any(re.fullmatch(r"\d{4}-\d\d-\d\d", d) for d in dates)
    assert any(any(m in d for m in V.MONTHS) for d in dates)
    # Names sometimes recur in a sign-off, each occurrence with its own span.
    assert any(sum(s.kind == "PERSON" for s in ex.pii) >= 2 for ex in task.train)
    # Some PII is omitted in some messages.
    assert any(not any(s.kind == "EMAIL" for s in ex.pii) for ex in task.train)


def test_canaries_only_in_train_and_unique() -> None:
    task = _task(n=800, canaries=25)
    canaries = task.canaries
    assert len(canaries) == 25 == len(set(canaries.values()))
    for split in (task.validation, task.test, task.public):
        assert all(ex.canary is None for ex in split)
    texts = [ex.text for ex in (*_all_private(task), *task.public)]
    for ex in task.train:
        if ex.canary is None:
            continue
        assert re.fullmatch(r"\d{5}|\d{6}|\d{4}-\d{4}", ex.canary)
        id_spans = [s for s in ex.pii if s.kind == "ID"]
        assert [s.value for s in id_spans] == [ex.canary]
        # The secret occurs in its own record only, so exposure is attributable to it.
        assert sum(ex.canary in text for text in texts) == 1
        assert ex.text.count(ex.canary) == 1


def test_zero_canaries_and_all_canaries() -> None:
    assert _task(n=20, canaries=0).canaries == {}
    full = _task(n=20, canaries=14)
    assert len(full.train) == 14 and len(full.canaries) == 14


def test_canary_repeats_duplicate_records() -> None:
    base = _task(n=300, canaries=4)
    task = _task(n=300, canaries=4, canary_repeats=3)
    assert len(task.train) == len(base.train) + 4 * 2
    originals = {ex.id: ex for ex in task.train if "repeat_of" not in ex.meta and ex.canary}
    assert len(originals) == 4
    repeats = [ex for ex in task.train if "repeat_of" in ex.meta]
    assert len(repeats) == 8
    for ex in repeats:
        source = originals[ex.meta["repeat_of"]]
        assert ex.id in (f"{source.id}-r1", f"{source.id}-r2")
        assert (ex.text, ex.canary, ex.pii, ex.target) == (
            source.text, source.canary, source.pii, source.target
        )
    assert len(task.canaries) == 12
    assert len(set(task.canaries.values())) == 4
    # Repeats only add records: the non-canary data are unchanged.
    plain = {ex.id: ex for ex in base.train if ex.canary is None}
    assert plain == {ex.id: ex for ex in task.train if ex.canary is None}


def test_public_split_has_no_pii() -> None:
    task = _task(n=1000, public=400)
    assert all(ex.pii == () and ex.canary is None for ex in task.public)
    public_text = "\n".join(ex.text for ex in task.public)
    assert not re.search(r"\d", public_text)  # no phone, MRN, date, address or secret digits
    assert "@" not in public_text
    public_words = set(re.findall(r"[\w']+", public_text))
    for kind, value in {(s.kind, s.value) for ex in _all_private(task) for s in ex.pii}:
        # A one-word name is only a leak as a whole word ("Jun" is not in "June").
        one_word_name = kind == "PERSON" and " " not in value
        leaked = value in public_words if one_word_name else value in public_text
        assert not leaked, value
    for ex in task.public:
        assert ex.target in DEPARTMENTS and ex.meta["department"] == ex.target


def test_labels_not_degenerate_and_follow_the_text() -> None:
    task = _task(n=1200)
    for split in (task.train, task.test):
        departments = Counter(ex.meta["department"] for ex in split)
        urgencies = Counter(ex.meta["urgency"] for ex in split)
        assert set(departments) == set(DEPARTMENTS) and set(urgencies) == set(URGENCY)
        assert max(departments.values()) < 0.4 * len(split)
        assert max(urgencies.values()) < 0.6 * len(split)
    phrases = {d: [p for p, _ in V.COMPLAINTS[d]] for d in DEPARTMENTS}
    onsets = {u: V.ONSETS[u] for u in URGENCY}
    noisy = 0
    for ex in _all_private(task):
        found = [d for d in DEPARTMENTS if any(p in ex.text for p in phrases[d])]
        levels = [u for u in URGENCY if any(o in ex.text for o in onsets[u])]
        assert ex.meta["department"] in found and levels == [ex.meta["urgency"]]
        if ex.meta["noise"] == "none":
            assert found == [ex.meta["department"]], ex.text
        else:
            noisy += 1
    assert 0 < noisy <= 0.07 * len(_all_private(task))


@pytest.mark.parametrize(
    ("target", "choices", "metric"),
    [("department", DEPARTMENTS, "accuracy"), ("urgency", URGENCY, "accuracy"),
     ("reply", None, "rouge_l")],
)
def test_targets(target: str, choices: tuple[str, ...] | None, metric: str) -> None:
    task = _task(target=target)
    assert task.choices == choices and task.metric == metric
    assert task.name == "clinic-triage"
    if choices is not None:
        assert all(c in task.instruction for c in choices)
        assert all(ex.target == ex.meta[target] for ex in _all_private(task))
    # The target changes only the targets: the messages are the same.
    reference = _task()
    assert [ex.text for ex in task.train] == [ex.text for ex in reference.train]


def test_reply_target_does_not_copy_pii() -> None:
    task = _task(target="reply", canaries=10)
    for ex in (*_all_private(task), *task.public):
        assert ex.target.startswith(f"Refer to {ex.meta['department']}; {ex.meta['urgency']}: ")
        assert not re.search(r"\d|@", ex.target)
        for span in ex.pii:
            assert span.value not in ex.target
    assert len({ex.target for ex in task.train}) > 30


def _phrases(dept: str) -> list[str]:
    return [phrase for phrase, _ in V.COMPLAINTS[dept]]


def test_vocabulary_is_varied_and_unambiguous() -> None:
    texts = []
    for dept in DEPARTMENTS:
        assert len(V.COMPLAINTS[dept]) >= 20 and len(V.DETAILS[dept]) >= 12
        texts += [*_phrases(dept), *V.DETAILS[dept]]
    assert len(texts) == len(set(texts))
    onsets = [onset for level in URGENCY for onset in V.ONSETS[level]]
    for text in texts:
        assert not re.search(r"\d|@", text), text
        assert not any(onset in text for onset in onsets), text
        # Containment would make "does this text use a held-out phrase?" ambiguous.
        assert not any(text in other for other in texts if other != text), text


@pytest.mark.parametrize("seed", [0, 3])
def test_training_never_uses_held_out_phrasings(seed: int) -> None:
    task = _task(n=1000, seed=seed, canaries=20, held_out=0.4)
    held = held_out_phrases(seed, 0.4)
    assert all(held[dept] for dept in DEPARTMENTS)
    for ex in task.train:
        assert ex.meta["phrasing"] == "seen"
        for dept in DEPARTMENTS:
            assert not any(text in ex.text for text in held[dept]), ex.text
    # What training does use: every department's seen phrases, so nothing is held out twice.
    used = {p for ex in task.train for d in DEPARTMENTS for p in _phrases(d) if p in ex.text}
    seen = {p for d in DEPARTMENTS for p in _phrases(d) if p not in held[d]}
    assert used <= seen and len(used) > 0.9 * len(seen)


def test_evaluation_mixes_held_out_and_seen_phrasings() -> None:
    task = _task()
    held = held_out_phrases()
    for split in (task.validation, task.test):
        phrasings = Counter(ex.meta["phrasing"] for ex in split)
        assert set(phrasings) == {"seen", "held_out"}
        assert 0.55 < phrasings["held_out"] / len(split) < 0.85
    for ex in (*task.validation, *task.test, *task.public):
        dept = ex.meta["department"]
        own = [p for p in _phrases(dept) if p in ex.text]
        assert own, ex.text
        # A record is wholly seen or wholly held out: complaint, detail and any distractor.
        uses_held = any(t in ex.text for d in DEPARTMENTS for t in held[d])
        uses_seen = any(p in ex.text and p not in held[d] for d in DEPARTMENTS for p in _phrases(d))
        if ex.meta["phrasing"] == "held_out":
            assert all(p in held[dept] for p in own) and not uses_seen, ex.text
        else:
            assert not uses_held, ex.text
    # Public records draw from all phrasings alike.
    public = Counter(ex.meta["phrasing"] for ex in task.public)
    assert 0.25 < public["held_out"] / len(task.public) < 0.55


def test_held_out_fraction_and_zero() -> None:
    for fraction in (0.01, 0.2, 0.4, 0.99):
        held = held_out_phrases(5, fraction)
        for dept in DEPARTMENTS:
            n_held = sum(p in held[dept] for p in _phrases(dept))
            expected = round(fraction * len(V.COMPLAINTS[dept]))
            assert n_held == min(len(V.COMPLAINTS[dept]) - 1, max(1, expected))
            assert 1 <= sum(t in held[dept] for t in V.DETAILS[dept]) < len(V.DETAILS[dept])
    # One seeded order per list: a smaller fraction holds out a subset.
    small, large = held_out_phrases(5, 0.2), held_out_phrases(5, 0.4)
    assert all(set(small[d]) <= set(large[d]) for d in DEPARTMENTS)
    assert held_out_phrases(5, 0.4) != held_out_phrases(6, 0.4)
    assert all(texts == () for texts in held_out_phrases(5, 0.0).values())
    task = _task(held_out=0.0)
    splits = (*_all_private(task), *task.public)
    assert all(ex.meta["phrasing"] == "seen" for ex in splits)
    # The phrase split depends on the seed and fraction only, not on n; even a small fraction
    # gives the test split some held-out records.
    small_task = _task(n=300, seed=5, held_out=0.1)
    held = held_out_phrases(5, 0.1)
    assert any(ex.meta["phrasing"] == "held_out" for ex in small_task.test)
    for ex in _all_private(small_task):
        uses_held = any(t in ex.text for d in DEPARTMENTS for t in held[d])
        assert uses_held == (ex.meta["phrasing"] == "held_out"), ex.text


@pytest.mark.parametrize("noise", [0.0, 0.05, 0.3, 0.5])
def test_noise_rate(noise: float) -> None:
    task = _task(n=2000, public=0, noise=noise)
    kinds = Counter(ex.meta["noise"] for ex in _all_private(task))
    noisy = kinds["distractor"] + kinds["mixed_urgency"]
    assert abs(noisy / 2000 - noise) < 0.03 + 0.1 * noise
    if noise:
        assert 0.4 < kinds["distractor"] / noisy < 0.8
    # Noise never changes the labels' link to the text: the own department is always named.
    for ex in task.train:
        assert any(p in ex.text for p in _phrases(ex.meta["department"]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 19}, "n must be >= 20"),
        ({"n": 50.0}, "n must be an integer"),
        ({"n": True}, "n must be an integer"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"target": "triage"}, "target must be one of"),
        ({"validation": 0.0, "test": 0.0}, r"validation \+ test must be in \(0, 0.8\)"),
        ({"validation": 0.4, "test": 0.4}, r"validation \+ test must be in \(0, 0.8\)"),
        ({"validation": -0.1}, "validation must be a fraction"),
        ({"test": "0.2"}, "test must be a fraction"),
        ({"canaries": -1}, "canaries must be >= 0"),
        ({"n": 100, "canaries": 71}, r"canaries must be <= the training size \(70\)"),
        ({"canary_repeats": 0}, "canary_repeats must be >= 1"),
        ({"public": -5}, "public must be >= 0"),
        ({"held_out": 1.0}, r"held_out must be a fraction in \[0, 1\)"),
        ({"held_out": -0.1}, r"held_out must be a fraction in \[0, 1\)"),
        ({"held_out": "0.4"}, "held_out must be a fraction"),
        ({"held_out": True}, "held_out must be a fraction"),
        ({"noise": 0.51}, r"noise must be a fraction in \[0, 0.5\]"),
        ({"noise": -0.01}, r"noise must be a fraction in \[0, 0.5\]"),
        ({"noise": None}, "noise must be a fraction"),
    ],
)
def test_parameter_validation(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_clinic_triage(**options)


def test_build_is_fast() -> None:
    start = time.perf_counter()
    task = build_clinic_triage(n=5000, public=0)
    elapsed = time.perf_counter() - start
    assert len(_all_private(task)) == 5000
    assert elapsed < 4.0, f"n=5000 took {elapsed:.2f}s"  # ~0.5 s here; slack for slow CI
