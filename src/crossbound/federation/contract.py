"""The ``fed-adapter`` access contract, its guards, and Flower ⇄ torch conversions.

What may cross between the model party and a data party in a federation: the LoRA adapter
both parties agreed on (names, shapes, float32) down and up, numbers both ways, and, with
secure aggregation, SecAgg+ key material and masked updates instead of plain updates
(:func:`crossbound.federation.secagg.secure_rules`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import numpy as np
import torch
from flwr.app import ArrayRecord

from crossbound.boundary.contracts import AccessContract, GuardContext, allow, register_guard
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
    from crossbound.federation.secagg import secure_rules

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
