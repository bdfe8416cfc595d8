"""What split learning and split inference share: their settings (config groups) and contract.

The contract lets cross, and nothing else:

- data → model: the bundle request (settings only, no text); hidden states at the cut with
  their padding mask (and, when the model party runs the head, the target token of each
  scored position); in U-shape training, the gradient on the top's output;
- model → data: the bottom bundle (embeddings and blocks ``0 .. K-1``, in U-shape also the
  final norm and head); the top's output (U-shape) or losses, gradients and target
  log-probabilities (head at the model party); step acknowledgements.

Its operations depend on the shape: U-shape allows ``split_forward`` / ``split_backward`` and
no operation that carries targets, so the labels cannot reach the model party even by mistake
(the ``split-no-targets`` guard refuses a ``targets`` tensor on top); the head-at-the-model
shape allows ``split_step`` / ``split_score``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from crossbound.boundary.contracts import (
    AccessContract,
    GuardContext,
    allow,
    register_guard,
)
from crossbound.boundary.messages import Kind, Message
from crossbound.config_checks import (
    Records,
    Settings,
    check_at_least,
    check_in_range,
    check_positive,
)
from crossbound.parties.split import (
    BUNDLE_ARTIFACT,
    HEAD_AT_MODEL_OPS,
    MAX_BATCH,
    MAX_LORA_RANK,
    U_SHAPE_OPS,
)

MiB = 1 << 20
# Names a split tensors message may hold (either way); anything else is refused.
SPLIT_TENSORS = frozenset({"hidden", "mask", "targets", "grad", "loss", "logprobs"})
WIRE_FLOATS = ("torch.float32", "torch.bfloat16")


def split_tensors_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a split tensors message holds only the split's tensors, floats in a wire dtype,
    all finite (a sender's own check; the receiver checks shapes and norms again)."""
    odd = sorted(set(message.payload) - SPLIT_TENSORS)
    if odd:
        return f"tensors that are not the split's: {odd[:3]}"
    for name, tensor in message.payload.items():
        if tensor.is_floating_point():
            if str(tensor.dtype) not in WIRE_FLOATS:
                return f"{name} is {tensor.dtype}; floats cross as float32 or bfloat16"
            if not bool(tensor.isfinite().all()):
                return f"{name} holds NaN or infinite values"
    return None


def no_targets(message: Message, context: GuardContext) -> str | None:
    """Guard: nothing the data party sends names target tokens (U-shape keeps the labels)."""
    return "targets never cross in U-shape" if "targets" in message.payload else None


register_guard("split-tensors", split_tensors_only)
register_guard("split-no-targets", no_targets)


def split_contract(u_shape: bool = True, max_bundle_bytes: int = 1 << 30,
                   max_tensor_bytes: int = 64 * MiB) -> AccessContract:
    """The crossings of a split run, U-shape (the head at the data party) or not."""
    data_guards = ("split-tensors", "split-no-targets") if u_shape else ("split-tensors",)
    head = ("the final norm, LM head and loss stay at the data party; targets never cross"
            if u_shape else "the model party runs the head: target tokens cross with the "
                            "hidden states")
    return AccessContract(
        "split-u-shape" if u_shape else "split-head-at-model",
        (
            allow("model", Kind.TENSORS, max_bytes=max_bundle_bytes,
                  artifacts={BUNDLE_ARTIFACT}),
            allow("model", Kind.TENSORS, max_bytes=max_tensor_bytes, guards=("split-tensors",)),
            allow("model", Kind.METRICS),
            allow("data", Kind.TENSORS, max_bytes=max_tensor_bytes, guards=data_guards),
            allow("data", Kind.TEXT, max_items=0),  # the bundle request: settings, no text
        ),
        "The model party ships the LM's bottom blocks; the data party sends hidden states at "
        f"the cut (clipped and noised if asked) and gets the top's results; {head}. No text "
        "crosses.",
        operations=U_SHAPE_OPS if u_shape else HEAD_AT_MODEL_OPS,
    )


# The two contracts, made once: ``contract_for`` returns these very objects, so the class's
# ``contract`` is the default config's.
U_SHAPE = split_contract(True)
HEAD_AT_MODEL = split_contract(False)


def contract_of(u_shape: bool) -> AccessContract:
    return U_SHAPE if u_shape else HEAD_AT_MODEL


@dataclass
class SplitSettings(Settings):
    """The split and its mechanism.

    ``cut``: blocks the data party runs (``K``; the model party's policy allows at most half).
    ``u_shape``: final norm, LM head and loss at the data party (the model party returns its
    last hidden state and never sees targets) or at the model party (targets cross).
    ``bundle_dtype``: the bottom's weights on the wire; ``wire_dtype``: activations and
    gradients on the wire. ``noise_sigma`` σ with ``clip_norm`` C: each token's vector is
    clipped to norm C, then N(0, σ²C²) is added per coordinate (``privacy.clipped_noise``);
    ``clip_norm`` unset: no clipping when σ = 0, else C is the ``auto_clip_quantile`` quantile
    of per-token norms on public text (no private record chooses it). ``grad_clip_norm``
    likewise for the U-shape's returned gradients (unset: auto, from public text).
    ``lora_rank`` / ``lora_alpha``: the model party's LoRA on its blocks.
    """

    cut: int = 2
    u_shape: bool = True
    bundle_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    wire_dtype: Literal["float32", "bfloat16"] = "float32"
    noise_sigma: float = 0.0
    clip_norm: float | None = None
    grad_clip_norm: float | None = None
    auto_clip_quantile: float = 0.5
    lora_rank: int = 8
    lora_alpha: float = 16.0
    batch_size: int = 8
    max_length: int = 192

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 1, "cut")
        if not math.isfinite(self.noise_sigma) or self.noise_sigma < 0:
            raise ValueError(f"noise_sigma must be a finite number >= 0, got {self.noise_sigma}")
        for name in ("clip_norm", "grad_clip_norm"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number > 0 or unset, got {value}")
        if not 0 < self.auto_clip_quantile <= 1:
            raise ValueError(f"auto_clip_quantile must be in (0, 1], got "
                             f"{self.auto_clip_quantile}")
        check_in_range(self, "lora_rank", 1, MAX_LORA_RANK)
        check_positive(self, "lora_alpha")
        check_in_range(self, "batch_size", 1, MAX_BATCH)
        check_at_least(self, 16, "max_length")


@dataclass
class SplitMeasures(Settings):
    """What a split run measures besides utility. ``attack``: invert up to ``attack_tokens``
    of the hidden-state tokens that crossed (the model party as attacker: nearest embedding,
    and an MLP decoder trained on ``attack_public_limit`` public texts' activations at the
    same cut, clipped and noised alike, for ``attack_steps`` steps). ``delta``: δ of the
    (ε, δ) figures of the noise."""

    attack: bool = True
    attack_tokens: int = 2000
    attack_public_limit: int = 200
    attack_steps: int = 200
    delta: float = 1e-5

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 2, "attack_tokens", "attack_public_limit")
        check_at_least(self, 1, "attack_steps")
        if not 0 < self.delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {self.delta}")


@dataclass
class SplitTraining(Settings):
    """How split learning trains: ``epochs`` passes over the private records at ``lr`` (the
    model party's AdamW on its LoRA); ``data_lora``: the data party also trains a LoRA of rank
    ``data_lora_rank`` on its own blocks, from the cut's gradient the model party returns."""

    epochs: float = 2.0
    lr: float = 2e-4
    data_lora: bool = False
    data_lora_rank: int = 8
    evaluate_before: bool = True
    compare_full_memory: bool = True

    def validate(self) -> None:
        super().validate()
        check_positive(self, "epochs", "lr")
        if self.lr > 1:
            raise ValueError(f"lr must be at most 1, got {self.lr}")
        check_in_range(self, "data_lora_rank", 1, MAX_LORA_RANK)


__all__ = ["Records", "SplitMeasures", "SplitSettings", "SplitTraining", "split_contract"]
