"""A verified on-disk cache of converted models (GGUF → safetensors).

Loading a GGUF file de-quantises every tensor (≈ 20 s for SmolLM2-135M, ≈ 70 s for
Gemma-3-270M on 2 cores); a safetensors copy reloads in well under a second. An entry is a
folder that ``save_pretrained`` wrote plus ``crossbound-manifest.json``, which records the
size and SHA-256 of every file. Entries are built in a temporary folder and renamed into place,
so a killed conversion leaves no half-entry behind; a lock keeps two processes from converting
the same model at once.

Every load checks that each file exists with its recorded size; a file whose size or mtime
changed since it was last verified is hashed again. Anything that does not match is reported as
corrupt and the entry is rebuilt, never silently used. ``verify(full=True)`` hashes everything.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST = "crossbound-manifest.json"
MANIFEST_VERSION = 1


def cache_root() -> Path:
    """``$CROSSBOUND_CACHE``, else ``$XDG_CACHE_HOME/crossbound``, else ``~/.cache/crossbound``."""
    explicit = os.environ.get("CROSSBOUND_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "crossbound"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class CorruptCacheEntry(RuntimeError):
    """A cache entry is missing files or its files do not match the manifest."""


@dataclass(frozen=True)
class CacheEntry:
    """The cache folder of one model, by a filesystem-safe key."""

    key: str
    root: Path

    @property
    def path(self) -> Path:
        return self.root / "models" / self.key

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read_manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CorruptCacheEntry(f"{self.manifest_path}: unreadable manifest ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
            raise CorruptCacheEntry(f"{self.manifest_path}: unknown manifest format")
        return manifest

    def verify(self, full: bool = False) -> dict[str, Any]:
        """Check the entry against its manifest; raise :class:`CorruptCacheEntry` if it differs.

        Without ``full``, a file whose (size, mtime) equals what was recorded when it was last
        hashed is trusted; any other file is hashed again.
        """
        manifest = self.read_manifest()
        files: dict[str, dict[str, Any]] = manifest.get("files", {})
        if not files:
            raise CorruptCacheEntry(f"{self.path}: manifest lists no files")
        refreshed = False
        for name, info in files.items():
            file = self.path / name
            try:
                stat = file.stat()
            except FileNotFoundError as exc:
                raise CorruptCacheEntry(f"{file}: missing") from exc
            if stat.st_size != info["size"]:
                raise CorruptCacheEntry(
                    f"{file}: {stat.st_size} bytes, expected {info['size']} (partial write?)"
                )
            if full or stat.st_mtime_ns != info.get("mtime_ns"):
                if sha256_file(file) != info["sha256"]:
                    raise CorruptCacheEntry(f"{file}: content hash differs from the manifest")
                if stat.st_mtime_ns != info.get("mtime_ns"):
                    info["mtime_ns"] = stat.st_mtime_ns
                    refreshed = True
        if refreshed:  # remember the new mtimes so the next load need not hash again
            _write_json_atomic(self.manifest_path, manifest)
        return manifest

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on this key (blocks while another process builds it)."""
        lock_path = self.root / "models" / f".{self.key}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def build(self, writer: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        """Create the entry: ``writer(tmp_dir)`` writes the files and returns source metadata.

        The files are hashed, the manifest written last, and the folder renamed into place.
        """
        models_dir = self.root / "models"
        models_dir.mkdir(parents=True, exist_ok=True)
        tmp = models_dir / f".{self.key}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            source = writer(tmp)
            files: dict[str, dict[str, Any]] = {}
            for file in sorted(p for p in tmp.rglob("*") if p.is_file()):
                stat = file.stat()
                files[str(file.relative_to(tmp))] = {
                    "size": stat.st_size,
                    "sha256": sha256_file(file),
                    "mtime_ns": stat.st_mtime_ns,
                }
            manifest = {
                "version": MANIFEST_VERSION,
                "key": self.key,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "source": source,
                "files": files,
            }
            _write_json_atomic(tmp / MANIFEST, manifest)
            _fsync_dir(tmp)
            if self.path.exists():
                stale = models_dir / f".{self.key}.stale-{os.getpid()}"
                os.replace(self.path, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, self.path)
            _fsync_dir(models_dir)
            return manifest
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
