"""The strategy guide's example (docs/adding-a-strategy.md) runs end to end through the runner,
on the tiny models built in code: if the guide's code breaks, this fails."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossbound.baselines.registry import BASELINES
from crossbound.boundary.transcript import verify_transcript
from crossbound.catalog import get_strategy
from crossbound.downward.registry import DOWNWARD
from crossbound.inference.registry import INFERENCE
from crossbound.runner import run_strategy
from crossbound.strategy import Registry
from crossbound.upward.registry import UPWARD

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "adding-a-strategy.md"
MODULE = "crossbound_guide_example"  # the module the guide's code block runs as
TASK = "clinic-triage:n=120,seed=3"


def python_blocks(markdown: str) -> list[str]:
    """The ```python blocks, each padded with blank lines so that a traceback's line numbers
    are the markdown file's."""
    return ["\n" * markdown.count("\n", 0, m.start(1)) + m.group(1)
            for m in re.finditer(r"^```python\n(.*?)^```", markdown,
                                 flags=re.MULTILINE | re.DOTALL)]


def _unregister(module: str) -> None:
    """Take the example's strategies out of the registries again, so the catalogue is what
    every other test expects."""
    for registry in (DOWNWARD, UPWARD, INFERENCE, BASELINES):
        for name, cls in list(registry._items.items()):
            if cls.__module__ == module:
                del registry._items[name]
    for name, cls in list(Registry._all.items()):
        if cls.__module__ == module:
            del Registry._all[name]


@pytest.fixture(scope="module")
def guide() -> Iterator[types.ModuleType]:
    blocks = python_blocks(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) == 1, f"{GUIDE.name} should hold one complete python example"
    module = types.ModuleType(MODULE)
    module.__file__ = str(GUIDE)
    # dataclasses and typing.get_type_hints (--set parsing) look the module up by name
    sys.modules[MODULE] = module
    try:
        exec(compile(blocks[0], str(GUIDE), "exec"), module.__dict__)
        yield module
    finally:
        _unregister(MODULE)
        sys.modules.pop(MODULE, None)


def test_the_example_registers_a_typed_strategy(guide):
    cls = get_strategy("public-prior")
    assert cls is guide.PublicPrior
    assert cls.config_class is guide.PublicPriorConfig  # from Strategy[PublicPriorConfig]
    assert cls.direction == "inference" and cls.name in INFERENCE.names()
    config = cls.config_class.from_overrides({"eval_limit": "none", "weight": "2"})
    assert config.eval_limit is None and config.weight == 2.0
    assert cls.config_class.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="public_limit must be >= 1 or None, got 0"):
        guide.PublicPriorConfig(public_limit=0)
    with pytest.raises(ValueError, match=r"prompts_per_request must be in 1\.\.64, got 65"):
        guide.PublicPriorConfig(prompts_per_request=65)
    assert cls.bench_settings("quick") == [("default", {"eval_limit": "50"})]


def test_the_example_runs_end_to_end(guide, tmp_path):
    result = run_strategy("public-prior", task=TASK, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path, config={"eval_limit": "20", "public_limit": "12",
                                                    "prompts_per_request": "5"})
    utility = result.metrics["utility"]
    assert utility["eval_examples"] == 20
    for key in ("sm_before", "sm_after", "accuracy"):
        assert 0.0 <= utility[key] <= 1.0
    assert result.config["public_limit"] == 12
    assert result.metrics["data"]["public_texts"] == 12
    assert result.metrics["efficiency"]["lm_calls"] == 3  # 12 prompts, 5 per request
    # only public prompts crossed: no private record, no PII
    assert result.metrics["privacy"]["private_records_sent"] == 0
    assert result.metrics["privacy"]["pii_crossed"]["occurrences"] == 0
    assert result.transcript["entries"] > 0
    report = verify_transcript(tmp_path / "transcript.jsonl")
    assert report.ok and report.entries == result.transcript["entries"]
    assert (tmp_path / "result.json").is_file()
