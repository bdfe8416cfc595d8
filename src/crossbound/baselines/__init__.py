"""Baselines every comparison needs: the small model alone, and the large model given the data.

They are the two corners of the trade-off: ``local-finetune`` sends nothing across the
boundary, ``remote-lm`` sends the raw private prompts to the model party.
"""

from crossbound.baselines import local_finetune, remote_lm  # noqa: F401  (registers)
from crossbound.baselines.registry import (
    BASELINES as BASELINES,  # the family's registry, re-exported
)
