"""What a strategy run returns and writes: ``result.json``, self-describing and comparable.

``metrics`` always has three groups so the benchmark can compare any two strategies:
``utility`` (``sm_before``, ``sm_after``, ``lm_before``, ``lm_after`` where they apply, plus the
task's named metrics), ``privacy`` and ``efficiency`` (``wall_seconds``, ``peak_memory_mb``,
``bytes_crossed`` in total and by kind, ``lm_calls``, ``lm_tokens``).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

RESULT_SCHEMA = 1
_VERSIONED = ("crossbound", "torch", "transformers", "safetensors", "numpy", "peft", "opacus",
              "flwr", "presidio-analyzer")


def versions() -> dict[str, str]:
    found: dict[str, str] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": _torch_threads(),
    }


def _torch_threads() -> int | None:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:  # pragma: no cover
        return None


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # not Linux: fall back to the lifetime peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Samples this process's resident memory in a thread; ``peak_mb`` is the maximum seen.

    The process-lifetime peak (``ru_maxrss``) cannot be reset between runs in one process, so a
    run's own peak is sampled instead (every ``interval`` seconds).
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, _rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak_mb = _rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())


@dataclass
class Result:
    strategy: str
    config: dict[str, Any]
    task: dict[str, Any]
    models: dict[str, str]
    metrics: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"utility": {}, "privacy": {}, "efficiency": {}}
    )
    transcript: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=versions)
    machine: dict[str, Any] = field(default_factory=machine)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": RESULT_SCHEMA,
            "strategy": self.strategy,
            "config": self.config,
            "task": self.task,
            "models": self.models,
            "metrics": self.metrics,
            "transcript": self.transcript,
            "artifacts": self.artifacts,
            "notes": self.notes,
            "versions": self.versions,
            "machine": self.machine,
            "created": self.created,
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write ``result.json`` atomically into ``out_dir``; return its path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "result.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> Result:
        data = json.loads(Path(path).read_text())
        if data.get("schema") != RESULT_SCHEMA:
            raise ValueError(f"{path}: result schema {data.get('schema')} is not {RESULT_SCHEMA}")
        fields = {k: data[k] for k in ("strategy", "config", "task", "models", "metrics",
                                       "transcript", "artifacts", "notes", "versions",
                                       "machine", "created")}
        return cls(**fields)
