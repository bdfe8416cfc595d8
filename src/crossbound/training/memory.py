"""What training a model costs in memory, counted tensor by tensor (CPU-friendly).

On a GPU one reads the allocator's peak; on a CPU torch keeps no such statistic and RSS mixes
in everything else the process holds. So the training state is counted directly:

- **weights**: every parameter, each storage once (tied weights count once);
- **gradients**: one tensor per trainable parameter, same size;
- **optimizer**: AdamW's two moment tensors per trainable parameter;
- **activations**: the tensors autograd saves for the backward pass during one forward pass
  on the given batch (saved-tensor hooks, each storage once, parameters excluded since they
  are counted as weights). This is what is alive at the peak, between forward and backward.

Their sum is the data party's peak training memory, up to allocator overhead and short-lived
temporaries inside single operations (which both compared set-ups share).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

MB = 2**20


@dataclass(frozen=True)
class TrainingMemory:
    weights: int  # bytes
    gradients: int
    optimizer: int
    activations: int
    trainable_parameters: int
    parameters: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def to_dict(self) -> dict[str, float | int]:
        return {"total_mb": round(self.total / MB, 2),
                "weights_mb": round(self.weights / MB, 2),
                "gradients_mb": round(self.gradients / MB, 2),
                "optimizer_mb": round(self.optimizer / MB, 2),
                "activations_mb": round(self.activations / MB, 2),
                "trainable_parameters": self.trainable_parameters,
                "parameters": self.parameters}


def _storage_key(tensor: torch.Tensor) -> int:
    return int(tensor.untyped_storage().data_ptr())


def training_memory(model: Any, batch: dict[str, torch.Tensor],
                    loss_fn: Callable[[Any, dict[str, torch.Tensor]], torch.Tensor],
                    optimizer_states: int = 2) -> TrainingMemory:
    """Count the training state of ``model`` on ``batch`` (AdamW: ``optimizer_states`` = 2)."""
    weights: dict[int, int] = {}
    trainable = parameters = grad_bytes = 0
    for param in model.parameters():
        key = _storage_key(param)
        if key in weights:
            continue
        weights[key] = param.untyped_storage().nbytes()
        parameters += param.numel()
        if param.requires_grad:
            trainable += param.numel()
            grad_bytes += param.numel() * param.element_size()
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = _storage_key(tensor)
        if key not in weights and key not in saved:
            saved[key] = tensor.untyped_storage().nbytes()
        return tensor

    was_training = model.training
    model.train()
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = loss_fn(model, batch)
        del loss  # the graph (and what it saved) is freed without a backward pass
    finally:
        model.train(was_training)
    return TrainingMemory(weights=sum(weights.values()), gradients=grad_bytes,
                          optimizer=optimizer_states * grad_bytes,
                          activations=sum(saved.values()), trainable_parameters=trainable,
                          parameters=parameters)
