"""LoRA that lives beside a shared frozen model: one adapter set per user, applied by hooks.

PEFT injects its LoRA layers into the model it wraps. A model party that serves several data
parties from one LM cannot do that: the LM also answers other requests, and each data party
must train (and use) only its own adapters. :class:`HookLoRA` keeps its low-rank matrices
apart from the model and adds ``x Aᵀ Bᵀ · α/r`` to the chosen linear layers' outputs only
inside :meth:`HookLoRA.active`, so the LM is never modified and a session's adapters cannot
leak into another's forward pass. The adapters are fp32 whatever the LM's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

from crossbound.training.lora import LORA_TARGETS


def lora_targets(model: torch.nn.Module, prefixes: tuple[str, ...]) -> dict[str, torch.nn.Linear]:
    """The linear layers under ``prefixes`` (e.g. ``model.layers.2.``) whose names end in one
    of :data:`~crossbound.training.lora.LORA_TARGETS`, by qualified name."""
    return {name: module for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name.startswith(prefixes)
            and name.rsplit(".", 1)[-1] in LORA_TARGETS}


class HookLoRA:
    """Low-rank adapters for ``modules`` (name → linear layer), applied while :meth:`active`.

    ``A`` starts random (Kaiming-uniform, as PEFT) and ``B`` at zero, so a fresh adapter changes
    nothing; ``seed`` makes the start repeatable.
    """

    def __init__(self, modules: Mapping[str, torch.nn.Linear], rank: int, alpha: float,
                 seed: int = 0) -> None:
        if not modules:
            raise ValueError("no linear layers to put LoRA on")
        if rank < 1 or not alpha > 0:
            raise ValueError(f"rank must be >= 1 and alpha > 0, got {rank}, {alpha}")
        self.modules = dict(modules)
        self.scale = alpha / rank
        gen = torch.Generator().manual_seed(seed)
        self.a: dict[str, torch.nn.Parameter] = {}
        self.b: dict[str, torch.nn.Parameter] = {}
        for name, layer in self.modules.items():
            bound = 1.0 / math.sqrt(layer.in_features)  # kaiming_uniform_(a=√5)'s bound
            a = (torch.rand(rank, layer.in_features, generator=gen) * 2 - 1) * bound
            self.a[name] = torch.nn.Parameter(a)  # (r, in)
            self.b[name] = torch.nn.Parameter(torch.zeros(layer.out_features, rank))  # (out, r)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for name in self.modules for p in (self.a[name], self.b[name])]

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def state(self) -> dict[str, torch.Tensor]:
        """Detached copies of every adapter matrix (``NAME.lora_A`` / ``NAME.lora_B``)."""
        out = {}
        for name in self.modules:
            out[f"{name}.lora_A"] = self.a[name].detach().clone()
            out[f"{name}.lora_B"] = self.b[name].detach().clone()
        return out

    @contextmanager
    def active(self) -> Iterator[None]:
        """While open, every adapted layer's output gets its low-rank update."""
        handles = []
        for name, layer in self.modules.items():
            a, b, scale = self.a[name], self.b[name], self.scale

            def hook(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...],
                     output: torch.Tensor, a: torch.Tensor = a, b: torch.Tensor = b,
                     scale: float = scale) -> torch.Tensor:
                delta = (inputs[0].float() @ a.T) @ b.T  # (..., in) -> (..., r) -> (..., out)
                return output + (scale * delta).to(output.dtype)

            handles.append(layer.register_forward_hook(hook))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


class WithAdapters(torch.nn.Module):
    """``model`` answering with ``lora`` active: its forward pass and ``generate``; every other
    attribute is the model's. What a model party serves as "the LM with this party's LoRA"."""

    def __init__(self, model: torch.nn.Module, lora: HookLoRA) -> None:
        super().__init__()
        self.inner = model
        self.lora = lora

    def forward(self, *args: object, **kwargs: object) -> object:
        with self.lora.active():
            return self.inner(*args, **kwargs)

    def generate(self, *args: object, **kwargs: object) -> object:
        with self.lora.active():
            return self.inner.generate(*args, **kwargs)  # type: ignore[operator]

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)
