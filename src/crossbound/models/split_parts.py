"""Model surgery for split learning and inference: the LM cut after block ``K``.

::

    embeddings, blocks 0 .. K-1        the data party's bottom (shipped to it)
    blocks K .. N-1                    the model party's top (never shipped)
    final norm, LM head                the data party's (U-shape) or the model party's

The bottom is shipped as a causal LM of ``K`` blocks (config and the tensors of
:func:`bottom_state`); the data party rebuilds it with :func:`assemble_bottom`. Either side
runs its blocks through :func:`decoder_view`, a shallow copy of the decoder that shares every
weight, holds a slice of the blocks, and replaces the final norm by the identity where it is
not that side's: the hidden state that crosses is the raw residual stream after block ``K-1``
(what HF calls ``hidden_states[K]``), and in U-shape the model party returns the raw stream
after block ``N-1``.

Only the config and :func:`~crossbound.models.derived.decoder_layers` are used, never
architecture-specific names.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import torch

from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import (
    CONFIG_MAXIMA,
    block_prefix,
    check_bundle_shapes,
    skeleton_shapes,
    unique_state,
)


def _name_of(model: Any, module: Any) -> str:
    for name, candidate in model.named_modules():
        if candidate is module:
            return name
    raise ValueError(f"{type(module).__name__} is not a submodule of the model")


def embedding_names(model: Any) -> list[str]:
    """Parameter names of the input embedding (``model.embed_tokens.weight`` for Llama)."""
    prefix = _name_of(model, model.get_input_embeddings())
    return [f"{prefix}.{n}" for n, _ in model.get_input_embeddings().named_parameters()]


def bottom_state(model: Any, cut: int, with_head: bool) -> dict[str, torch.Tensor]:
    """What the data party needs to run blocks ``0 .. cut-1``: the input embedding and those
    blocks; with ``with_head``, also every other non-block tensor (final norm, an untied LM
    head). Named as in ``model``; a tied head is the embedding, shipped once."""
    total = len(decoder_layers(model))
    if not 1 <= cut < total:
        raise ValueError(f"cut must be in 1..{total - 1} for a model of {total} blocks, got {cut}")
    prefix = block_prefix(model)
    keep_blocks = tuple(f"{prefix}.{i}." for i in range(cut))
    embeds = set(embedding_names(model))
    out: dict[str, torch.Tensor] = {}
    for name, tensor in unique_state(model).items():
        if name.startswith(f"{prefix}."):
            if name.startswith(keep_blocks):
                out[name] = tensor
        elif name in embeds or with_head:
            out[name] = tensor
    return out


def bottom_config(model: Any, cut: int) -> dict[str, Any]:
    """The model's config as JSON, for a causal LM of its first ``cut`` blocks."""
    config = json.loads(model.config.to_json_string(use_diff=False))
    config["num_hidden_layers"] = cut
    layer_types = config.get("layer_types")
    if isinstance(layer_types, list):  # Gemma-3: each block's attention type
        config["layer_types"] = layer_types[:cut]
    return config


def decoder_view(model: Any, start: int, stop: int, final_norm: bool) -> Any:
    """The model's decoder running only blocks ``start .. stop-1``, the final norm applied
    (``final_norm``) or replaced by the identity. Shares every weight with ``model`` (not its
    config: the view's says which blocks it has); call it with ``inputs_embeds=`` to start
    mid-stack."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = decoder_layers(model)
    view = copy.copy(decoder)
    view._modules = dict(decoder._modules)  # the view gets its own child table
    # Decoders pick each block's attention mask by its position in config.layer_types
    # (Qwen2, Gemma-3: sliding or full): the view's own config lists its blocks' types.
    config = copy.copy(decoder.config)
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == len(layers):
        config.layer_types = layer_types[start:stop]
    config.num_hidden_layers = stop - start
    view.config = config
    for name, child in decoder.named_children():
        if child is layers:
            view._modules[name] = torch.nn.ModuleList(list(layers)[start:stop])
        elif not final_norm and name == "norm":
            view._modules[name] = torch.nn.Identity()
    return view


def hidden_size(model: Any) -> int:
    return int(model.config.hidden_size)


# ---------------------------------------------------------------- the data party's side


def assemble_bottom(config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor],
                    with_head: bool) -> Any:
    """Rebuild the bottom from a config (JSON) and :func:`bottom_state` tensors, in fp32.

    The config may only name an architecture built into ``transformers``, its sizes bounded
    (:data:`~crossbound.models.emulator.CONFIG_MAXIMA`); the model it describes is laid out
    on the meta device first and the tensors must be exactly its blocks and embedding (and,
    with the head, the rest), with matching shapes, finite floating-point values. Without the
    head, the final norm and LM head are replaced by the identity: the data party never runs
    them, and must not hold random weights in their place.
    """
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ValueError(f"the bundle's config names model_type {model_type!r}, which is not "
                         "an architecture built into transformers")
    for key in ("num_hidden_layers", "hidden_size", "vocab_size", "intermediate_size"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 1 <= value <= CONFIG_MAXIMA[key]:
            raise ValueError(f"the bundle's config has {key}={value!r}; it must be an integer "
                             f"in 1..{CONFIG_MAXIMA[key]:,}")
    fields = {k: v for k, v in config.items() if k not in ("model_type", "auto_map")}
    try:
        model_config = AutoConfig.for_model(model_type, **fields)
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(model_config)
    except Exception as exc:
        raise ValueError(f"the bundle's config does not describe a buildable model: "
                         f"{type(exc).__name__}: {exc}") from exc
    shapes = skeleton_shapes(skeleton)
    prefix = block_prefix(skeleton)
    needed = {n for n in shapes if n.startswith(f"{prefix}.")} | set(embedding_names(skeleton))
    check_bundle_shapes(tensors, {n: shape for n, shape in shapes.items()
                                  if with_head or n in needed})
    for name, tensor in tensors.items():
        if not tensor.dtype.is_floating_point or not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"bundle tensor {name}: not finite floating-point values")
    model = AutoModelForCausalLM.from_config(model_config)
    model.float()
    model.load_state_dict({n: t.float() for n, t in tensors.items()}, strict=False)
    if not with_head:
        decoder = model.get_decoder()
        if isinstance(getattr(decoder, "norm", None), torch.nn.Module):
            decoder.norm = torch.nn.Identity()
        model.lm_head = torch.nn.Identity()
    for param in model.parameters():
        param.requires_grad_(False)
    model.eval()
    return model
