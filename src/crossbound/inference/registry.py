"""The inference family's registry, apart from the package: the family's modules register
into it, and the package imports them (so neither imports the other back)."""

from crossbound.strategy import Registry

INFERENCE = Registry("inference")
