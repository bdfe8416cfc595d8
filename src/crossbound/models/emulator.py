"""Offsite-tuning model surgery (arXiv:2302.04870): adapter, emulator, plug-in, validation.

The LM's transformer blocks are split three ways::

    blocks 0 .. b-1          bottom adapter  (sent, trained by the data party)
    blocks b .. L-t-1        middle          (compressed by layer-drop into the emulator; frozen)
    blocks L-t .. L-1        top adapter     (sent, trained by the data party)

The *emulated model* the data party receives is the LM with only the adapter blocks and the
kept middle blocks, renumbered ``0 .. b+e+t-1`` (so positions ``0..b-1`` and ``b+e..b+e+t-1``
are the adapter). Embeddings, final norm and LM head ship with it: without them the adapter
cannot be trained on text, so they are part of what the owner gives away, and counted.

Everything here works from the config and :func:`~crossbound.models.derived.decoder_layers`,
never from architecture-specific names, so Llama and Gemma-3 (whose per-block attention
types :func:`~crossbound.models.derived.keep_layers` carries over) are handled alike.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.models.derived import decoder_layers, keep_layers, parse_layer_selection

BUNDLE_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class AdapterRejected(ValueError):
    """A returned adapter failed the model party's checks; nothing was plugged in."""


@dataclass(frozen=True)
class OffsiteSplit:
    """Which LM blocks are adapter, which middle blocks the emulator keeps (LM numbering)."""

    total: int
    bottom: tuple[int, ...]
    middle_kept: tuple[int, ...]
    top: tuple[int, ...]

    @property
    def kept(self) -> list[int]:
        """LM block indices the emulated model holds, in order."""
        return [*self.bottom, *self.middle_kept, *self.top]

    @property
    def middle(self) -> list[int]:
        return list(range(len(self.bottom), self.total - len(self.top)))

    @property
    def adapter_positions(self) -> list[int]:
        """Indices of the adapter blocks *inside the emulated model*."""
        b, e, t = len(self.bottom), len(self.middle_kept), len(self.top)
        return [*range(b), *range(b + e, b + e + t)]

    def lm_index(self, position: int) -> int:
        """The LM block an emulated-model block position came from."""
        return self.kept[position]

    def to_meta(self) -> dict[str, Any]:
        return {"lm_layers": self.total, "bottom": list(self.bottom),
                "middle_kept": list(self.middle_kept), "top": list(self.top),
                "adapter_positions": self.adapter_positions}


def plan_split(total: int, bottom: int, top: int, emulator_layers: int | None) -> OffsiteSplit:
    """Adapter = first ``bottom`` and last ``top`` blocks; the emulator keeps
    ``emulator_layers`` of the middle blocks, evenly spaced (first and last middle block
    included), or half of them (rounded up) when None — the paper's 50 % layer-drop."""
    if bottom < 1 or top < 1:
        raise ValueError(f"adapter_bottom and adapter_top must be >= 1 (got {bottom}, {top})")
    middle = total - bottom - top
    if middle < 1:
        raise ValueError(f"the LM has {total} blocks: {bottom} bottom + {top} top adapter "
                         "blocks leave no middle to emulate; use fewer adapter blocks")
    count = math.ceil(middle / 2) if emulator_layers is None else emulator_layers
    if not 0 <= count <= middle:
        raise ValueError(f"emulator_layers={count}: the middle has {middle} blocks; "
                         f"choose 0..{middle}")
    chosen = parse_layer_selection(str(count), middle) if count else []
    return OffsiteSplit(total=total, bottom=tuple(range(bottom)),
                        middle_kept=tuple(bottom + i for i in chosen),
                        top=tuple(range(total - top, total)))


def block_prefix(model: Any) -> str:
    """Qualified name of the block list (``model.layers`` for Llama and Gemma-3)."""
    layers = decoder_layers(model)
    for name, module in model.named_modules():
        if module is layers:
            return name
    raise ValueError("the block list is not a submodule of the model")  # pragma: no cover


def build_emulator(model: Any, split: OffsiteSplit) -> Any:
    """A copy of ``model`` holding only ``split.kept`` blocks (config updated to match)."""
    total = len(decoder_layers(model))
    if total != split.total:
        raise ValueError(f"the split is for {split.total} blocks, the model has {total}")
    emulator = copy.deepcopy(model)
    keep_layers(emulator, split.kept)
    # fp32 whatever the LM is held in: the emulator's middle may be distilled (trained) and its
    # adapter blocks are what the data party fine-tunes.
    emulator.float()
    return emulator


def unique_state(model: Any) -> dict[str, torch.Tensor]:
    """The model's persistent state with tied duplicates dropped (a tied LM head is the
    embedding): what must be shipped to rebuild it, each tensor once."""
    seen: set[int] = set()
    out: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        key = tensor.untyped_storage().data_ptr()
        if key in seen and tensor.numel() > 0:
            continue
        seen.add(key)
        out[name] = tensor
    return out


def adapter_names(state_names: Iterable[str], prefix: str, positions: Iterable[int]) -> list[str]:
    """Names (in ``state_names``) of the parameters of blocks ``positions`` under ``prefix``."""
    heads = tuple(f"{prefix}.{p}." for p in positions)
    return [n for n in state_names if n.startswith(heads)]


def adapter_state(model: Any, positions: Iterable[int]) -> dict[str, torch.Tensor]:
    """Detached copies of the adapter blocks' weights, named as in ``model``."""
    state = unique_state(model)
    names = adapter_names(state, block_prefix(model), positions)
    return {n: state[n].detach().clone() for n in names}


def validate_adapter(returned: Mapping[str, torch.Tensor], sent: Mapping[str, torch.Tensor],
                     max_relative_change: float) -> dict[str, Any]:
    """Check a returned adapter against the one sent; raise :class:`AdapterRejected` on any
    difference in names, shapes or dtypes, on non-finite values, or when a tensor moved by
    more than ``max_relative_change`` × its sent norm (floored at 1e-3·√n, so zero-initialised
    tensors may still move a little). Returns the changes it measured."""
    missing, extra = sorted(set(sent) - set(returned)), sorted(set(returned) - set(sent))
    if missing or extra:
        raise AdapterRejected(
            f"the adapter's tensor names differ from those sent: missing {missing[:5]}"
            f"{' …' if len(missing) > 5 else ''}, unexpected {extra[:5]}"
            f"{' …' if len(extra) > 5 else ''}")
    worst_name, worst = "", 0.0
    for name, ref in sent.items():
        new = returned[name]
        if tuple(new.shape) != tuple(ref.shape):
            raise AdapterRejected(f"{name}: shape {tuple(new.shape)}, expected {tuple(ref.shape)}")
        if new.dtype != ref.dtype:
            raise AdapterRejected(f"{name}: dtype {new.dtype}, expected {ref.dtype}")
        if not bool(torch.isfinite(new).all()):
            raise AdapterRejected(f"{name}: holds NaN or infinite values")
        floor = 1e-3 * math.sqrt(ref.numel())
        change = float((new.double() - ref.double()).norm()) / max(float(ref.double().norm()),
                                                                   floor)
        if change > max_relative_change:
            raise AdapterRejected(
                f"{name}: changed by {change:.3g} × its sent norm, over the bound of "
                f"{max_relative_change:g} (a tuned adapter stays near the weights it started "
                "from; this one does not)")
        if change >= worst:
            worst_name, worst = name, change
    return {"tensors": len(sent), "max_relative_change": worst,
            "most_changed": worst_name, "bound": max_relative_change}


def plug_in(model: Any, adapter: Mapping[str, torch.Tensor], split: OffsiteSplit,
            emulator_prefix: str) -> Any:
    """A copy of the full ``model`` with the adapter blocks replaced by ``adapter`` (tensors
    named as in the emulated model, whose block list is ``emulator_prefix``)."""
    plugged = copy.deepcopy(model)
    prefix = block_prefix(plugged)
    params = plugged.state_dict()
    updates: dict[str, torch.Tensor] = {}
    head = f"{emulator_prefix}."
    for name, tensor in adapter.items():
        position, _, rest = name[len(head):].partition(".")
        if not name.startswith(head) or not position.isdigit() or not rest:
            raise AdapterRejected(f"{name}: not an adapter block parameter")
        if int(position) not in split.adapter_positions:
            raise AdapterRejected(f"{name}: block {position} is not an adapter block")
        target = f"{prefix}.{split.lm_index(int(position))}.{rest}"
        if target not in params:
            raise AdapterRejected(f"{name}: the LM has no parameter {target}")
        updates[target] = tensor.to(params[target].dtype)
    plugged.load_state_dict(updates, strict=False)
    return plugged


def parameter_count(tensors: Mapping[str, torch.Tensor]) -> int:
    return sum(t.numel() for t in tensors.values())


# Sane maxima for the sizes a received config names (the largest open LMs sit well inside
# them). A config is the model party's word: it is bounded, and checked against the tensors
# that actually came, before the data party builds (allocates) anything from it.
CONFIG_MAXIMA: dict[str, int] = {
    "num_hidden_layers": 512, "hidden_size": 65_536, "vocab_size": 1 << 21,
    "num_attention_heads": 1_024, "num_key_value_heads": 1_024, "head_dim": 4_096,
    "intermediate_size": 1 << 19, "max_position_embeddings": 1 << 22,
}


def check_config_sizes(config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:
    """Refuse a bundle config whose sizes are out of range, or larger than the ``tensors``
    received can fill: more blocks than the tensors hold, a hidden/vocabulary/intermediate
    size no tensor has, or more parameters implied than were sent. Builds nothing."""
    sizes: dict[str, int] = {}
    for key, top in CONFIG_MAXIMA.items():
        value = config.get(key)
        if value is None and key in ("num_key_value_heads", "head_dim",
                                     "max_position_embeddings"):
            continue  # optional: derived from the others
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValueError(f"the bundle's config has {key}={value!r}; it must be an integer "
                             f"in 1..{top:,}")
        sizes[key] = value
    if not tensors:
        raise ValueError("the bundle holds no tensors")
    dims = {int(d) for t in tensors.values() for d in t.shape}
    for key in ("hidden_size", "vocab_size", "intermediate_size"):
        if sizes[key] not in dims:
            raise ValueError(f"the bundle's config has {key}={sizes[key]:,}, which no tensor "
                             "of the bundle has as a dimension")
    # Block indices the tensor names hold ("model.layers.3.mlp..." → 3).
    blocks = {m.group(1) for name in tensors for m in [re.search(r"\.(\d+)\.", name)] if m}
    if sizes["num_hidden_layers"] > len(blocks):
        raise ValueError(f"the bundle's config has num_hidden_layers="
                         f"{sizes['num_hidden_layers']:,} but its tensors hold "
                         f"{len(blocks)} blocks")
    # Every decoder LM holds at least its embedding and two hidden × intermediate matrices
    # per block (the MLP's up and down projections).
    implied = sizes["vocab_size"] * sizes["hidden_size"] + sizes["num_hidden_layers"] * 2 * \
        sizes["hidden_size"] * sizes["intermediate_size"]
    received = parameter_count(tensors)
    if implied > received:
        raise ValueError(f"the bundle's config implies at least {implied:,} parameters; its "
                         f"tensors hold {received:,}")


def _check_shapes_without_building(model_cls: Any, model_config: Any,
                                   tensors: Mapping[str, torch.Tensor]) -> None:
    """Compare the model a config describes with the tensors, on the meta device (no memory
    is allocated), so a config that would build something else is refused before it is."""
    try:
        with torch.device("meta"):
            skeleton = model_cls.from_config(model_config)
    except Exception as exc:  # an inconsistent config (e.g. heads not dividing hidden)
        raise ValueError(f"the bundle's config does not describe a buildable model: "
                         f"{type(exc).__name__}: {exc}") from exc
    check_bundle_shapes(tensors, skeleton_shapes(skeleton))


def skeleton_shapes(skeleton: Any) -> dict[str, tuple[int, ...]]:
    """Each state tensor's shape in a model built on the meta device, tied duplicates once
    (as :func:`unique_state` ships them; by object identity: meta tensors have no storage)."""
    seen: set[int] = set()
    shapes: dict[str, tuple[int, ...]] = {}
    for name, tensor in skeleton.state_dict(keep_vars=True).items():
        if id(tensor) not in seen:
            seen.add(id(tensor))
            shapes[name] = tuple(tensor.shape)
    return shapes


def check_bundle_shapes(tensors: Mapping[str, torch.Tensor],
                        expected: Mapping[str, tuple[int, ...]]) -> None:
    """A ``ValueError`` unless ``tensors`` are exactly the ``expected`` names and shapes."""
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ValueError(f"the bundle does not match its config: missing {missing[:5]}, "
                         f"unexpected {extra[:5]}")
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != expected[name]:
            raise ValueError(f"bundle tensor {name}: shape {tuple(tensor.shape)}, the config "
                             f"implies {expected[name]}")


def assemble_model(config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor],
                   dtype: torch.dtype = torch.float32) -> Any:
    """Rebuild a causal LM from a config (as JSON) and its :func:`unique_state` tensors — the
    data party's side of receiving an emulator bundle.

    The config may only name an architecture built into ``transformers`` (no remote code); its
    sizes are bounded (:data:`CONFIG_MAXIMA`) and checked against the tensors, and the model it
    describes is compared with them on the meta device, all before anything is built; the
    tensors must be exactly the model's state (names and shapes), floating point and finite.
    """
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ValueError(f"the bundle's config names model_type {model_type!r}, which is not "
                         "an architecture built into transformers")
    check_config_sizes(config, tensors)
    # auto_map would point at remote code; it is never followed here.
    fields = {k: v for k, v in config.items() if k not in ("model_type", "auto_map")}
    try:
        model_config = AutoConfig.for_model(model_type, **fields)
    except Exception as exc:
        raise ValueError(f"the bundle's config is not a valid {model_type} config: "
                         f"{type(exc).__name__}: {exc}") from exc
    _check_shapes_without_building(AutoModelForCausalLM, model_config, tensors)
    model = AutoModelForCausalLM.from_config(model_config)
    model.to(dtype)
    expected = unique_state(model)
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ValueError(f"the bundle does not match its config: missing {missing[:5]}, "
                         f"unexpected {extra[:5]}")
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ValueError(f"bundle tensor {name}: shape {tuple(tensor.shape)}, the config "
                             f"implies {tuple(expected[name].shape)}")
        if not tensor.dtype.is_floating_point or not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"bundle tensor {name}: not finite floating-point values")
    # strict=False only for tied duplicates (the head is the embedding), which unique_state
    # dropped and which load through the tensor they share.
    model.load_state_dict({n: t.to(dtype) for n, t in tensors.items()}, strict=False)
    model.eval()
    return model
