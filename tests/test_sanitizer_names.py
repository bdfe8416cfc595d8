"""Issue 27: names without capitals, phones in any layout, batch mode, the evaluation script.

Everything here runs on crossbound's own recognisers (``presidio=False``: name lists, cues and
the case-normalised copy, but no spaCy), offline and in a few seconds. The NER pass over the
case-normalised copy is checked by the ``real`` test at the end.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossbound.cli import app
from crossbound.cli import sanitize as sanitize_cli
from crossbound.privacy import names as N
from crossbound.privacy.batch import JsonlError, sanitize_jsonl
from crossbound.privacy.phones import find_phones
from crossbound.privacy.sanitizer import Sanitizer

REGEX_ONLY = Sanitizer(presidio=False)
runner = CliRunner()
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sanitizer_eval.py"


def _load_eval():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sanitizer_eval", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sanitizer_eval = _load_eval()


def redacted(text: str) -> str:
    return REGEX_ONLY.sanitize(text).text


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(("text", "name"), [
    ("this is noah murphy writing, i need a refill of my lisinopril", "noah murphy"),
    ("hello my name is oskar lindqvist and my knee is swollen", "oskar lindqvist"),
    ("hi its fatima begum again, the rash is spreading", "fatima begum"),
    ("priya raghunathan here, can i move my physio?", "priya raghunathan"),
    ("my mum gurpreet kaur needs her tablets renewed", "gurpreet kaur"),
    ("i'm will okafor, ankle still swollen", "will okafor"),
    ("i hope the bruise fades. this is hope reyes btw", "hope reyes"),
    ("PLEASE CALL ME BACK - JOHN HALLORAN. BLEEDING WON'T STOP.", "JOHN HALLORAN"),
    ("REPEAT PRESCRIPTION FOR DOROTHY FENWICK MRN 4471920", "DOROTHY FENWICK"),
])
def test_lower_and_upper_case_names_with_cues_or_lists(text: str, name: str) -> None:
    out = redacted(text)
    assert name not in out and "[PERSON_1]" in out, out


@pytest.mark.parametrize("text", [
    "Refill request for Tomasz Fischer; MRN 20931877; phone +49 151 23456789; metformin",
    "Urgent; Dmitri Volkov; chest pain radiating to left arm",
    "Callback - Graham Whitlock; (503) 555-0117; re wound dressing",
    "For Kateryna Shevchenko: flu jab booking, any weekday",
    "Pt Aisha Bello; MRN A-118204; asthma review",
])
def test_names_in_terse_request_lines(text: str) -> None:
    entities = REGEX_ONLY.analyze(text)
    people = [e.text for e in entities if e.kind == "PERSON"]
    assert len(people) == 1 and len(people[0].split()) == 2, (people, text)
    assert "MRN" not in people[0] and ";" not in people[0]


@pytest.mark.parametrize(("text", "kept"), [
    ("I will call back tomorrow. I hope the cream helps.", ["will", "hope"]),
    ("The rash rose up overnight and there is a red mark on my shin.", ["rose", "mark"]),
    ("My June appointment clashes with surgery in May.", ["June", "May"]),
    ("Is there a grace period on the bill for the x-ray?", ["grace", "bill"]),
    ("Mum has Parkinson's and Raynaud's; Dad has a Baker's cyst and Bell's palsy.",
     ["Parkinson's", "Raynaud's", "Baker's cyst", "Bell's palsy"]),
    ("I take Carbimazole and Atorvastatin. My Achilles tendon is sore.",
     ["Carbimazole", "Atorvastatin", "Achilles"]),
    ("I'm still coughing and I'm a little worried about the wheeze.", ["still", "worried"]),
])
def test_common_words_and_eponyms_without_a_cue_are_not_names(text: str,
                                                               kept: list[str]) -> None:
    result = REGEX_ONLY.sanitize(text)
    assert "PERSON" not in result.kinds, result.replacements
    for word in kept:
        assert word in result.text


def test_common_word_names_with_a_cue_are_names() -> None:
    out = redacted("My wife Hope has had a migraine. I hope someone can call.")
    assert out.startswith("My wife [PERSON_1] has") and "I hope someone" in out
    out = redacted("Hi, this is Will Turner. I will be late, sorry.")
    assert "Will Turner" not in out and "I will be late" in out
    # A name's words echo elsewhere, but an everyday word does not: "June" the month stays.
    out = redacted("June Abernathy here. My June appointment clashes with surgery.")
    assert out == "[PERSON_1] here. My June appointment clashes with surgery."


def test_name_lists_fold_case_and_accents() -> None:
    lists = N.name_lists()
    assert lists.is_first("Zsófia") and lists.is_first("zsofia") and lists.is_last("KOVÁCS")
    assert lists.is_first("Tomasz") and lists.is_last("Fischer") and lists.is_first("Priya")
    assert N.common("hope") and N.common("will") and not N.common("noah")


def test_truecase_keeps_offsets_and_leaves_addresses_alone() -> None:
    text = "hi, this is noah murphy (noah.murphy@example.org), i'm at www.murphy.ie"
    copy, changed = N.truecase(text)
    assert len(copy) == len(text)
    assert copy.startswith("hi, this is Noah Murphy (noah.murphy@example.org)")
    assert copy.endswith("www.murphy.ie")
    assert [text[s:e] for s, e in changed] == ["noah", "murphy"]
    shouted = "URGENT: MARIA GONZALEZ DOB 03/15/1961 FALL AT HOME"
    copy, _ = N.truecase(shouted)
    assert len(copy) == len(shouted) and "Maria Gonzalez" in copy


# ---------------------------------------------------------------- phones, dates, addresses


@pytest.mark.parametrize("number", [
    "+33 6 12 34 56 78", "+33 (0)6 12 34 56 78", "06 12 34 56 78", "06.12.34.56.78",
    "+44 20 7946 0958", "+44 (0)20 7946 0958", "020 7946 0958", "07700 900461",
    "+44 7700 900987", "+49 30 12345678", "030 12345678", "+49 (0)170 1234567",
    "+91 98765 43210", "+91-22-2345-6789", "+46 70 123 45 67", "070-123 45 67", "08-123 456 78",
    "+14155550123", "(415) 555-0123", "415.555.0110", "0412 345 678", "+61 2 9876 5432",
    "090-1234-5678", "+86 138 0013 8000", "+234 803 123 4567", "+55 11 91234-5678",
])
def test_international_phone_layouts(number: str) -> None:
    text = f"Please call me on {number} after six."
    entities = REGEX_ONLY.analyze(text)
    assert [(e.kind, e.text) for e in entities] == [("PHONE", number)], entities


@pytest.mark.parametrize("text", [
    "Take 500 mg twice a day; BP 140/90, pulse 72, glucose 7.4 mmol/L at 14:30.",
    "Order 48213 arrived; 28 tablets of omeprazole 20 mg; 1000 IU vitamin D since 2019.",
])
def test_numbers_that_are_not_phones(text: str) -> None:
    assert find_phones(text) == []
    assert "PHONE" not in REGEX_ONLY.sanitize(text).kinds  # (48213 is an ID: 5+ digits)


def test_labelled_records_and_dates_keep_their_kind() -> None:
    text = "MRN 4482917, NHS number 943 476 5919, DOB 14.03.1987, seen on 12 march and 22 Nov."
    kinds = [(e.kind, e.text) for e in REGEX_ONLY.analyze(text)]
    assert kinds == [("MRN", "4482917"), ("MRN", "943 476 5919"), ("DATE", "14.03.1987"),
                     ("DATE", "12 march"), ("DATE", "22 Nov")]
    assert REGEX_ONLY.sanitize("I may 2 weeks off.").text == "I may 2 weeks off."


@pytest.mark.parametrize("address", [
    "17 Rue des Lilas, 75011 Paris", "Lindenstraße 14, 10969 Berlin", "Storgata 14, 0184 Oslo",
    "Flat 2, 19 Mill Road, Cambridge CB1 2AD", "4417 N Kedzie Ave, Chicago, IL 60625",
])
def test_international_addresses(address: str) -> None:
    entities = REGEX_ONLY.analyze(f"New address: {address}. Thanks")
    assert [(e.kind, e.text) for e in entities] == [("ADDRESS", address)]


# ---------------------------------------------------------------- batch mode


def test_sanitize_jsonl_keeps_fields_and_names_bad_lines() -> None:
    import io

    lines = ['{"id": 1, "body": "this is noah murphy, call 070-123 45 67", "lang": "en"}',
             "", '{"id": 2, "body": "no personal data here"}']
    out = io.StringIO()
    stats = sanitize_jsonl(lines, out, REGEX_ONLY, field="body", entities=True)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert stats.documents == 2 and stats.entities == 2
    assert rows[0] == {"id": 1, "body": "this is [PERSON_1], call [PHONE_1]", "lang": "en",
                       "entities": rows[0]["entities"]}
    assert [e["kind"] for e in rows[0]["entities"]] == ["PERSON", "PHONE"]
    assert rows[1] == {"id": 2, "body": "no personal data here", "entities": []}
    with pytest.raises(JsonlError, match=r"in\.jsonl:3: not valid JSON"):
        sanitize_jsonl(['{"text": "a"}', "", "{oops"], io.StringIO(), REGEX_ONLY,
                       source="in.jsonl")
    with pytest.raises(JsonlError, match=r":1: no string field 'text' \(fields: body\)"):
        sanitize_jsonl(['{"body": "a"}'], io.StringIO(), REGEX_ONLY)
    with pytest.raises(JsonlError, match=r":1: expected a JSON object, got list"):
        sanitize_jsonl(["[1, 2]"], io.StringIO(), REGEX_ONLY)


def test_cli_sanitize_jsonl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.jsonl"
    rows = [{"id": i, "text": f"Refill for Tomasz Fischer; MRN 2093{i:04d}", "n": i}
            for i in range(150)]  # more than one batch
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    target = tmp_path / "out.jsonl"
    monkeypatch.setattr(sanitize_cli, "PROGRESS_EVERY_S", 0.0)
    result = runner.invoke(app, ["sanitize", "--regex-only", "--jsonl", str(source),
                                 "--out", str(target)])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["n"] for r in written] == list(range(150))
    assert {r["text"] for r in written} == {"Refill for [PERSON_1]; MRN [MRN_1]"}
    assert "sanitised 64 documents" in result.stderr  # progress, per batch here
    assert "sanitised 150 documents (300 entities replaced)" in result.stderr
    assert result.stdout == ""

    piped = runner.invoke(app, ["sanitize", "--regex-only", "--jsonl", "-", "--show-map"],
                          input='{"text": "this is noah murphy"}\n')
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout) == {"text": "this is [PERSON_1]",
                                        "map": {"[PERSON_1]": "noah murphy"}}

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": "broken"\n')
    failed = runner.invoke(app, ["sanitize", "--regex-only", "--jsonl", str(bad)])
    assert failed.exit_code == 1 and f"{bad}:2: not valid JSON" in failed.output
    clash = runner.invoke(app, ["sanitize", str(source), "--jsonl", str(source)])
    assert clash.exit_code == 1 and "give no FILE" in clash.output
    stray = runner.invoke(app, ["sanitize", "--regex-only", "--out", str(target)], input="x")
    assert stray.exit_code == 1 and "--out goes with --jsonl" in stray.output


# ---------------------------------------------------------------- the evaluation script


def test_eval_markup_and_scoring_on_a_hand_made_example() -> None:
    se = sanitizer_eval
    text, spans, keep = se.parse_message(
        "this is [[P:noah murphy]], {{chest pain}}, call [[T:070-123 45 67]] ({{asthma}})")
    assert text == "this is noah murphy, chest pain, call 070-123 45 67 (asthma)"
    assert [(g.kind, g.value) for g in spans] == [("PERSON", "noah murphy"),
                                                  ("PHONE", "070-123 45 67")]
    message = se.Message("m1", "dev", [], text, spans, keep)
    se.check([message])
    person, phone = spans
    chest = keep[0]
    predictions = [[se.Pred(person.start, person.start + 4, "PERSON"),  # "noah": 4/11 < 50 %
                    se.Pred(phone.start, phone.end, "ID"),  # the phone, mislabelled
                    se.Pred(chest.start, chest.start + 5, "PERSON")]]  # "chest": a false alarm
    scored = se.score([message], predictions)
    assert scored["kinds"]["PERSON"]["recall"] == 0.0
    assert scored["kinds"]["PHONE"]["recall"] == 0.0
    assert scored["kinds"]["PHONE"]["redacted"] == 1.0
    assert scored["recall"] == 0.5 and scored["precision"] == pytest.approx(1 / 3)
    p, r = 1 / 3, 0.5
    assert scored["f2"] == pytest.approx(5 * p * r / (4 * p + r))
    assert scored["content_kept"] == 0.5  # "chest pain" touched, "asthma" kept
    # words outside gold spans: this is chest pain call asthma → "chest" covered
    assert scored["words_kept"] == pytest.approx(5 / 6)
    perfect = se.score([message], [[se.Pred(g.start, g.end, g.kind) for g in spans]])
    assert perfect["recall"] == perfect["precision"] == perfect["content_kept"] == 1.0
    with pytest.raises(ValueError, match="does not match"):
        se.check([se.Message("bad", "dev", [], text,
                             [se.Gold(0, 4, "PERSON", "that")], [])])


def test_eval_data_is_consistent_and_split_before_tuning() -> None:
    se = sanitizer_eval
    messages = se.load_messages()
    assert [m.to_json() for m in messages] == [
        m.to_json() for m in se.parse_markup(se.MARKUP.read_text(encoding="utf-8"))]
    assert len(messages) == 200
    assert [m.split for m in messages[:4]] == ["dev", "held-out", "dev", "held-out"]
    kinds = {g.kind for m in messages for g in m.spans}
    assert kinds == {"PERSON", "PHONE", "EMAIL", "DATE", "MRN", "ADDRESS"}


@pytest.mark.real
def test_ner_on_the_case_normalised_copy() -> None:
    sanitizer = Sanitizer()
    found = sanitizer._ner_on_copies(["REPEAT PRESCRIPTION FOR DOROTHY FENWICK PLEASE",
                                      "the iris of her left eye looks cloudy"])
    assert [[(e.text, e.source) for e in row] for row in found] == [
        [("DOROTHY FENWICK", "crossbound:ner-truecased")], []]
    result = sanitizer.sanitize("hey, lucas ferreira again. my arm hurts")
    assert result.text == "hey, [PERSON_1] again. my arm hurts"
