"""The artifact store behind ``/v1/crossbound/artifacts``: named ``tensors`` messages per party.

Artifacts are ``tensors`` messages stored by name (adapters a data party tuned, emulators the
model party offers). Names are scoped per party: a party's artifact ``NAME`` is its own and
never collides with another party's ``NAME``; a reader finds its own artifact, else the model
party's published one (:meth:`ArtifactStore.readable`). The routes that serve the store are in
:mod:`crossbound.service.collab`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from crossbound.boundary.contracts import MODEL_PARTY, role_of
from crossbound.boundary.messages import Kind, Message, MessageError, decode, encode
from crossbound.service.errors import APIError
from crossbound.service.keys import PARTY_NAME

log = logging.getLogger("crossbound.service")

ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SUFFIX = ".cbm"


@dataclass(frozen=True)
class Artifact:
    name: str
    owner: str
    wire: bytes


class ArtifactStore:
    """Named ``tensors`` messages per owning party, in memory, optionally mirrored as files
    ``FOLDER/OWNER/NAME.cbm``.

    The owner of a stored artifact is the sender of its message, so a store reloaded from its
    folder knows whose each artifact is without a separate index (files that older versions
    kept directly in ``FOLDER`` load under their sender). ``max_bytes`` bounds what one owner
    may store, so one party cannot fill the store for the others.
    """

    def __init__(self, folder: str | Path | None, max_bytes: int) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.max_bytes = max_bytes
        self._items: dict[tuple[str, str], Artifact] = {}  # (owner, name) -> artifact
        self._lock = threading.Lock()
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._load(self.folder)

    def _load(self, folder: Path) -> None:
        paths: list[tuple[str | None, Path]] = [(None, p)
                                                for p in sorted(folder.glob(f"*{SUFFIX}"))]
        paths += [(d.name, p) for d in sorted(folder.iterdir()) if d.is_dir()
                  for p in sorted(d.glob(f"*{SUFFIX}"))]
        for owner_dir, path in paths:
            name = path.name[: -len(SUFFIX)]
            wire = path.read_bytes()
            try:
                message = decode(wire)
            except MessageError as exc:
                log.warning("skipping artifact file %s: %s", path, exc)
                continue
            owner = message.sender
            if (ARTIFACT_NAME.match(name) and message.meta.get("artifact") == name
                    and PARTY_NAME.match(owner) and owner_dir in (None, owner)):
                self._items.setdefault((owner, name), Artifact(name, owner, wire))
            else:
                log.warning("skipping artifact file %s: its name or folder does not match "
                            "its message", path)

    def owner_bytes(self, owner: str) -> int:
        return sum(len(a.wire) for (o, _), a in self._items.items() if o == owner)

    def get(self, owner: str, name: str) -> Artifact | None:
        """``owner``'s artifact ``name`` (no other party's)."""
        return self._items.get((owner, name))

    def readable(self, reader: str, name: str) -> Artifact | None:
        """What ``reader`` gets for ``name``: its own artifact, else the model party's."""
        return self._items.get((reader, name)) or self._items.get((MODEL_PARTY, name))

    def put(self, name: str, owner: str, wire: bytes) -> bool:
        """Store (or replace) ``owner``'s artifact ``name``; True when it is new."""
        with self._lock:
            old = self._items.get((owner, name))
            size = self.owner_bytes(owner) - (len(old.wire) if old else 0) + len(wire)
            if size > self.max_bytes:
                raise APIError(413, f"{owner}'s artifacts would take {size} bytes, over the "
                               f"limit of {self.max_bytes} per party", code="store_full")
            if self.folder is not None:
                path = self.folder / owner / f"{name}{SUFFIX}"
                path.parent.mkdir(exist_ok=True)
                partial = path.with_name(path.name + ".partial")
                partial.write_bytes(wire)
                os.replace(partial, path)  # atomic: a crash leaves the old or the new file
            self._items[(owner, name)] = Artifact(name, owner, wire)
            return old is None

    def publish(self, name: str, message: Message) -> None:
        """The model party offers ``message`` (kind ``tensors``) to every party as ``name``."""
        if message.sender != MODEL_PARTY or role_of(message.receiver) != "data":
            raise ValueError(f"published artifacts are sent by {MODEL_PARTY!r} to the data "
                             "parties (use a receiver such as 'data-parties')")
        check_artifact_message(name, message)
        try:
            self.put(name, MODEL_PARTY, encode(message))
        except APIError as exc:  # a full store
            raise ValueError(exc.message) from None


def check_artifact_message(name: str, message: Message) -> None:
    if not ARTIFACT_NAME.match(name):
        raise ValueError(f"artifact name {name!r} is invalid: use letters, digits, '.', '_' "
                         "or '-' (at most 128 characters)")
    if message.kind != Kind.TENSORS:
        raise ValueError(f"an artifact is a tensors message, not {message.kind.value}")
    if message.meta.get("artifact") != name:
        raise ValueError(f"the message's meta['artifact'] must be {name!r}, the name it is "
                         f"stored under (got {message.meta.get('artifact')!r})")
