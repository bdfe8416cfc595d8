"""Model registry, tiny models, derived (layer-dropped) models and the conversion cache."""

from __future__ import annotations

import json

import pytest
import torch

from crossbound.models import get_spec, load_model, model_specs
from crossbound.models.cache import CacheEntry, CorruptCacheEntry
from crossbound.models.derived import parse_layer_selection


def test_registry_lists_real_and_tiny_models():
    names = [s.name for s in model_specs()]
    for name in ("smollm2-135m", "gemma3-270m", "minilm-l6", "tiny-large", "tiny-small",
                 "tiny-other"):
        assert name in names


def test_unknown_model_error_names_the_choices():
    with pytest.raises(ValueError, match="smollm2-135m"):
        get_spec("no-such-model")
    with pytest.raises(ValueError, match="unknown option"):
        load_model("tiny-small:width=3")


def test_tiny_models_are_deterministic_and_share_a_tokenizer():
    a, b = load_model("tiny-large"), load_model("tiny-large")
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    small, other = load_model("tiny-small"), load_model("tiny-other")
    text = "Patient Ana, MRN 123-4567, chest pain."
    assert a.tokenizer(text)["input_ids"] == small.tokenizer(text)["input_ids"]
    assert a.tokenizer(text)["input_ids"] != other.tokenizer(text)["input_ids"]
    for tok in (a.tokenizer, other.tokenizer):
        assert tok.decode(tok(text)["input_ids"]) == text


@pytest.mark.parametrize(("value", "total", "expected"), [
    ("6", 30, [0, 6, 12, 17, 23, 29]),
    ("2", 4, [0, 3]),
    ("1", 4, [3]),
    ("0-1+3", 4, [0, 1, 3]),
])
def test_layer_selection(value, total, expected):
    assert parse_layer_selection(value, total) == expected


@pytest.mark.parametrize("bad", ["0", "31", "5-2", "a-b", "0-30"])
def test_layer_selection_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        parse_layer_selection(bad, 30)


@pytest.mark.parametrize("name", ["tiny-large", "tiny-other"])
def test_derived_model_keeps_chosen_blocks_and_generates_with_cache(name):
    full = load_model(name)
    derived = load_model(f"{name}:layers=2")
    total = full.model.config.num_hidden_layers
    assert derived.kept_layers == [0, total - 1]
    assert derived.model.config.num_hidden_layers == 2
    # The kept blocks hold the parent's weights.
    first_full = next(full.model.model.layers[total - 1].parameters())
    first_derived = next(derived.model.model.layers[1].parameters())
    assert torch.equal(first_full, first_derived)
    # Cached generation equals a from-scratch greedy loop (checks the renumbered KV slots).
    tok = derived.tokenizer
    ids = tok("hello there", return_tensors="pt")["input_ids"]
    out = derived.model.generate(ids, max_new_tokens=6, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
    seq = ids
    for _ in range(6):
        nxt = derived.model(seq).logits[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    assert torch.equal(out[:, : seq.shape[1]], seq[:, : out.shape[1]])


def _fake_entry(cache_root, payload=b"x" * 1000) -> CacheEntry:
    entry = CacheEntry(key="fake", root=cache_root)

    def write(folder):
        (folder / "weights.bin").write_bytes(payload)
        (folder / "config.json").write_text(json.dumps({"a": 1}))
        return {"source": "test"}

    entry.build(write)
    return entry


def test_cache_entry_verifies_and_detects_corruption(tmp_cache):
    entry = _fake_entry(tmp_cache)
    assert entry.exists()
    entry.verify(full=True)
    weights = entry.path / "weights.bin"
    # Same size, different content: caught because the file's mtime changed.
    data = bytearray(weights.read_bytes())
    data[500] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptCacheEntry, match="hash"):
        entry.verify()


def test_cache_entry_detects_truncation_and_missing_files(tmp_cache):
    entry = _fake_entry(tmp_cache)
    weights = entry.path / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:10])
    with pytest.raises(CorruptCacheEntry, match="partial"):
        entry.verify()
    entry = _fake_entry(tmp_cache)
    (entry.path / "config.json").unlink()
    with pytest.raises(CorruptCacheEntry, match="missing"):
        entry.verify()
    (entry.path / "crossbound-manifest.json").write_text("{not json")
    with pytest.raises(CorruptCacheEntry, match="manifest"):
        entry.verify()


def test_failed_build_leaves_no_entry(tmp_cache):
    entry = CacheEntry(key="broken", root=tmp_cache)

    def write(folder):
        (folder / "half.bin").write_bytes(b"abc")
        raise RuntimeError("killed mid-conversion")

    with pytest.raises(RuntimeError):
        entry.build(write)
    assert not entry.exists()
    assert not any(p.name.startswith(".broken.tmp") for p in (tmp_cache / "models").iterdir())


def test_prepare_rebuilds_a_corrupt_entry(tmp_cache, monkeypatch):
    from crossbound.models import loading

    builds = []

    def fake_convert(spec, entry, status):
        builds.append(spec.name)
        entry.build(lambda folder: (folder / "model.safetensors").write_bytes(b"w" * 64) and {})

    monkeypatch.setattr(loading, "_convert_gguf", fake_convert)
    folder = loading.prepare_model("smollm2-135m")
    assert builds == ["smollm2-135m"]
    assert loading.prepare_model("smollm2-135m") == folder and len(builds) == 1  # cached
    (folder / "model.safetensors").write_bytes(b"w" * 10)  # a partial write
    loading.prepare_model("smollm2-135m")
    assert len(builds) == 2
    assert (folder / "model.safetensors").read_bytes() == b"w" * 64


def test_distilling_a_layer_dropped_copy_moves_it_towards_the_teacher(tmp_path):
    from crossbound.models.distilled import DistillRecipe
    from crossbound.training.distilled_model import distill_into

    recipe = DistillRecipe(teacher="tiny-large", student="tiny-large:layers=1",
                           corpora=("lee-news",), held_out=6, steps=25, batch_size=4,
                           max_length=48, lr=3e-3)
    messages: list[str] = []
    info = distill_into(recipe, tmp_path, status=messages.append)
    assert info["kd_loss_last"] < info["kd_loss_first"]
    assert info["held_out_after"]["kl_teacher_student"] < info["held_out_before"][
        "kl_teacher_student"]
    assert (tmp_path / "config.json").is_file() and (tmp_path / "distillation.json").is_file()
    assert len(messages) == 2 and "agreement" in messages[1]
    reloaded = load_model(str(tmp_path))
    assert reloaded.model.config.num_hidden_layers == 1


def test_a_distilled_model_is_built_only_by_the_distiller_it_is_given(tmp_cache):
    from crossbound.models import loading

    with pytest.raises(loading.ModelNotBuilt, match="crossbound models prepare"):
        loading.prepare_model("smollm2-135m-draft")
    with pytest.raises(loading.ModelNotBuilt, match="not built yet"):
        loading.load_tokenizer("smollm2-135m-draft")
    built = []

    def distil(recipe, folder, status):
        built.append(recipe)
        (folder / "model.safetensors").write_bytes(b"w" * 64)
        return {"recipe": recipe.student}

    spec = loading.get_spec("smollm2-135m-draft")
    folder = loading.prepare_model("smollm2-135m-draft", distil=distil)
    assert built == [spec.recipe] and folder == loading.cache_entry(spec).path
    assert loading.prepare_model("smollm2-135m-draft") == folder  # built: no distiller needed
    (folder / "model.safetensors").write_bytes(b"w" * 10)  # a partial write
    with pytest.raises(loading.ModelNotBuilt, match="corrupt"):
        loading.prepare_model("smollm2-135m-draft")
    loading.prepare_model("smollm2-135m-draft", distil=distil)
    assert len(built) == 2


def test_the_draft_model_is_keyed_by_its_recipe():
    from dataclasses import replace

    from crossbound.models.loading import cache_entry
    from crossbound.models.registry import get_spec

    spec = get_spec("smollm2-135m-draft")
    assert spec.origin == "distilled" and spec.recipe is not None
    other = replace(spec, recipe=replace(spec.recipe, steps=spec.recipe.steps + 1))
    assert cache_entry(spec).key != cache_entry(other).key
    assert cache_entry(spec).key.startswith("smollm2-135m-draft-")
