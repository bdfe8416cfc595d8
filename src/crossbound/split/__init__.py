"""Split learning and split inference (SplitLoRA, arXiv:2407.00952): the LM cut in two, the
data party running its bottom blocks on private text, the model party the rest.

- :mod:`~crossbound.split.settings`: the settings both strategies share, and the contract;
- :mod:`~crossbound.split.data_party`: the data party's side (the bottom it receives, what it
  sends, the U-shape's head);
- :mod:`~crossbound.split.measures`: bytes, memory, the noise's accounting, the inversion
  attack on what crossed;
- :mod:`~crossbound.split.strategies`: ``split-finetune`` and ``split-inference``.

The model party's side is :mod:`crossbound.parties.split`.
"""

from crossbound.split import strategies  # noqa: F401  (registers)
from crossbound.split.registry import SPLIT as SPLIT  # the family's registry, re-exported
