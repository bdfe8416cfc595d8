"""Knowledge-distillation losses between a teacher's next-token distribution and a student's.

The teacher's distribution arrives either whole (``(N, V)`` log-probs, when teacher and
student run side by side) or as its top-k (``(N, k)`` log-probs and token ids, what crosses
the boundary). Divergences, after GKD (arXiv:2306.13649) and MiniLLM (arXiv:2306.08543):

- ``forward_kl``  KL(p ‖ q): mode-covering; the usual distillation loss.
- ``reverse_kl``  KL(q ‖ p): mode-seeking.
- ``jsd``         generalised JSD(β) = β·KL(p ‖ m) + (1−β)·KL(q ‖ m), m = β·p + (1−β)·q.

With a top-k teacher, p is its top-k renormalised. Forward KL then scores the student's full
softmax at those k ids, which also teaches it to keep its mass on the support; reverse KL and
JSD compare the two distributions renormalised on the support (the teacher's mass off it is
unknown). With k = V every form equals the full-vocabulary one (tests check this).

With ``tail=True`` the top-k values are read as what they are — log-probs normalised over the
whole vocabulary — and the mass they leave, 1 − Σ p_i, becomes one more bucket, "everything
else"; the student's bucket is likewise 1 − Σ q_i over the same ids. Every divergence is then
taken between these two (k + 1)-bucket distributions: the student learns how sure the teacher
is, not only its ranking of the top k, at no extra bytes. (By the data-processing inequality
this is a lower bound on the full divergence; with k = V it equals it.) Temperature is then
applied to the bucket distributions.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from crossbound.training.causal_lm import TrainStats, answer_loss, backbone_and_head, build_batch
from crossbound.training.loop import LoopConfig, Shuffled, StepLoss, run_loop

Divergence = Literal["forward_kl", "reverse_kl", "jsd"]
DIVERGENCES: tuple[str, ...] = ("forward_kl", "reverse_kl", "jsd")


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    teacher_ids: torch.Tensor | None = None,
    *,
    divergence: Divergence = "forward_kl",
    beta: float = 0.5,
    temperature: float = 1.0,
    tail: bool = False,
) -> torch.Tensor:
    """Per-position divergence ``(N,)`` between teacher and student.

    ``student_logits`` (N, V); ``teacher_logprobs`` (N, V) or, with ``teacher_ids`` (N, k),
    the teacher's top-k (N, k). Scaled by T² (Hinton et al.) so gradients keep their size
    across temperatures.
    """
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {', '.join(DIVERGENCES)}, got {divergence!r}")
    if not 0.0 < beta < 1.0:
        raise ValueError(f"beta must be in (0, 1), got {beta}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if tail and teacher_ids is not None:
        return _bucket_divergence(student_logits, teacher_logprobs, teacher_ids,
                                  divergence=divergence, beta=beta, temperature=temperature)
    s_all = F.log_softmax(student_logits.float() / temperature, dim=-1)  # (N, V)
    t_scaled = teacher_logprobs.float() / temperature
    if teacher_ids is None:
        if t_scaled.shape != s_all.shape:
            raise ValueError(f"teacher {tuple(t_scaled.shape)} and student "
                             f"{tuple(s_all.shape)} distributions differ in shape")
        log_p = F.log_softmax(t_scaled, dim=-1)
        s_on_support = s_all
        log_q = s_all
    else:
        if teacher_ids.shape != t_scaled.shape or teacher_ids.shape[0] != s_all.shape[0]:
            raise ValueError(f"teacher ids {tuple(teacher_ids.shape)}, values "
                             f"{tuple(t_scaled.shape)} and student {tuple(s_all.shape)} "
                             "do not line up")
        log_p = F.log_softmax(t_scaled, dim=-1)  # (N, k): renormalised on the support
        s_on_support = s_all.gather(-1, teacher_ids.long())  # (N, k), full-softmax log-probs
    # −inf teacher entries are outside the support (e.g. ids a vocabulary map could not
    # place). Their terms are zeroed by filling the logs with 0 where p (and q) are 0, not by
    # torch.where on inf − inf, whose backward would carry NaNs into the student.
    valid = torch.isfinite(log_p)
    if not bool(valid.any(-1).all()):
        raise ValueError("a position has no finite teacher log-prob")
    if teacher_ids is not None:
        log_q = F.log_softmax(s_on_support.masked_fill(~valid, -torch.inf), dim=-1)
    p = log_p.exp()  # 0 off the support
    lp = log_p.masked_fill(~valid, 0.0)
    if divergence == "forward_kl":
        loss = (p * (lp - s_on_support)).sum(-1)
    else:
        loss = _reverse_or_jsd(divergence, p, lp, log_q.exp(), log_q.masked_fill(~valid, 0.0),
                               beta)
    return loss * temperature**2


def _reverse_or_jsd(divergence: Divergence, p: torch.Tensor, lp: torch.Tensor, q: torch.Tensor,
                    lq: torch.Tensor, beta: float) -> torch.Tensor:
    """Reverse KL or JSD(β) per row ``(N,)`` from p, q ``(N, m)`` and their logs (0 where p
    and q are 0, so that no inf − inf reaches the backward)."""
    if divergence == "reverse_kl":
        return (q * (lq - lp)).sum(-1)
    log_m = torch.log((beta * p + (1 - beta) * q).clamp_min(1e-30))
    return beta * (p * (lp - log_m)).sum(-1) + (1 - beta) * (q * (lq - log_m)).sum(-1)


# Quantised values can make the top-k sum to slightly more than 1; the tail keeps at least
# this much mass so that its log stays finite (and its gradient bounded).
_MIN_TAIL = 1e-6


def _with_tail(logprobs: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(N, k) log-probs over the whole vocabulary → (N, k + 1) with "everything else" last."""
    masked = logprobs.masked_fill(~valid, -torch.inf)
    mass = torch.logsumexp(masked, dim=-1, keepdim=True)  # (N, 1), log Σ p_i
    cap = math.log1p(-_MIN_TAIL)
    over = (mass - cap).clamp_min(0.0)  # > 0 only where the values sum past 1 - _MIN_TAIL
    masked, mass = masked - over, mass - over
    rest = torch.log(-torch.expm1(mass))  # log(1 − Σ p_i), finite since Σ p_i ≤ 1 − _MIN_TAIL
    return torch.cat([masked, rest], dim=-1)


def _bucket_divergence(student_logits: torch.Tensor, teacher_logprobs: torch.Tensor,
                       teacher_ids: torch.Tensor, *, divergence: Divergence, beta: float,
                       temperature: float) -> torch.Tensor:
    if teacher_ids.shape != teacher_logprobs.shape or \
            teacher_ids.shape[0] != student_logits.shape[0]:
        raise ValueError(f"teacher ids {tuple(teacher_ids.shape)}, values "
                         f"{tuple(teacher_logprobs.shape)} and student "
                         f"{tuple(student_logits.shape)} do not line up")
    teacher = teacher_logprobs.float()
    valid = torch.isfinite(teacher)
    if not bool(valid.any(-1).all()):
        raise ValueError("a position has no finite teacher log-prob")
    if bool((teacher[valid] > 0).any()):
        raise ValueError("tail=True needs the teacher's top-k as log-probs (all <= 0)")
    student = F.log_softmax(student_logits.float(), dim=-1).gather(-1, teacher_ids.long())
    log_p = F.log_softmax(_with_tail(teacher, valid) / temperature, dim=-1)  # (N, k + 1)
    log_q = F.log_softmax(_with_tail(student, valid) / temperature, dim=-1)
    # Buckets outside the support (−inf in both) contribute nothing; fill their logs with 0
    # rather than computing inf − inf, whose backward would be NaN.
    inside = torch.isfinite(log_p)
    p, q = log_p.exp(), log_q.exp()
    lp, lq = log_p.masked_fill(~inside, 0.0), log_q.masked_fill(~inside, 0.0)
    if divergence == "forward_kl":
        loss = (p * (lp - lq)).sum(-1)
    else:
        loss = _reverse_or_jsd(divergence, p, lp, q, lq, beta)
    return loss * temperature**2


# ---------------------------------------------------------------- targets and training


@dataclass
class TransferRow:
    """One transfer sequence in the student's tokens, with the teacher's targets.

    ``ids`` (T,) student token ids; ``positions`` (N,) the positions t whose next-token
    distribution the teacher gave (aligned to the student's position t, which predicts
    token t + 1); ``values`` (N, k) teacher log-probs and ``indices`` (N, k) student-vocabulary
    ids, or ``indices`` None when ``values`` is the full (N, V) distribution.
    """

    ids: torch.Tensor
    positions: torch.Tensor
    values: torch.Tensor
    indices: torch.Tensor | None

    def __post_init__(self) -> None:
        n = self.positions.shape[0]
        if self.values.shape[0] != n or (self.indices is not None
                                         and self.indices.shape != self.values.shape):
            raise ValueError("positions, values and indices of a transfer row do not line up")
        if n and int(self.positions.max()) >= self.ids.shape[0] - 1:
            raise ValueError("a target position has no next token in the row")


@dataclass(frozen=True)
class KDSettings:
    divergence: Divergence = "forward_kl"
    beta: float = 0.5
    temperature: float = 1.0
    kd_weight: float = 0.5  # loss = w·KD(transfer) + (1 − w)·CE(private answers)
    tail: bool = False  # top-k as k + 1 buckets (the rest of the mass last); see kd_loss


def transfer_batch(rows: Sequence[TransferRow], pad: int
                   ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor,
                              torch.Tensor | None]:
    """Right-padded ids/mask ``(B, T)``, a ``(B, T)`` bool of target positions, and the
    targets stacked ``(N, k)`` in the same row-major order as ``keep.nonzero()``."""
    width = max(int(r.ids.shape[0]) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    keep = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : r.ids.shape[0]] = r.ids
        mask[i, : r.ids.shape[0]] = 1
        keep[i, r.positions] = True
    # Stack each row's targets in position order (keep.nonzero() walks rows, then positions).
    orders = [torch.argsort(r.positions) for r in rows]
    values = torch.cat([r.values[o] for r, o in zip(rows, orders, strict=True)])
    sparse = [r.indices[o] for r, o in zip(rows, orders, strict=True) if r.indices is not None]
    if sparse and len(sparse) != len(rows):
        raise ValueError("a batch mixes full-vocabulary and top-k targets")
    indices = torch.cat(sparse) if sparse else None
    return {"input_ids": ids, "attention_mask": mask}, keep, values, indices


def student_logits_at(model: Any, batch: dict[str, torch.Tensor],
                      keep: torch.Tensor) -> torch.Tensor:
    """The student's logits ``(N, V)`` at the ``keep`` positions only (LM head where needed)."""
    parts = backbone_and_head(model)
    if parts is None:
        return model(**batch).logits[keep]
    base, head, cap = parts
    hidden = base(**batch)[0]  # (B, T, d)
    logits = head(hidden[keep])  # (N, V)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def distill_finetune(
    model: Any,
    tokenizer: Any,
    private_pairs: Sequence[tuple[str, str]],
    transfer: Sequence[TransferRow],
    settings: KDSettings,
    *,
    steps: int,
    lr: float = 2e-4,
    batch_size: int = 8,
    transfer_batch_size: int = 8,
    max_length: int = 192,
    seed: int = 0,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainStats:
    """AdamW on ``w·KD + (1 − w)·CE`` for ``steps`` steps (warm-up, then linear decay).

    Each step draws a batch of private (prompt, answer) pairs for cross-entropy on the answer
    and a batch of transfer rows for the distillation loss; either may be absent (w = 0 or 1).
    """
    w = settings.kd_weight
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"kd_weight must be in [0, 1], got {w}")
    if w < 1.0 and not private_pairs:
        raise ValueError("kd_weight < 1 needs private training pairs")
    if w > 0.0 and not transfer:
        raise ValueError("kd_weight > 0 needs transfer rows with teacher targets")
    if steps < 1 or lr <= 0 or batch_size < 1 or transfer_batch_size < 1:
        raise ValueError("steps, batch sizes must be >= 1 and lr > 0")
    device = next(model.parameters()).device
    rng = random.Random(seed)  # one stream, drawn private batch first, then transfer batch
    private = Shuffled(len(private_pairs), batch_size, rng) if w < 1.0 else None
    rows = Shuffled(len(transfer), transfer_batch_size, rng) if w > 0.0 else None
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def step_loss(_step: int) -> StepLoss:
        loss = torch.zeros((), device=device)
        tokens = 0
        if private is not None:
            batch = build_batch(tokenizer, [private_pairs[i] for i in private.draw()], max_length)
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = loss + (1 - w) * answer_loss(model, batch)
            tokens += int(batch["attention_mask"].sum())
        if rows is not None:
            inputs, keep, values, indices = transfer_batch([transfer[i] for i in rows.draw()], pad)
            inputs = {k: v.to(device) for k, v in inputs.items()}
            logits = student_logits_at(model, inputs, keep.to(device))
            kd = kd_loss(logits, values.to(device),
                         None if indices is None else indices.to(device),
                         divergence=settings.divergence, beta=settings.beta,
                         temperature=settings.temperature, tail=settings.tail)
            loss = loss + w * kd.mean()
            tokens += int(inputs["attention_mask"].sum())
        return StepLoss(loss, tokens)

    run = run_loop(model, step_loss, LoopConfig(steps=steps, lr=lr), on_step=on_step)
    return TrainStats(steps=steps, examples_seen=steps * batch_size, first_loss=run.losses[0],
                      last_loss=run.tail_mean(max(1, steps // 4)), tokens=run.tokens, lr=lr)
