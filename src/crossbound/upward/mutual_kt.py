"""``mutual-kt``: the SM and the LM teach each other through top-k log-probs on public text.

For ``rounds`` rounds: the data party's SM trains on its private records (cross-entropy)
while distilling the LM's top-k on the public set; then it scores the public set and sends its
own top-k (moved onto the LM's tokens when the tokenizers differ, compressed) to the model
party, whose LoRA copy of the LM distils them (``lm_distill``); the tuned LM scores the public
set again and its top-k is what the SM learns from in the next round. Private records never
leave; what crosses is public text, and log-probs on it.

After FedMKT (arXiv:2406.02224) and FedCoLLM (arXiv:2411.11707). Both models' utility and
the bytes each way are reported per round; a control SM trained with the same private
cross-entropy steps but no LM knowledge shows what the LM added to the SM.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from crossbound.baselines.common import (
    GUARD,
    TopkTransport,
    answer_pairs,
    eval_subset,
    evaluate_on,
    evaluate_untuned,
    load_sm_to_tune,
    make_trainable,
    private_records,
)
from crossbound.boundary.contracts import MODEL_PARTY, AccessContract, allow
from crossbound.boundary.messages import Kind, Message
from crossbound.boundary.operations import LM, score_choices, topk_logprobs
from crossbound.config_checks import (
    LMTraining,
    Records,
    UpwardSMTraining,
    check_at_least,
    check_in_range,
    check_limits,
    check_positive,
)
from crossbound.evaluate.served import remote_metrics
from crossbound.evaluate.utility import headline
from crossbound.models.loading import load_tokenizer
from crossbound.naming import DATA_PARTY
from crossbound.parties.upward import LM_DISTILL, UPWARD_MODEL
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig, cells
from crossbound.tasks.base import Example, Task
from crossbound.tasks.public_text import public_text
from crossbound.training.distill import KDSettings, TransferRow, distill_finetune
from crossbound.training.topk_transfer import (
    TopkReply,
    VocabMap,
    align_rows,
    local_topk,
    query_topk,
    same_tokenizer_rows,
    same_vocabulary,
    transfer_payload,
)
from crossbound.upward.registry import UPWARD

FLOOR = -1e4  # log-prob given to an empty top-k slot (a teacher token with no student token)

MUTUAL_LOGITS = AccessContract(
    "mutual-logits",
    (
        # Public text only (token ids, alone or with the SM's top-k on them); the guard still
        # refuses any that repeats a private record.
        allow("data", Kind.TOKEN_IDS, Kind.TENSORS, guards=(GUARD,)),
        allow("model", Kind.TOPK_LOGPROBS, Kind.METRICS, max_topk=1024),
        # Measurement: test prompts (never training records) and the label scores they get.
        allow("data", Kind.TEXT, guards=(GUARD,)),
        allow("model", Kind.TENSORS, guards=("label-scores-only",)),
    ),
    "The data party sends public transfer text, and its SM's top-k log-probs on it, and, to "
    "measure, test prompts; the model party returns its LM's top-k log-probs on the public "
    "text, training metrics and label scores.",
    # Its own tuned copy of the LM answers it too (meta.model); nothing else of the LM's.
    operations=(topk_logprobs(LM, UPWARD_MODEL, max_k=1024), LM_DISTILL,
                score_choices(LM, UPWARD_MODEL)),
)


@dataclass
class MutualKTConfig(TopkTransport, LMTraining, UpwardSMTraining, Records, StrategyConfig):
    """``rounds`` of two-way distillation on the task's public split (``transfer_limit`` texts,
    each the task prompt plus its public answer, so the label position carries knowledge).

    SM: ``sm_epochs`` passes over the private data per round, loss
    ``kd_weight``·KD(LM) + (1 − ``kd_weight``)·CE; ``sm_trainable`` (``lora`` / ``full``).
    LM: ``lm_epochs`` passes over the transfer rows per round, LoRA ``lm_lora_rank``.
    Transport: ``top_k`` entries per token at ``value_bits`` (both directions).
    ``lm_targets``: where the LM learns from the SM — ``answer`` (default: only positions that
    predict a token of the public answer, i.e. the SM's view of the label; the SM is a weaker
    language model than the LM everywhere else) or ``all`` positions, as FedMKT does.
    ``compare_local``: also train a control SM with the same CE steps and no LM knowledge."""

    lm_lr: float = 1e-3
    rounds: int = 3
    transfer_limit: int | None = 200
    temperature: float = 1.0
    kd_weight: float = 0.5
    lm_targets: Literal["answer", "all"] = "answer"
    max_length: int = 192
    rows_per_request: int = 16
    compare_local: bool = True
    prompts_per_request: int = 16

    def validate(self) -> None:
        super().validate()
        check_in_range(self, "rounds", 1, 50)
        check_positive(self, "temperature")
        check_at_least(self, 16, "max_length")
        if not 0.0 <= self.kd_weight < 1.0:
            raise ValueError("kd_weight must be in [0, 1): the SM always keeps some "
                             "cross-entropy on its private data")
        check_at_least(self, 1, "rows_per_request", "prompts_per_request")
        check_limits(self, "transfer_limit")


@dataclass
class TokenSide:
    """One model's tokens of the transfer texts."""

    tokenizer: Any
    ids: list[list[int]]
    offsets: list[Any]  # (start, end) characters of each token


@UPWARD.register
class MutualKT(Strategy[MutualKTConfig]):
    name = "mutual-kt"
    direction = "upward"
    summary = "SM and LM distil each other's top-k log-probs on public text, round by round"
    paper = "arXiv:2406.02224 (FedMKT); arXiv:2411.11707 (FedCoLLM)"
    needs_model_party = "an LM that returns top-k log-probs and distils (LoRA) what it receives"
    needs_data_party = ("an SM, private labelled data, public text (the task's public split, "
                        "else a built-in corpus)")
    crosses = ("data→model: public text (token ids) and the SM's top-k on it; "
               "model→data: the LM's top-k on the public text, training metrics")
    contract = MUTUAL_LOGITS

    # Full profile only: the model party tunes a LoRA copy of its LM (~5 s a step for the
    # 1.5B) and the LM after cannot come from the bench's shared answers, so one cell takes
    # about as long as the rest of the quick bench.
    bench_cells = cells(full=[("3-rounds-top16", {})])

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        private = private_records(task, cfg)
        pairs = answer_pairs(task, private)
        public = public_text(task, cfg.transfer_limit)
        texts, answer_at = public_transfer(task, public.examples)
        guard = ctx.guard_private(task.parties[cfg.party], public.guard_texts(task))
        ctx.connect_model_party(batch_size=cfg.lm_batch_size)
        sm = load_sm_to_tune(ctx, cfg.sm_trainable)
        lm_tok = load_tokenizer(ctx.large)
        guard.decode = lm_tok.decode
        same = same_vocabulary(lm_tok, sm.tokenizer)
        lm_side = tokenize_side(lm_tok, texts, cfg.max_length)
        sm_side = tokenize_side(sm.tokenizer, texts, cfg.max_length)

        test = eval_subset(task, cfg.eval_limit)
        sm_start = headline(evaluate_untuned(ctx, sm.model, sm.tokenizer, test,
                                             cfg.sm_batch_size), task)
        lm_start = headline(remote_metrics(ctx, DATA_PARTY, test, "lm",
                                           cfg.prompts_per_request, "LM before (measurement)"),
                            task)
        control = load_sm_to_tune(ctx, cfg.sm_trainable).model if cfg.compare_local else None
        torch.manual_seed(cfg.seed)  # LoRA's initial weights: the same run gives the same SM
        model = make_trainable(sm.model, cfg.sm_trainable, cfg.sm_lora_rank)
        if control is not None:
            control = make_trainable(control, cfg.sm_trainable, cfg.sm_lora_rank)
        steps = max(1, math.ceil(cfg.sm_epochs * len(pairs) / cfg.sm_batch_size))
        rounds: list[dict[str, Any]] = []
        lm_metrics: dict[str, Any] = {}
        sm_metrics: dict[str, Any] = {}
        alignment: dict[str, dict[str, float]] = {}
        lm_model = "lm"  # the LM answers as it is until it has learnt something
        for r in range(1, cfg.rounds + 1):
            bytes_before = dict(ctx.boundary.bytes_by_direction)
            started = time.perf_counter()
            # LM → SM: the LM's top-k on the public text, on the SM's tokens.
            with ctx.step(f"round {r}: LM scoring the public text", len(lm_side.ids)) as bar:
                replies = query_topk(ctx.boundary, DATA_PARTY, lm_side.ids, k=cfg.top_k,
                                     value_bits=cfg.value_bits,
                                     rows_per_request=cfg.rows_per_request,
                                     on_request=bar.advance, model=lm_model)
            to_sm, alignment["lm_to_sm"] = student_rows(texts, replies, lm_side, sm_side,
                                                         same, cfg.max_length)
            settings = KDSettings(kd_weight=cfg.kd_weight, temperature=cfg.temperature)
            with ctx.step(f"round {r}: SM private CE + distilling the LM", steps) as bar:
                sm_stats = distill_finetune(model, sm.tokenizer, pairs, to_sm, settings,
                                            steps=steps, lr=cfg.sm_lr,
                                            batch_size=cfg.sm_batch_size,
                                            transfer_batch_size=cfg.sm_batch_size,
                                            max_length=cfg.max_length, seed=cfg.seed + r,
                                            on_step=lambda _s, _l: bar.advance())
            # SM → LM: the tuned SM's top-k, on the LM's tokens, compressed; the LM distils.
            with ctx.step(f"round {r}: SM scoring the public text"):
                mine = local_topk(model, sm_side.ids, cfg.top_k, cfg.sm_batch_size)
            to_lm, alignment["sm_to_lm"] = student_rows(texts, mine, sm_side, lm_side, same,
                                                         cfg.max_length)
            if cfg.lm_targets == "answer":
                to_lm = answer_positions(to_lm, lm_side, answer_at)
                if not to_lm:
                    raise ValueError("no public text has an answer within max_length tokens "
                                     "to learn the SM's view of: raise max_length, or use "
                                     "--set lm_targets=all")
            message = _distill_message(to_lm, cfg, len(lm_tok), reset=r == 1)
            with ctx.step(f"round {r}: model party distilling the SM into its LM"):
                reply = ctx.boundary.request(message)
            lm_model = UPWARD_MODEL
            seconds = time.perf_counter() - started
            # Measurement (not the protocol): both models on the data party's test set.
            sm_metrics = evaluate_on(ctx, f"round {r}: SM", model, sm.tokenizer, test,
                                     cfg.sm_batch_size)
            lm_metrics = remote_metrics(ctx, DATA_PARTY, test, UPWARD_MODEL,
                                        cfg.prompts_per_request, f"round {r}: LM (measurement)")
            row: dict[str, Any] = {"round": r, "sm": headline(sm_metrics, task),
                                   "lm": headline(lm_metrics, task)}
            if control is not None:
                with ctx.step(f"round {r}: control SM (private CE only)", steps) as bar:
                    distill_finetune(control, sm.tokenizer, pairs, [],
                                     KDSettings(kd_weight=0.0), steps=steps, lr=cfg.sm_lr,
                                     batch_size=cfg.sm_batch_size, max_length=cfg.max_length,
                                     seed=cfg.seed + r, on_step=lambda _s, _l: bar.advance())
                row["sm_local_only"] = headline(evaluate_on(
                    ctx, f"round {r}: control SM", control, sm.tokenizer, test,
                    cfg.sm_batch_size), task)
            after = ctx.boundary.bytes_by_direction
            up, down = f"{DATA_PARTY}->{MODEL_PARTY}", f"{MODEL_PARTY}->{DATA_PARTY}"
            row.update({
                "bytes_up": after.get(up, 0) - bytes_before.get(up, 0),
                "bytes_down": after.get(down, 0) - bytes_before.get(down, 0),
                "protocol_seconds": round(seconds, 3),
                "sm_loss_last": round(sm_stats.last_loss, 4),
                "lm_loss_first": reply.payload.get("loss_first"),
                "lm_loss_last": reply.payload.get("loss_last"),
            })
            rounds.append(row)

        result = self.new_result(ctx)
        last = rounds[-1]
        result.metrics["utility"] = {
            "lm_before": lm_start, "lm_after": last["lm"], "final": last["lm"],
            "sm_before": sm_start, "sm_after": last["sm"],
            **({"sm_local_only": last["sm_local_only"]} if "sm_local_only" in last else {}),
            "lm_gain": round(last["lm"] - lm_start, 4),
            "sm_gain": round(last["sm"] - sm_start, 4),
            **lm_metrics, "sm_after_metrics": sm_metrics, "per_round": rounds,
            "eval_examples": len(test)}
        result.metrics["efficiency"].update({
            "rounds": cfg.rounds, "transfer_texts": len(texts),
            "bytes_up_per_round": round(sum(r["bytes_up"] for r in rounds) / len(rounds)),
            "bytes_down_per_round": round(sum(r["bytes_down"] for r in rounds) / len(rounds)),
            "sm_steps_per_round": steps,
        })
        result.metrics["exposure"] = {"tokenizers": "same" if same else "different",
                                      **({"alignment": alignment} if not same else {})}
        result.metrics["privacy"] = {
            "private_records_sent": 0,
            "transfer": "public split" if public.corpus is None else f"corpus {public.corpus}",
            # Not a guarantee: the SM's log-probs on public text are shaped by its private
            # training (no DP here), so they carry some information about that data.
            "sm_logprobs_sent": True,
        }
        public.record(result)
        if note := all_positions_note(cfg.lm_targets, public.examples):
            result.notes.append(note)
        return result


def public_transfer(task: Task, public: Sequence[Example]) -> tuple[list[str], list[int]]:
    """The ``public`` examples as transfer texts (prompt + public answer) and where each
    answer starts (in characters; a text without an answer: its end, so nothing there is
    marked).

    When *no* text has an answer (a built-in corpus standing in for the public split), there
    is no label position to learn from: every position is marked instead, i.e. the LM learns
    as with ``lm_targets=all`` (FedMKT's choice) rather than from nothing.
    """
    texts = [task.prompt(ex) + (task.answer(ex) if ex.target else "") for ex in public]
    if not any(ex.target for ex in public):
        return texts, [0] * len(texts)
    answer_at = [len(task.prompt(ex)) if ex.target else len(t)
                 for ex, t in zip(public, texts, strict=True)]
    return texts, answer_at


def all_positions_note(lm_targets: str, public: Sequence[Example]) -> str | None:
    """The note a result carries when ``lm_targets=answer`` had no answer to learn from
    (see :func:`public_transfer`), else None."""
    if lm_targets != "answer" or any(ex.target for ex in public):
        return None
    return ("no public text has an answer (label position): the LM learnt the SM's top-k at "
            "every position, as with lm_targets=all")


def tokenize_side(tokenizer: Any, texts: Sequence[str], max_length: int) -> TokenSide:
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=True,
                    max_length=max_length, return_offsets_mapping=True)
    ids = [list(row) for row in enc["input_ids"]]
    if any(len(row) < 2 for row in ids):
        raise ValueError("every public transfer text needs at least 2 tokens")
    return TokenSide(tokenizer, ids, [list(map(tuple, o)) for o in enc["offset_mapping"]])


def answer_positions(rows: list[TransferRow], side: TokenSide,
                      answer_at: Sequence[int]) -> list[TransferRow]:
    """Keep only the targets at positions whose next token starts inside the answer."""
    starts = {tuple(ids): (offsets, at)
              for ids, offsets, at in zip(side.ids, side.offsets, answer_at, strict=True)}
    out: list[TransferRow] = []
    for row in rows:
        offsets, at = starts[tuple(row.ids.tolist())]
        keep = torch.tensor([offsets[int(p) + 1][0] >= at for p in row.positions],
                            dtype=torch.bool)
        if bool(keep.any()):
            out.append(TransferRow(ids=row.ids, positions=row.positions[keep],
                                   values=row.values[keep],
                                   indices=None if row.indices is None else row.indices[keep]))
    return out


def student_rows(texts: Sequence[str], replies: list[TopkReply], teacher: TokenSide,
                  student: TokenSide, same: bool, max_length: int
                  ) -> tuple[list[TransferRow], dict[str, float]]:
    """The teacher's top-k as targets on the student's tokens."""
    if same:
        return same_tokenizer_rows(replies), {}
    rows, stats = align_rows(texts, replies, teacher.offsets, student.tokenizer,
                             VocabMap(teacher.tokenizer, student.tokenizer), max_length)
    for row in rows:  # empty slots (-inf) get a tiny finite log-prob: the codec needs finite
        row.values.clamp_(min=FLOOR)
    return rows, stats


def _distill_message(rows: list[TransferRow], cfg: MutualKTConfig, vocab: int,
                     reset: bool) -> Message:
    """An ``lm_distill`` request: rows ``(B, T)`` with target marks, top-k compressed."""
    payload, codec = transfer_payload(rows, cfg.value_bits, vocab)
    return Message(Kind.TENSORS, DATA_PARTY, MODEL_PARTY, payload, {
        "op": "lm_distill", "codec": codec.to_meta(), **cfg.lm_training(),
        "max_length": cfg.max_length, "temperature": cfg.temperature, "seed": cfg.seed,
        "reset": reset})
