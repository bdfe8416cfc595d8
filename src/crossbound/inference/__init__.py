"""Inference-time collaboration: the LM and the SM work together on each query or token."""

from crossbound.strategy import Registry

INFERENCE = Registry("inference")

from crossbound.inference import (  # noqa: E402, F401  (registers)
    cascade,
    private_prompt,
    proxy_strategy,
    speculative_strategy,
)
