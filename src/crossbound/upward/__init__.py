"""Upward transfer (SM → LM): the LM gains the private domain's knowledge while the private
data stays with the data party — through DP synthetic records or the SM's logits."""

from crossbound.upward import dp_synthetic, mutual_kt  # noqa: F401  (registers)
from crossbound.upward.registry import UPWARD as UPWARD  # the family's registry, re-exported
