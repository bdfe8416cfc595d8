"""The transcript: an append-only, hash-chained, authenticated, fsync'd JSONL record of crossings.

Each line is one entry: sequence number, time, parties, kind, byte count, the SHA-256 of the
exact wire bytes, the previous entry's hash, this entry's own hash (over all of the above) and
a MAC of that hash under the keeper's per-run key (:mod:`crossbound.boundary.signing`; the key
is in ``.TRANSCRIPT.key``, mode 0600, written before the first entry). With ``keep_payloads``
the wire bytes themselves are stored (base64) for later privacy attacks and replay. Each entry
is flushed and fsync'd before the send returns, so an entry that was committed survives the
process being killed; a torn last line (killed mid-write) is detected on reopen and cut away.
At the end of a run the keeper signs the head (entry count and last hash); the runner records
that :class:`SignedHead` in ``result.json`` and, over HTTP, has the model party countersign it
(the service keeps the head it countersigned in ``SERVER_TRANSCRIPT.checkpoints.jsonl``).

Threat model. Each copy of a transcript is kept by one party, on a disk it controls, and
authenticated with that party's own per-run key. Whoever can write the transcript but cannot
read its key (another account, a backup or CI system, anyone the file was handed to) cannot
alter, forge, insert, reorder or duplicate an entry without a MAC failing, and cannot cut
entries off the end, empty the file or swap in another run's transcript without the head
disagreeing with the signed head in ``result.json``. The party that holds the key can do all of
that to its own copy, and re-sign its own ``result.json``: nothing on one disk stops its owner.
What it cannot change is what the other party holds: the head the other party countersigned
and kept, and the other party's own copy of the crossings; so ``crossbound audit --against``
(that copy or that head) exposes a rewrite by either side after a checkpoint. MACs are
symmetric: a countersignature is verified with the countersigner's key (by that party, or an
arbiter it gives the key to), not by anyone. Not covered: a party that records something other
than what it sent in the first place; a rewrite before the first exchanged checkpoint; and
in-process runs, where both parties share one process, one disk and one copy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossbound.boundary.heads import (
    Tampered,
    check_against,
    check_key_ids,
    check_recorded,
    load_heads,
    resolve_key,
)
from crossbound.boundary.signing import (
    GENESIS,
    SignedHead,
    TranscriptKey,
    TranscriptKeyError,
    entry_mac,
    verify_entry_mac,
)

ENTRY_FIELDS = ("seq", "time", "sender", "receiver", "kind", "bytes", "sha256", "prev")


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: entry[k] for k in ENTRY_FIELDS}
    if "payload" in entry:
        body["payload"] = entry["payload"]
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def entry_line(entry: dict[str, Any]) -> bytes:
    """The one byte-exact form of an entry in the file (see :func:`verify_transcript`)."""
    return json.dumps(entry, sort_keys=True).encode() + b"\n"


def key_path(transcript: str | Path) -> Path:
    """Where a transcript's key lives by default: ``.TRANSCRIPT.key`` beside it (hidden, so
    that listing a folder's transcripts, e.g. ``data-party-*``, does not pick it up)."""
    path = Path(transcript)
    return path.with_name(f".{path.name}.key")


def checkpoints_path(transcript: str | Path) -> Path:
    """Where the keeper of ``transcript`` keeps the heads it countersigned for other parties."""
    path = Path(transcript)
    return path.with_name(path.name + ".checkpoints.jsonl")


class Transcript:
    """Append crossings to ``path`` (created if missing, continued if present).

    ``key`` authenticates the entries: a :class:`TranscriptKey` the caller keeps, or the path
    of a key file (default ``.TRANSCRIPT.key``), created with a fresh random key for a new
    transcript. A transcript written before entries carried MACs is continued as it was,
    unauthenticated (``crossbound audit`` reports it as the legacy format).
    """

    def __init__(self, path: str | Path, keep_payloads: bool = True, *,
                 key: TranscriptKey | str | Path | None = None) -> None:
        self.path = Path(path)
        self.keep_payloads = keep_payloads
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._entries = 0
        self._bytes = 0
        self._head = GENESIS
        self._by_kind: Counter[str] = Counter()
        self._by_direction: Counter[str] = Counter()
        self._key_file = None if isinstance(key, TranscriptKey) else Path(key or key_path(path))
        self._key: TranscriptKey | None = key if isinstance(key, TranscriptKey) else None
        self._key_saved = self._key_file is None  # a caller's key object is the caller's
        if self.path.exists() and self.path.stat().st_size:
            self._recover()
        elif self._key is None:
            assert self._key_file is not None
            if key is None:  # a default key file beside an empty transcript is a stale one
                self._key_file.unlink(missing_ok=True)
            if self._key_file.exists():
                self._key, self._key_saved = TranscriptKey.load(self._key_file), True
            else:
                self._key = TranscriptKey.generate()  # saved before the first entry
        self._file = self.path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        raw = self.path.read_bytes()
        good = raw if raw.endswith(b"\n") else raw[: raw.rfind(b"\n") + 1]
        if len(good) != len(raw):  # a torn final line from a killed writer: drop it
            with self.path.open("r+b") as handle:
                handle.truncate(len(good))
        lines = good.splitlines()
        if lines and not _has_mac(lines[0]):
            self._key = None  # the legacy format: continue it as it is, without MACs
        elif self._key is None and self._key_file is not None:
            if not lines and not self._key_file.exists():  # only a torn first line was there
                self._key = TranscriptKey.generate()
            else:
                try:
                    self._key, self._key_saved = TranscriptKey.load(self._key_file), True
                except TranscriptKeyError as exc:
                    raise ValueError(f"{self.path}: cannot continue an authenticated "
                                     f"transcript without its key: {exc}") from None
        report = verify_transcript(self.path, key=self._key)
        if not report.ok:
            raise ValueError(f"{self.path}: cannot continue a damaged transcript: {report.error}")
        for line in lines:
            self._count(json.loads(line))

    def _count(self, entry: dict[str, Any]) -> None:
        self._entries += 1
        self._bytes += entry["bytes"]
        self._head = entry["hash"]
        self._by_kind[entry["kind"]] += entry["bytes"]
        self._by_direction[f"{entry['sender']}->{entry['receiver']}"] += entry["bytes"]

    def _ready_key(self) -> TranscriptKey | None:
        if self._key is not None and not self._key_saved:
            assert self._key_file is not None
            self._key.save(self._key_file)
            self._key_saved = True
        return self._key

    @property
    def authenticated(self) -> bool:
        return self._key is not None

    def append(self, sender: str, receiver: str, kind: str, wire: bytes) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "seq": self._entries,
            "time": round(time.time(), 6),
            "sender": sender,
            "receiver": receiver,
            "kind": kind,
            "bytes": len(wire),
            "sha256": hashlib.sha256(wire).hexdigest(),
            "prev": self._head,
        }
        if self.keep_payloads:
            entry["payload"] = base64.b64encode(wire).decode()
        entry["hash"] = entry_hash(entry)
        key = self._ready_key()
        if key is not None:
            entry["mac"] = entry_mac(key, entry["hash"])
        self._file.write(entry_line(entry).decode())
        self._file.flush()
        os.fsync(self._file.fileno())
        self._count(entry)
        return entry

    def signed_head(self, final: bool = True) -> SignedHead | None:
        """This copy's head, signed with its key (None for a legacy, unkeyed transcript)."""
        key = self._ready_key()
        if key is None:
            return None
        return SignedHead(key.key_id, self._entries, self._head, final).signed(key)

    def countersign(self, head: SignedHead, *, holder: str, party: str) -> SignedHead:
        """Countersign another party's ``head`` as ``party`` and keep it (checkpoints file).

        ``holder`` is the party whose copy ``head`` describes (as authenticated). Its own
        signature cannot be checked here (it is made with its key): countersigning attests
        that this party received that claim, so its keeper cannot later present another.
        """
        key = self._ready_key()
        if key is None:
            raise ValueError(f"{self.path} is an unauthenticated (legacy format) transcript: "
                             "start a new one to countersign heads")
        signed = head.countersigned(key, party)
        record = {"time": round(time.time(), 6), "holder": holder, "head": signed.to_dict()}
        with checkpoints_path(self.path).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return signed

    def final_checkpoint(self, counterparty: object = None) -> dict[str, Any]:
        """The signed final head for ``result.json``, countersigned by ``counterparty`` when
        it can (a transport with ``countersign(head_dict) -> head_dict``, e.g. over HTTP)."""
        head = self.signed_head(final=True)
        if head is None:
            return {}
        record: dict[str, Any] = {"signed_head": head.to_dict()}
        countersign = getattr(counterparty, "countersign", None)
        if callable(countersign):
            try:  # a run's result must not be lost because the other party cannot sign
                returned = SignedHead.from_dict(countersign(head.to_dict()))
                if (returned.statement(), returned.signature) != (head.statement(),
                                                                  head.signature):
                    raise ValueError("the head came back changed")
                if not returned.countersignatures:
                    raise ValueError("the head came back without a countersignature")
                record["signed_head"] = returned.to_dict()
            except Exception as exc:
                record["countersign_error"] = f"{type(exc).__name__}: {exc}"
        return record

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def summary(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "entries": self._entries,
            "bytes": self._bytes,
            "head": self._head,
            "bytes_by_kind": dict(sorted(self._by_kind.items())),
            "bytes_by_direction": dict(sorted(self._by_direction.items())),
        }


def _has_mac(line: bytes) -> bool:
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return True  # not an entry at all: the audit that follows says what is wrong
    return not isinstance(entry, dict) or "mac" in entry


@dataclass
class AuditReport:
    ok: bool
    entries: int
    error: str | None = None
    first_bad_seq: int | None = None  # the first entry that was altered, inserted or deleted
    bytes_by_kind: dict[str, int] = field(default_factory=dict)
    count_by_kind: dict[str, int] = field(default_factory=dict)
    bytes_by_direction: dict[str, int] = field(default_factory=dict)
    bytes_by_party: dict[str, int] = field(default_factory=dict)
    authenticated: bool = False  # entries carry MACs and every one verified under the key
    key_id: str | None = None
    head: str = GENESIS
    checked: list[str] = field(default_factory=list)  # what was compared, in words
    warnings: list[str] = field(default_factory=list)  # what was not checked, in words

    @property
    def status(self) -> str:
        if not self.ok:
            return "TAMPERED"
        return "intact" if self.authenticated else "unauthenticated (legacy format)"


def verify_transcript(
    path: str | Path,
    *,
    key: TranscriptKey | str | Path | None = None,
    expected: SignedHead | str | Path | None = None,
    against: SignedHead | str | Path | None = None,
    against_key: TranscriptKey | str | Path | None = None,
) -> AuditReport:
    """Check a transcript: bytes, chain, MACs and, when given, its head; summarise crossings.

    ``key`` is the transcript's key (default: the key file beside it). ``expected`` is the head
    its keeper recorded (a ``result.json``, a head file, or a :class:`SignedHead`): only a
    recorded head reveals entries cut off the end. ``against`` is the other party's record:
    its own copy of the crossings (a transcript), or the head it countersigned and kept (a
    head file, its checkpoints file, or a ``result.json``); ``against_key`` checks that
    copy's MACs or that countersignature.

    Line endings: the writer produces exactly ``json.dumps(entry, sort_keys=True) + "\\n"``
    per entry, and every line must be those bytes. So CRLF endings, a trailing blank line,
    reformatted JSON and a missing final newline are all rejected, alike: a tamper-evident
    file is evidence byte for byte, and an editor or tool that rewrote it (even harmlessly)
    has broken the file's custody; the entries can be recovered by hand, not trusted as is.
    """
    path = Path(path)
    report = AuditReport(ok=True, entries=0)
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("kind", "count", "dir", "party")}
    hashes: list[str] = []
    try:
        the_key = resolve_key(key, key_path(path))
        report.key_id = the_key.key_id if the_key else None
        unreadable: Tampered | None = None  # raised once the entries have been counted
        try:
            loaded = load_heads(expected, "the recorded head") if expected else []
        except Tampered as exc:
            loaded, unreadable = [], exc
        if isinstance(loaded, Path):
            loaded, unreadable = [], Tampered(f"{expected} is a transcript, not a head")
        expected_heads = loaded
        check_key_ids(expected_heads, the_key)  # before the MACs: it names the cause
        entries = _read_entries(path, the_key, expected_heads, hashes, counts)
        if unreadable is not None:
            raise unreadable
        report.entries = entries
        report.head = hashes[-1] if hashes else GENESIS
        if entries == 0 and expected is None and key is None and key_path(path).exists():
            raise Tampered("the transcript is empty, but its key file exists (it is written "
                           "with the first entry): every entry was removed", 0)
        # no error so far: entries without MACs had no key to expect them (legacy format)
        report.authenticated = entries == 0 or the_key is not None
        if entries and the_key is not None:
            report.checked.append(f"MACs of {entries} entries under key {report.key_id}")
        if expected is not None:
            report.checked += check_recorded(expected_heads, hashes, the_key)
        else:
            report.warnings.append("entries cut off the end (no recorded head to compare "
                                   "with: result.json)")
        if against is not None:
            checked, unchecked = check_against(against, against_key, hashes, path, the_key,
                                               verify_transcript)
            report.checked += checked
            report.warnings += unchecked
    except Tampered as exc:
        report.ok, report.error, report.entries = False, str(exc), len(hashes)
        report.first_bad_seq = exc.seq
        report.authenticated = False
    report.bytes_by_kind, report.count_by_kind = dict(counts["kind"]), dict(counts["count"])
    report.bytes_by_direction, report.bytes_by_party = dict(counts["dir"]), dict(counts["party"])
    return report


def _read_entries(path: Path, key: TranscriptKey | None,
                  expected_heads: list[tuple[SignedHead, str]], hashes: list[str],
                  counts: dict[str, Counter[str]]) -> int:
    """Check every line (bytes, chain, MAC), appending each entry's hash to ``hashes``."""
    raw = path.read_bytes()
    *lines, rest = raw.split(b"\n")  # ``rest``: what follows the last newline, if anything
    signed = any(head.signature for head, _ in expected_heads)
    authenticated: bool | None = None
    for n, line in enumerate(lines):
        try:
            entry = json.loads(line.decode("utf-8"))
            problem = _entry_problem(entry, n, hashes[-1] if hashes else GENESIS)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            problem = f"line {n + 1} is not a transcript entry ({type(exc).__name__}: {exc})"
            if not line.strip():
                problem = f"line {n + 1} is blank: the file is not as the transcript wrote it"
        if problem:
            raise Tampered(problem, n)
        has_mac = "mac" in entry
        if authenticated is None:
            authenticated = has_mac
            if not has_mac and (key is not None or signed):
                raise Tampered("the entries carry no MACs, although this run's transcript is "
                               "keyed (a key file or a signed head exists): MACs were "
                               "stripped or the transcript was replaced", n)
            if has_mac and key is None:
                raise Tampered(f"the entries carry MACs, but there is no key to check them "
                               f"({key_path(path)} is missing; give the key file): cannot "
                               "authenticate", n)
        if has_mac != authenticated:
            raise Tampered(f"entry {n} {'carries' if has_mac else 'lacks'} a MAC, unlike "
                           "entry 0: entries were inserted or altered", n)
        if key is not None and not verify_entry_mac(key, entry["hash"], entry["mac"]):
            raise Tampered(f"entry {n}'s MAC does not verify under key {key.key_id}: it was "
                           "rewritten, forged or copied from another transcript", n)
        # Byte-exact, so CRLF endings and reformatting fail here and a blank line above, alike:
        # the writer never produces them (see verify_transcript for why noise is not forgiven)
        if line + b"\n" != entry_line(entry):
            ending = "a CRLF line ending" if line.endswith(b"\r") else "changed formatting"
            raise Tampered(f"line {n + 1} is not byte for byte as written ({ending}); a "
                           "transcript is checked byte-exactly", n)
        hashes.append(entry["hash"])
        counts["kind"][entry["kind"]] += entry["bytes"]
        counts["count"][entry["kind"]] += 1
        counts["dir"][f"{entry['sender']}->{entry['receiver']}"] += entry["bytes"]
        counts["party"][entry["sender"]] += entry["bytes"]
    if rest:
        raise Tampered(f"line {len(lines) + 1} has no line end: the file was cut mid-line (or "
                       "a writer was killed; reopening the transcript cuts it away)", len(lines))
    return len(hashes)


def _entry_problem(entry: dict[str, Any], line_no: int, prev: str) -> str | None:
    if not isinstance(entry, dict):
        return f"line {line_no + 1} is not a transcript entry (not a JSON object)"
    if entry["seq"] != line_no:
        return (f"entry at line {line_no + 1} has sequence number {entry['seq']}, expected "
                f"{line_no}: an entry was inserted or deleted before it")
    if entry["prev"] != prev:
        return f"entry {line_no} does not chain to the previous entry (inserted or deleted)"
    if entry_hash(entry) != entry["hash"]:
        return f"entry {line_no} was altered (its hash does not match its content)"
    if "payload" in entry:
        wire = base64.b64decode(entry["payload"], validate=True)
        if hashlib.sha256(wire).hexdigest() != entry["sha256"] or len(wire) != entry["bytes"]:
            return f"entry {line_no}: stored payload does not match its recorded hash or size"
    return None
