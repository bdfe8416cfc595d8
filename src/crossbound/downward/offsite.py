"""``offsite-tuning``: the data party tunes the LM's outer blocks on a lossy copy of the rest.

Offsite-Tuning (Xiao et al., arXiv:2302.04870). The model party splits its LM into an adapter
(the first ``adapter_bottom`` and last ``adapter_top`` blocks) and the middle, which it
compresses by uniform layer-drop into an *emulator* (optionally distilled to imitate the full
middle on public text). It sends adapter + emulator — with the embeddings, final norm and LM
head, which the data party needs to run text through it — as one ``tensors`` message. The data
party fine-tunes only the adapter on its private data (answer loss, as ``local-finetune``)
and returns only the adapter blocks. The model party checks them (names, shapes, dtypes,
finite values, relative change against what it sent) and plugs them into the full LM.

What it reports: utility of the untuned LM, of the emulator with the tuned adapter (what the
data party ends up holding), of the plug-in LM, and of full fine-tuning of the LM on the same
data and steps (the reference a data party holding the LM would pick); the emulator gap (the
owner's IP protection); the data party's training memory and time per step against full
fine-tuning; bytes each way.

Evaluation of the untuned and the plug-in LM runs at the model party, as a deployed model is
used: the data party's *test* prompts go over the measurement channel (its own transcript, not
counted as crossed) and label scores come back. Training records never cross (the
``no-raw-private-text`` guard checks every text sent against them); set
``evaluate_plugin=false`` to score neither (then the plug-in is not scored).
Full fine-tuning is a measurement reference only: the run loads the LM locally for it, which
no data party could do in deployment. It runs first, and its LM is freed before the model party
loads its own (an in-process run would otherwise hold two LMs, a plug-in and an emulator beside
the reference's optimiser state). Each finished phase is written to ``offsite/so-far.json``.
"""

from __future__ import annotations

import gc
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crossbound.baselines.common import (
    answer_pairs,
    eval_subset,
    evaluate_on,
    private_records,
    sm_finetune,
    train_report,
)
from crossbound.boundary.contracts import (
    MODEL_PARTY,
    AccessContract,
    GuardContext,
    allow,
    register_guard,
)
from crossbound.boundary.messages import Kind, Message
from crossbound.boundary.operations import LM, generate, score_choices
from crossbound.config_checks import (
    Records,
    SMFineTuning,
    check_at_least,
    check_in_range,
    check_positive,
)
from crossbound.defaults import SAME_TOKENIZER_SMALL
from crossbound.downward.offsite_data import (
    Received,
    export_adapter,
    receive_bundle,
    train_only_adapter,
)
from crossbound.downward.registry import DOWNWARD
from crossbound.evaluate.exposure import emulator_gap
from crossbound.evaluate.served import remote_metrics
from crossbound.evaluate.utility import headline
from crossbound.models.emulator import adapter_state
from crossbound.models.loading import load_model, load_tokenizer
from crossbound.naming import DATA_PARTY
from crossbound.parties.offsite import (
    ADAPTER_ARTIFACT,
    BUNDLE_ARTIFACT,
    OFFSITE_ADAPTER,
    OFFSITE_BUNDLE,
    PLUGIN_MODEL,
)
from crossbound.result import PeakMemory, Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig, cells
from crossbound.tasks.base import Task
from crossbound.tasks.corpora import corpus_names
from crossbound.tasks.public_text import public_text
from crossbound.training.causal_lm import TrainStats, answer_loss, build_batch
from crossbound.training.memory import TrainingMemory, training_memory

MiB = 1 << 20

# Block parameters of the decoder layouts decoder_layers() knows; nothing else (embeddings,
# head, norms, emulator-only names) may be returned as an adapter.
_BLOCK_PARAM = re.compile(
    r"^(model\.layers|model\.decoder\.layers|transformer\.h|gpt_neox\.layers)\.\d+\."
    r"[A-Za-z0-9_.]+$")


def adapter_blocks_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a returned adapter holds transformer-block weights only and, where the sender
    recorded the names it received (``extra["offsite_adapter_names"]``), exactly those."""
    names = set(message.payload)
    odd = sorted(n for n in names if not _BLOCK_PARAM.match(n))
    if odd:
        return f"tensors that are not transformer-block weights: {odd[:3]}"
    expected = context.extra.get("offsite_adapter_names")
    if expected is not None and names != set(expected):
        return "tensor names differ from the adapter blocks received"
    return None


register_guard("offsite-adapter-blocks", adapter_blocks_only)


def offsite_contract(max_bundle_bytes: int = 1 << 30,
                     max_adapter_bytes: int = 512 * MiB) -> AccessContract:
    """The crossings offsite-tuning needs, with the bundle and adapter size limits given."""
    return AccessContract(
        "offsite-tuning",
        (
            allow("model", Kind.TENSORS, max_bytes=max_bundle_bytes,
                  artifacts={BUNDLE_ARTIFACT}),
            allow("model", Kind.TENSORS, max_bytes=16 * MiB, guards=("label-scores-only",)),
            allow("model", Kind.METRICS, Kind.TEXT),
            allow("data", Kind.TENSORS, max_bytes=max_adapter_bytes,
                  artifacts={ADAPTER_ARTIFACT}, guards=("offsite-adapter-blocks",)),
            # Bundle requests (with public distillation texts) and evaluation prompts.
            allow("data", Kind.TEXT, guards=("no-raw-private-text",)),
        ),
        f"The model party sends adapter + emulator weights (≤ {max_bundle_bytes} bytes) and "
        "label scores; the data party returns adapter-block weights only "
        f"(≤ {max_adapter_bytes} bytes) and sends public or test text, never training records.",
        # The bundle's size (adapter ends, emulator layers) is bounded again by the model
        # party's own OffsitePolicy against its LM's depth: its decision, not the requester's.
        operations=(OFFSITE_BUNDLE, OFFSITE_ADAPTER, score_choices(LM, PLUGIN_MODEL),
                    *generate(LM, PLUGIN_MODEL)),
    )


OFFSITE = offsite_contract()


@dataclass
class OffsiteTuningConfig(SMFineTuning, Records, StrategyConfig):
    """Offsite-tuning of the LM's outer blocks on an emulator of its middle.

    ``emulator_layers``: middle blocks the emulator keeps, evenly spaced (None: half, the
    paper's 50 % layer-drop). ``distill_steps`` > 0 distils the emulator at the model party on
    ``distill_corpus`` (a corpus name, or ``public``: the task's public split, sent by the data
    party; a task without one sends the built-in fallback corpus, see ``tasks.public_text``).
    ``bundle_dtype``: the weights' dtype on the wire (the data party trains in float32).
    ``trainable``: the adapter blocks ``full`` or with ``lora`` adapters, trained as
    local-finetune trains the SM. ``max_relative_change``: the bound the data party asks the
    model party to apply to its returned adapter (the model party's own policy may be
    tighter). ``compare_full``: also fully fine-tune the LM on the same data and steps
    (reference), at ``full_lr`` (None: ``lr``, or the rate for the LM's size — LoRA's rates
    are far too high for every weight of the LM).
    """

    trainable: Literal["full", "lora"] = "full"
    adapter_bottom: int = 2
    adapter_top: int = 2
    emulator_layers: int | None = None
    distill_steps: int = 0
    distill_corpus: str = "wiki-sample"
    distill_limit: int = 2000
    distill_lr: float = 1e-4
    distill_batch_size: int = 4
    distill_max_length: int = 128
    distill_lm_weight: float = 1.0
    bundle_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    max_relative_change: float = 1.0
    compare_full: bool = True
    full_lr: float | None = None
    evaluate_plugin: bool = True
    prompts_per_request: int = 64

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 1, "adapter_bottom", "adapter_top")
        if self.emulator_layers is not None and self.emulator_layers < 0:
            raise ValueError("emulator_layers must be >= 0 or None (half the middle)")
        check_at_least(self, 0, "distill_steps")
        if self.distill_corpus != "public" and self.distill_corpus not in corpus_names():
            raise ValueError(f"distill_corpus must be 'public' or one of {corpus_names()}")
        check_at_least(self, 1, "distill_limit", "distill_batch_size")
        check_positive(self, "distill_lr")
        check_at_least(self, 8, "distill_max_length")
        check_at_least(self, 0, "distill_lm_weight")
        if self.full_lr is not None and not self.full_lr > 0:
            raise ValueError(f"full_lr must be > 0 (or unset: lr), got {self.full_lr}")
        check_positive(self, "max_relative_change")
        check_in_range(self, "prompts_per_request", 1, 4096)


@dataclass
class _Training:
    stats: TrainStats
    seconds: float
    memory: TrainingMemory
    rss_growth_mb: float

    def report(self) -> dict[str, Any]:
        return {"peak_training_memory_mb": round(self.memory.total / MiB, 2),
                "training_memory": self.memory.to_dict(),
                "rss_growth_mb": round(self.rss_growth_mb, 1),
                **train_report(self.stats, self.seconds)}


@DOWNWARD.register
class OffsiteTuning(Strategy[OffsiteTuningConfig]):
    name = "offsite-tuning"
    direction = "downward"
    summary = ("The data party tunes the LM's outer blocks on a layer-dropped emulator of the "
               "middle; the owner plugs them into the full LM")
    paper = "arXiv:2302.04870 (Offsite-Tuning)"
    needs_model_party = "an LM it will split into adapter and emulator, and plug adapters into"
    needs_data_party = "private labelled data (no model of its own)"
    crosses = ("model→data: adapter + emulator weights (with embeddings and head); "
               "data→model: tuned adapter blocks")
    contract = OFFSITE
    # The 1.5B's bundle (untied 233M-parameter embedding and head, plus the blocks) exceeds the
    # 1 GiB message limit even in bf16; the 0.5B's fits in bf16, and full fine-tuning of the
    # 0.5B — the reference — fits in memory.
    lm_on_default_pair = SAME_TOKENIZER_SMALL

    # Full profile only: building, training and plugging in an emulator and measuring the LM
    # before and after take minutes a cell even on the 0.5B. The 0.5B's bundle is 1.16 GB in
    # float32: bf16 on the wire.
    bench_cells = cells(full=[("adapter-full", {"bundle_dtype": "bfloat16"}),
                              ("adapter-full-distilled", {"bundle_dtype": "bfloat16",
                                                          "distill_steps": "200"})])

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        private = private_records(task, cfg)
        pairs = answer_pairs(task, private)
        test = eval_subset(task, cfg.eval_limit)
        # The data party sends public text only to distil on it (distill_corpus=public); only
        # then is it resolved, so the fallback corpus is not read for nothing.
        sent = (public_text(task, cfg.distill_limit)
                if cfg.distill_steps and cfg.distill_corpus == "public" else None)
        distill = [task.prompt(ex) for ex in sent.examples] if sent is not None else []
        guard = ctx.guard_private(private, [task.prompt(ex) for ex in task.public] + distill)
        tokenizer = load_tokenizer(ctx.large)
        metrics: dict[str, dict[str, float]] = {}
        folder = ctx.out_dir / "offsite"
        # The reference first, before the model party holds its LM, plug-in and emulator in
        # this process: a second full LM training beside them does not fit in memory.
        full = self._full_finetune(ctx, tokenizer, pairs, test, metrics) if cfg.compare_full \
            else None
        _save_so_far(folder, metrics, full)
        ctx.connect_model_party(batch_size=cfg.batch_size)

        sent_before = dict(ctx.boundary.bytes_by_direction)
        with ctx.step("model party building the emulator bundle"):
            received = receive_bundle(ctx.boundary.request(self._bundle_request(distill)))
        down, up = _direction_bytes(ctx, sent_before)
        guard.extra["offsite_adapter_names"] = sorted(
            adapter_state(received.model, received.adapter_positions))
        shipped = _shipped(received)
        if cfg.evaluate_plugin:
            metrics["lm_before"] = remote_metrics(ctx, DATA_PARTY, test, "lm",
                                                  cfg.prompts_per_request, "LM before (remote)")
        metrics["emulator_before"] = evaluate_on(ctx, "emulator before", received.model,
                                                 tokenizer, test, cfg.batch_size)
        _save_so_far(folder, metrics, full)

        model = train_only_adapter(received.model, received.adapter_positions, cfg.trainable,
                                   cfg.lora_rank)
        offsite = self._train(ctx, "adapter fine-tuning on the emulator", model, tokenizer,
                              pairs)
        metrics["emulator_after"] = evaluate_on(ctx, "emulator after", model, tokenizer, test,
                                                cfg.batch_size)
        _save_so_far(folder, metrics, full, offsite)
        adapter = export_adapter(model, received, folder)
        del model, received
        sent_before = dict(ctx.boundary.bytes_by_direction)
        acceptance = ctx.boundary.request(Message(
            Kind.TENSORS, DATA_PARTY, MODEL_PARTY, adapter,
            {"op": "offsite_adapter", "artifact": ADAPTER_ARTIFACT})).payload
        _, adapter_bytes = _direction_bytes(ctx, sent_before)
        if cfg.evaluate_plugin:
            metrics["plugin"] = remote_metrics(ctx, DATA_PARTY, test, PLUGIN_MODEL,
                                               cfg.prompts_per_request, "plug-in LM (remote)")

        result = self.new_result(ctx, small="emulator of " + ctx.large)
        result.metrics["utility"] = _utility(task, metrics, len(test))
        result.metrics["exposure"] = _exposure(task, metrics, acceptance, shipped, down,
                                               adapter_bytes)
        result.metrics["efficiency"].update(self._efficiency(offsite, full, down, up,
                                                             adapter_bytes))
        result.metrics["privacy"] = {
            "private_records_sent": 0,
            "sent": "adapter-block weights only (the untuned and plug-in LM are scored on the "
                    "test prompts over the measurement channel, not counted as crossed)"}
        result.artifacts["adapter"] = str(folder / "adapter.safetensors")
        if cfg.trainable == "lora":
            result.artifacts["lora_adapter"] = str(folder / "lora")
        result.notes.append("The data party's model is the emulator with the tuned adapter "
                            "(sm_before/sm_after); the plug-in LM stays with the model party "
                            "(lm_after).")
        if sent is not None:
            sent.record(result)
        return result

    # ------------------------------------------------------------ pieces

    def _bundle_request(self, distill: list[str]) -> Message:
        cfg = self.config
        meta: dict[str, Any] = {
            "op": "offsite_bundle", "adapter_bottom": cfg.adapter_bottom,
            "adapter_top": cfg.adapter_top, "emulator_layers": cfg.emulator_layers,
            "distill_steps": cfg.distill_steps, "dtype": cfg.bundle_dtype,
            "max_relative_change": cfg.max_relative_change}
        texts: list[str] = []
        if cfg.distill_steps:
            meta.update({"distill_lr": cfg.distill_lr, "distill_limit": cfg.distill_limit,
                         "distill_batch_size": cfg.distill_batch_size,
                         "distill_max_length": cfg.distill_max_length,
                         "distill_lm_weight": cfg.distill_lm_weight, "seed": cfg.seed})
            if cfg.distill_corpus == "public":
                texts = distill
            else:
                meta["distill_corpus"] = cfg.distill_corpus
        return Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, texts, meta)

    def _train(self, ctx: RunContext, label: str, model: Any, tokenizer: Any,
               pairs: list[tuple[str, str]], lr: float | None = None) -> _Training:
        cfg = self.config
        # The longest records make the largest batch: activations are counted on it.
        longest = sorted(pairs, key=lambda p: len(p[0]) + len(p[1]))[-cfg.batch_size:]
        memory = training_memory(model, build_batch(tokenizer, longest, cfg.max_length),
                                 answer_loss)
        started = time.perf_counter()
        with PeakMemory() as rss:
            baseline = rss.peak_mb
            stats = sm_finetune(ctx, label, model, tokenizer, pairs, cfg, epochs=cfg.epochs,
                                seed=cfg.seed, lr=lr)
        return _Training(stats, time.perf_counter() - started, memory, rss.peak_mb - baseline)

    def _full_finetune(self, ctx: RunContext, tokenizer: Any, pairs: list[tuple[str, str]],
                       test: Any, metrics: dict[str, dict[str, float]]) -> _Training:
        """The reference: every weight of the LM fine-tuned on the same data and steps."""
        cfg = self.config
        with ctx.step(f"loading {ctx.large} for the full fine-tuning reference"):
            lm = load_model(ctx.large)
        for param in lm.model.parameters():
            param.requires_grad_(True)
        training = self._train(ctx, "full fine-tuning of the LM (reference)", lm.model,
                               tokenizer, pairs, cfg.full_lr or cfg.rate_for(lm.model))
        metrics["full_finetune"] = evaluate_on(ctx, "full fine-tuning", lm.model, tokenizer,
                                               test, cfg.batch_size)
        del lm
        gc.collect()  # the fully tuned LM and its optimiser state go before the bundle comes
        return training

    @staticmethod
    def _efficiency(offsite: _Training, full: _Training | None, down: int, up: int,
                    adapter_bytes: int) -> dict[str, Any]:
        data = offsite.report()
        out: dict[str, Any] = {**{k: v for k, v in data.items() if k != "training_memory"},
                               "data_party": data,
                               "bytes_model_to_data_bundle": down,
                               "bytes_data_to_model_adapter": adapter_bytes,
                               "bytes_data_to_model_bundle_request": up,
                               "memory_measure": "weights + gradients + AdamW state + "
                                                 "activations saved for backward on the "
                                                 "largest batch (training.memory)"}
        if full is not None:
            ref = full.report()
            out["full_finetune"] = ref
            out["memory_reduction_vs_full_ft"] = round(
                full.memory.total / max(1, offsite.memory.total), 3)
            out["speedup_per_step_vs_full_ft"] = round(
                ref["seconds_per_step"] / max(1e-9, data["seconds_per_step"]), 3)
        return out


# ---------------------------------------------------------------- result sections


def _direction_bytes(ctx: RunContext, before: dict[str, int]) -> tuple[int, int]:
    """Bytes (model → data, data → model) that crossed since ``before`` was taken."""
    now = ctx.boundary.bytes_by_direction
    down = f"{MODEL_PARTY}->{DATA_PARTY}"
    up = f"{DATA_PARTY}->{MODEL_PARTY}"
    return now[down] - before.get(down, 0), now[up] - before.get(up, 0)


def _save_so_far(folder: Path, metrics: dict[str, dict[str, float]],
                 full: _Training | None, offsite: _Training | None = None) -> None:
    """Write what is measured so far to ``folder/so-far.json``: a run stopped before its end
    (hours on a CPU) keeps its finished phases."""
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"metrics": metrics}
    if full is not None:
        data["full_finetune_training"] = full.report()
    if offsite is not None:
        data["adapter_training"] = offsite.report()
    (folder / "so-far.json").write_text(json.dumps(data, indent=2, default=str) + "\n")


def _shipped(received: Received) -> dict[str, Any]:
    """What of the LM the data party now holds (from the bundle it received)."""
    params = received.meta.get("parameters") or {}
    split = received.meta.get("split") or {}
    bundle, lm = int(params.get("bundle", 0)), int(params.get("lm", 0))
    return {
        "lm_parameters": lm,
        "parameters_shipped": bundle,
        "share_of_lm_parameters_shipped": round(bundle / lm, 4) if lm else None,
        "adapter_parameters": int(params.get("adapter", 0)),
        "lm_blocks": split.get("lm_layers"),
        "adapter_lm_blocks": [*split.get("bottom", []), *split.get("top", [])],
        "emulator_lm_blocks": split.get("middle_kept"),
        "embeddings_and_head_shipped": True,
        "bundle_dtype": received.meta.get("dtype"),
        "emulator_distillation": received.meta.get("distill"),
    }


def _utility(task: Task, metrics: dict[str, dict[str, float]], examples: int) -> dict[str, Any]:
    head = {name: headline(m, task) for name, m in metrics.items()}
    out: dict[str, Any] = {"sm_before": head["emulator_before"],
                           "sm_after": head["emulator_after"]}
    if "plugin" in metrics:
        # What the strategy delivers is the plug-in LM: it is the headline (``final``).
        out.update({"lm_before": head["lm_before"], "lm_after": head["plugin"],
                    "final": head["plugin"], **metrics["plugin"]})
    if "full_finetune" in head:
        out["lm_full_finetune"] = head["full_finetune"]
        if "plugin" in head:
            gain = head["full_finetune"] - head["lm_before"]
            out["plugin_share_of_full_ft_gain"] = (
                round((head["plugin"] - head["lm_before"]) / gain, 4) if gain else None)
    # every model's full metrics: untuned LM, emulator before/after, plug-in, full FT
    out["by_model"] = metrics
    out["eval_examples"] = examples
    return out


def _exposure(task: Task, metrics: dict[str, dict[str, float]], acceptance: dict[str, Any],
              shipped: dict[str, Any], bundle_bytes: int, adapter_bytes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"bundle_bytes": bundle_bytes, "adapter_bytes": adapter_bytes,
                           "adapter_acceptance": acceptance, **shipped}
    if "plugin" in metrics:
        # What the data party can do with what it holds, against what only the owner can:
        # the larger the gap, the less the emulator is worth without the owner.
        out["emulator_gap"] = emulator_gap(metrics["plugin"], metrics["emulator_after"],
                                           task.metric)
        out["ip_protection"] = ("emulator_gap.gap: the plug-in LM's utility minus the "
                                "emulator's with the same tuned adapter (the owner's IP "
                                "protection: what the data party cannot get without the owner)")
    return out
