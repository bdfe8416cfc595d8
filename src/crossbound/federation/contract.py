"""The ``fed-adapter`` access contract, its guards, and Flower ⇄ torch conversions.

What may cross between the model party and a data party in a federation: the LoRA adapter
both parties agreed on (names, shapes, float32) down and up, numbers both ways, and, with
secure aggregation, SecAgg+ key material and masked updates instead of plain updates
(:func:`secure_rules`; the protocol itself is :mod:`crossbound.federation.secagg`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import numpy as np
import torch
from flwr.app import ArrayRecord

from crossbound.boundary.contracts import (
    AccessContract,
    Allow,
    GuardContext,
    allow,
    register_guard,
)
from crossbound.boundary.messages import Kind, Message
from crossbound.federation.adapter import AdapterSpec, Tensors

GLOBAL_ADAPTER = "fed-global-adapter"  # meta.artifact of the model party's adapter
ADAPTER_UPDATE = "fed-adapter-update"  # meta.artifact of a data party's trained adapter
SPEC_KEY = "fed_adapter_spec"  # GuardContext.extra: the AdapterSpec both parties expect
EMULATOR_BUNDLE = "fed-emulator-bundle"  # meta.artifact of OT+'s emulated model going down
HELLO = "hello"
# The numbers a data party reports, and nothing else (a strategy aggregates them by key).
TRAIN_METRICS = ("num-examples", "train-loss-first", "train-loss-last", "train-steps",
                 "train-seconds")
EVAL_METRICS = ("num-examples", "utility", "eval-seconds")
# SecAgg+ (crossbound.federation.secagg): what crosses instead of a plain update.
KEYS = "fed-secagg-keys"  # public keys, encrypted key shares, key shares
MASKED = "fed-secagg-masked-update"
FACTOR = "weight-factor"  # the masked, quantised record-count weight (first masked array)
MOD_RANGE = 1 << 32  # masks are uniform mod 2**32 (Flower's default and maximum)
MAX_KEY_BYTES = 4096  # one public key, ciphertext or share
_TEXT_KEYS = frozenset({"op", "party", "error"})  # metrics keys that may hold a short string
KiB = 1 << 10
R = TypeVar("R")


# ---------------------------------------------------------------- contract


def adapter_tensors_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a tensors message is exactly the LoRA adapter both parties agreed on (names,
    shapes, float32), as registered in ``context.extra["fed_adapter_spec"]``."""
    spec = context.extra.get(SPEC_KEY)
    if not isinstance(spec, AdapterSpec):
        return "no adapter spec is registered for this party (GuardContext.extra)"
    return spec.problem(message.payload)


def numbers_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a metrics message holds numbers (and a short op, party name or error text)."""
    if len(message.payload) > 64:
        return f"{len(message.payload)} metrics exceed the limit of 64"
    for key, value in message.payload.items():
        if isinstance(value, int | float):
            continue
        if isinstance(value, str) and key in _TEXT_KEYS and len(value) <= 2000:
            continue
        return (f"{key!r}: only numbers may cross as metrics (short text only under "
                f"{sorted(_TEXT_KEYS)})")
    return None


register_guard("fed-adapter-tensors", adapter_tensors_only)
register_guard("fed-numbers-only", numbers_only)


def keys_only(message: Message, context: GuardContext) -> str | None:
    """Guard: key material is short uint8 vectors (no more than a few per neighbour)."""
    if len(message.payload) > 4 * 1024:
        return f"{len(message.payload)} key tensors are too many"
    for name, tensor in message.payload.items():
        if tensor.dtype != torch.uint8 or tensor.dim() != 1 or tensor.numel() > MAX_KEY_BYTES:
            return f"{name} is not a byte string of at most {MAX_KEY_BYTES} bytes"
    return None


def masked_update_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a masked update has the adapter's names and shapes (plus ``weight-factor``),
    int64 values in [0, 2**32)."""
    spec = context.extra.get(SPEC_KEY)
    if not isinstance(spec, AdapterSpec):
        return "no adapter spec is registered for this party (GuardContext.extra)"
    expected = {FACTOR: (1,), **spec.shapes}
    if set(message.payload) != set(expected):
        return "masked tensor names differ from the adapter's"
    for name, tensor in message.payload.items():
        if tuple(tensor.shape) != expected[name] or tensor.dtype != torch.int64:
            return f"{name} is not int64 of shape {expected[name]}"
        if bool((tensor < 0).any()) or bool((tensor >= MOD_RANGE).any()):
            return f"{name} holds values outside [0, 2**32)"
    return None


register_guard("fed-secagg-keys", keys_only)
register_guard("fed-secagg-masked", masked_update_only)


def secure_rules(spec: AdapterSpec, parties_hint: int = 64) -> tuple[Allow, ...]:
    """The extra crossings SecAgg+ needs (see :func:`fed_adapter_contract`)."""
    keys_limit = 64 * 1024 + 4 * MAX_KEY_BYTES * parties_hint
    masked_limit = 2 * (spec.nbytes + 8) + 64 * 1024  # int64: twice the float32 adapter
    return (
        allow("model", Kind.TENSORS, max_bytes=keys_limit, artifacts={KEYS},
              guards=("fed-secagg-keys",)),
        allow("data", Kind.TENSORS, max_bytes=keys_limit, artifacts={KEYS},
              guards=("fed-secagg-keys",)),
        allow("data", Kind.TENSORS, max_bytes=masked_limit, artifacts={MASKED},
              guards=("fed-secagg-masked",)),
    )


def fed_adapter_contract(spec: AdapterSpec, secure: bool = False,
                         bundle_bytes: int | None = None) -> AccessContract:
    """What may cross in ``fed-adapter``: the LoRA adapter of ``spec`` both ways, and numbers;
    with ``secure`` (SecAgg+), also key material both ways and masked updates up, and no
    plain update; with ``bundle_bytes`` (OT+), also the model party's emulated model down,
    once per party, up to that size."""
    limit = 2 * spec.nbytes + 64 * KiB  # safetensors adds a small header per tensor
    bundle = () if bundle_bytes is None else (
        allow("model", Kind.TENSORS, max_bytes=bundle_bytes + 1024 * KiB,
              artifacts={EMULATOR_BUNDLE}),)
    rules = (*bundle,
        allow("model", Kind.TENSORS, max_bytes=limit, artifacts={GLOBAL_ADAPTER},
              guards=("fed-adapter-tensors",)),
        allow("model", Kind.METRICS, max_bytes=64 * KiB, guards=("fed-numbers-only",)),
        allow("data", Kind.METRICS, max_bytes=64 * KiB, guards=("fed-numbers-only",)),
    )
    if not secure:
        return AccessContract(
            "fed-adapter" if bundle_bytes is None else "fed-adapter-ot-plus",
            (*rules, allow("data", Kind.TENSORS, max_bytes=limit, artifacts={ADAPTER_UPDATE},
                           guards=("fed-adapter-tensors",))),
            f"The model party sends the global LoRA adapter ({spec.parameters} parameters) "
            "and round settings; each data party returns its trained adapter (same names and "
            "shapes) and numbers (record count, losses, test utility). No text or records "
            "cross.")
    return AccessContract(
        "fed-adapter-secagg" if bundle_bytes is None else "fed-adapter-ot-plus-secagg",
        (*rules, *secure_rules(spec)),
        f"The model party sends the global LoRA adapter ({spec.parameters} parameters), "
        "round settings and SecAgg+ key material; each data party returns public keys, key "
        "shares (encrypted for its neighbours, or for unmasking the sum), its adapter masked "
        "mod 2**32 and numbers. No plain update, text or records cross.")


def guard_context(spec: AdapterSpec) -> GuardContext:
    return GuardContext(extra={SPEC_KEY: spec})


# ---------------------------------------------------------------- conversions


def arrays_to_tensors(record: ArrayRecord) -> Tensors:
    """Flower arrays (NumPy .npy bytes, never pickle) as writable torch tensors."""
    return {name: torch.from_numpy(np.array(array.numpy(), copy=True))
            for name, array in record.items()}


def tensors_to_arrays(tensors: Mapping[str, torch.Tensor]) -> ArrayRecord:
    return ArrayRecord.from_torch_state_dict(dict(tensors))


def single(records: Mapping[str, R], what: str) -> tuple[str, R]:
    if len(records) != 1:
        raise ValueError(f"expected exactly one {what}, found {len(records)}")
    return next(iter(records.items()))
