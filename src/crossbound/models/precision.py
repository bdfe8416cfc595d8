"""Numeric precision: bf16 where the hardware runs it fast, fp32 otherwise.

Two uses, one setting (``auto``, ``fp32`` or ``bf16``):

- **frozen models** (the model party's LM, a reference model, a draft) hold bf16 weights: half
  the memory, and every matmul runs on the CPU's bf16 units (AVX512-BF16 / AMX);
- **training** keeps fp32 master weights and runs forward and backward under
  ``torch.autocast(dtype=bfloat16)``, so optimiser steps, LoRA and DP-SGD's clipping and noise
  keep their fp32 semantics while the matmuls run in bf16.

``auto`` picks bf16 when the CPU advertises bf16 instructions (Linux ``/proc/cpuinfo`` flags
``avx512_bf16`` or ``amx_bf16``; on CUDA, ``torch.cuda.is_bf16_supported()``), fp32 otherwise:
on a CPU without them PyTorch emulates bf16 and is slower than fp32. ``$CROSSBOUND_PRECISION``
overrides ``auto`` (the test suite pins fp32 with it, so that tiny-model checks compare like
with like).

A run enters :func:`precision_scope` once; :func:`frozen_dtype` and :func:`active_precision`
read it, so a strategy need not thread the setting through every helper. The scope is a
context variable plus thread-local autocast: code that computes in another thread enters its
own scope (the HTTP service does, per request).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import platform
from collections.abc import Iterator
from typing import Literal, get_args

import torch

Precision = Literal["auto", "fp32", "bf16"]
Resolved = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
ENV_VAR = "CROSSBOUND_PRECISION"

_active: contextvars.ContextVar[Resolved | None] = contextvars.ContextVar(
    "crossbound_precision", default=None)


def check_precision(value: object) -> Precision:
    """``value`` if it names a precision, else a ``ValueError`` listing the choices."""
    if value not in PRECISIONS:
        raise ValueError(f"precision={value!r}: choose one of {list(PRECISIONS)}")
    return value  # type: ignore[return-value]


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (x86 AVX512-BF16 or AMX; Arm BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            flags = set()
            for line in handle:
                if line.startswith(("flags", "Features")):
                    flags.update(line.split(":", 1)[1].split())
                    break
    except OSError:
        return False
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "bf16" in flags
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def bf16_supported(device: str | torch.device = "cpu") -> bool:
    kind = torch.device(device).type
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return kind == "cpu" and cpu_has_bf16()


def resolve_precision(precision: Precision = "auto",
                      device: str | torch.device = "cpu") -> Resolved:
    """The concrete precision for ``precision`` on ``device``.

    ``auto`` follows ``$CROSSBOUND_PRECISION`` when set, else the hardware. An explicit
    ``bf16`` is honoured even where it is emulated (slow, but a user may want to compare).
    """
    check_precision(precision)
    if precision == "auto":
        env = os.environ.get(ENV_VAR, "").strip().lower()
        if env:
            if env not in ("fp32", "bf16", "auto"):
                raise ValueError(f"${ENV_VAR}={env!r}: choose fp32, bf16 or auto")
            if env == "bf16":
                return "bf16"
            if env == "fp32":
                return "fp32"
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


def torch_dtype(resolved: Resolved) -> torch.dtype:
    return torch.bfloat16 if resolved == "bf16" else torch.float32


def active_precision() -> Resolved:
    """The precision of the enclosing :func:`precision_scope`, else what ``auto`` resolves to."""
    current = _active.get()
    return current if current is not None else resolve_precision("auto")


def frozen_dtype() -> torch.dtype:
    """The dtype to hold a model that is not trained in the current scope."""
    return torch_dtype(active_precision())


@contextlib.contextmanager
def precision_scope(precision: Precision = "auto",
                    device: str | torch.device = "cpu") -> Iterator[Resolved]:
    """Run the enclosed code at ``precision``: bf16 autocast for fp32 weights, and frozen
    models loaded inside it (``load_model(..., frozen=True)``) in bf16."""
    resolved = resolve_precision(precision, device)
    token = _active.set(resolved)
    kind = torch.device(device).type
    # No weight-cast cache: autocast keeps the bf16 copy of each fp32 weight until the outermost
    # autocast region exits, and a scope spans whole training loops, whose optimiser steps would
    # then never reach the forward pass (the model would stop learning after step one).
    autocast: contextlib.AbstractContextManager[object] = (
        torch.autocast(kind, dtype=torch.bfloat16, cache_enabled=False) if resolved == "bf16"
        else contextlib.nullcontext())
    try:
        with autocast:
            yield resolved
    finally:
        _active.reset(token)


def hold_frozen_weights_in_scope(model: torch.nn.Module) -> int:
    """Under bf16, convert the parameters that will not be trained to bf16, in place.

    Only trained parameters need fp32 master copies. A frozen fp32 weight is cast to bf16 by
    autocast at every use, which costs a copy of the weight per forward pass: with LoRA on
    Qwen2.5-Coder-1.5B the bf16 step was 1.67x fp32 that way and 2.09x with the frozen weights
    held in bf16 (``benchmarks/precision.py``, before and after). Returns how many parameters
    were converted (0 in fp32).
    """
    if active_precision() != "bf16":
        return 0
    converted = 0
    for param in model.parameters():
        if not param.requires_grad and param.dtype == torch.float32:
            param.data = param.data.to(torch.bfloat16)
            converted += param.numel()
    return converted


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """Turn autocast off inside a bf16 scope, for code whose semantics need fp32 throughout
    (e.g. per-sample gradients, which Opacus computes from the activations it captured)."""
    with torch.autocast("cpu", enabled=False):
        yield
