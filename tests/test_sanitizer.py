"""The PII sanitiser: pseudonyms, restore, detection quality, the boundary guard, CLI, offline.

Tests on crossbound's own recognisers (``presidio=False``) run in milliseconds; those marked
``real`` load spaCy's small English model through Presidio (once per process, ~5-15 s).
"""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from crossbound.boundary import Boundary, Kind, Message
from crossbound.boundary.contracts import (
    AccessContract,
    ContractViolation,
    GuardContext,
    allow,
    get_guard,
)
from crossbound.cli import app
from crossbound.evaluate.pii_detection import ALL, Span, covers, score_record
from crossbound.privacy import sanitizer as sanitizer_module
from crossbound.privacy.recognizers import find_all
from crossbound.privacy.sanitizer import (
    DEFAULT_MODEL,
    GUARD_NAME,
    Sanitizer,
    sanitizer_guard,
)
from crossbound.tasks.base import Example, PiiSpan
from crossbound.tasks.clinic_triage import build_clinic_triage

LETTER = (
    "Hi, this is Maria Okafor (DOB 03/14/1987, MRN: 4829-117). Call me at (415) 555-0192 or "
    "email maria.okafor@example.org. I live at 12 Birch Lane, Apt 4, Springfield. My insurance "
    "PIN is 7391-4428. My other number is 415.555.0192.\nThanks, Maria"
)
REGEX_ONLY = Sanitizer(presidio=False)
runner = CliRunner()


# ---------------------------------------------------------------- recognisers and pseudonyms


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("MRN 4829117.", "MRN", "4829117"),
    ("MRN: 4829-117, thanks", "MRN", "4829-117"),
    ("my record number 4829117", "MRN", "4829117"),
    ("chart number 8001-552", "MRN", "8001-552"),
    ("ring (415) 555-0192.", "PHONE", "(415) 555-0192"),
    ("ring 415-555-0192.", "PHONE", "415-555-0192"),
    ("ring +1 415 555 0192.", "PHONE", "+1 415 555 0192"),
    ("born 03/14/1987.", "DATE", "03/14/1987"),
    ("born 1987-03-14.", "DATE", "1987-03-14"),
    ("born 14 March 1987.", "DATE", "14 March 1987"),
    ("born 2 September 1963.", "DATE", "2 September 1963"),
    ("born March 14, 1987.", "DATE", "March 14, 1987"),
    ("I live at 12 Birch Lane, Springfield.", "ADDRESS", "12 Birch Lane, Springfield"),
    ("The door code is 58213.", "ID", "58213"),
    ("My PIN is 7391-4428.", "ID", "7391-4428"),
    ("my pharmacy passcode is 094512.", "ID", "094512"),
    ("My name is Harpreet Van der Berg.", "PERSON", "Harpreet Van der Berg"),
    ("Ngozi Hargreaves here.", "PERSON", "Ngozi Hargreaves"),
    ("It hurts.\n— Chiara", "PERSON", "Chiara"),
])
def test_recognisers_find_clinic_formats(text: str, kind: str, value: str) -> None:
    assert (kind, value) in {(e.kind, e.text) for e in REGEX_ONLY.analyze(text)}


def test_no_pii_in_plain_symptoms_or_placeholders() -> None:
    clean = ("Since last week I have had a cough for 3 days. It's getting worse. Thank you.\n"
             "[PERSON_1] can be reached on [PHONE_1].")
    assert REGEX_ONLY.analyze(clean) == []
    assert find_all("Thanks in advance.") == []


def test_consistent_pseudonyms_and_restore_round_trip() -> None:
    result = REGEX_ONLY.sanitize(LETTER)
    text = result.text
    for value in ("Maria", "Okafor", "4829-117", "555-0192", "example.org", "Birch", "7391"):
        assert value not in text
    # One person, one phone (two layouts of the same number), first name → the full name.
    assert text.count("[PERSON_1]") == 2 and "[PERSON_2]" not in text
    assert text.count("[PHONE_1]") == 2 and "[PHONE_2]" not in text
    assert text.startswith("Hi, this is [PERSON_1] (DOB [DATE_1], MRN: [MRN_1]).")
    assert result.mapping["[PERSON_1]"] == "Maria Okafor"
    assert result.mapping["[EMAIL_1]"] == "maria.okafor@example.org"
    assert set(result.kinds) == {"PERSON", "DATE", "MRN", "PHONE", "EMAIL", "ADDRESS", "ID"}
    # The map never shows up in what may cross: repr and the default JSON leave it out.
    assert "Okafor" not in repr(result) and "Okafor" not in json.dumps(result.to_dict())
    # An answer from across the boundary gets the originals back.
    answer = "Dear [PERSON_1], we will call [PHONE_1] about MRN [MRN_1]. [PERSON_9] is unknown."
    assert result.restore(answer) == ("Dear Maria Okafor, we will call (415) 555-0192 about MRN "
                                      "4829-117. [PERSON_9] is unknown.")
    # Every value used once restores exactly.
    once = "Please reply to ana.silva@example.com or call 212-555-0143. Best, Ana Silva"
    assert REGEX_ONLY.sanitize(once).restore(REGEX_ONLY.sanitize(once).text) == once


def test_session_keeps_pseudonyms_across_documents() -> None:
    session = REGEX_ONLY.session()
    first = session.sanitize("My name is Maria Okafor, call 415-555-0192.")
    second = session.sanitize(
        "Following up. Maria here again; Dr. Tom Reyes sent me. (415) 555-0192")
    assert first.text == "My name is [PERSON_1], call [PHONE_1]."
    assert "[PERSON_1] here again" in second.text and "[PHONE_1]" in second.text
    assert "[PERSON_2]" in second.text  # a new person gets a new number
    assert session.restore("[PERSON_2] and [PERSON_1]") == "Tom Reyes and Maria Okafor"
    # Separate documents outside a session number independently.
    assert REGEX_ONLY.sanitize("Thanks, Tom Reyes").text == "Thanks, [PERSON_1]"


# ---------------------------------------------------------------- evaluation


def test_detection_scoring_rule() -> None:
    text = "Call Ann Lee at 212-555-0143."
    gold = (PiiSpan(5, 12, "PERSON", "Ann Lee"), PiiSpan(16, 28, "PHONE", "212-555-0143"))
    example = Example("x", text, "t", gold)
    assert covers(Span(5, 8, "PERSON"), gold[0]) is False  # "Ann": 3 of 7 characters
    assert covers(Span(5, 9, "PERSON"), gold[0]) is True  # 4 of 7
    scores: dict = {}
    # The phone is found; the name is labelled wrongly (found for ALL, missed for PERSON).
    score_record(example, [Span(5, 12, "ADDRESS"), Span(16, 28, "PHONE")],
                 "Call [ADDRESS_1] at [PHONE_1].", scores)
    assert scores["PHONE"].recall == 1.0 and scores["PHONE"].precision == 1.0
    assert scores["PERSON"].recall == 0.0 and scores["ADDRESS"].precision == 0.0
    assert scores[ALL].recall == 1.0 and scores["PERSON"].leaks == 0
    leaky: dict = {}
    score_record(example, [Span(5, 8, "PERSON")], "Call [PERSON_1] Lee at 212-555-0143.", leaky)
    assert leaky["PERSON"].token_leaks == 1 and leaky["PHONE"].leaks == 1
    assert leaky["PHONE"].f_beta() == 0.0


@pytest.mark.real
def test_recall_targets_on_unseen_clinic_triage_seed() -> None:
    from crossbound.evaluate.pii_detection import evaluate_pii_detection

    task = build_clinic_triage(n=150, seed=7, public=0)
    records = [*task.train, *task.validation, *task.test]
    report = evaluate_pii_detection(records, Sanitizer())
    recall = {kind: score.recall for kind, score in report.kinds.items()}
    for kind in ("EMAIL", "PHONE", "MRN", "DATE"):
        assert recall[kind] >= 0.99, (kind, recall)
    assert recall["PERSON"] >= 0.90, recall
    assert report.kinds[ALL].leaks <= 0.01 * report.kinds[ALL].gold


# ---------------------------------------------------------------- the boundary guard


def test_guard_refuses_pii_and_allows_clean_text() -> None:
    contract = AccessContract("sanitised", (allow("data", Kind.TEXT, Kind.RECORDS,
                                                  guards=(GUARD_NAME,)),))
    guards = {GUARD_NAME: sanitizer_guard(REGEX_ONLY)}
    leaky = Message(Kind.TEXT, "data-party-0", "model-party",
                    ["Which department?", "Reply to jo.bloggs@example.com please"])
    clean = Message(Kind.TEXT, "data-party-0", "model-party",
                    ["Which department treats chest tightness? Patient [PERSON_1]."])
    contract.check(leaky)  # the built-in verbatim check alone lets it through
    with pytest.raises(ContractViolation, match=r"item 1 contains personal data \(EMAIL\)") as e:
        contract.check(leaky, guards=guards)
    assert "jo.bloggs" not in str(e.value)  # the reason names kinds, never values
    contract.check(clean, guards=guards)
    records = Message(Kind.RECORDS, "data-party-0", "model-party",
                      [{"text": "call 212-555-0143", "label": "x"}])
    with pytest.raises(ContractViolation, match="PHONE"):
        contract.check(records, guards=guards)
    # The verbatim check still runs underneath.
    private = "the quick brown fox jumps over the lazy dog near the river bank"
    with pytest.raises(ContractViolation, match="consecutive words"):
        contract.check(Message(Kind.TEXT, "data-party-0", "model-party", [private]),
                       GuardContext(private_texts=[private]), guards=guards)


class Echo:
    name = "model-party"

    def handle(self, request: Message) -> Message:
        return Message(Kind.TEXT, self.name, request.sender, request.payload)


def test_the_sanitiser_guard_binds_one_boundary_not_the_process() -> None:
    # Two runs in one process (the service, a bench): one sanitises, one does not. The
    # sanitising run's boundary refuses PII; the other's applies the registered guard only.
    registered = get_guard(GUARD_NAME)
    contract = AccessContract("sanitised", (allow("data", Kind.TEXT, guards=(GUARD_NAME,)),
                                            allow("model", Kind.TEXT)))
    sanitising, plain = Boundary(contract=contract), Boundary(contract=contract)
    sanitising.attach(Echo())
    plain.attach(Echo())
    hostile = Message(Kind.TEXT, "data-party-0", "model-party",
                      ["Which department?", "I am Maria Okafor, call (415) 555-0192"])
    with sanitising.override_guard(GUARD_NAME, sanitizer_guard(REGEX_ONLY)):
        with pytest.raises(ContractViolation, match=r"item 1 contains personal data"):
            sanitising.request(hostile)
        assert sanitising.messages == 0
        assert plain.request(hostile).payload == hostile.payload
        assert get_guard(GUARD_NAME) is registered
    assert get_guard(GUARD_NAME) is registered


# ---------------------------------------------------------------- CLI


def test_cli_sanitize_stdin() -> None:
    result = runner.invoke(app, ["sanitize", "--regex-only"], input=LETTER)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Hi, this is [PERSON_1] (DOB [DATE_1]")
    assert "Okafor" not in result.stdout


@pytest.mark.real
def test_cli_sanitize_json_and_map(tmp_path) -> None:
    path = tmp_path / "note.txt"
    path.write_text(LETTER)
    result = runner.invoke(app, ["sanitize", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "map" not in data and "Okafor" not in result.stdout
    kinds = {e["kind"] for e in data["entities"]}
    assert {"PERSON", "DATE", "MRN", "PHONE", "EMAIL", "ADDRESS", "ID"} <= kinds
    first = data["entities"][0]
    assert LETTER[first["start"]:first["end"]] == "Maria Okafor"
    assert first["placeholder"] == "[PERSON_1]"
    shown = runner.invoke(app, ["sanitize", str(path), "--json", "--show-map"])
    assert json.loads(shown.stdout)["map"]["[PERSON_1]"] == "Maria Okafor"
    missing = runner.invoke(app, ["sanitize", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_cli_evaluate_regex_only() -> None:
    result = runner.invoke(app, ["sanitize", "--regex-only", "--json", "--evaluate",
                                 "clinic-triage:n=40,seed=5,public=10"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["records"] == 50 and data["kinds"]["PHONE"]["recall"] >= 0.99


# ---------------------------------------------------------------- offline


@pytest.mark.real
def test_builds_and_runs_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    # Rebuild inside the block: model loading must not reach out either (Presidio would call
    # spacy.cli.download for a missing model; tldextract fetches the suffix list on first use).
    monkeypatch.delitem(sanitizer_module._ANALYZERS, DEFAULT_MODEL, raising=False)
    sanitizer = Sanitizer()
    result = sanitizer.sanitize("Write to ana.silva@example.com or ana@mail.example.co.uk.")
    assert result.text == "Write to [EMAIL_1] or [EMAIL_2]."
    sources = {r.source for r in result.replacements}
    assert sources, sources
    # Presidio's (tldextract-validated) e-mail recogniser ran on the same text.
    engine = sanitizer_module.get_analyzer()
    found = engine.analyze("ana.silva@example.com", language="en")
    assert any(r.entity_type == "EMAIL_ADDRESS" for r in found)
    assert attempts == []
