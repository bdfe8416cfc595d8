"""Upward transfer (SM → LM): the LM gains the private domain's knowledge while the private
data stays with the data party — through DP synthetic records or the SM's logits."""

from crossbound.strategy import Registry

UPWARD = Registry("upward")

from crossbound.upward import dp_synthetic, mutual_kt  # noqa: E402, F401  (registers)
