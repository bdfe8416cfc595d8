"""Matching one copy of a transcript against recorded heads and against the other party's copy.

A hash chain proves nothing about entries missing at its end, and its keeper can rewrite its
own copy with its own key; what catches both is a head recorded elsewhere. Here a copy (given
as the list of its entry hashes, already checked by
:func:`~crossbound.boundary.transcript.verify_transcript`) is compared with the heads its
keeper recorded (``result.json``) and with the other party's record: the head it
countersigned and kept, or its own copy of the crossings. Every mismatch raises
:class:`Tampered`, naming the first entry concerned where there is one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import zip_longest
from pathlib import Path
from typing import Any

from crossbound.boundary.signing import (
    GENESIS,
    SignedHead,
    TranscriptKey,
    TranscriptKeyError,
)

Heads = list[tuple[SignedHead, str]]  # each head, with where it came from (for messages)


class Tampered(Exception):
    """The transcript is not as it was written; ``seq``: the first entry concerned, if any."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


def resolve_key(key: TranscriptKey | str | Path | None,
                default: Path | None) -> TranscriptKey | None:
    """The key given (object or file), else the one in ``default`` if that file exists."""
    if isinstance(key, TranscriptKey):
        return key
    candidate = Path(key) if key is not None else default
    if candidate is None or (key is None and not candidate.exists()):
        return None
    try:
        return TranscriptKey.load(candidate)
    except TranscriptKeyError as exc:
        raise Tampered(f"cannot authenticate: {exc}") from None


def load_heads(source: SignedHead | str | Path, label: str) -> Heads | Path:
    """The heads recorded in ``source``; or its path, when it is a transcript instead.

    ``source`` may be a head file (one :class:`SignedHead` as JSON), a checkpoints file (JSON
    lines of ``{"time", "holder", "head"}``, as the model party keeps them) or a
    ``result.json`` (its signed head, and its unsigned copy of the head).
    """
    if isinstance(source, SignedHead):
        return [(source, label)]
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except ValueError:
            data = None  # JSON lines: a transcript or a checkpoints file
        if isinstance(data, dict) and "seq" not in data:
            return _heads_of_object(data, path)
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        if not rows or "seq" in rows[0]:
            return path
        return [(SignedHead.from_dict(row["head"]), f"the head on line {n + 1} of {path}")
                for n, row in enumerate(rows)]  # a checkpoints file
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise Tampered(f"{path}: cannot read a recorded head ({type(exc).__name__}: {exc})") \
            from None


def _heads_of_object(data: dict[str, Any], path: Path) -> Heads:
    if "format" in data:
        return [(SignedHead.from_dict(data), f"the head in {path}")]
    if isinstance(data.get("head"), dict):  # a checkpoints file of one line
        return [(SignedHead.from_dict(data["head"]), f"the head in {path}")]
    record = data.get("transcript")  # a result.json
    heads: Heads = []
    if isinstance(record, dict) and "signed_head" in record:
        heads.append((SignedHead.from_dict(record["signed_head"]), f"the signed head in {path}"))
    if isinstance(record, dict) and "head" in record:
        entries, head = record.get("entries"), record.get("head")
        if not isinstance(entries, int) or not isinstance(head, str):
            raise ValueError("its transcript entries/head are not a count and a hash")
        heads.append((SignedHead("", entries, head, final=True), f"the head recorded in {path}"))
    if not heads:
        raise Tampered(f"{path} records no transcript head: it was removed (or this is not "
                       "a run's result)")
    return heads


def check_key_ids(heads: Heads, key: TranscriptKey | None) -> None:
    """A head names the key of the copy it describes: another key means another copy."""
    for head, source in heads:
        if head.key_id and key is not None and head.key_id != key.key_id:
            raise Tampered(f"{source} was signed with key {head.key_id}, but this "
                           f"transcript's key is {key.key_id}: the key file was replaced, or "
                           "the transcript is another run's", 0)


def check_head(head: SignedHead, source: str, hashes: list[str],
               key: TranscriptKey | None) -> None:
    """Does the copy whose entries hash to ``hashes`` agree with ``head`` (signed by ``key``)?"""
    if head.signature:
        if key is None:
            raise Tampered(f"{source} is signed, but there is no key to check it with")
        if not head.check_signature(key):
            raise Tampered(f"{source} does not carry a valid signature of key {key.key_id}: "
                           "it was altered, or signed for another transcript")
    n = len(hashes)
    if head.entries > n:
        raise Tampered(f"{source} counts {head.entries} entries, the transcript holds {n}: "
                       "entries were cut off the end", n)
    at = hashes[head.entries - 1] if head.entries else GENESIS
    if at != head.head:
        raise Tampered(f"{source} ends in {head.head[:16]}…, this transcript's entry "
                       f"{head.entries - 1} in {at[:16]}…: the transcript was rewritten or "
                       "replaced", max(head.entries - 1, 0))
    if head.final and n > head.entries:
        raise Tampered(f"{source} is the run's final head at {head.entries} entries; the "
                       f"transcript holds {n}: entries were appended after the run",
                       head.entries)


def check_recorded(heads: Heads, hashes: list[str], key: TranscriptKey | None) -> list[str]:
    """Check the heads the keeper recorded (``result.json``); say what was compared."""
    if key is not None and not any(head.signature for head, _ in heads):
        raise Tampered("the recorded head is unsigned, although the transcript is keyed: the "
                       "signed head was removed from it")
    checked = []
    for head, source in heads:
        check_head(head, source, hashes, key)
        checked.append(f"{source}: {head.entries} entries, head {head.head[:16]}…")
    return checked


def check_against(against: SignedHead | str | Path,
                  against_key: TranscriptKey | str | Path | None, hashes: list[str],
                  path: Path, key: TranscriptKey | None,
                  verify: Callable[..., Any]) -> tuple[list[str], list[str]]:
    """Compare with the other party's record: its copy of the crossings (audited with
    ``verify``), or a head it kept. Returns what was compared and what was not checked."""
    other = load_heads(against, "the other party's head")
    if isinstance(other, Path):
        return [compare_copies(path, other, against_key, verify)], []
    if key is None:
        raise Tampered("this transcript has no key, so no head can be matched to it; compare "
                       "it with the other party's transcript instead")
    mine = [(head, source) for head, source in other if head.key_id == key.key_id]
    if not mine:
        held = sorted({head.key_id for head, _ in other})
        raise Tampered(f"the other party holds no head for this transcript's key "
                       f"{key.key_id} (it holds heads for {', '.join(held) or 'none'}): this "
                       "copy was re-keyed and rewritten, or is another run's", 0)
    their_key = resolve_key(against_key, None)
    checked = []
    for head, source in mine:
        check_head(head, source, hashes, key)
        if their_key is not None and head.check_countersignature(their_key) is not True:
            raise Tampered(f"{source} lacks a valid countersignature of key "
                           f"{their_key.key_id}: it is not the head the other party signed")
        checked.append(f"{source} (kept by the other party): {head.entries} entries")
    if their_key is not None:
        return checked, []
    return checked, ["the other party's countersignature (it needs that party's key: "
                     "--against-key)"]


def crossings(path: Path) -> list[tuple[Any, ...]]:
    """What crossed, as both parties can record it: no times, sequence numbers or MACs."""
    rows = [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return [(r["sender"], r["receiver"], r["kind"], r["bytes"], r["sha256"]) for r in rows]


def compare_copies(path: Path, other: Path, other_key: TranscriptKey | str | Path | None,
                   verify: Callable[..., Any]) -> str:
    """Both copies must record the same crossings (between the parties this copy names).

    The copies differ in times, order of interleaving with third parties and keys, so what
    is compared is :func:`crossings`. Compare like with like: a server's copy also holds the
    crossings of a run's measurement channel and of requests it refused, and then differs.
    """
    audit = verify(other, key=other_key)
    if not audit.ok:
        raise Tampered(f"the other party's copy {other} fails its own audit: {audit.error}")
    mine, theirs = crossings(path), crossings(other)
    pairs = {frozenset(c[:2]) for c in mine}
    if pairs:  # the other copy may also hold crossings with parties this one never met
        theirs = [c for c in theirs if frozenset(c[:2]) in pairs]
    for n, (a, b) in enumerate(zip_longest(mine, theirs)):
        if a is None:
            raise Tampered(f"the other party's copy {other} records {len(theirs)} crossings, "
                           f"this one {len(mine)}: entries from {n} on were removed", n)
        if b is None:
            raise Tampered(f"this copy records {len(mine)} crossings, the other party's copy "
                           f"{other} {len(theirs)}: entries from {n} on were added", n)
        if a != b:
            raise Tampered(f"crossing {n} differs from the other party's copy {other}: "
                           f"{a[0]}->{a[1]} {a[2]} {a[3]} bytes here, {b[0]}->{b[1]} {b[2]} "
                           f"{b[3]} bytes there", n)
    return f"the same {len(mine)} crossings as the other party's copy {other}"
