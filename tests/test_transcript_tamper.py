"""The transcript cannot be rewritten unseen: 17 ways to tamper with a run, each detected.

A run folder is built as the runner builds one (a keyed transcript of 150 crossings and a
``result.json`` recording its signed final head), then altered the way an attacker or a
careless tool would, and audited with ``crossbound audit`` and :func:`verify_transcript`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossbound.boundary.channel import Boundary
from crossbound.boundary.messages import Kind, Message
from crossbound.boundary.signing import SignedHead, TranscriptKey, entry_mac
from crossbound.boundary.transcript import (
    Transcript,
    checkpoints_path,
    entry_hash,
    entry_line,
    key_path,
    verify_transcript,
)
from crossbound.cli import app

runner = CliRunner()
PAIRS = 75  # 150 entries: more than the 100 deleted in one case


class Echo:
    name = "model-party"

    def handle(self, request: Message) -> Message:
        return Message(Kind.TEXT, self.name, request.sender,
                       [f"triage for {t}: cardiology" for t in request.payload])


def make_run(folder: Path, pairs: int = PAIRS, *, tag: str = "") -> Path:
    """A run folder as the runner writes it: transcript, key file, result.json."""
    folder.mkdir(parents=True)
    with Transcript(folder / "transcript.jsonl") as transcript:
        boundary = Boundary(transcript)
        boundary.attach(Echo())
        for i in range(pairs):
            boundary.request(Message(Kind.TEXT, "data-party-0", "model-party",
                                     [f"patient Jane Doe{tag} #{i}, chest pain"]))
        summary = transcript.summary()
    record = {"path": "transcript.jsonl", "entries": summary["entries"],
              "bytes": summary["bytes"], "head": summary["head"],
              **transcript.final_checkpoint()}
    (folder / "result.json").write_text(json.dumps({"transcript": record}, indent=2))
    return folder


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("pristine") / "run")


@pytest.fixture
def run(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "run"))


# ---------------------------------------------------------------- how an attacker edits


def read(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "transcript.jsonl").read_text().splitlines()]


def write(run: Path, entries: list[dict]) -> None:
    (run / "transcript.jsonl").write_bytes(b"".join(entry_line(e) for e in entries))


def rehash(entries: list[dict], key: TranscriptKey | None = None) -> list[dict]:
    """Renumber and re-chain every entry, as anyone can with an unkeyed hash; with the key
    (an insider's) also recompute the MACs, otherwise leave the old ones."""
    prev = "0" * 64
    for seq, entry in enumerate(entries):
        entry["seq"], entry["prev"] = seq, prev
        entry["hash"] = prev = entry_hash(entry)
        if key is not None:
            entry["mac"] = entry_mac(key, entry["hash"])
    return entries


def resign_result(run: Path, key: TranscriptKey) -> None:
    """An insider re-signs result.json for its rewritten transcript."""
    entries = read(run)
    head = entries[-1]["hash"] if entries else "0" * 64
    signed = SignedHead(key.key_id, len(entries), head, final=True).signed(key)
    data = json.loads((run / "result.json").read_text())
    data["transcript"].update(entries=len(entries), head=head, signed_head=signed.to_dict())
    (run / "result.json").write_text(json.dumps(data))


def own_key(run: Path) -> TranscriptKey:
    return TranscriptKey.load(key_path(run / "transcript.jsonl"))


def delete_last(run: Path) -> None:
    write(run, read(run)[:-1])


def delete_last_100(run: Path) -> None:
    write(run, read(run)[:-100])


def empty_file(run: Path) -> None:
    (run / "transcript.jsonl").write_bytes(b"")


def truncate_mid_line(run: Path) -> None:
    path = run / "transcript.jsonl"
    path.write_bytes(path.read_bytes()[:-40])


def append_forged_answer(run: Path) -> None:
    entries = read(run)
    wire = b'{"kind": "text", "payload": ["triage: discharge"]}'
    forged = dict(entries[-1], sender="model-party", receiver="data-party-0", bytes=len(wire),
                  sha256=hashlib.sha256(wire).hexdigest(),
                  payload=base64.b64encode(wire).decode(), mac="0" * 64)
    write(run, rehash([*entries, forged]))


def change_receiver_and_rehash(run: Path) -> None:
    entries = read(run)
    entries[10]["receiver"] = "data-party-1"
    write(run, rehash(entries))


def rewrite_every_payload_and_rehash(run: Path) -> None:
    entries = read(run)
    for entry in entries:
        wire = base64.b64decode(entry["payload"]).replace(b"Jane Doe", b"[PERSON]")
        entry.update(payload=base64.b64encode(wire).decode(), bytes=len(wire),
                     sha256=hashlib.sha256(wire).hexdigest())
    write(run, rehash(entries))


def reorder_two(run: Path) -> None:
    entries = read(run)
    entries[4], entries[5] = entries[5], entries[4]
    write(run, entries)


def insert_entry(run: Path) -> None:
    entries = read(run)
    write(run, rehash([*entries[:20], dict(entries[30]), *entries[20:]]))


def duplicate_entry(run: Path) -> None:
    entries = read(run)
    write(run, [*entries[:8], entries[7], *entries[8:]])


def change_byte_count(run: Path) -> None:
    entries = read(run)
    entries[3]["bytes"] += 1
    write(run, entries)


def change_timestamp(run: Path) -> None:
    entries = read(run)
    entries[3]["time"] += 3600.0
    write(run, rehash(entries))


def remove_head_from_result(run: Path) -> None:
    data = json.loads((run / "result.json").read_text())
    del data["transcript"]["signed_head"], data["transcript"]["head"]
    (run / "result.json").write_text(json.dumps(data))


def remove_signed_head_from_result(run: Path) -> None:
    data = json.loads((run / "result.json").read_text())
    del data["transcript"]["signed_head"]  # the unsigned copy of the head stays
    (run / "result.json").write_text(json.dumps(data))


def modify_head_in_result(run: Path) -> None:
    delete_last(run)  # and make result.json agree with the shorter transcript
    entries = read(run)
    data = json.loads((run / "result.json").read_text())
    signed = data["transcript"]["signed_head"]
    signed.update(entries=len(entries), head=entries[-1]["hash"])
    data["transcript"].update(entries=len(entries), head=entries[-1]["hash"])
    (run / "result.json").write_text(json.dumps(data))


def swap_in_another_run(run: Path) -> None:
    other = make_run(run.parent / "other", pairs=PAIRS, tag=" Jr")
    shutil.copy(other / "transcript.jsonl", run / "transcript.jsonl")
    shutil.copy(key_path(other / "transcript.jsonl"), key_path(run / "transcript.jsonl"))


def crlf_endings(run: Path) -> None:
    path = run / "transcript.jsonl"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def trailing_blank_line(run: Path) -> None:
    path = run / "transcript.jsonl"
    path.write_bytes(path.read_bytes() + b"\n")


def replace_key_file(run: Path) -> None:
    """A new key, and every MAC recomputed with it: result.json's head names the old key."""
    key = TranscriptKey.generate()
    key.save(key_path(run / "transcript.jsonl"))
    write(run, rehash(read(run), key))


CASES: dict[str, Callable[[Path], None]] = {
    "delete the last entry": delete_last,
    "delete the last 100 entries": delete_last_100,
    "empty the file": empty_file,
    "truncate mid-line": truncate_mid_line,
    "append a forged model-party answer": append_forged_answer,
    "change a receiver and rehash the chain": change_receiver_and_rehash,
    "rewrite every text payload and rehash": rewrite_every_payload_and_rehash,
    "reorder two entries": reorder_two,
    "insert an entry": insert_entry,
    "duplicate an entry": duplicate_entry,
    "change a byte count": change_byte_count,
    "change a timestamp and rehash": change_timestamp,
    "remove the head from result.json": remove_head_from_result,
    "remove only the signed head from result.json": remove_signed_head_from_result,
    "modify the head in result.json": modify_head_in_result,
    "swap in another run's transcript and key": swap_in_another_run,
    "CRLF line endings": crlf_endings,
    "a trailing blank line": trailing_blank_line,
    "replace the key file and re-MAC": replace_key_file,
}


def audit(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", *args])
    return result.exit_code, result.output


def test_an_intact_run_verifies(run: Path) -> None:
    code, output = audit(str(run))
    assert code == 0 and "intact" in output, output
    report = verify_transcript(run / "transcript.jsonl", expected=run / "result.json")
    assert report.ok and report.authenticated and report.entries == 2 * PAIRS
    assert not report.warnings and report.status == "intact"


@pytest.mark.parametrize("name", list(CASES))
def test_tampering_is_detected(run: Path, name: str) -> None:
    CASES[name](run)
    report = verify_transcript(run / "transcript.jsonl", expected=run / "result.json")
    assert not report.ok and report.status == "TAMPERED", name
    code, output = audit(str(run))
    assert code == 3 and "TAMPERED" in output, output
    code, output = audit(str(run / "transcript.jsonl"))  # a run's transcript, named directly
    assert code == 3 and "TAMPERED" in output, output


def test_the_chain_alone_names_the_entry(run: Path) -> None:
    """Without result.json, MACs still catch rehashed edits and forged appends (an outsider
    has no key); only the recorded head catches entries cut off the end."""
    for tamper, seq in ((change_receiver_and_rehash, 10), (append_forged_answer, 2 * PAIRS)):
        shutil.copy(run / "transcript.jsonl", run / "saved")
        tamper(run)
        report = verify_transcript(run / "transcript.jsonl")
        assert not report.ok and report.first_bad_seq == seq and "MAC" in report.error
        shutil.copy(run / "saved", run / "transcript.jsonl")
    delete_last(run)
    report = verify_transcript(run / "transcript.jsonl")
    assert report.ok and report.warnings  # says it could not rule truncation out
    report = verify_transcript(run / "transcript.jsonl", expected=run / "result.json")
    assert not report.ok and "cut off the end" in report.error


def test_line_ending_noise_is_rejected_alike(run: Path) -> None:
    crlf_endings(run)
    crlf = verify_transcript(run / "transcript.jsonl")
    assert not crlf.ok and "CRLF" in crlf.error and crlf.first_bad_seq == 0
    (run / "transcript.jsonl").write_bytes(
        (run / "transcript.jsonl").read_bytes().replace(b"\r\n", b"\n") + b"\n")
    blank = verify_transcript(run / "transcript.jsonl")
    assert not blank.ok and "blank" in blank.error and blank.first_bad_seq == 2 * PAIRS


def test_the_key_is_private_and_never_written_elsewhere(run: Path) -> None:
    path = key_path(run / "transcript.jsonl")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = own_key(run)
    secret = key.secret.hex()
    assert secret not in repr(key)
    for name in ("transcript.jsonl", "result.json"):
        data = (run / name).read_text()
        assert secret not in data and secret.upper() not in data
        assert base64.b64encode(key.secret).decode() not in data
    code, output = audit(str(run), "--json")
    assert code == 0 and secret not in output
    assert json.loads((run / "result.json").read_text())["transcript"]["signed_head"][
        "key_id"] == key.key_id


def test_a_missing_key_or_stripped_macs_is_not_intact(run: Path) -> None:
    key_path(run / "transcript.jsonl").unlink()
    report = verify_transcript(run / "transcript.jsonl", expected=run / "result.json")
    assert not report.ok and "no key" in report.error
    entries = read(run)
    for entry in entries:
        del entry["mac"]
    write(run, entries)  # looks like the legacy format, but result.json's head is signed
    report = verify_transcript(run / "transcript.jsonl", expected=run / "result.json")
    assert not report.ok and "stripped" in report.error


def test_a_legacy_transcript_is_reported_unauthenticated(run: Path) -> None:
    key_path(run / "transcript.jsonl").unlink()
    entries = read(run)
    for entry in entries:
        del entry["mac"]
    write(run, entries)
    data = json.loads((run / "result.json").read_text())
    del data["transcript"]["signed_head"]
    (run / "result.json").write_text(json.dumps(data))
    code, output = audit(str(run))
    assert code == 0 and "unauthenticated (legacy format)" in output, output
    # a legacy transcript is still checked against its unsigned recorded head
    delete_last(run)
    code, output = audit(str(run))
    assert code == 3 and "TAMPERED" in output
    # and continued as it is, without MACs
    with Transcript(run / "transcript.jsonl") as transcript:
        transcript.append("data-party-0", "model-party", "text", b"later")
        assert not transcript.authenticated and transcript.signed_head() is None
    assert verify_transcript(run / "transcript.jsonl").status == (
        "unauthenticated (legacy format)")


# ---------------------------------------------------------------- the other party's copy


def two_copies(folder: Path) -> tuple[Path, Path]:
    """The data party's run and the model party's own copy; the model party countersigned
    the data party's final head and kept it in its checkpoints file."""
    run = make_run(folder / "run", pairs=10)
    theirs = folder / "model-party.jsonl"
    with Transcript(theirs) as copy:
        for entry in read(run):
            copy.append(entry["sender"], entry["receiver"], entry["kind"],
                        base64.b64decode(entry["payload"]))
        head = SignedHead.from_dict(
            json.loads((run / "result.json").read_text())["transcript"]["signed_head"])
        signed = copy.countersign(head, holder="data-party-0", party="model-party")
    data = json.loads((run / "result.json").read_text())
    data["transcript"]["signed_head"] = signed.to_dict()  # the data party keeps it too
    (run / "result.json").write_text(json.dumps(data))
    return run, theirs


def test_the_other_partys_record_agrees_with_an_intact_copy(tmp_path: Path) -> None:
    run, theirs = two_copies(tmp_path)
    for against in (theirs, checkpoints_path(theirs)):
        code, output = audit(str(run), "--against", str(against),
                             "--against-key", str(key_path(theirs)))
        assert code == 0 and "intact" in output, output
    head = SignedHead.from_dict(
        json.loads((run / "result.json").read_text())["transcript"]["signed_head"])
    assert head.check_countersignature(TranscriptKey.load(key_path(theirs))) is True
    assert head.check_countersignature(own_key(run)) is None


@pytest.mark.parametrize("rewrite", ["delete the last entry", "rewrite every payload"])
def test_an_insider_rewrite_is_caught_by_the_other_party(tmp_path: Path, rewrite: str) -> None:
    """The data party holds its own key: it rewrites its copy, re-MACs it and re-signs
    result.json, so its own records agree. The model party's copy and the head it kept
    do not."""
    run, theirs = two_copies(tmp_path)
    key = own_key(run)
    entries = read(run)
    if rewrite == "delete the last entry":
        entries = entries[:-1]
    else:
        for entry in entries:
            wire = base64.b64decode(entry["payload"]).replace(b"Jane Doe", b"[PERSON]")
            entry.update(payload=base64.b64encode(wire).decode(), bytes=len(wire),
                         sha256=hashlib.sha256(wire).hexdigest())
    write(run, rehash(entries, key))
    resign_result(run, key)
    assert audit(str(run))[0] == 0  # its own records cannot show it
    for against in (theirs, checkpoints_path(theirs)):
        code, output = audit(str(run), "--against", str(against))
        assert code == 3 and "TAMPERED" in output, output


def test_a_rekeyed_rewrite_is_caught_by_the_other_partys_head(tmp_path: Path) -> None:
    run, theirs = two_copies(tmp_path)
    key = TranscriptKey.generate()
    key.save(key_path(run / "transcript.jsonl"))
    write(run, rehash(read(run)[:-2], key))
    resign_result(run, key)
    assert audit(str(run))[0] == 0
    code, output = audit(str(run), "--against", str(checkpoints_path(theirs)))
    assert code == 3 and "holds no head for this transcript's key" in output, output


def test_a_forged_countersignature_is_caught(tmp_path: Path) -> None:
    run, theirs = two_copies(tmp_path)
    data = json.loads((run / "result.json").read_text())
    data["transcript"]["signed_head"]["countersignatures"][0]["mac"] = "1" * 64
    (run / "result.json").write_text(json.dumps(data))
    code, output = audit(str(run), "--against", str(run / "result.json"),
                         "--against-key", str(key_path(theirs)))
    assert code == 3 and "countersignature" in output, output


def test_a_run_records_a_signed_head_and_audits_intact(tmp_path: Path) -> None:
    from crossbound.runner import run_strategy

    result = run_strategy("remote-lm", task="clinic-triage:n=60", large="tiny-large",
                          small="tiny-small", out_dir=tmp_path / "run",
                          config={"eval_limit": "6"})
    signed = result.transcript["signed_head"]
    assert signed["entries"] == result.transcript["entries"] and signed["final"]
    secret = own_key(tmp_path / "run").secret.hex()
    for name in ("result.json", "transcript.jsonl"):
        assert secret not in (tmp_path / "run" / name).read_text()
    code, output = audit(str(tmp_path / "run"))
    assert code == 0 and "intact" in output, output


def test_over_http_the_model_party_countersigns_and_keeps_the_head(tmp_path: Path) -> None:
    import httpx

    from crossbound.boundary.contracts import OPEN_TEXT
    from crossbound.boundary.http import HttpTransport
    from crossbound.models.loading import load_model
    from crossbound.runner import run_strategy
    from crossbound.service.app import Limits, create_app
    from crossbound.service.keys import KeyStore
    from tests.servers import running_server

    api_key = "key-of-data-party-0-0123456789"
    lm = load_model("tiny-large")
    server = tmp_path / "server.jsonl"
    with Transcript(server) as kept:
        app = create_app(lm, KeyStore.from_keys({"data-party-0": api_key}), OPEN_TEXT, kept,
                         Limits())
        with running_server(app) as url:
            result = run_strategy("remote-lm", task="clinic-triage:n=60", large="tiny-large",
                                  small="tiny-small", out_dir=tmp_path / "run",
                                  config={"eval_limit": "6"},
                                  remote=HttpTransport(url, api_key))
            nested = b"[" * 5000 + b"]" * 5000  # RecursionError in json: a 400, not a 500
            refused = httpx.post(f"{url}/v1/crossbound/checkpoint", content=nested,
                                 headers={"Authorization": f"Bearer {api_key}"})
            assert refused.status_code == 400
    signed = result.transcript["signed_head"]
    assert [c["party"] for c in signed["countersignatures"]] == ["model-party"]
    assert "countersign_error" not in result.transcript
    run = tmp_path / "run"
    for against in (server, checkpoints_path(server)):  # its copy, or the head it kept
        code, output = audit(str(run), "--against", str(against),
                             "--against-key", str(key_path(server)))
        assert code == 0 and "intact" in output, output
    # the data party rewrites its own copy with its own key: only the model party's record
    # shows it
    key = own_key(run)
    write(run, rehash(read(run)[:-1], key))
    resign_result(run, key)
    assert audit(str(run))[0] == 0
    for against in (server, checkpoints_path(server)):
        code, output = audit(str(run), "--against", str(against))
        assert code == 3 and "TAMPERED" in output, output

    # a server that keeps no transcript cannot countersign: the run still completes, and
    # says so
    app = create_app(lm, KeyStore.from_keys({"data-party-0": api_key}), OPEN_TEXT, None,
                     Limits())
    with running_server(app) as url:
        result = run_strategy("remote-lm", task="clinic-triage:n=60", large="tiny-large",
                              small="tiny-small", out_dir=tmp_path / "unsigned",
                              config={"eval_limit": "6"}, remote=HttpTransport(url, api_key))
    assert "409" in result.transcript["countersign_error"]
    assert not result.transcript["signed_head"]["countersignatures"]
    assert audit(str(tmp_path / "unsigned"))[0] == 0
