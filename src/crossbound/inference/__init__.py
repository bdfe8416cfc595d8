"""Inference-time collaboration: the LM and the SM work together on each query or token."""

from crossbound.inference import (  # noqa: F401  (registers)
    cascade,
    private_prompt,
    proxy_strategy,
    speculative_strategy,
)
from crossbound.inference.registry import (
    INFERENCE as INFERENCE,  # the family's registry, re-exported
)
