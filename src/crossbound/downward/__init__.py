"""Downward transfer (LM → SM): the model party's LM teaches the data party's SM while the
private data stays with the data party."""

from crossbound.strategy import Registry

DOWNWARD = Registry("downward")

from crossbound.downward import lm_synthetic, logit_kd, offsite  # noqa: E402, F401  (registers)
