"""What trains: LoRA adapters on a causal LM's linear layers (PEFT), the model's own linear
layers, or every weight but the token embeddings and LM head.

Set up before a training loop (:func:`~crossbound.training.causal_lm.finetune`,
:func:`~crossbound.privacy.dp.dp_finetune`), which trains whatever requires gradients.
"""

from __future__ import annotations

from typing import Any

import torch

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def add_lora(model: Any, rank: int = 8, alpha: int = 16,
             layers: list[int] | None = None) -> Any:
    """Wrap ``model`` with LoRA adapters on its attention and MLP projections (PEFT); with
    ``layers``, only in those transformer blocks (by index)."""
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in present]
    if not targets:
        raise ValueError(f"no LoRA target layers ({LORA_TARGETS}) in {type(model).__name__}")
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets,
                        bias="none", task_type="CAUSAL_LM", layers_to_transform=layers)
    return get_peft_model(model, config)


def freeze_all_but_linear(model: Any) -> None:
    """Train only the blocks' linear layers (the LM head, tied to the embeddings, stays)."""
    head = model.get_output_embeddings()
    for module in model.modules():
        trainable = isinstance(module, torch.nn.Linear) and module is not head
        for param in module.parameters(recurse=False):
            param.requires_grad_(trainable)


def freeze_embeddings(model: Any) -> list[str]:
    """Freeze the token embeddings and the LM head (tied or not), to train every other weight;
    the names of the parameters frozen.

    What DP-SGD trains when it trains the whole model: the loss runs the head only at answer
    positions, so the head's per-sample gradients would be per position, and the head is
    usually tied to the embeddings.
    """
    frozen: list[str] = []
    modules = [model.get_input_embeddings(), model.get_output_embeddings()]
    ids = {id(p) for m in modules if m is not None for p in m.parameters()}
    for name, param in model.named_parameters():
        if id(param) in ids:
            param.requires_grad_(False)
            frozen.append(name)
    return frozen
