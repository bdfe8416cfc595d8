"""``logit-kd``: the model party's LM teaches the data party's SM through top-k log-probs.

The data party sends *public* transfer text as token ids (the LM's tokenizer: tokenizers are
public, weights are not); the model party returns top-k next-token log-probs, compressed
(:mod:`crossbound.boundary.logit_codec`). The SM trains on a mix of distillation on the
transfer text and cross-entropy on its own labelled private data, which never leaves it.

Token-level distillation after GKD (arXiv:2306.13649) / MiniLLM (arXiv:2306.08543); top-k
transport after FedMKT (arXiv:2406.02224, which sends top-128 fp32 values and int64 ids).
``mode="sequence"`` instead has the LM *generate* continuations of the transfer prompts and
distils on those sequences (sequence-level KD, Kim & Rush 2016, arXiv:1606.07947).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import torch

from crossbound.baselines.common import (
    QUICK_EVAL_LIMIT,
    QUICK_TRAINING,
    TopkTransport,
    answer_pairs,
    eval_subset,
    evaluate_on,
    evaluate_untuned,
    lm_generate,
    load_sm_to_tune,
    make_trainable,
    private_records,
    sm_utility,
    train_report,
)
from crossbound.boundary.contracts import AccessContract, allow
from crossbound.boundary.messages import Kind
from crossbound.boundary.operations import generate, topk_logprobs
from crossbound.config_checks import (
    Attacks,
    Records,
    SMFineTuning,
    check_at_least,
    check_in_range,
    check_limits,
    check_positive,
)
from crossbound.downward.registry import DOWNWARD
from crossbound.models.loading import load_tokenizer
from crossbound.naming import DATA_PARTY
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig, cells
from crossbound.tasks.corpora import corpus_names
from crossbound.tasks.public_text import PublicText, corpus_text, public_text
from crossbound.training.distill import (
    Divergence,
    KDSettings,
    TransferRow,
    distill_finetune,
    student_logits_at,
    transfer_batch,
)
from crossbound.training.topk_transfer import (
    VocabMap,
    align_rows,
    query_topk,
    same_tokenizer_rows,
    same_vocabulary,
)

LOGITS_DOWN = AccessContract(
    "logits-down",
    (
        # Transfer text is public; the guard still refuses any that repeats a private record.
        allow("data", Kind.TOKEN_IDS, Kind.TEXT, guards=("no-raw-private-text",)),
        allow("model", Kind.TOPK_LOGPROBS, Kind.TEXT, max_topk=1024),
    ),
    "The data party sends public transfer text (token ids, or prompts to continue); the "
    "model party returns top-k log-probs (k ≤ 1024) or generated text.",
    operations=(topk_logprobs(max_k=1024), *generate()),
)


@dataclass
class LogitKDConfig(TopkTransport, Attacks, SMFineTuning, Records, StrategyConfig):
    """Distil the LM into the SM on public transfer text, mixed with CE on private labels.

    ``transfer``: ``public`` (the task's public split, as prompts; a task without one uses
    the built-in fallback corpus, see ``tasks.public_text``) or a corpus name (``lee-news``,
    ``wiki-sample``, ``guardian-headlines``, sent as they are). ``top_k`` / ``value_bits``: what
    each transfer token costs on the wire (``value_bits=32``: plain float32 values).
    ``tail``: also teach the teacher's mass outside its top-k, as one "everything else"
    bucket (no extra bytes; see ``training.distill.kd_loss``).
    ``kd_weight``: w in w·KD + (1 − w)·CE. ``epochs``: passes over the private data (the
    transfer set cycles alongside).
    """

    epochs: float = 3.0
    attacks: bool = False
    transfer: str = "public"
    transfer_limit: int | None = 200  # transfer texts used (None: all)
    mode: Literal["token", "sequence"] = "token"
    divergence: Divergence = "forward_kl"
    jsd_beta: float = 0.5
    temperature: float = 1.0
    tail: bool = False
    kd_weight: float = 0.5
    transfer_batch_size: int = 8
    max_new_tokens: int = 32  # sequence mode: tokens the LM generates per transfer prompt
    fidelity_share: float = 0.1  # transfer texts held out to measure SM/LM agreement
    rows_per_request: int = 16
    save_model: bool = False

    def validate(self) -> None:
        super().validate()
        if self.transfer != "public" and self.transfer not in corpus_names():
            raise ValueError(f"transfer must be 'public' or one of {corpus_names()}, "
                             f"got {self.transfer!r}")
        check_in_range(self, "kd_weight", 0.0, 1.0)
        if not 0.0 < self.jsd_beta < 1.0:
            raise ValueError(f"jsd_beta must be in (0, 1), got {self.jsd_beta}")
        check_positive(self, "temperature")
        check_at_least(self, 1, "transfer_batch_size", "rows_per_request")
        check_in_range(self, "max_new_tokens", 1, 512)
        if not 0.0 <= self.fidelity_share < 1.0:
            raise ValueError(f"fidelity_share must be in [0, 1), got {self.fidelity_share}")
        check_limits(self, "transfer_limit")


@DOWNWARD.register
class LogitKD(Strategy[LogitKDConfig]):
    name = "logit-kd"
    direction = "downward"
    summary = "The LM's top-k log-probs on public text teach the SM (compressed transport)"
    paper = "arXiv:2306.13649 (GKD); arXiv:2406.02224 (FedMKT top-k transport)"
    needs_model_party = "an LM that returns top-k log-probs (or generates, sequence mode)"
    needs_data_party = "an SM, private labelled data, public transfer text"
    crosses = ("data→model: public transfer text (token ids or prompts); "
               "model→data: compressed top-k log-probs (or generated text)")
    contract = LOGITS_DOWN

    # Two points on the bytes/quality curve of the compressed transport
    # (benchmarks/logit_transport.py: ~56 and ~31 bytes per scored token).
    bench_cells = cells(
        # The LM scores 24 public texts once per bench (22 train, 2 held out for agreement;
        # every budget reuses them; 40 scored the same at 16 and 64 records); the SM trains
        # as local-finetune's quick cell does.
        quick=[("top16-8bit", {"top_k": "16", "value_bits": "8", "transfer_limit": "24",
                               "train_limit": "120", "eval_limit": QUICK_EVAL_LIMIT,
                               **QUICK_TRAINING})],
        full=[("top16-8bit", {"top_k": "16", "value_bits": "8"}),
              ("top8-8bit", {"top_k": "8", "value_bits": "8"})],
    )

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        private = private_records(task, cfg)
        texts, public = self._transfer_texts(ctx)
        guard = ctx.guard_private(private, public.guard_texts(task))
        ctx.connect_model_party()
        sm = load_sm_to_tune(ctx, cfg.trainable)
        teacher_tok = load_tokenizer(ctx.large)
        guard.decode = teacher_tok.decode
        if cfg.mode == "sequence":
            continued = lm_generate(ctx, texts, cfg.rows_per_request, cfg.max_new_tokens,
                                    label="LM continuing transfer prompts")
            # sequence mode: the SM learns the whole, prompt and continuation
            texts = [p + c for p, c in zip(texts, continued, strict=True)]
        n_fid = round(cfg.fidelity_share * len(texts)) if len(texts) > 1 else 0
        fidelity_texts, train_texts = texts[:n_fid], texts[n_fid:]
        same = same_vocabulary(teacher_tok, sm.tokenizer)
        started = time.perf_counter()
        rows, align, fid_rows, wire = self._targets(ctx, train_texts, fidelity_texts,
                                                    teacher_tok, sm.tokenizer, same)
        query_seconds = time.perf_counter() - started
        test = eval_subset(task, cfg.eval_limit)
        before = evaluate_untuned(ctx, sm.model, sm.tokenizer, test, cfg.batch_size)
        model = make_trainable(sm.model, cfg.trainable, cfg.lora_rank)
        pairs = answer_pairs(task, private)
        steps = max(1, math.ceil(cfg.epochs * len(pairs) / cfg.batch_size))
        settings = KDSettings(divergence=cfg.divergence, beta=cfg.jsd_beta,
                              temperature=cfg.temperature, kd_weight=cfg.kd_weight,
                              tail=cfg.tail)
        started = time.perf_counter()
        with ctx.step("SM distillation + fine-tuning", steps) as bar:
            stats = distill_finetune(model, sm.tokenizer, pairs, rows, settings, steps=steps,
                                     lr=cfg.rate_for(model), batch_size=cfg.batch_size,
                                     transfer_batch_size=cfg.transfer_batch_size,
                                     max_length=cfg.max_length, seed=cfg.seed,
                                     on_step=lambda _s, _l: bar.advance())
        train_seconds = time.perf_counter() - started
        after = evaluate_on(ctx, "SM after", model, sm.tokenizer, test, cfg.batch_size)
        result = self.new_result(ctx)
        result.metrics["utility"] = sm_utility(task, before, after, len(test))
        result.metrics["efficiency"].update({
            **train_report(stats, train_seconds),
            "teacher_query_seconds": round(query_seconds, 3),
            "transfer_texts": len(train_texts),
            "transfer_target_positions": sum(int(r.positions.shape[0]) for r in rows),
            # what one scored token cost on the wire: the top-k replies' bytes, headers
            # included, over the tokens the LM scored
            "topk_bytes_per_token": round(wire["reply_bytes"] / max(1, wire["tokens"]), 2),
        })
        result.metrics["exposure"] = {
            "tokenizers": "same" if same else "different",
            **({"alignment": align} if align else {}),
            **self._fidelity(model, fid_rows),
        }
        result.metrics["privacy"] = {"private_records_sent": 0,
                                     "transfer": "public" if public.corpus is None
                                     else f"corpus {public.corpus}"}
        public.record(result)
        ctx.offer_tuned_sm(model, sm.tokenizer, private, max_length=cfg.max_length)
        if cfg.save_model:
            ctx.save_small_model(result, model, sm.tokenizer)
        return result

    # ------------------------------------------------------------ pieces

    def _transfer_texts(self, ctx: RunContext) -> tuple[list[str], PublicText]:
        """The transfer texts and their source: public examples as task prompts, a chosen
        corpus as it is."""
        cfg = self.config
        if cfg.transfer == "public":
            public = public_text(ctx.task, cfg.transfer_limit)
            return [ctx.task.prompt(ex) for ex in public.examples], public
        public = corpus_text(cfg.transfer, cfg.transfer_limit)
        return public.texts, public

    def _targets(
        self, ctx: RunContext, train_texts: list[str], fidelity_texts: list[str],
        teacher_tok: Any, student_tok: Any, same: bool,
    ) -> tuple[list[TransferRow], dict[str, float], list[TransferRow], dict[str, int]]:
        """Teacher targets on the student's tokens for the training and the fidelity texts,
        alignment statistics, and what the replies cost on the wire."""
        cfg = self.config
        texts = [*train_texts, *fidelity_texts]
        encoded = teacher_tok(texts, add_special_tokens=False, return_offsets_mapping=not same,
                              truncation=True, max_length=cfg.max_length)
        keep = [i for i, ids in enumerate(encoded["input_ids"]) if len(ids) >= 2]
        wire: dict[str, int] = {}
        with ctx.step("LM scoring transfer text", len(keep)) as bar:
            replies = query_topk(ctx.boundary, DATA_PARTY,
                                 [encoded["input_ids"][i] for i in keep], k=cfg.top_k,
                                 value_bits=cfg.value_bits,
                                 rows_per_request=cfg.rows_per_request,
                                 on_request=bar.advance, wire=wire)
        align: dict[str, float] = {}
        if same:
            rows = same_tokenizer_rows(replies)
        else:
            rows, align = align_rows([texts[i] for i in keep], replies,
                                     [encoded["offset_mapping"][i] for i in keep], student_tok,
                                     VocabMap(teacher_tok, student_tok), cfg.max_length)
        n_train = sum(1 for i in keep if i < len(train_texts))
        return rows[:n_train], align, rows[n_train:], wire

    @staticmethod
    def _fidelity(model: Any, rows: list[TransferRow]) -> dict[str, float | int]:
        """Top-1 agreement with the LM on held-out transfer text, from the LM's own replies."""
        if not rows:
            return {}
        agree = total = 0
        with torch.no_grad():
            for start in range(0, len(rows), 8):
                chunk = rows[start : start + 8]
                inputs, keep, values, indices = transfer_batch(chunk, 0)
                logits = student_logits_at(model, inputs, keep)
                assert indices is not None
                teacher_top = indices.gather(-1, values.argmax(-1, keepdim=True))[:, 0]
                agree += int((logits.argmax(-1) == teacher_top).sum())
                total += int(keep.sum())
        return {"top1_agreement_with_lm": agree / total, "fidelity_positions": total}
