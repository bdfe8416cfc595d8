"""What every federation run writes, whichever strategy it ran: the output folder's names,
the checks that a run finished, and the part of ``result.json`` all strategies share.

``OUT/result.json`` is the usual self-describing result: config, task, versions, machine, and
``metrics`` with ``utility``, ``privacy``, ``efficiency`` and ``federation`` — every round's
utility, bytes per party, seconds, dropped updates and the parties that dropped out;
``OUT/transcripts/data-party-<i>.jsonl`` holds one hash-chained transcript per data party, as
the model party recorded it. A strategy adds its own metrics, notes and artifacts
(:mod:`~crossbound.federation.fed_adapter`, :mod:`~crossbound.federation.fed_mutual_kt`).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossbound.boundary.transcript import verify_transcript
from crossbound.evaluate.pii_crossed import pii_crossed_summary
from crossbound.federation.config import FederationConfig
from crossbound.result import PeakMemory, Result
from crossbound.tasks.base import Task

TRANSCRIPTS = "transcripts"
ADAPTER_FILE = "global-adapter.safetensors"
PEFT_FOLDER = "global-adapter"
LM_ADAPTER_FOLDER = "lm-adapter"  # fed-mutual-kt: the LM's LoRA copy, PEFT format
# Everything a run may leave in its folder (deploy.py's rounds.jsonl, status.json, deployment/).
RUN_FILES = ("result.json", TRANSCRIPTS, ADAPTER_FILE, PEFT_FOLDER, LM_ADAPTER_FOLDER,
             "rounds.jsonl", "status.json", "deployment")


def prepare_folder(out: Path, overwrite: bool) -> None:
    """Make ``out``; refuse one that holds an earlier run unless ``overwrite``."""
    previous = [out / name for name in RUN_FILES if (out / name).exists()]
    if previous and not overwrite:
        raise FileExistsError(f"{out} already holds a federation run "
                              f"({', '.join(p.name for p in previous)}); choose another "
                              "output folder or pass --overwrite")
    for path in previous:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def measured(serve: Callable[[], None], state: Any) -> tuple[float, float]:
    """Run the model party (``serve``); its wall seconds and this process's peak memory (MB).
    An exception the model party recorded as its reason to stop (``state.error``) is left
    for :func:`check_finished` to report."""
    with PeakMemory() as memory:
        started = time.perf_counter()
        try:
            serve()
        except Exception:
            if state.error is None:
                raise
        wall = time.perf_counter() - started
    return wall, memory.peak_mb


def check_finished(config: FederationConfig, state: Any) -> None:
    """Raise, saying why, unless every round of ``config`` ran."""
    done = max(len(state.rounds) - 1, 0)
    if state.error is not None:
        raise RuntimeError(f"the federation stopped after {done} of {config.rounds} rounds: "
                           f"{state.error}")
    if state.grid is None or len(state.rounds) != config.rounds + 1:
        raise RuntimeError(f"the federation stopped after {done} of {config.rounds} rounds "
                           "(run with verbose=True / --verbose to see Flower's log)")


def federation_result(config: FederationConfig, task: Task, state: Any,
                      artifacts: dict[str, str], wall: float, peak_mb: float, out: Path, *,
                      aggregation: str, secure: dict[str, Any] | None) -> Result:
    """The result every strategy shares: utility per round, what crossed (bytes, PII, the
    transcripts), the rounds; ``aggregation`` and ``secure`` (secure aggregation: what the
    model party saw) describe how the parties' contributions were combined. The strategy
    adds its own metrics and notes."""
    grid = state.grid
    rounds = [r.to_dict() for r in state.rounds]
    per_round = [r["utility"] for r in rounds]
    transcripts: dict[str, Any] = {}
    by_kind: Counter[str] = Counter()
    by_direction: Counter[str] = Counter()
    pii: dict[str, Any] = {}
    for name, link in sorted(grid.links.items()):
        summary = link.transcript.summary()
        summary["path"] = str(link.transcript.path.relative_to(out))
        summary["verified"] = verify_transcript(link.transcript.path).ok
        transcripts[name] = summary
        by_kind.update(summary["bytes_by_kind"])
        by_direction.update(summary["bytes_by_direction"])
        pii[name] = pii_crossed_summary(link.transcript.path, task)
    total = sum(by_kind.values())
    metrics: dict[str, dict[str, Any]] = {
        "utility": {
            "metric": task.metric,
            "initial": per_round[0], "final": per_round[-1],
            "per_round": per_round,
            "eval_examples": rounds[-1]["eval_examples"],
        },
        "privacy": {
            "pii_crossed": {
                "occurrences": sum(p["occurrences"] for p in pii.values()),
                "canaries_crossed": sum(p["canaries_crossed"] for p in pii.values()),
                "by_party": pii,
            },
            "text_bytes_crossed": by_kind.get("text", 0) + by_kind.get("records", 0),
            "measured": ["pii_crossed"],
        },
        "efficiency": {
            "wall_seconds": round(wall, 3),
            "peak_memory_mb": round(peak_mb, 1),  # this process: the model party and Flower
            "bytes_crossed": {"total": total, "by_kind": dict(sorted(by_kind.items())),
                              "by_direction": dict(sorted(by_direction.items()))},
            "seconds_per_round": [r["seconds"] for r in rounds],
            "bytes_per_round": [r["bytes_total"] for r in rounds],
            # The data parties' own cost: seconds each spent training and scoring, all rounds.
            "data_party_seconds": _party_seconds(rounds),
        },
        "federation": {
            "aggregation": aggregation,
            "parties": {name: {"train_examples": link.train_examples,
                               "transcript": transcripts[name]["path"]}
                        for name, link in sorted(grid.links.items())},
            "rounds": rounds,
            "dropped": [d for r in rounds for d in r["dropped"]],
            "min_parties": config.min_parties,
            "secure_aggregation": secure,
            # Per round, the parties whose update was not aggregated, and why.
            "dropped_out": {str(r["round"]): r["dropped_out"] for r in rounds
                            if r["dropped_out"]},
            "contract": grid.contract.describe(),
        },
    }
    return Result(
        strategy=config.strategy,
        config=config.to_dict(),
        task={"name": task.name, "params": task.params, "fingerprint": task.fingerprint(),
              "parties": [len(p) for p in task.parties]},
        models={"small": config.small},
        metrics=metrics,
        transcript={"parties": transcripts, "entries": sum(t["entries"] for t in
                                                          transcripts.values()),
                    "bytes": total},
        artifacts=artifacts,
        notes=[],
    )


def _party_seconds(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for entry in rounds:
        for group, key in (("train", "train-seconds"), ("evaluate", "eval-seconds")):
            for party, numbers in entry[group].items():
                totals = out.setdefault(party, {"train": 0.0, "evaluate": 0.0})
                totals[group] = round(totals[group] + float(numbers[key]), 4)
    return dict(sorted(out.items()))
