"""Load a named model and its tokenizer, converting and caching GGUF weights on first use.

A distilled model loads from its cache entry once that is built; building one trains, which
this layer leaves to its caller (:func:`prepare_model`'s ``distil``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from crossbound.models.cache import CacheEntry, CorruptCacheEntry, cache_root, sha256_file
from crossbound.models.derived import keep_layers, parse_layer_selection
from crossbound.models.distilled import Distiller
from crossbound.models.precision import frozen_dtype
from crossbound.models.registry import ModelSpec, get_spec
from crossbound.models.tiny import build_tiny
from crossbound.naming import parse_spec

log = logging.getLogger(__name__)

Status = Callable[[str], None]


class ModelNotBuilt(RuntimeError):
    """A distilled model's cache entry is missing (or corrupt) and no distiller was given."""


@dataclass
class LoadedModel:
    """A model with its tokenizer, as one party holds it."""

    name: str
    spec: ModelSpec
    model: Any  # a transformers PreTrainedModel
    tokenizer: Any  # a transformers tokenizer
    load_seconds: float = 0.0  # reading tokenizer and weights, after the imports below
    import_seconds: float = 0.0  # transformers modules imported for it (once per process)
    kept_layers: list[int] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype


def _offline() -> None:
    # Nothing may reach a model hub at run time (there is none here, nor in CI).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _import_machinery(folder: Path | None) -> None:
    """Import the transformers modules a load needs (a one-off cost per process, ~1-4 s).

    Timed apart from the load itself, so load times say what reading a model costs.
    """
    import importlib
    import json

    import transformers

    for module in ("transformers.modeling_utils", "transformers.generation.utils",
                   "transformers.tokenization_utils_base"):
        importlib.import_module(module)
    config = folder / "config.json" if folder is not None else None
    if config is not None and config.is_file():
        for arch in json.loads(config.read_text()).get("architectures") or []:
            getattr(transformers, arch, None)  # imports the architecture's modeling module


def cache_entry(spec: ModelSpec) -> CacheEntry:
    if spec.recipe is not None:
        # A changed recipe is a different model: key the entry by the recipe's hash too.
        digest = hashlib.sha256(repr(spec.recipe).encode()).hexdigest()[:10]
        return CacheEntry(key=f"{spec.name}-{digest}", root=cache_root())
    return CacheEntry(key=spec.name, root=cache_root())


CACHED_ORIGINS = ("gguf", "distilled")


def is_cached(spec: ModelSpec) -> bool:
    """Whether a converted or distilled model has a (superficially) complete cache entry."""
    return spec.origin in CACHED_ORIGINS and cache_entry(spec).exists()


def prepare_model(
    name: str, *, force: bool = False, verify: bool = False, status: Status | None = None,
    distil: Distiller | None = None,
) -> Path | None:
    """Make sure the cached safetensors copy of a GGUF model (or a distilled model) exists and
    is intact.

    Returns the cache folder, or None for models that need no conversion. ``verify`` hashes
    every cached file; ``force`` rebuilds regardless. A GGUF model is converted here when
    needed; a distilled model is built by ``distil`` (training is not this layer's work:
    :func:`crossbound.training.distilled_model.distill_into`), and without it a missing or
    corrupt entry raises :class:`ModelNotBuilt`.
    """
    base, _ = parse_spec(name)
    spec = get_spec(base)
    if spec.origin not in CACHED_ORIGINS:
        return None
    entry = cache_entry(spec)
    with entry.lock():
        missing = "a rebuild was asked for" if force else "it is not built yet"
        if entry.exists() and not force:
            try:
                entry.verify(full=verify)
                return entry.path
            except CorruptCacheEntry as exc:
                missing = f"its cache entry is corrupt ({exc})"
                if spec.recipe is None or distil is not None:
                    log.warning("cache entry for %s is corrupt (%s); rebuilding it",
                                spec.name, exc)
                    if status:
                        status(f"cache entry for {spec.name} is corrupt ({exc}); rebuilding")
        if spec.recipe is None:
            _convert_gguf(spec, entry, status)
        elif distil is None:
            raise ModelNotBuilt(
                f"{spec.name} is a distilled model and {missing}: build it once with "
                f"`crossbound models prepare {spec.name}` (training it takes up to an hour "
                f"on a CPU), or in Python with prepare_model({spec.name!r}, distil="
                "distill_into) from crossbound.training.distilled_model")
        else:
            recipe, build = spec.recipe, distil
            entry.build(lambda folder: build(recipe, folder, status))
    return entry.path


def _convert_gguf(spec: ModelSpec, entry: CacheEntry, status: Status | None) -> None:
    assert spec.locate is not None
    # A split GGUF is assembled (and verified) into the cache first; it is deleted again once
    # converted, since the safetensors copy is what every load reads.
    gguf_path = spec.split.assemble(status=status) if spec.split is not None else spec.locate()
    if status:
        minutes = "a few minutes" if gguf_path.stat().st_size > 400e6 else "about a minute"
        status(f"converting {gguf_path.name} to safetensors (one time, {minutes})")
    _offline()
    _quiet_transformers()
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def write(folder: Path) -> dict[str, Any]:
        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
        # The weights are de-quantised now; drop the GGUF quantiser so that the saved copy is a
        # plain fp32 checkpoint and reloads without the gguf package.
        setattr(model, "hf_quantizer", None)  # noqa: B010
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return {
            "gguf": gguf_path.name,
            "gguf_bytes": gguf_path.stat().st_size,
            "gguf_sha256": sha256_file(gguf_path),
            "package": spec.package,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "convert_seconds": round(time.perf_counter() - started, 2),
        }

    entry.build(write)
    if spec.split is not None:
        gguf_path.unlink(missing_ok=True)


def bf16_entry(spec: ModelSpec) -> CacheEntry:
    base = cache_entry(spec)
    return CacheEntry(key=f"{base.key}-bf16", root=base.root)


def prepare_bf16(spec: ModelSpec, status: Status | None = None) -> Path:
    """A bf16 copy of a cached model's entry, made once from the fp32 entry.

    Loading fp32 weights with ``dtype=bfloat16`` reads and maps every fp32 byte before casting
    (the 1.5B peaked at 10.7 GB that way, above its fp32 load); a bf16 file is read as is:
    half the bytes, and the fp32 weights are never held. The copy is rebuilt when the fp32
    entry it came from is rebuilt.
    """
    source = cache_entry(spec)
    source_created = source.read_manifest().get("created")
    entry = bf16_entry(spec)
    with entry.lock():
        if entry.exists():
            try:
                manifest = entry.verify()
                if manifest.get("source", {}).get("fp32_created") == source_created:
                    return entry.path
            except CorruptCacheEntry as exc:
                log.warning("bf16 cache entry for %s is corrupt (%s); rebuilding", spec.name, exc)
        if status:
            status(f"writing a bf16 copy of {spec.name} (one time)")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        def write(folder: Path) -> dict[str, Any]:
            model = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.bfloat16)
            model.save_pretrained(folder)
            AutoTokenizer.from_pretrained(source.path).save_pretrained(folder)
            return {"fp32_entry": source.key, "fp32_created": source_created,
                    "dtype": "bfloat16"}

        entry.build(write)
    return entry.path


def load_model(
    name: str,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    frozen: bool = False,
    status: Status | None = None,
) -> LoadedModel:
    """Load a model by name (``smollm2-135m``, ``smollm2-135m:layers=6``, ``tiny-small``, a folder).

    The returned model is in eval mode on ``device``. Its weights are fp32 (master weights for
    training, which runs under bf16 autocast where the precision scope says so), unless
    ``frozen``: a model that is only run, never trained, takes the scope's precision
    (:func:`~crossbound.models.precision.frozen_dtype`: bf16 where the CPU has it). An explicit
    ``dtype`` wins over both.
    """
    if dtype is None:
        dtype = frozen_dtype() if frozen else torch.float32
    base, options = parse_spec(name)
    spec = get_spec(base)
    unknown = sorted(set(options) - {"layers"})
    if unknown:
        raise ValueError(f"model {name!r}: unknown option(s) {unknown}; models take 'layers'")
    _offline()
    import_started = time.perf_counter()
    _quiet_transformers()
    if spec.origin in CACHED_ORIGINS:
        prepare_model(spec.name, status=status)  # converts a GGUF on first use; checks the entry
        _import_machinery(cache_entry(spec).path)
    else:
        _import_machinery(spec.locate() if spec.locate is not None else None)
    started = time.perf_counter()
    if spec.origin == "tiny":
        model, tokenizer = build_tiny(spec.name)
    elif spec.kind == "encoder":
        from transformers import AutoModel, AutoTokenizer

        assert spec.locate is not None
        folder = spec.locate()
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModel.from_pretrained(folder, dtype=dtype)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if spec.origin in CACHED_ORIGINS:
            folder = cache_entry(spec).path  # prepared and checked above
            if dtype == torch.bfloat16:
                folder = prepare_bf16(spec, status)
        else:
            assert spec.locate is not None
            folder = spec.locate()
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    kept: list[int] | None = None
    if "layers" in options:
        if spec.kind != "causal-lm":
            raise ValueError(f"model {name!r}: 'layers' applies to causal LMs only")
        total = int(model.config.num_hidden_layers)
        kept = parse_layer_selection(options["layers"], total)
        keep_layers(model, kept)
    if tokenizer.pad_token is None:
        # Batched scoring and generation need a pad token; the EOS token is the usual stand-in.
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.to(device=device, dtype=dtype)
    model.eval()
    return LoadedModel(
        name=name,
        spec=spec,
        model=model,
        tokenizer=tokenizer,
        load_seconds=time.perf_counter() - started,
        import_seconds=started - import_started,
        kept_layers=kept,
    )


def load_tokenizer(name: str, *, status: Status | None = None) -> Any:
    """The tokenizer of model ``name`` alone (no weights), set up as :func:`load_model` sets it.

    A data party may hold the model party's tokenizer: tokenizers are published with models,
    weights are what the owner keeps.
    """
    base, _ = parse_spec(name)
    spec = get_spec(base)
    _offline()
    _quiet_transformers()
    if spec.origin == "tiny":
        tokenizer = build_tiny(spec.name)[1]
    else:
        from transformers import AutoTokenizer

        if spec.origin in CACHED_ORIGINS:
            prepare_model(spec.name, status=status)
            folder = cache_entry(spec).path
        else:
            assert spec.locate is not None
            folder = spec.locate()
        _import_machinery(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer
