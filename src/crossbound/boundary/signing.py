"""Keys and signed heads for transcripts: HMAC-SHA256 from the standard library.

A :class:`TranscriptKey` is one party's secret for one copy of one run's transcript (32
random bytes). It authenticates every entry of that copy (:func:`entry_mac`) and signs the
copy's head (:class:`SignedHead`). It lives in a key file beside the transcript
(``.TRANSCRIPT.key``, mode 0600) or with the caller; it is never written into a transcript, a
result or a log, and its ``repr`` hides it. What is published is its ``key_id``, a one-way
fingerprint that names the key (and so the run's copy) without revealing it.

A :class:`SignedHead` says "this copy held ``entries`` entries, the last one hashing to
``head``", signed by the copy's keeper and countersigned by the other party at a checkpoint.
Each party keeps the head the other signed, so neither can later rewrite its own copy unseen.

HMAC rather than Ed25519 signatures because the standard library has it and ``cryptography``
is not a dependency of crossbound; the price is that a countersignature can be checked only
with the countersigner's key (by that party or an arbiter it hands the key to), not by anyone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

GENESIS = "0" * 64  # the head of a chain with no entries
KEY_FORMAT = "crossbound-transcript-key/1"
HEAD_FORMAT = "crossbound-head/1"
KEY_BYTES = 32


class TranscriptKeyError(ValueError):
    """A key file is missing or malformed; the message says which file (never the key)."""


@dataclass(frozen=True)
class TranscriptKey:
    """One party's secret for one transcript copy. ``repr`` shows only the key id."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("a transcript key needs at least 16 bytes of secret")

    @classmethod
    def generate(cls) -> TranscriptKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @property
    def key_id(self) -> str:
        """A public name for this key: a domain-separated SHA-256 of it, 16 hex digits."""
        return hashlib.sha256(b"crossbound-key-id/1\0" + self.secret).hexdigest()[:16]

    def mac(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    def verify(self, data: bytes, mac: object) -> bool:
        return isinstance(mac, str) and hmac.compare_digest(self.mac(data), mac)

    def save(self, path: str | Path) -> None:
        """Write the key to ``path`` with mode 0600 (atomically: the old key or the new one)."""
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        data = json.dumps({"format": KEY_FORMAT, "key_id": self.key_id,
                           "key": self.secret.hex()}).encode()
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # O_CREAT's mode only applies to a new file
            os.write(fd, data + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, path)

    @classmethod
    def load(cls, path: str | Path) -> TranscriptKey:
        path = Path(path)
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict) or data.get("format") != KEY_FORMAT:
                raise ValueError(f"not a {KEY_FORMAT} file")
            key = cls(bytes.fromhex(data["key"]))
        except FileNotFoundError:
            raise TranscriptKeyError(f"{path}: no such key file") from None
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise TranscriptKeyError(
                f"{path}: not a transcript key file ({type(exc).__name__})") from None
        if data.get("key_id") not in (None, key.key_id):
            raise TranscriptKeyError(f"{path}: the key does not match its recorded key id")
        return key


def entry_mac(key: TranscriptKey, entry_hash: str) -> str:
    """An entry's MAC: over its hash, which covers its content and, by ``prev``, every entry
    before it; the domain prefix keeps it from ever equalling a head signature."""
    return key.mac(b"crossbound-entry/1\0" + entry_hash.encode())


def verify_entry_mac(key: TranscriptKey, entry_hash: object, mac: object) -> bool:
    return isinstance(entry_hash, str) and key.verify(
        b"crossbound-entry/1\0" + entry_hash.encode(), mac)


@dataclass(frozen=True)
class SignedHead:
    """A transcript copy's head at a checkpoint, signed by its keeper, maybe countersigned.

    ``final`` marks the head at the end of a run: the copy must then hold exactly ``entries``
    entries (a checkpoint's head only has to be a prefix of the copy). ``countersignatures``
    are ``{"party", "key_id", "mac"}`` records of the other parties that signed the same
    statement; the keeper of this copy cannot make or change them.
    """

    key_id: str
    entries: int
    head: str
    final: bool
    signature: str = ""
    countersignatures: tuple[dict[str, str], ...] = ()

    def statement(self) -> bytes:
        """The bytes every signature covers: the claim, never the signatures themselves."""
        return json.dumps({"format": HEAD_FORMAT, "key_id": self.key_id, "entries": self.entries,
                           "head": self.head, "final": self.final}, sort_keys=True).encode()

    def signed(self, key: TranscriptKey) -> SignedHead:
        if key.key_id != self.key_id:
            raise ValueError("a head is signed by the key of the copy it describes")
        return replace(self, signature=key.mac(b"crossbound-head/1\0" + self.statement()))

    def countersigned(self, key: TranscriptKey, party: str) -> SignedHead:
        record = {"party": party, "key_id": key.key_id,
                  "mac": key.mac(b"crossbound-countersign/1\0" + self.statement())}
        others = tuple(c for c in self.countersignatures if c["key_id"] != key.key_id)
        return replace(self, countersignatures=(*others, record))

    def check_signature(self, key: TranscriptKey) -> bool:
        return key.key_id == self.key_id and key.verify(
            b"crossbound-head/1\0" + self.statement(), self.signature)

    def check_countersignature(self, key: TranscriptKey) -> bool | None:
        """True or False for the countersignature made with ``key``; None if there is none."""
        for record in self.countersignatures:
            if record["key_id"] == key.key_id:
                return key.verify(b"crossbound-countersign/1\0" + self.statement(),
                                  record["mac"])
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"format": HEAD_FORMAT, "key_id": self.key_id, "entries": self.entries,
                "head": self.head, "final": self.final, "signature": self.signature,
                "countersignatures": [dict(c) for c in self.countersignatures]}

    @classmethod
    def from_dict(cls, data: object) -> SignedHead:
        """Parse a head strictly (it may come from the other party or an attacker)."""
        if not isinstance(data, dict) or data.get("format") != HEAD_FORMAT:
            raise ValueError(f"not a signed head (format {HEAD_FORMAT!r})")
        entries, final = data.get("entries"), data.get("final")
        strings = {k: data.get(k) for k in ("key_id", "head", "signature")}
        if not isinstance(entries, int) or isinstance(entries, bool) or entries < 0:
            raise ValueError("a signed head's 'entries' must be a count")
        if not isinstance(final, bool) or not all(isinstance(v, str) and len(v) <= 128
                                                  for v in strings.values()):
            raise ValueError("a signed head needs string key_id, head, signature and a "
                             "boolean final")
        counters = data.get("countersignatures", [])
        if not isinstance(counters, list) or len(counters) > 16 or not all(
                isinstance(c, dict) and set(c) == {"party", "key_id", "mac"}
                and all(isinstance(v, str) and len(v) <= 128 for v in c.values())
                for c in counters):
            raise ValueError("a signed head's countersignatures must be {party, key_id, mac}")
        return cls(strings["key_id"] or "", entries, strings["head"] or "", final,
                   strings["signature"] or "", tuple(dict(c) for c in counters))
