"""Derived small models: a causal LM with only some of its transformer blocks kept.

``smollm2-135m:layers=6`` keeps 6 of 30 blocks, evenly spaced and always including the first
and the last (the blocks nearest the embeddings and the head matter most). ``layers=0-3+28+29``
names the blocks to keep. The result shares the parent's tokenizer, so it can draft for it,
distil from it, or be proxy-tuned with it.
"""

from __future__ import annotations

from typing import Any

import torch


def parse_layer_selection(value: str, total: int) -> list[int]:
    """``"6"`` → 6 evenly spaced blocks; ``"0-3+28+29"`` → exactly those blocks."""
    value = value.strip()
    if value.isdigit():
        count = int(value)
        if not 1 <= count <= total:
            raise ValueError(f"layers={count}: the model has {total} blocks; choose 1..{total}")
        if count == 1:
            return [total - 1]
        return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})
    chosen: set[int] = set()
    for part in value.split("+"):
        lo, dash, hi = part.partition("-")
        try:
            start, end = int(lo), int(hi) if dash else int(lo)
        except ValueError as exc:
            raise ValueError(
                f"layers={value!r}: expected a count (6) or block ranges like 0-3+28+29"
            ) from exc
        if not 0 <= start <= end < total:
            raise ValueError(f"layers={value!r}: block range {part!r} outside 0..{total - 1}")
        chosen.update(range(start, end + 1))
    return sorted(chosen)


def decoder_layers(model: Any) -> torch.nn.ModuleList:
    """The list of transformer blocks of a decoder-only HF model (Llama, Gemma-3, GPT-2 ...)."""
    for path in ("model.layers", "model.decoder.layers", "transformer.h", "gpt_neox.layers"):
        obj = model
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, torch.nn.ModuleList):
            return obj
    raise ValueError(f"cannot find the transformer blocks of {type(model).__name__}")


def keep_layers(model: Any, keep: list[int]) -> None:
    """Keep only blocks ``keep`` (in order), in place, with the config updated to match."""
    layers = decoder_layers(model)
    total = len(layers)
    if not keep or any(not 0 <= i < total for i in keep) or sorted(set(keep)) != keep:
        raise ValueError(f"keep must be sorted distinct block indices in 0..{total - 1}: {keep}")
    kept = torch.nn.ModuleList(layers[i] for i in keep)
    for new_index, block in enumerate(kept):
        # Attention modules index the KV cache by their layer number; renumber them so the
        # cache has exactly len(keep) slots.
        for module in block.modules():
            if hasattr(module, "layer_idx"):
                setattr(module, "layer_idx", new_index)  # noqa: B010
    layers_parent_path = _parent_of(model, layers)
    setattr(layers_parent_path[0], layers_parent_path[1], kept)
    config = model.config
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == total:
        # Gemma-3 alternates sliding-window and full attention per block; keep each block's type.
        config.layer_types = [layer_types[i] for i in keep]
    config.num_hidden_layers = len(keep)


def _parent_of(model: Any, target: torch.nn.Module) -> tuple[Any, str]:
    for module in model.modules():
        for child_name, child in module.named_children():
            if child is target:
                return module, child_name
    raise ValueError("block list not found in the model")  # pragma: no cover
