"""Clipped activation noise and its accounting: the Gaussian mechanism on token vectors.

:mod:`crossbound.privacy.activation_noise` adds ``N(0, s²)`` to hidden states whose scale is
unbounded, a heuristic. Here each token's vector (the last dimension of ``(B, T, d)``) is first
clipped to L2 norm at most ``C``, then ``N(0, σ²C²)`` is added to every coordinate. Two vectors
of norm ≤ C differ by at most ``2C``, so one noised vector is a Gaussian mechanism with
sensitivity ``2C`` and noise ``σC``: ``μ = 2/σ`` in Gaussian differential privacy (Dong, Roth
& Su 2019, arXiv:1905.02383). What that is, precisely:

- **per crossing, per vector**: whoever sees one noised vector cannot tell which of any two
  clipped vectors it came from better than a ``μ = 2/σ``-GDP test allows
  (:func:`gaussian_epsilon` converts to ``(ε, δ)``);
- **not** a guarantee for a record: a record of ``T`` tokens crosses ``T`` vectors per pass
  (and, in split learning, a gradient per token on the way back), every one a function of the
  record. Gaussian mechanisms compose exactly in GDP: ``k`` of them are ``2√k/σ``-GDP
  (:func:`composed_mu`). That is the record-level figure, and only when every vector that
  depends on the record is clipped and noised: a data party that trains its own blocks makes
  every later vector depend on every earlier record, and labels sent in the clear are not
  noised at all — then there is no record-level bound (the caller must say so).

Nothing here hides the *shape* of what crosses: the batch size, the sequence lengths and the
padding mask cross as they are.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DEFAULT_DELTA = 1e-5


def clip_token_norms(hidden: Tensor, clip_norm: float) -> Tensor:
    """``hidden`` ``(..., d)`` with every vector of the last dimension scaled down to L2 norm at
    most ``clip_norm`` (vectors already inside are unchanged). Differentiable."""
    if not clip_norm > 0 or not math.isfinite(clip_norm):
        raise ValueError(f"clip_norm must be a finite number > 0, got {clip_norm!r}")
    norms = hidden.float().norm(dim=-1, keepdim=True)  # (..., 1)
    scale = (clip_norm / norms.clamp_min(1e-12)).clamp(max=1.0)
    return hidden * scale.to(hidden.dtype)


def clip_and_noise(hidden: Tensor, clip_norm: float | None, sigma: float,
                   generator: torch.Generator | None = None) -> Tensor:
    """Each token vector clipped to ``clip_norm`` (None: not clipped), plus ``N(0, σ²C²)``.

    ``sigma`` > 0 needs a ``clip_norm``: noise relative to an unbounded scale bounds nothing.
    The noise is drawn from ``generator`` (repeatable runs) and added outside autograd's view
    of the clip: gradients pass through the noise unchanged and through the clip as its
    derivative says."""
    if isinstance(sigma, bool) or not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"noise sigma must be a finite number >= 0, got {sigma!r}")
    if sigma > 0 and clip_norm is None:
        raise ValueError("noise_sigma > 0 needs a clip_norm: the noise is σ·C")
    out = hidden if clip_norm is None else clip_token_norms(hidden, clip_norm)
    if sigma == 0:
        return out
    assert clip_norm is not None
    noise = torch.randn(out.shape, generator=generator, dtype=torch.float32)
    return out + (sigma * clip_norm * noise).to(out.dtype).to(out.device)


def noised_norm_bound(clip_norm: float, sigma: float, dim: int, tail: float = 10.0) -> float:
    """A norm no clipped-and-noised ``dim``-vector exceeds but with probability below
    ``exp(-tail²/2)`` (Gaussian norm concentration: ``‖z‖ ≤ s(√d + t)`` but w.p. ``e^{-t²/2}``):
    what a receiver may refuse above without refusing honest traffic."""
    return clip_norm * (1.0 + sigma * (math.sqrt(dim) + tail)) * (1 + 1e-3)


# ---------------------------------------------------------------- accounting


def composed_mu(sigma: float, vectors: int) -> float:
    """GDP ``μ`` of ``vectors`` clipped-and-noised vectors, each with sensitivity ``2C`` and
    noise ``σC``: ``2√k / σ`` (Gaussian mechanisms compose exactly). ``inf`` for ``σ = 0``."""
    if vectors < 0:
        raise ValueError(f"vectors must be >= 0, got {vectors}")
    if sigma <= 0:
        return math.inf
    return 2.0 * math.sqrt(vectors) / sigma


def _log_phi(x: float) -> float:
    """log Φ(x), the standard normal CDF, accurate far into the lower tail."""
    if x > -30.0:
        return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))
    # Asymptotic series of the Mills ratio: Φ(x) ≈ φ(x)/|x| · (1 − 1/x² + 3/x⁴)
    return (-0.5 * x * x - math.log(-x) - 0.5 * math.log(2 * math.pi)
            + math.log1p(-1.0 / x**2 + 3.0 / x**4))


def _delta(epsilon: float, mu: float) -> float:
    """δ(ε) of a μ-GDP mechanism: Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) (Dong et al., Cor. 2.13)."""
    first = math.exp(_log_phi(-epsilon / mu + mu / 2))
    second = math.exp(min(700.0, epsilon + _log_phi(-epsilon / mu - mu / 2)))
    return max(0.0, first - second)


def gaussian_epsilon(mu: float, delta: float = DEFAULT_DELTA) -> float:
    """The smallest ε with a ``μ``-GDP mechanism ``(ε, δ)``-DP (``inf`` for ``μ = inf``)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    if math.isinf(mu):
        return math.inf
    if mu <= 0:
        return 0.0
    if _delta(0.0, mu) <= delta:
        return 0.0
    low, high = 0.0, 1.0
    while _delta(high, mu) > delta:
        low, high = high, high * 2
        if high > 1e7:
            return math.inf
    for _ in range(100):  # bisection: δ(ε) decreases in ε
        mid = (low + high) / 2
        if _delta(mid, mu) > delta:
            low = mid
        else:
            high = mid
    return high
