"""Activation noise: Gaussian noise on the hidden states a data party sends across the boundary.

In split inference/learning the data party runs the first blocks of the model and sends their
output ``(B, T, d)`` to the model party; adding ``N(0, σ²)`` noise to every coordinate before
sending is the mechanism SplitLoRA-style systems use against inversion (arXiv 2407.00952; the
noise defence studied by Song & Raghunathan 2020 for embeddings). Without a bound on the
activations' sensitivity (clipping) this is a heuristic defence, not differential privacy:
how much it protects is measured, by :mod:`crossbound.evaluate.inversion`.

σ means little in absolute terms (activation scales differ by orders of magnitude between
layers and models), so :func:`mean_dim_std` gives the scale to set it relative to.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def add_activation_noise(
    hidden: Tensor, std: float, generator: torch.Generator | None = None
) -> Tensor:
    """``hidden + N(0, std²)`` elementwise, any shape (e.g. ``(B, T, d)`` or ``(N, d)``).

    Returns a new tensor of ``hidden``'s dtype and device; ``std = 0`` returns a copy. Draws
    from ``generator`` (which must live on ``hidden``'s device) so that runs are repeatable.
    """
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not math.isfinite(std) \
            or std < 0:
        raise ValueError(f"noise std must be a finite number >= 0, got {std!r}")
    if not hidden.is_floating_point():
        raise TypeError(f"hidden states must be a floating-point tensor, got {hidden.dtype}")
    if std == 0:
        return hidden.clone()
    noise = torch.randn(hidden.shape, generator=generator, dtype=hidden.dtype,
                        device=hidden.device)
    return hidden + std * noise


def mean_dim_std(hidden: Tensor) -> float:
    """Mean over the last dimension of each coordinate's standard deviation across tokens.

    ``hidden`` is ``(..., d)``; every leading position counts as one sample. A noise std of
    ``c · mean_dim_std(h)`` gives a per-coordinate signal-to-noise ratio near ``1 / c`` (for the
    typical coordinate: a few outlier dimensions carry far larger values).
    """
    flat = hidden.reshape(-1, hidden.shape[-1]).double()  # (N, d)
    if flat.shape[0] < 2:
        raise ValueError("need at least two hidden-state vectors to estimate their spread")
    return float(flat.std(dim=0).mean())
