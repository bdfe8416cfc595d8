"""Downward transfer (LM → SM): the model party's LM teaches the data party's SM while the
private data stays with the data party."""

from crossbound.downward import lm_synthetic, logit_kd, offsite  # noqa: F401  (registers)
from crossbound.downward.registry import DOWNWARD as DOWNWARD  # the family's registry, re-exported
