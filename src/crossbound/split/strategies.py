"""``split-finetune`` and ``split-inference``: the LM cut after block ``K``, run by both parties.

SplitLoRA (Lin et al., arXiv:2407.00952). The model party ships the LM's bottom — embeddings
and blocks ``0 .. K-1``, and in U-shape the final norm and head — and keeps blocks
``K .. N-1`` with a LoRA of this data party's own. The data party runs its private text through
the bottom and sends the hidden states at the cut (each token's vector clipped to ``C`` and
noised with ``N(0, σ²C²)`` if asked); the model party runs the top and returns its last hidden
state (U-shape: the data party applies norm, head and loss, and sends back the loss's gradient
on that state) or, with the head at the model party, takes the target tokens too and returns
the loss (and the cut's gradient, for a data-party LoRA). ``split-finetune`` trains that way
and scores the test set through the tuned split; ``split-inference`` only scores it. No text
crosses; hidden states, and in the head-at-model shape the labels, do: what those reveal is
measured by inverting the crossed hidden states as the model party would, and bounded by the
noise's accounting where one holds (``privacy.activation_noise``, ``privacy.dp``).
"""

from __future__ import annotations

import gc
import random
import time
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from crossbound.baselines.common import answer_pairs, eval_subset, private_records
from crossbound.boundary.contracts import MODEL_PARTY, AccessContract
from crossbound.boundary.messages import Kind, Message
from crossbound.config_checks import Records
from crossbound.evaluate.utility import headline
from crossbound.models.loading import load_model, load_tokenizer
from crossbound.naming import DATA_PARTY
from crossbound.result import Result
from crossbound.split.data_party import (
    Bottom,
    Crossed,
    SplitClient,
    receive_bottom,
    rows_from_labels,
)
from crossbound.split.measures import (
    TRAIN_KEY,
    Wire,
    data_party_memory,
    dp_section,
    invert_crossed,
    noise_accounting,
    split_label_metrics,
)
from crossbound.split.registry import SPLIT
from crossbound.split.settings import (
    U_SHAPE,
    SplitMeasures,
    SplitSettings,
    SplitTraining,
    contract_of,
)
from crossbound.strategy import RunContext, Strategy, StrategyConfig, cells
from crossbound.tasks.public_text import public_text
from crossbound.training.causal_lm import answer_loss, build_batch
from crossbound.training.loop import Shuffled
from crossbound.training.memory import training_memory

MiB = 1 << 20
PAPER = "arXiv:2407.00952 (SplitLoRA)"


@dataclass
class SplitInferenceConfig(SplitMeasures, SplitSettings, Records, StrategyConfig):
    """Split inference (arXiv:2407.00952): the test set scored through the split LM, the
    bottom at the data party. Settings: :class:`~crossbound.split.settings.SplitSettings`
    (cut, shape, dtypes, noise) and :class:`~crossbound.split.settings.SplitMeasures`."""


@dataclass
class SplitFinetuneConfig(SplitTraining, SplitInferenceConfig):
    """Split learning (SplitLoRA, arXiv:2407.00952): the model party's LoRA on blocks
    ``cut .. N-1`` trained on the data party's records through the split, then the test set
    scored through it. Settings: :class:`~crossbound.split.settings.SplitTraining` (epochs,
    lr, the data party's own LoRA), ``SplitSettings``, ``SplitMeasures``."""


SC = TypeVar("SC", bound=SplitInferenceConfig)


class _Split(Strategy[SC]):
    """What both strategies do: open the session, score through it, measure."""

    training: ClassVar[bool] = False

    def _bundle_meta(self, lr: float) -> dict[str, Any]:
        cfg = self.config
        meta: dict[str, Any] = {
            "op": "split_bundle", "cut": cfg.cut, "u_shape": cfg.u_shape,
            "dtype": cfg.bundle_dtype, "wire_dtype": cfg.wire_dtype,
            "lora_rank": cfg.lora_rank, "lora_alpha": cfg.lora_alpha, "lr": lr,
            "seed": cfg.seed, "noise_sigma": cfg.noise_sigma}
        if cfg.clip_norm is not None:
            meta["clip_norm"] = cfg.clip_norm
        elif cfg.noise_sigma > 0:
            meta["clip_quantile"] = cfg.auto_clip_quantile
        if self.training and cfg.u_shape:  # only U-shape training sends gradients
            if cfg.grad_clip_norm is not None:
                meta["grad_clip_norm"] = cfg.grad_clip_norm
            elif cfg.noise_sigma > 0:
                meta["grad_clip_quantile"] = cfg.auto_clip_quantile
        return meta

    def _open(self, ctx: RunContext, lr: float, crossed: Crossed) -> tuple[SplitClient,
                                                                            dict[str, Any]]:
        cfg = self.config
        ctx.connect_model_party(batch_size=cfg.batch_size)
        before = Wire.mark(ctx.boundary, DATA_PARTY)
        with ctx.step("model party shipping the LM's bottom blocks"):
            reply = ctx.boundary.request(Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, [],
                                                 self._bundle_meta(lr)))
        bottom = receive_bottom(reply)
        wire = Wire.mark(ctx.boundary, DATA_PARTY).since(before)
        client = SplitClient(ctx.boundary, DATA_PARTY, bottom, sigma=cfg.noise_sigma,
                             seed=cfg.seed, crossed=crossed)
        return client, _exposure(bottom, wire)

    def _evaluate(self, ctx: RunContext, client: SplitClient, tokenizer: Any, test: Any,
                  label: str) -> tuple[dict[str, float], dict[str, Any]]:
        cfg = self.config
        before = Wire.mark(ctx.boundary, DATA_PARTY)
        sent = sum(client.vectors.values())
        metrics = split_label_metrics(ctx, client, tokenizer, ctx.task, test, cfg.batch_size,
                                      cfg.max_length, label)
        wire = Wire.mark(ctx.boundary, DATA_PARTY).since(before)
        return metrics, wire.report(sum(client.vectors.values()) - sent)

    def _privacy(self, ctx: RunContext, client: SplitClient, tokenizer: Any,
                 no_record_bound: str | None) -> dict[str, Any]:
        cfg = self.config
        bottom = client.bottom
        accounting = noise_accounting(cfg.noise_sigma, client.clip, client.grad_clip,
                                      client.vectors, cfg.delta, no_record_bound)
        out: dict[str, Any] = {
            "private_records_sent": 0,
            "sent": "hidden states at the cut (no text)" + (
                "; the loss's gradient on the top's output" if self.training and cfg.u_shape
                else "") + ("; target tokens (labels) of every scored position"
                            if not cfg.u_shape else ""),
            "labels_cross": not cfg.u_shape,
            "activation_noise": accounting,
        }
        dp = dp_section(accounting, no_record_bound)
        if dp is not None:
            out["dp"] = dp
        if cfg.attack:
            # A measurement inside the run (its seconds are in wall_seconds, and reported
            # here apart): the crossed hidden states exist only in this run's memory.
            started = time.perf_counter()
            with ctx.step("inverting the crossed hidden states (the model party's attack)"):
                public = public_text(ctx.task, cfg.attack_public_limit)
                out["inversion"] = invert_crossed(
                    bottom, tokenizer, client.crossed, public.texts, clip=client.clip,
                    sigma=cfg.noise_sigma, seed=cfg.seed, steps=cfg.attack_steps,
                    max_length=cfg.max_length)
                out["inversion"]["public_source"] = public.source
                out["inversion"]["seconds"] = round(time.perf_counter() - started, 3)
        return out


def _exposure(bottom: Bottom, wire: Wire) -> dict[str, Any]:
    params = bottom.meta.get("parameters") or {}
    shipped, lm = int(params.get("shipped", 0)), int(params.get("lm", 0))
    return {"lm_parameters": lm, "parameters_shipped": shipped,
            "share_of_lm_parameters_shipped": round(shipped / lm, 4) if lm else None,
            "bundle_bytes": wire.from_model, "cut": bottom.cut,
            "lm_blocks": bottom.meta.get("lm_layers"),
            "lm_blocks_shipped": list(range(bottom.cut)),
            "head_shipped": bottom.u_shape, "bundle_dtype": bottom.meta.get("dtype"),
            "model_party_lora_parameters": int(params.get("model_party_lora", 0))}


@SPLIT.register
class SplitInference(_Split[SplitInferenceConfig]):
    name = "split-inference"
    direction = "inference"
    summary = ("The test set is scored through the LM cut in two: the data party runs the "
               "bottom blocks on its text and sends hidden states, the model party the rest")
    paper = PAPER
    needs_model_party = "an LM it will cut, shipping the bottom blocks"
    needs_data_party = "labelled test queries (no model of its own)"
    crosses = ("model→data: the LM's bottom blocks (once), the top's outputs or label "
               "log-probs; data→model: hidden states at the cut (clipped and noised if asked)")
    contract = U_SHAPE
    # Hidden states of private text cross: inversion recovers tokens from them (measured).
    private_text_crosses = True
    prefers_lm_tokenizer = True
    # bf16 bundle: the 0.5B's untied embedding and head exceed the 1 GiB limit in float32.
    bench_cells = cells(full=[("cut2-sigma0", {"cut": "2", "bundle_dtype": "bfloat16"})])

    @classmethod
    def contract_for(cls, config: SplitInferenceConfig) -> AccessContract:
        return contract_of(config.u_shape)

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        test = eval_subset(ctx.task, cfg.eval_limit)
        tokenizer = load_tokenizer(ctx.large)
        client, exposure = self._open(ctx, 1e-4, Crossed(cfg.attack_tokens))
        metrics, wire = self._evaluate(ctx, client, tokenizer, test,
                                       "scoring the test set through the split")
        result = self.new_result(ctx, small=f"bottom {cfg.cut} blocks of {ctx.large}")
        result.metrics["utility"] = {"final": headline(metrics, ctx.task), **metrics,
                                     "eval_examples": len(test)}
        result.metrics["exposure"] = exposure
        result.metrics["efficiency"] = {"wire": {"evaluation": wire},
                                        "bytes_per_token_to_model":
                                            wire["bytes_per_token_to_model"],
                                        "bytes_per_token_from_model":
                                            wire["bytes_per_token_from_model"],
                                        "round_trips": wire["round_trips"]}
        result.metrics["privacy"] = self._privacy(ctx, client, tokenizer, None)
        return result


@SPLIT.register
class SplitFinetune(_Split[SplitFinetuneConfig]):
    name = "split-finetune"
    direction = "inference"
    summary = ("Split learning: the model party's LoRA on the LM's top blocks trains on the "
               "data party's hidden states and returned gradients; the labels can stay home")
    paper = PAPER
    needs_model_party = "an LM it will cut, and train a LoRA per data party on its top blocks"
    needs_data_party = "private labelled data (no model of its own)"
    crosses = ("model→data: the LM's bottom blocks (once), the top's outputs (U-shape) or "
               "losses and gradients; data→model: hidden states at the cut, and the loss's "
               "gradient (U-shape) or the target tokens")
    contract = U_SHAPE
    private_text_crosses = True
    prefers_lm_tokenizer = True
    training = True
    # Full profile only: a split step is a round trip per batch, and the 0.5B's pass over the
    # records and two scorings of the test set take minutes even at cut 2.
    bench_cells = cells(full=[("cut2-sigma0", {"cut": "2", "evaluate_before": "false",
                                               "bundle_dtype": "bfloat16"})])

    @classmethod
    def contract_for(cls, config: SplitFinetuneConfig) -> AccessContract:
        return contract_of(config.u_shape)

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        private = private_records(ctx.task, cfg)
        pairs = answer_pairs(ctx.task, private)
        test = eval_subset(ctx.task, cfg.eval_limit)
        tokenizer = load_tokenizer(ctx.large)
        longest = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        biggest = [pairs[i] for i in longest[-cfg.batch_size:]]
        full = self._full_memory(ctx, tokenizer, biggest) if cfg.compare_full_memory else None
        training_sample = Crossed(cfg.attack_tokens)
        client, exposure = self._open(ctx, cfg.lr, Crossed(0))
        if cfg.data_lora:
            client.train_own_blocks(cfg.data_lora_rank, cfg.lr, cfg.seed)
        utility: dict[str, Any] = {}
        wires: dict[str, Any] = {}
        if cfg.evaluate_before:
            before, wires["evaluation_before"] = self._evaluate(
                ctx, client, tokenizer, test, "split LM before training")
            utility["lm_before"] = headline(before, ctx.task)
            utility["before"] = before
        client.crossed = training_sample  # the attack inverts what training sent
        training = self._train(ctx, client, tokenizer, pairs, [ex.id for ex in private])
        wires["training"] = training.pop("wire")
        client.crossed = Crossed(0)
        after, wires["evaluation"] = self._evaluate(ctx, client, tokenizer, test,
                                                    "split LM after training")
        client.crossed = training_sample
        utility.update({"final": headline(after, ctx.task), "lm_after": headline(after,
                                                                                 ctx.task),
                        **after, "eval_examples": len(test)})
        batch = rows_from_labels(build_batch(tokenizer, biggest, cfg.max_length),
                                 ["memory"] * len(biggest))
        memory = data_party_memory(client.bottom, batch)
        result = self.new_result(ctx, small=f"bottom {cfg.cut} blocks of {ctx.large}")
        result.metrics["utility"] = utility
        result.metrics["exposure"] = exposure
        result.metrics["efficiency"] = _efficiency(training, memory, full, wires)
        result.metrics["privacy"] = self._privacy(ctx, client, tokenizer,
                                                  self._no_record_bound())
        return result

    def _no_record_bound(self) -> str | None:
        cfg = self.config
        if not cfg.u_shape:
            return "the target tokens (labels) of every training record cross in the clear"
        if cfg.data_lora:
            return ("the data party trains its own blocks, so every later vector depends on "
                    "every earlier record")
        return None

    def _train(self, ctx: RunContext, client: SplitClient, tokenizer: Any,
               pairs: list[tuple[str, str]], ids: list[str]) -> dict[str, Any]:
        """The split learning loop. Not :func:`~crossbound.training.loop.run_loop`: the loss
        is not computed where the trained weights are (the model party's LoRA steps inside its
        replies), so the loop only draws batches, sends them and keeps the losses."""
        cfg = self.config
        steps = max(1, round(cfg.epochs * -(-len(pairs) // cfg.batch_size)))
        sampler = Shuffled(len(pairs), cfg.batch_size, random.Random(cfg.seed), fill=False)
        before = Wire.mark(ctx.boundary, DATA_PARTY)
        tokens = 0
        losses: list[float] = []
        started = time.perf_counter()
        with ctx.step("split learning (the model party's LoRA)", steps) as bar:
            for _ in range(steps):
                chosen = sampler.draw()
                rows = rows_from_labels(
                    build_batch(tokenizer, [pairs[i] for i in chosen], cfg.max_length),
                    [TRAIN_KEY + ids[i] for i in chosen])
                losses.append(client.train_step(rows))
                tokens += int(rows.mask.sum())
                bar.advance()
        seconds = time.perf_counter() - started
        wire = Wire.mark(ctx.boundary, DATA_PARTY).since(before)
        last = max(1, -(-len(pairs) // cfg.batch_size))
        return {"train_steps": steps, "train_tokens": tokens, "train_seconds": round(seconds, 3),
                "seconds_per_step": round(seconds / steps, 4),
                "train_loss_first": round(losses[0], 4),
                "train_loss_last": round(sum(losses[-last:]) / len(losses[-last:]), 4),
                "wire": wire.report(tokens)}

    def _full_memory(self, ctx: RunContext, tokenizer: Any,
                     biggest: list[tuple[str, str]]) -> Any:
        """The reference: fully fine-tuning the LM at the data party (counted, not run), on
        the same largest batch. It runs before the model party loads its LM."""
        with ctx.step(f"loading {ctx.large} to count full fine-tuning's memory (reference)"):
            lm = load_model(ctx.large)
        for param in lm.model.parameters():
            param.requires_grad_(True)
        batch = build_batch(tokenizer, biggest, self.config.max_length)
        memory = training_memory(lm.model, batch, answer_loss)
        del lm
        gc.collect()
        return memory


def _efficiency(training: dict[str, Any], memory: Any, full: Any,
                wires: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        **training, "wire": wires,
        "bytes_per_token_to_model": wires["training"]["bytes_per_token_to_model"],
        "bytes_per_token_from_model": wires["training"]["bytes_per_token_from_model"],
        "round_trips_per_step": round(wires["training"]["round_trips"]
                                      / max(1, training["train_steps"]), 3),
        "data_party": {"peak_training_memory_mb": round(memory.total / MiB, 2),
                       "training_memory": memory.to_dict()},
        "memory_measure": "weights + gradients + AdamW state + activations saved for "
                          "backward on the largest batch (training.memory)"}
    if full is not None:
        out["full_finetune_memory"] = full.to_dict()
        out["memory_reduction_vs_full_ft"] = round(full.total / max(1, memory.total), 3)
    return out
