"""Shared fixtures: offline, a private model cache per test session, tiny models."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny-model checks compare numbers with fp32 references; bf16 has its own tests
# (test_precision.py), which set the precision explicitly.
os.environ.setdefault("CROSSBOUND_PRECISION", "fp32")


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty model cache, so a test never touches the user's."""
    root = tmp_path / "cache"
    monkeypatch.setenv("CROSSBOUND_CACHE", str(root))
    return root


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures(...)``):
    tiny models gain nothing from threads, and lose a lot on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
