"""Run one strategy end to end: load the task, wire the boundary, measure, write the result."""

from __future__ import annotations

import contextlib
import gc
import time
from pathlib import Path

from crossbound.boundary.channel import Boundary, Handler, Transport
from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.transcript import Transcript, key_path
from crossbound.catalog import get_strategy as _get_strategy
from crossbound.config_checks import Attacks
from crossbound.evaluate.leakage import small_model_leakage
from crossbound.evaluate.pii_crossed import pii_crossed_summary
from crossbound.models.loading import load_model, load_tokenizer
from crossbound.models.precision import precision_scope
from crossbound.result import PeakMemory, Result
from crossbound.strategy import (
    NullProgress,
    ProgressFactory,
    RunContext,
    SharedWork,
    StrategyConfig,
)
from crossbound.tasks.base import Task
from crossbound.tasks.registry import load_task

TRANSCRIPT_NAME = "transcript.jsonl"
MEASUREMENT_NAME = "measurement-transcript.jsonl"


def run_strategy(
    strategy: str,
    *,
    task: str | Task,
    large: str,
    small: str,
    out_dir: str | Path,
    config: StrategyConfig | dict[str, str] | None = None,
    overwrite: bool = False,
    keep_payloads: bool = True,
    progress: ProgressFactory | None = None,
    remote: Transport | None = None,
    model_party: Handler | None = None,
    shared: SharedWork | None = None,
) -> Result:
    """Run ``strategy`` and write ``out_dir/result.json`` and ``out_dir/transcript.jsonl``.

    ``config`` is the strategy's config object, or ``--set``-style string overrides.
    ``remote`` reaches a model party served elsewhere (``HttpTransport``); without it the
    model party runs in process. ``model_party`` replaces the in-process model party with
    another handler (e.g. :class:`~crossbound.parties.openai_compatible.OpenAICompatibleParty`).
    ``shared`` is the bench's shared work (the in-process model party, SM trainings); what the
    run reused is charged to its wall time and reported under ``efficiency``.
    """
    cls = _get_strategy(strategy)
    if config is None:
        cfg = cls.config_class()
    elif isinstance(config, dict):
        cfg = cls.config_class.from_overrides(config)
    else:
        cfg = config
    the_task = load_task(task) if isinstance(task, str) else task
    out = Path(out_dir)
    transcript_path = out / TRANSCRIPT_NAME
    measurement_path = out / MEASUREMENT_NAME
    previous = [p for p in (out / "result.json", transcript_path, measurement_path)
                if p.exists()]
    if previous and not overwrite:
        raise FileExistsError(
            f"{out} already holds a run ({', '.join(p.name for p in previous)}); "
            "choose another output folder or pass overwrite=True (--overwrite)"
        )
    for path in previous:
        path.unlink()
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with Transcript(transcript_path, keep_payloads=keep_payloads) as transcript, \
                Transcript(measurement_path, keep_payloads=keep_payloads) as measured:
            # The contract is the config's, fixed before anything crosses (contract_for).
            contract = cls.contract_for(cfg)
            boundary = Boundary(transcript, contract=contract, remote=remote)
            if model_party is not None:
                boundary.attach(model_party)
            # No contract on the measurement channel: it carries what the evaluation needs (raw
            # test prompts included), and the result says so, apart from the protocol's traffic.
            measurement = Boundary(measured)
            measurement.share_parties(boundary)
            ctx = RunContext(
                task=the_task, large=large, small=small, out_dir=out, boundary=boundary,
                progress=progress or (lambda label, total: NullProgress()),
                measurement=measurement, shared=shared,
            )
            if shared is not None:
                shared.begin_cell()
            with precision_scope(cfg.precision) as precision:
                with PeakMemory() as memory:
                    started = time.perf_counter()
                    result = cls(cfg).run(ctx)
                    wall = time.perf_counter() - started
                # a measurement, not the method's work: outside its wall time and memory
                attack_seconds = apply_attacks(ctx, cfg, result)
            gc.collect()  # the tuned SM the run offered is let go here (with its cycles)
            if boundary.contract is not contract:
                raise RuntimeError(f"{strategy} changed its boundary's contract during the run; "
                                   "a run's contract is fixed before it starts: say what a "
                                   "setting changes in its contract_for(config)")
            summary = transcript.summary()
            measured_summary = measured.summary()
        if measured_summary["entries"]:
            result.metrics["measurement_traffic"] = {
                "note": "evaluation requests to the model party outside the protocol (reference "
                        "utilities); not counted in bytes_crossed, exposure or pii_crossed",
                "transcript": MEASUREMENT_NAME, "entries": measured_summary["entries"],
                "bytes": measured_summary["bytes"], "lm_calls": measurement.lm_calls,
                "lm_tokens": measurement.lm_tokens}
        else:
            measurement_path.unlink(missing_ok=True)
        result.task = {
            "name": the_task.name,
            "params": the_task.params,
            "fingerprint": the_task.fingerprint(),
            "parties": [len(p) for p in the_task.parties],
        }
        efficiency = result.metrics.setdefault("efficiency", {})
        efficiency.update({
            "precision": precision,
            "wall_seconds": round(wall, 3),
            "peak_memory_mb": round(memory.peak_mb, 1),
            "bytes_crossed": {
                "total": summary["bytes"],
                "by_kind": summary["bytes_by_kind"],
                "by_direction": summary["bytes_by_direction"],
            },
        })
        if attack_seconds is not None:
            efficiency["attack_seconds"] = round(attack_seconds, 3)
        if shared is not None:
            _charge_reused(result, shared.reused())
        efficiency["lm_calls"] = boundary.lm_calls
        efficiency["lm_tokens"] = boundary.lm_tokens
        # What the data party learnt of the LM: its query budget, and what the strategy measured
        # (distillation fidelity, emulator gap) under the same key.
        exposure = result.metrics.setdefault("exposure", {})
        exposure.update({"lm_calls": boundary.lm_calls, "lm_tokens": boundary.lm_tokens,
                         "bytes_from_model_party": sum(
                             n for pair, n in summary["bytes_by_direction"].items()
                             if pair.startswith(f"{MODEL_PARTY}->"))})
        result.metrics.setdefault("utility", {})
        privacy = result.metrics.setdefault("privacy", {})
        tokenizer = None
        if "token_ids" in summary["bytes_by_kind"]:
            tokenizer = load_tokenizer(large)
        privacy["pii_crossed"] = pii_crossed_summary(transcript_path, the_task, tokenizer)
        # Which measurements this result carries, so a reader (and the bench) need not guess.
        privacy["measured"] = [name for name in ("pii_crossed", "membership", "canaries", "dp",
                                                 "inversion") if name in privacy]
        describe = getattr(model_party, "describe_run", None)
        if describe is not None:
            # A model party other than crossbound's own says how it served the run (an
            # OpenAI-compatible server: exact or approximate scoring, one prompt per request).
            describe(result.metrics, result.notes)
        result.transcript = {
            "path": TRANSCRIPT_NAME,
            "entries": summary["entries"],
            "bytes": summary["bytes"],
            "head": summary["head"],
            "contract": contract.name,  # what the transcript's messages were checked against
            # the head signed with the run's key, countersigned by a remote model party
            **transcript.final_checkpoint(remote),
        }
        result.write(out)
    except BaseException as exc:
        _after_failure(exc, out, (transcript_path, measurement_path), created)
        raise
    return result


def apply_attacks(ctx: RunContext, cfg: StrategyConfig, result: Result) -> float | None:
    """The measurement step after a run: where ``cfg`` asks (``attacks``, the ``Attacks``
    group), membership inference and canary exposure on the tuned SM the run offered
    (``ctx.offer_tuned_sm``), against the untuned SM as reference, into
    ``result.metrics["privacy"]``. The offered model is let go either way. Returns the
    attacks' seconds (None where none ran)."""
    target, ctx.attack_target = ctx.attack_target, None
    if not (isinstance(cfg, Attacks) and cfg.attacks):
        return None
    if target is None:
        result.notes.append("attacks=true, but the run offered no tuned model to attack")
        return None
    started = time.perf_counter()
    privacy = result.metrics.setdefault("privacy", {})
    with ctx.step("attacks on the tuned SM (membership, canaries)"):
        reference = load_model(ctx.small, frozen=True)  # the untuned SM: trained on none of it
        privacy.update(small_model_leakage(
            target.model, target.tokenizer, ctx.task, target.trained_on, [reference.model],
            limit=cfg.attack_limit, canary_candidates=cfg.canary_candidates, seed=cfg.seed,
            max_length=target.max_length, scope=target.scope))
    return time.perf_counter() - started


def _charge_reused(result: Result, reused: dict[str, float]) -> None:
    """Count the work this run took from the bench's memory as if it had run here: its
    seconds go into ``wall_seconds`` (the measured time stays as ``wall_seconds_measured``)."""
    charged = sum(reused.get(k, 0.0) for k in ("lm_seconds", "load_seconds",
                                                "sm_train_seconds", "result_seconds"))
    if not charged:
        return
    efficiency = result.metrics["efficiency"]
    measured = efficiency["wall_seconds"]
    efficiency.update({"wall_seconds": round(measured + charged, 3),
                       "wall_seconds_measured": measured, "reused_work": reused})
    result.notes.append(
        f"computed once per bench and reused here: {int(reused.get('items', 0))} LM answers, "
        f"the LM's load, {int(reused.get('sm_trainings', 0))} SM fine-tuning(s), "
        f"{int(reused.get('results', 0))} evaluation(s) of the untuned SM; their "
        f"{charged:.1f} s are counted in wall_seconds")


def _after_failure(exc: BaseException, out: Path, transcripts: tuple[Path, ...],
                   created: bool) -> None:
    """Tidy up after a run that raised, so the corrected rerun is not refused.

    A transcript nothing crossed into is no evidence of anything: it goes, with its key file
    (and ``out`` itself when this run created it and nothing else is left there). A transcript
    with crossings stays, as the record of what did cross; the error then says where it is and
    how to rerun over it (a note on the exception: ``--overwrite``).
    """
    kept = []
    for path in transcripts:
        if not path.exists():
            continue
        if path.stat().st_size:
            kept.append(path.name)
            continue
        path.unlink()
        key_path(path).unlink(missing_ok=True)
    if created and not kept:
        with contextlib.suppress(OSError):  # rmdir: only when empty, never anything else there
            out.rmdir()
    if kept:
        exc.add_note(f"the run failed after messages crossed: {', '.join(kept)} in {out} "
                     "stay(s) as the record of what crossed; to rerun, choose another output "
                     "folder or pass --overwrite (overwrite=True)")
