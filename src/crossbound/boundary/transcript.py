"""The transcript: an append-only, hash-chained, fsync'd JSONL record of every crossing.

Each line is one entry: sequence number, time, parties, kind, byte count, the SHA-256 of the
exact wire bytes, the previous entry's hash and this entry's own hash (over all of the above).
With ``keep_payloads`` the wire bytes themselves are stored (base64) for later privacy attacks
and replay. Each entry is flushed and fsync'd before the send returns, so an entry that was
committed survives the process being killed; a torn last line (killed mid-write) is detected
on reopen and cut away.
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

GENESIS = "0" * 64
ENTRY_FIELDS = ("seq", "time", "sender", "receiver", "kind", "bytes", "sha256", "prev")


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: entry[k] for k in ENTRY_FIELDS}
    if "payload" in entry:
        body["payload"] = entry["payload"]
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class Transcript:
    """Append crossings to ``path`` (created if missing, continued if present)."""

    def __init__(self, path: str | Path, keep_payloads: bool = True) -> None:
        self.path = Path(path)
        self.keep_payloads = keep_payloads
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._entries = 0
        self._bytes = 0
        self._head = GENESIS
        self._by_kind: Counter[str] = Counter()
        self._by_direction: Counter[str] = Counter()
        if self.path.exists():
            self._recover()
        self._file = self.path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        raw = self.path.read_bytes()
        good = raw if raw.endswith(b"\n") or not raw else raw[: raw.rfind(b"\n") + 1]
        if len(good) != len(raw):  # a torn final line from a killed writer: drop it
            with self.path.open("r+b") as handle:
                handle.truncate(len(good))
        report = verify_transcript(self.path)
        if not report.ok:
            raise ValueError(f"{self.path}: cannot continue a damaged transcript: {report.error}")
        for line in good.decode().splitlines():
            self._count(json.loads(line))

    def _count(self, entry: dict[str, Any]) -> None:
        self._entries += 1
        self._bytes += entry["bytes"]
        self._head = entry["hash"]
        self._by_kind[entry["kind"]] += entry["bytes"]
        self._by_direction[f"{entry['sender']}->{entry['receiver']}"] += entry["bytes"]

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
        self._file.write(json.dumps(entry, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._count(entry)
        return entry

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


def verify_transcript(path: str | Path) -> AuditReport:
    """Check the hash chain; name the first entry that breaks it, and summarise the crossings."""
    report = AuditReport(ok=True, entries=0)
    by_kind: Counter[str] = Counter()
    count: Counter[str] = Counter()
    by_dir: Counter[str] = Counter()
    by_party: Counter[str] = Counter()
    prev = GENESIS
    with Path(path).open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle):
            try:
                entry = json.loads(line)
                problem = _entry_problem(entry, line_no, prev)
            except (ValueError, KeyError, TypeError) as exc:
                problem = f"line {line_no + 1} is not a transcript entry ({exc})"
            if problem:
                return AuditReport(False, line_no, problem, line_no, dict(by_kind), dict(count),
                                   dict(by_dir), dict(by_party))
            prev = entry["hash"]
            report.entries += 1
            by_kind[entry["kind"]] += entry["bytes"]
            count[entry["kind"]] += 1
            by_dir[f"{entry['sender']}->{entry['receiver']}"] += entry["bytes"]
            by_party[entry["sender"]] += entry["bytes"]
    report.bytes_by_kind, report.count_by_kind = dict(by_kind), dict(count)
    report.bytes_by_direction, report.bytes_by_party = dict(by_dir), dict(by_party)
    return report


def _entry_problem(entry: dict[str, Any], line_no: int, prev: str) -> str | None:
    if entry["seq"] != line_no:
        return (f"entry at line {line_no + 1} has sequence number {entry['seq']}, expected "
                f"{line_no}: an entry was inserted or deleted before it")
    if entry["prev"] != prev:
        return f"entry {line_no} does not chain to the previous entry (inserted or deleted)"
    if entry_hash(entry) != entry["hash"]:
        return f"entry {line_no} was altered (its hash does not match its content)"
    if "payload" in entry:
        wire = base64.b64decode(entry["payload"])
        if hashlib.sha256(wire).hexdigest() != entry["sha256"] or len(wire) != entry["bytes"]:
            return f"entry {line_no}: stored payload does not match its recorded hash or size"
    return None
