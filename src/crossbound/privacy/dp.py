"""DP-SGD fine-tuning of a causal LM on (prompt, answer) pairs, through Opacus.

Per-sample gradients (Opacus hooks), per-sample clipping to ``max_grad_norm``, Gaussian noise,
Poisson sampling of each batch (every record joins a step independently with probability q),
and privacy accounting with both the RDP and the PRV accountant. Configure by target ε (the
noise multiplier is calibrated for the planned number of steps) or by noise multiplier.

What is trained is set up beforehand (:mod:`crossbound.training.lora`): LoRA adapters on the
linear layers, the model's own linear layers, or every weight but the token embeddings and LM
head. Norm layers, which Opacus has no hook for, get per-sample gradients through its
functorch fallback.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from crossbound.models.precision import full_precision, hold_frozen_weights_in_scope
from crossbound.training.causal_lm import (
    LossOn,
    TrainStats,
    answer_token_losses,
    backbone_and_head,
    build_batch,
)
from crossbound.training.loop import tail_mean, trainable_parameters

Accountant = Literal["rdp", "prv"]


@dataclass(frozen=True)
class DPConfig:
    """Differential privacy of the data party's training. ``delta`` None: 1 / (10 n)."""

    target_epsilon: float | None = 3.0
    noise_multiplier: float | None = None  # used when target_epsilon is None
    max_grad_norm: float = 1.0
    delta: float | None = None
    accountant: Accountant = "prv"  # calibrates the noise; both accountants are reported

    def __post_init__(self) -> None:
        if (self.target_epsilon is None) == (self.noise_multiplier is None):
            raise ValueError("give exactly one of target_epsilon and noise_multiplier")
        if self.target_epsilon is not None and self.target_epsilon <= 0:
            raise ValueError(f"target_epsilon must be > 0, got {self.target_epsilon}")
        if self.noise_multiplier is not None and self.noise_multiplier <= 0:
            raise ValueError(f"noise_multiplier must be > 0, got {self.noise_multiplier}")
        if self.max_grad_norm <= 0:
            raise ValueError("max_grad_norm must be > 0")
        if self.delta is not None and not 0 < self.delta < 1:
            raise ValueError("delta must be in (0, 1)")
        if self.accountant not in ("rdp", "prv"):
            raise ValueError("accountant must be 'rdp' or 'prv'")


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float,
                  accountant: Accountant) -> float:
    """ε after ``steps`` Poisson-sampled Gaussian steps, by Opacus's RDP or PRV accountant."""
    from opacus.accountants import PRVAccountant, RDPAccountant

    acc = RDPAccountant() if accountant == "rdp" else PRVAccountant()
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return float(acc.get_epsilon(delta=delta))


def calibrate_noise(target_epsilon: float, delta: float, sample_rate: float, steps: int,
                    accountant: Accountant) -> float:
    from opacus.accountants.utils import get_noise_multiplier

    return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                      sample_rate=sample_rate, steps=steps,
                                      accountant=accountant))


def per_sample_answer_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each record's mean cross-entropy over its answer tokens: ``(B,)``.

    Per record, so that DP-SGD's per-sample gradients weigh every record alike whatever the
    length of its answer. The LM head runs only at answer positions (it is frozen here).
    """
    parts = backbone_and_head(model)
    b = batch["input_ids"].shape[0]
    if parts is None:
        logits = model(input_ids=batch["input_ids"],
                       attention_mask=batch["attention_mask"]).logits
        targets = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().transpose(1, 2), targets, ignore_index=-100, reduction="none")
        return losses.sum(-1) / (targets != -100).sum(-1).clamp(min=1)
    losses, rows = answer_token_losses(parts, batch)
    totals = torch.zeros(b, dtype=losses.dtype, device=losses.device).index_add(0, rows, losses)
    counts = torch.bincount(rows, minlength=b).clamp(min=1)
    return totals / counts


@dataclass(frozen=True)
class DPReport:
    epsilon: float  # by the configured accountant
    epsilon_rdp: float
    epsilon_prv: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    accountant: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _grad_samples_to_fp32(params: Sequence[torch.Tensor]) -> None:
    """Under bf16 autocast Opacus computes per-sample gradients from bf16 activations; the
    clipping, summing and noise must happen at the fp32 master weights' precision (and the
    summed gradient must be fp32 to be assigned to them), so the per-sample gradients are
    upcast before the optimiser step, which runs with autocast off. A no-op in fp32."""
    for param in params:
        sample = getattr(param, "grad_sample", None)
        if isinstance(sample, torch.Tensor) and sample.dtype != param.dtype:
            setattr(param, "grad_sample", sample.to(param.dtype))  # noqa: B010 (Opacus's attribute)
        elif isinstance(sample, list):
            setattr(param, "grad_sample", [s.to(param.dtype) for s in sample])  # noqa: B010


def dp_finetune(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    dp: DPConfig,
    *,
    epochs: float = 2.0,
    lr: float = 1e-3,
    batch_size: int = 16,
    max_length: int = 256,
    seed: int = 0,
    loss_on: LossOn = "answer",
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[TrainStats, DPReport]:
    """DP-SGD on the trainable parameters of ``model`` (set them up first: LoRA or linear).

    ``batch_size`` is the *expected* batch size: the sampling rate is batch_size / n.
    """
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    n = len(pairs)
    if n < 2 or not 1 <= batch_size <= n:
        raise ValueError(f"need >= 2 records and 1 <= batch_size <= {n}")
    sample_rate = batch_size / n
    steps = max(1, math.ceil(epochs / sample_rate))
    delta = dp.delta if dp.delta is not None else 1.0 / (10 * n)
    if dp.target_epsilon is not None:
        sigma = calibrate_noise(dp.target_epsilon, delta, sample_rate, steps, dp.accountant)
    else:
        assert dp.noise_multiplier is not None
        sigma = dp.noise_multiplier
    params = trainable_parameters(model)
    device = params[0].device
    hold_frozen_weights_in_scope(model)  # bf16 runs: frozen weights in bf16, trained ones fp32
    wrapped = GradSampleModule(model, loss_reduction="mean")
    generator = torch.Generator().manual_seed(seed)
    optimizer = DPOptimizer(torch.optim.AdamW(params, lr=lr), noise_multiplier=sigma,
                            max_grad_norm=dp.max_grad_norm, expected_batch_size=batch_size,
                            generator=generator)
    rng = random.Random(seed)
    losses: list[float] = []
    tokens = 0
    seen = 0
    wrapped.train()
    try:
        for step in range(steps):
            chosen = [i for i in range(n) if rng.random() < sample_rate]  # Poisson sampling
            optimizer.zero_grad(set_to_none=True)
            if not chosen:
                # An empty draw releases no update; the step is still accounted for.
                continue
            batch = build_batch(tokenizer, [pairs[i] for i in chosen], max_length, loss_on)
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = per_sample_answer_loss(model, batch).mean()  # hooks sit on model's layers
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss.item()} at step {step}")
            loss.backward()
            _grad_samples_to_fp32(params)
            with full_precision():  # Opacus's clipping einsum would otherwise run in bf16
                optimizer.step()
            losses.append(float(loss.item()))
            tokens += int(batch["attention_mask"].sum())
            seen += len(chosen)
            if on_step:
                on_step(step, losses[-1])
    finally:
        wrapped.eval()
        wrapped._close()  # remove Opacus's hooks: the model is an ordinary module again
    if not losses:
        raise RuntimeError("no step drew any record; raise batch_size or epochs")
    stats = TrainStats(steps=steps, examples_seen=seen, first_loss=losses[0],
                       last_loss=tail_mean(losses, max(1, len(losses) // 4)), tokens=tokens,
                       lr=lr)
    eps_rdp = epsilon_spent(sigma, sample_rate, steps, delta, "rdp")
    eps_prv = epsilon_spent(sigma, sample_rate, steps, delta, "prv")
    report = DPReport(epsilon=eps_rdp if dp.accountant == "rdp" else eps_prv,
                      epsilon_rdp=eps_rdp, epsilon_prv=eps_prv, delta=delta,
                      noise_multiplier=sigma, max_grad_norm=dp.max_grad_norm,
                      sample_rate=sample_rate, steps=steps, accountant=dp.accountant)
    return stats, report
