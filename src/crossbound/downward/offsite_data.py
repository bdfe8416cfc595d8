"""The data party's side of offsite-tuning: receive the emulator bundle, train only the
adapter blocks, export them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from crossbound.boundary.messages import Kind, Message
from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import BUNDLE_DTYPES, adapter_state, assemble_model, block_prefix
from crossbound.parties.offsite import BUNDLE_ARTIFACT


@dataclass
class Received:
    """The emulated model as the data party holds it."""

    model: Any
    adapter_positions: list[int]  # blocks of ``model`` that are the adapter
    dtype: torch.dtype  # the bundle's dtype: what the adapter is returned in
    meta: dict[str, Any]


def receive_bundle(reply: Message) -> Received:
    """Check the model party's bundle and assemble the emulated model from it (fp32)."""
    meta = reply.meta
    if reply.kind != Kind.TENSORS or meta.get("artifact") != BUNDLE_ARTIFACT:
        raise ValueError(f"expected a tensors reply with artifact {BUNDLE_ARTIFACT!r}")
    config, split = meta.get("config"), meta.get("split")
    if not isinstance(config, dict) or not isinstance(split, dict):
        raise ValueError("the bundle's meta lacks its config or split")
    dtype_name = meta.get("dtype")
    if dtype_name not in BUNDLE_DTYPES:
        raise ValueError(f"the bundle's dtype {dtype_name!r} is not one of {list(BUNDLE_DTYPES)}")
    model = assemble_model(config, reply.payload)
    blocks = len(decoder_layers(model))
    positions = split.get("adapter_positions")
    if (not isinstance(positions, list) or not positions
            or not all(isinstance(p, int) and not isinstance(p, bool) for p in positions)
            or sorted(set(positions)) != positions or positions[0] < 0
            or positions[-1] >= blocks or len(positions) == blocks):
        raise ValueError(f"the bundle's adapter positions {positions!r} are not a proper "
                         f"subset of the emulated model's {blocks} blocks")
    if meta.get("block_prefix") != block_prefix(model):
        raise ValueError("the bundle's block prefix does not match its model")
    return Received(model, positions, BUNDLE_DTYPES[dtype_name], meta)


def adapter_modules(model: Any, positions: Sequence[int]) -> list[str]:
    """Qualified names of the linear layers inside the adapter blocks (LoRA targets)."""
    heads = tuple(f"{block_prefix(model)}.{p}." for p in positions)
    return [name for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name.startswith(heads)]


def train_only_adapter(model: Any, positions: Sequence[int], trainable: str,
                       lora_rank: int) -> Any:
    """Freeze everything but the adapter blocks: ``full`` trains their every weight, ``lora``
    wraps their linear layers with PEFT LoRA (returns the PEFT model)."""
    for param in model.parameters():
        param.requires_grad_(False)
    if trainable == "full":
        heads = tuple(f"{block_prefix(model)}.{p}." for p in positions)
        for name, param in model.named_parameters():
            if name.startswith(heads):
                param.requires_grad_(True)
        return model
    if trainable != "lora":
        raise ValueError(f"trainable must be full or lora, got {trainable!r}")
    from peft import LoraConfig, get_peft_model

    targets = adapter_modules(model, positions)
    if not targets:
        raise ValueError("the adapter blocks hold no linear layers to put LoRA on")
    # Exact module names: PEFT then wraps these layers only, never the emulator's.
    config = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0,
                        target_modules=targets, bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def export_adapter(model: Any, received: Received, folder: Path) -> dict[str, torch.Tensor]:
    """The tuned adapter blocks' weights in the bundle's dtype, as the model party expects
    them; also written to ``folder/adapter.safetensors`` (and, for LoRA, the PEFT adapter to
    ``folder/lora``). LoRA is merged first, so what is returned is always whole adapter blocks
    with the names and shapes that were sent."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):
        model.save_pretrained(folder / "lora")
        model = model.merge_and_unload()
    tensors = {n: t.to(received.dtype).contiguous()
               for n, t in adapter_state(model, received.adapter_positions).items()}
    save_file(tensors, str(folder / "adapter.safetensors"),
              metadata={"format": "pt", "source": "crossbound offsite-tuning"})
    return tensors
