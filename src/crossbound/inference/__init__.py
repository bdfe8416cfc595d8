"""Inference-time collaboration: the LM and the SM work together on each query or token."""

from crossbound.strategy import Registry

INFERENCE = Registry("inference")

from crossbound.inference import cascade, private_prompt  # noqa: E402, F401  (registers)
