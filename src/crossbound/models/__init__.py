"""Models: named real models from PyPI packages, tiny test models, derived small models."""

from crossbound.models.loading import LoadedModel, is_cached, load_model, prepare_model
from crossbound.models.registry import ModelSpec, get_spec, model_specs

__all__ = [
    "LoadedModel",
    "ModelSpec",
    "get_spec",
    "is_cached",
    "load_model",
    "model_specs",
    "prepare_model",
]
