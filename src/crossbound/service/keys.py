"""API keys of the data parties: loaded from a TOML file, held only as SHA-256 hashes.

The key file names each data party and its key::

    [keys]
    data-party-0 = "a-long-random-secret"
    data-party-1 = "another-long-random-secret"

The party name a key authenticates is the name the server records as the sender of everything
that party sends, so a key is an identity at the boundary. The plain keys are dropped as soon as
they are hashed; a presented key is hashed and compared with every stored hash in constant time
(``hmac.compare_digest``), so neither the keys nor their position leak through timing. No error
message of this module ever contains a key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from crossbound.boundary.contracts import MODEL_PARTY

MIN_KEY_LENGTH = 16
PARTY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyFileError(ValueError):
    """The key file is missing or invalid; the message says what to fix (never the key)."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class KeyStore:
    """Party name ↔ key hash; answers "which party holds this key?" and nothing else."""

    def __init__(self, hashes: Mapping[str, bytes]) -> None:
        if not hashes:
            raise KeyFileError("no API keys: name at least one data party and its key")
        self._hashes = dict(hashes)  # party -> SHA-256 of its key

    @classmethod
    def from_keys(cls, keys: Mapping[str, str]) -> KeyStore:
        """Validate plain ``party -> key`` pairs and keep only their hashes."""
        hashes: dict[str, bytes] = {}
        seen: dict[bytes, str] = {}
        for party, key in keys.items():
            if not isinstance(party, str) or not PARTY_NAME.match(party):
                raise KeyFileError(
                    f"party name {party!r} is invalid: use letters, digits, '.', '_' or '-' "
                    "(at most 64 characters, starting with a letter or digit)")
            if party == MODEL_PARTY:
                raise KeyFileError(f"{MODEL_PARTY!r} is the server itself; it cannot hold a "
                                   "client key (name the data parties only)")
            if not isinstance(key, str):
                raise KeyFileError(f"the key of {party!r} must be a string")
            if len(key) < MIN_KEY_LENGTH:
                raise KeyFileError(f"the key of {party!r} is shorter than {MIN_KEY_LENGTH} "
                                   "characters; use a long random key (e.g. `openssl rand "
                                   "-hex 32`)")
            digest = _digest(key)
            if digest in seen:
                raise KeyFileError(f"{party!r} and {seen[digest]!r} share one key; every "
                                   "party needs its own, or the server cannot tell them apart")
            seen[digest] = party
            hashes[party] = digest
        return cls(hashes)

    @classmethod
    def from_file(cls, path: str | Path) -> KeyStore:
        """Read ``[keys]`` from a TOML file (see the module docstring)."""
        path = Path(path)
        if not path.is_file():
            raise KeyFileError(f"{path}: no such key file; write a TOML file with a [keys] "
                               "table of party name = key")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            # The decoder's message quotes positions, not values, but keep it generic anyway:
            # a key must never reach a log through an error.
            raise KeyFileError(f"{path}: not valid UTF-8 TOML ({type(exc).__name__})") from None
        table = data.get("keys")
        if not isinstance(table, dict) or not table:
            raise KeyFileError(f"{path}: needs a non-empty [keys] table of party name = key")
        try:
            return cls.from_keys(table)
        except KeyFileError as exc:
            raise KeyFileError(f"{path}: {exc}") from None

    @property
    def parties(self) -> list[str]:
        return sorted(self._hashes)

    def party_for(self, key: str) -> str | None:
        """The party holding ``key``, or None; compares against every hash in constant time."""
        digest = _digest(key)
        found: str | None = None
        for party, stored in self._hashes.items():
            if hmac.compare_digest(digest, stored):
                found = party  # no early exit: the loop takes as long for every key
        return found

    def __repr__(self) -> str:  # never show hashes either
        return f"KeyStore(parties={self.parties})"
