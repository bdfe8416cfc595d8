"""The LoRA adapter that travels in ``fed-adapter``: build it, read it, load it, check it.

An adapter is a dict of named float32 tensors: the trainable LoRA weights of the SM wrapped
by :func:`crossbound.training.lora.add_lora`, under their PEFT parameter names, e.g.
``base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight`` of shape
``(rank, hidden)``. Its :class:`AdapterSpec` (names → shapes) is what both parties expect:
nothing else may cross.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.models.loading import load_model
from crossbound.training.lora import add_lora

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class AdapterSpec:
    """The names and shapes of an adapter's tensors (all float32)."""

    shapes: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, tensors: Mapping[str, torch.Tensor]) -> AdapterSpec:
        return cls({name: tuple(t.shape) for name, t in tensors.items()})

    @property
    def parameters(self) -> int:
        return sum(math.prod(shape) for shape in self.shapes.values())

    @property
    def nbytes(self) -> int:
        return 4 * self.parameters

    def problem(self, tensors: Mapping[str, torch.Tensor]) -> str | None:
        """Why ``tensors`` is not an adapter of this spec (names, shapes, dtype), or None."""
        names = set(tensors)
        if names != set(self.shapes):
            missing = sorted(set(self.shapes) - names)[:2]
            extra = sorted(names - set(self.shapes))[:2]
            return (f"tensor names differ from the adapter's (missing {missing}, "
                    f"unexpected {extra})")
        for name, tensor in tensors.items():
            if tuple(tensor.shape) != self.shapes[name]:
                return (f"{name} has shape {tuple(tensor.shape)}, the adapter's is "
                        f"{self.shapes[name]}")
            if tensor.dtype != torch.float32:
                return f"{name} is {tensor.dtype}, not torch.float32"
        return None


@dataclass
class AdaptedModel:
    """An SM wrapped with LoRA, its tokenizer, and the adapter's spec."""

    model: Any  # peft.PeftModel
    tokenizer: Any
    spec: AdapterSpec


def build_adapted(small: str, rank: int, alpha: int, seed: int = 0) -> AdaptedModel:
    """Load ``small`` and wrap it with fresh LoRA adapters (seeded: the initial global
    adapter is the same in every run with the same settings)."""
    loaded = load_model(small)
    torch.manual_seed(seed)
    model = add_lora(loaded.model, rank=rank, alpha=alpha)
    model.eval()
    return AdaptedModel(model, loaded.tokenizer, AdapterSpec.of(adapter_tensors(model)))


def adapter_tensors(model: Any) -> Tensors:
    """A copy of the model's trainable (LoRA) weights, by parameter name."""
    return {name: p.detach().to(torch.float32).clone()
            for name, p in model.named_parameters() if p.requires_grad}


def load_adapter(model: Any, tensors: Mapping[str, torch.Tensor], spec: AdapterSpec) -> None:
    """Overwrite the model's LoRA weights with ``tensors`` (exactly the adapter's names and
    shapes, finite values), so nothing of a previous round or party remains."""
    problem = spec.problem(tensors) or non_finite(tensors)
    if problem is not None:
        raise ValueError(f"cannot load the adapter: {problem}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in tensors.items():
            params[name].copy_(tensor)


def non_finite(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """Name the first tensor holding NaN or ±inf, or None."""
    for name in sorted(tensors):
        tensor = tensors[name]
        if not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            return f"{name} holds {bad} non-finite value(s)"
    return None


def distance(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """L2 norm of ``a − b`` over all tensors (same names), in float64."""
    total = sum(float((a[n].double() - b[n].double()).pow(2).sum()) for n in a)
    return math.sqrt(total)


def apply_fault(fault: str, local: Tensors, start: Mapping[str, torch.Tensor]) -> Tensors:
    """What a deliberately faulty party sends instead of ``local`` (see config ``faults``):
    ``nan`` — every value NaN; ``scale:F`` — ``start + F·(local − start)``."""
    if fault == "nan":
        return {n: torch.full_like(t, math.nan) for n, t in local.items()}
    if fault.startswith("scale:"):
        factor = float(fault.split(":", 1)[1])
        return {n: start[n] + factor * (t - start[n]) for n, t in local.items()}
    raise ValueError(f"unknown fault {fault!r}: use 'nan' or 'scale:F'")
