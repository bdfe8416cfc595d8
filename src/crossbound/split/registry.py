"""The split family's registry, apart from the package: the family's modules register into it,
and the package imports them (so neither imports the other back).

Split learning and split inference register under the ``inference`` direction: the paper's
taxonomy (arXiv 2504.17421, and DESIGN.md) places split inference/learning among the
inference-time collaborations — the LM and the data party's bottom run *together* on every
record, neither transfers knowledge to the other's model — and the bench colours and groups
cells by direction. A fourth direction would say nothing the family name does not, and would
need its own colour, plots and planner rules for no difference in how cells compare. The family
keeps its own registry (and folder) because its code shares nothing with the query-based
inference strategies.
"""

from crossbound.strategy import Registry

SPLIT = Registry("inference")
