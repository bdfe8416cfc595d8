"""benchmarks/speculative.py's analysis: the ceiling of draft-free proposers on given outputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("speculative_bench",
                                              ROOT / "benchmarks" / "speculative.py")
assert spec is not None and spec.loader is not None
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_lookup_ceiling_counts_the_oracles_passes():
    # prefill gives 9; then [2, 3, 4, 5] is found in the prompt and the LM adds 7; 8 is new
    assert bench.lookup_ceiling([[1, 2, 3, 4, 5, 6]], [[9, 2, 3, 4, 5, 7, 8]], 10) == {
        "own_text": round(7 / 3, 3), "with_earlier_outputs": round(7 / 3, 3)}
    # γ_max 2 caps a draft: 9; [2, 3] and the LM's 4; [5, 6] — 6 tokens in 3 passes
    assert bench.lookup_ceiling([[1, 2, 3, 4, 5, 6]], [[9, 2, 3, 4, 5, 6]], 2)[
        "own_text"] == 2.0
    # nothing to copy: one token per pass; an earlier output repeated is found in the corpus
    ceiling = bench.lookup_ceiling([[1], [1]], [[5, 6, 7, 8], [5, 6, 7, 8]], 10)
    assert ceiling == {"own_text": 1.0, "with_earlier_outputs": round(8 / 6, 3)}
