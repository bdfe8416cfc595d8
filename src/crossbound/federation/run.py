"""Run a federation end to end and write its result: on Flower's simulation runtime here, on
its deployment runtime through :mod:`crossbound.federation.deploy` (``runtime =
"deployment"``), where the model party writes the same files from its own process.

``OUT/result.json`` (the usual self-describing result: config, task, versions, machine, and
``metrics`` with ``utility``, ``privacy``, ``efficiency`` and ``federation`` — every round's
utility, bytes per party, seconds, dropped updates and the parties that dropped out, and,
with secure aggregation, what the model party could see), ``OUT/transcripts/data-party-<i>.jsonl``
(one hash-chained transcript per data party, as the model party recorded it),
``OUT/global-adapter.safetensors`` (the final global adapter under its wire names) and
``OUT/global-adapter/`` (the same adapter in PEFT's format, loadable onto the SM).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crossbound.federation.config import PARTY_NAME, FederationConfig
from crossbound.federation.deploy import run_deployment
from crossbound.naming import data_party
from crossbound.result import PeakMemory, Result
from crossbound.tasks.base import Task

TRANSCRIPTS = "transcripts"
ADAPTER_FILE = "global-adapter.safetensors"
PEFT_FOLDER = "global-adapter"
LM_ADAPTER_FOLDER = "lm-adapter"  # fed-mutual-kt: the LM's LoRA copy, PEFT format
OnRound = Callable[[Any], None]  # gets a server.RoundReport


def run_federation(config: FederationConfig, out_dir: str | Path | None = None, *,
                   overwrite: bool = False, verbose: bool = False,
                   on_round: OnRound | None = None,
                   on_status: Callable[[str], None] | None = None,
                   deployment: dict[str, Any] | None = None) -> Result:
    """Run ``config`` and write the result to ``out_dir`` (default: ``config.out``).

    ``on_round`` is called after registration (round 0) and after every round with that
    round's :class:`~crossbound.federation.server.RoundReport`; ``on_status`` with a line
    of what is happening. ``verbose`` shows Flower's and Ray's own logs (simulation).
    With ``config.runtime == "deployment"`` the run goes through Flower's deployment runtime
    (:mod:`crossbound.federation.deploy`; ``deployment``: its options, e.g.
    ``{"external": True, "host": "0.0.0.0", "port": 9092}``).
    """
    from crossbound.tasks.registry import load_task

    status = on_status or (lambda line: None)
    out = Path(out_dir if out_dir is not None else config.out)
    if config.emulator_of is not None and not config.party_store:
        # Where each data party keeps the emulator it receives; absolute, because Ray
        # workers and SuperNodes do not share this process's working directory.
        config = dataclasses.replace(config, party_store=str((out / "parties").resolve()))
    task = load_task(config.task)
    check_parties(config, task)
    parties = len(task.parties)
    _prepare_folder(out, overwrite)
    if config.runtime == "deployment":
        status(f"{parties} data parties; starting a Flower SuperLink"
               + ("" if (deployment or {}).get("external") else
                  f" and {parties} SuperNodes on this machine"))
        return run_deployment(config, out, parties, on_round=on_round, on_status=status,
                              **(deployment or {}))

    if config.strategy == "fed-mutual-kt":
        return _simulate_mutual(config, task, out, verbose, on_round, status)

    from crossbound.federation.adapter import adapter_tensors

    adapted, hooks = model_party(config, task, status)
    initial = adapter_tensors(adapted.model)
    status(f"{parties} data parties ({', '.join(str(len(p)) for p in task.parties)} records); "
           f"adapter of {adapted.spec.parameters:,} parameters; starting Flower's simulation "
           "runtime (Ray)")

    from crossbound.federation.client import make_client_app
    from crossbound.federation.server import ServerState, make_server_app

    state = ServerState()
    folder = out / TRANSCRIPTS
    server_app = make_server_app(config, parties, initial, adapted.spec, folder, state,
                                 on_round, hooks)
    client_app = make_client_app(config)
    wall, peak_mb = _simulate(config, server_app, client_app, parties, state, verbose)
    return finish(config, task, adapted, state, wall, peak_mb, out, hooks)


def model_party(config: FederationConfig, task: Task,
                status: Callable[[str], None]) -> tuple[Any, Any]:
    """The model party's adapter (LoRA on the SM, or OT+: on the emulator of its LM) and,
    for OT+, the hooks that send the emulator and score the plugged-in LM."""
    if config.emulator_of is None:
        from crossbound.federation.adapter import build_adapted

        status(f"model party: loading {config.small} with LoRA rank {config.lora_rank}")
        return build_adapted(config.small, config.lora_rank, config.lora_alpha,
                             config.seed), None
    from crossbound.federation.offsite_plus import ModelParty, OffsitePlusHooks

    status(f"model party: loading {config.emulator_of} and building its emulator")
    party = ModelParty.prepare(config)
    split = party.bundle.split
    status(f"emulator: blocks {list(split.bottom)} + {len(split.middle_kept)} of "
           f"{len(split.middle)} middle + {list(split.top)} of {split.total}; "
           f"{party.bundle.parameters:,} parameters, {party.bundle.nbytes / 1e6:.1f} MB in "
           f"{config.bundle_dtype} to each party")
    return party.adapted, OffsitePlusHooks(party, task)


def _simulate(config: FederationConfig, server_app: Any, client_app: Any, parties: int,
              state: Any, verbose: bool) -> tuple[float, float]:
    """Run both apps on Flower's simulation runtime; wall seconds and peak memory (MB)."""
    with _quiet(verbose), PeakMemory() as memory:
        from flwr.simulation import run_simulation

        started = time.perf_counter()
        try:
            run_simulation(server_app, client_app, num_supernodes=parties,
                           backend_config=_backend_config(config, verbose),
                           verbose_logging=verbose)
        except Exception:
            if state.error is None:  # not the ServerApp's own reason to stop (reported below)
                raise
        wall = time.perf_counter() - started
    return wall, memory.peak_mb


def _simulate_mutual(config: FederationConfig, task: Task, out: Path, verbose: bool,
                     on_round: OnRound | None, status: Callable[[str], None]) -> Result:
    from crossbound.federation.client import make_client_app
    from crossbound.federation.mutual_server import MutualState, make_mutual_server_app
    from crossbound.models.loading import load_model
    from crossbound.models.precision import resolve_precision, torch_dtype
    from crossbound.tasks.public_text import public_text

    status(f"model party: loading the LM {config.large}")
    # frozen weights in the federation's precision (LoRA trained on it stays fp32)
    lm = load_model(config.large, dtype=torch_dtype(resolve_precision(config.precision)))
    smalls = sorted({config.small_of(data_party(i)) for i in range(len(task.parties))})
    status(f"{len(task.parties)} data parties ({', '.join(str(len(p)) for p in task.parties)} "
           f"records; SM {', '.join(smalls)}); "
           f"{len(public_text(task, config.transfer_limit).examples)} public transfer texts; "
           "starting Flower's simulation runtime (Ray)")
    state = MutualState()
    server_app = make_mutual_server_app(config, task, lm, out / TRANSCRIPTS, state, on_round)
    wall, peak_mb = _simulate(config, server_app, make_client_app(config), len(task.parties),
                              state, verbose)
    return finish_mutual(config, task, state, wall, peak_mb, out)


def finish_mutual(config: FederationConfig, task: Task, state: Any, wall: float,
                  peak_mb: float, out: Path) -> Result:
    """``finish`` for ``fed-mutual-kt``: the LM's LoRA adapter is saved (PEFT format) and the
    result reports the LM's and every SM's utility per round."""
    _check_finished(config, state)
    from crossbound.federation.mutual_server import FEDERATION
    from crossbound.tasks.public_text import public_text
    from crossbound.upward.mutual_kt import all_positions_note

    public = public_text(task, config.transfer_limit)

    state.owner.model(FEDERATION).save_pretrained(str(out / LM_ADAPTER_FOLDER))
    result = _result(config, task, state, {"lm_adapter_peft": LM_ADAPTER_FOLDER}, wall,
                     peak_mb, out)
    rounds = result.metrics["federation"]["rounds"]
    facts = [r.get("knowledge") or {} for r in rounds]
    parties = sorted(result.metrics["federation"]["parties"])
    lm = [f.get("lm") for f in facts]
    result.models = {"large": config.large, "small": config.small,
                     **{f"small@{p}": spec for p, spec in sorted(config.party_small.items())}}
    result.metrics["utility"] = {
        "metric": task.metric,
        "initial": lm[0], "final": lm[-1],  # the LM's, as in the other upward strategies
        "lm_before": lm[0], "lm_after": lm[-1], "lm_per_round": lm,
        "sm_per_round": {p: [f.get("sm", {}).get(p) for f in facts] for p in parties},
        "sm_mean_per_round": [f.get("sm_mean") for f in facts],
        "eval_examples": rounds[-1]["eval_examples"],
    }
    efficiency = result.metrics["efficiency"]
    for key in ("adapter_parameters", "adapter_bytes"):
        efficiency.pop(key, None)
    efficiency["transfer_texts"] = len(public.examples)
    efficiency["model_party_seconds"] = [f.get("model_party_seconds") for f in facts]
    federation = result.metrics["federation"]
    federation["aggregation"] = f"knowledge: {config.combine}"
    federation["selected_rows"] = [f.get("chosen") for f in facts]
    result.metrics["privacy"]["sm_logprobs_sent"] = True
    result.notes = [
        "Round 0 is registration and the initial scores. utility.lm_per_round is the LM "
        "(round 0: as it is; then its LoRA copy after distilling the parties' knowledge), "
        "scored by the model party on the first eval_limit test records; sm_per_round is "
        "each party's own SM on the same records, scored by that party.",
        "Only public texts (as the LM's token ids) and top-k log-probs on them cross, and "
        "numbers; no private record or weight. The SMs' log-probs are shaped by their private "
        "training and carry no DP guarantee here (privacy.sm_logprobs_sent).",
        "Transcripts are kept by the model party's end of each boundary; each data party "
        "checks what it sends and receives against the same contract.",
    ]
    public.record(result)
    if note := all_positions_note(config.lm_targets, public.examples):
        result.notes.append(note)
    result.write(out)
    return result


def finish(config: FederationConfig, task: Task, adapted: Any, state: Any, wall: float,
           peak_mb: float, out: Path, hooks: Any = None) -> Result:
    """Check that every round ran, save the global adapter and write ``result.json``."""
    _check_finished(config, state)
    if state.final is None:
        raise RuntimeError("the federation ended without a global adapter")
    artifacts = _save_adapter(adapted, state.final, out)
    result = _result(config, task, state, artifacts, wall, peak_mb, out)
    if hooks is not None:
        from crossbound.federation.offsite_plus import finish_offsite

        finish_offsite(result, hooks.party, state, out)
    result.write(out)
    return result


def _check_finished(config: FederationConfig, state: Any) -> None:
    if state.error is not None:
        raise RuntimeError(f"the federation stopped after {max(len(state.rounds) - 1, 0)} of "
                           f"{config.rounds} rounds: {state.error}")
    if state.grid is None or len(state.rounds) != config.rounds + 1:
        raise RuntimeError(f"the federation stopped after {max(len(state.rounds) - 1, 0)} of "
                           f"{config.rounds} rounds (run with verbose=True / --verbose to see "
                           "Flower's log)")


# ---------------------------------------------------------------- checks


def _prepare_folder(out: Path, overwrite: bool) -> None:
    previous = [p for p in (out / "result.json", out / TRANSCRIPTS, out / ADAPTER_FILE,
                            out / PEFT_FOLDER, out / LM_ADAPTER_FOLDER, out / "rounds.jsonl",
                            out / "status.json", out / "deployment") if p.exists()]
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


def check_parties(config: FederationConfig, task: Task) -> None:
    parties = len(task.parties)
    empty = [i for i, records in enumerate(task.parties) if not records]
    if empty:
        raise ValueError(f"{config.task}: {data_party(empty[0])} gets no training records "
                         "under this split; use more records (n=...), fewer parties or a "
                         "larger Dirichlet alpha")
    for table, names in (("faults", config.faults), ("party_small", config.party_small)):
        for name in names:
            match = PARTY_NAME.match(name)
            if match is None or int(match.group(1)) >= parties:
                raise ValueError(f"{table}: {name} does not exist ({config.task} has "
                                 f"{parties} data parties: {data_party(0)} … "
                                 f"{data_party(parties - 1)})")
    if config.min_parties > parties:
        raise ValueError(f"min_parties = {config.min_parties} exceeds the {parties} data "
                         f"parties of {config.task}; lower it")
    if config.aggregation == "trimmed-mean" and \
            int(config.trim_fraction * config.min_parties) * 2 >= config.min_parties:
        raise ValueError(f"trim_fraction = {config.trim_fraction} would trim every one of "
                         f"{config.min_parties} updates (min_parties) in a round; lower it or "
                         "raise min_parties")


# ---------------------------------------------------------------- Flower and Ray


def _backend_config(config: FederationConfig, verbose: bool) -> dict[str, Any]:
    return {
        # Each data party trains on `threads` CPUs; `workers` of them at a time.
        "client_resources": {"num_cpus": config.threads, "num_gpus": 0.0},
        "init_args": {"num_cpus": config.workers * config.threads, "num_gpus": 0,
                      "include_dashboard": False, "log_to_driver": verbose,
                      "logging_level": "INFO" if verbose else "ERROR"},
    }


class _HideDeprecation(logging.Filter):
    """Flower 1.41 calls ``run_simulation`` deprecated in favour of ``flwr run`` (a CLI over
    a packaged app); the Python entry point still works and is what this module needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "DEPRECATED FEATURE" not in record.getMessage()


@contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Flower logs every round at INFO and client failures with tracebacks: hidden unless
    ``verbose`` (a failed party is reported in the result and the round's report)."""
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # see crossbound.federation
    from flwr.supercore import telemetry

    telemetry.FLWR_TELEMETRY_ENABLED = os.environ["FLWR_TELEMETRY_ENABLED"]
    logger = logging.getLogger("flwr")
    level, hide = logger.level, _HideDeprecation()
    logger.addFilter(hide)
    if not verbose:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.removeFilter(hide)


# ---------------------------------------------------------------- outputs


def _save_adapter(adapted: Any, final: dict[str, Any], out: Path) -> dict[str, str]:
    from safetensors.torch import save_file

    from crossbound.federation.adapter import load_adapter

    save_file({k: v.contiguous() for k, v in final.items()}, str(out / ADAPTER_FILE),
              metadata={"format": "pt", "source": "crossbound fed-adapter"})
    load_adapter(adapted.model, final, adapted.spec)
    adapted.model.save_pretrained(str(out / PEFT_FOLDER))
    return {"global_adapter": ADAPTER_FILE, "global_adapter_peft": PEFT_FOLDER}


def _result(config: FederationConfig, task: Task, state: Any, artifacts: dict[str, str],
            wall: float, peak_mb: float, out: Path) -> Result:
    from crossbound.boundary.transcript import verify_transcript
    from crossbound.runner import pii_crossed_summary

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
    first, last = per_round[0], per_round[-1]
    metrics: dict[str, dict[str, Any]] = {
        "utility": {
            "metric": task.metric,
            "initial": first, "final": last,
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
            "adapter_parameters": grid.spec.parameters,
            "adapter_bytes": grid.spec.nbytes,
        },
        "federation": {
            "aggregation": config.aggregation,
            "parties": {name: {"train_examples": link.train_examples,
                               "transcript": transcripts[name]["path"]}
                        for name, link in sorted(grid.links.items())},
            "rounds": rounds,
            "dropped": [d for r in rounds for d in r["dropped"]],
            "min_parties": config.min_parties,
            "secure_aggregation": _secure_summary(config),
            # Per round, the parties whose update was not aggregated, and why.
            "dropped_out": {str(r["round"]): r["dropped_out"] for r in rounds
                            if r["dropped_out"]},
            "contract": grid.contract.describe(),
        },
    }
    notes = [
        "Round 0 is registration and the initial adapter's score; utility is the global "
        "adapter's score on the first eval_limit test records, shared out among the data "
        "parties and weighted by their share.",
        "Transcripts are kept by the model party's end of each boundary; each data party "
        "checks its replies against the same contract before sending them.",
    ]
    from crossbound.federation.dp import dp_summary

    dp = dp_summary(config, rounds)  # ε over the rounds, who clipped, what was seen
    if dp is not None:
        metrics["privacy"].update(dp=dp, measured=["pii_crossed", "dp"])
        notes.append(f"DP ({config.dp}, unit: a whole data party): ε = {dp['epsilon']:.3g} "
                     f"at δ = {config.dp_delta:g} over {config.rounds} round(s); protects "
                     f"against {dp['protects_against']}.")
    if config.secure_aggregation:
        notes.append(
            "Secure aggregation (SecAgg+): the model party saw each party's update only "
            "masked (uniformly random mod 2**32 on its own) and learnt only the "
            f"{'unweighted (DP)' if config.dp != 'none' else 'weighted'} sum; it could not "
            "check single updates for finiteness or size. The transcripts hold "
            "what crossed: key material, masked updates and key shares, never a plain update.")
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
        notes=notes,
    )


def _secure_summary(config: FederationConfig) -> dict[str, Any] | None:
    if not config.secure_aggregation:
        return None
    return {
        "protocol": "SecAgg+ (Bell et al., arXiv:2009.08524), Flower's SecAggPlusWorkflow "
                    "and secaggplus_mod",
        "model_party_sees": "each party's masked, quantised update and the unmasked weighted "
                            "sum of the updates that arrived; never one party's update",
        "shares": config.secagg_shares, "threshold": config.secagg_threshold,
        "clipping_range": config.secagg_clipping_range,
        "quantization_bits": config.secagg_quantization_bits, "modulus": 2 ** 32,
        "not_checked": ["finiteness of single updates", "max_update_norm",
                        "each update's distance from the global adapter"],
    }


def _party_seconds(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for entry in rounds:
        for group, key in (("train", "train-seconds"), ("evaluate", "eval-seconds")):
            for party, numbers in entry[group].items():
                totals = out.setdefault(party, {"train": 0.0, "evaluate": 0.0})
                totals[group] = round(totals[group] + float(numbers[key]), 4)
    return dict(sorted(out.items()))
