"""A user's own file works with every strategy: no ``public`` split, a built-in corpus instead.

The task file here has train/validation/test rows only (the shape a user writes); each strategy
that needs public text runs on it unchanged, on the tiny in-code models, and its result names
the source it used. A task with a public split keeps using it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossbound.result import Result
from crossbound.runner import run_strategy
from crossbound.tasks.base import Task
from crossbound.tasks.public_text import FALLBACK_CORPUS, public_text
from crossbound.tasks.registry import load_task

BUILTIN = f"builtin:{FALLBACK_CORPUS}"
LABELS = ("billing", "delivery", "returns")
SPLITS = {"train": 24, "validation": 6, "test": 8}


pytestmark = pytest.mark.usefixtures("one_thread")


def write_task_file(folder: Path, public: int = 0) -> Path:
    """A JSONL task as a user would write it: a ``split`` on every row, and ``public`` rows
    only when asked for."""
    counts = {**SPLITS, **({"public": public} if public else {})}
    rows = [
        {"text": f"Customer {split} message {i}: a question about my {LABELS[i % 3]} order.",
         "target": LABELS[i % 3], "split": split}
        for split, n in counts.items() for i in range(n)
    ]
    path = folder / ("shop-public.jsonl" if public else "shop.jsonl")
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def user_file(tmp_path_factory) -> str:
    return str(write_task_file(tmp_path_factory.mktemp("user")))


def assert_builtin(result: Result, task: str, n: int) -> None:
    assert result.metrics["data"] == {"public_source": BUILTIN, "public_texts": n}
    assert any(note.startswith(f"task {Path(task).stem} has no public split") and
               FALLBACK_CORPUS in note for note in result.notes), result.notes


def written(out: Path) -> dict:
    """What ``crossbound run`` leaves on disk (the bench reads the same file)."""
    return json.loads((out / "result.json").read_text())


# ---------------------------------------------------------------- the helper


def test_a_user_file_without_public_rows_falls_back_to_the_builtin_corpus(user_file):
    task = load_task(user_file)
    assert task.public == ()
    first, again = public_text(task, 5), public_text(task, 5)
    assert first == again  # deterministic: the corpus's first texts, in file order
    assert first.source == BUILTIN and first.corpus == FALLBACK_CORPUS
    assert len(first.examples) == 5 and all(ex.target == "" for ex in first.examples)
    assert "shop has no public split" in first.note and "(5 texts)" in first.note


def test_a_task_with_a_public_split_keeps_it(tmp_path):
    task: Task = load_task(str(write_task_file(tmp_path, public=6)))
    public = public_text(task, 4)
    assert public.source == "task" and public.corpus is None and public.note == ""
    assert public.examples == task.public[:4]


# ---------------------------------------------------------------- strategies, unchanged


def test_logit_kd_transfers_on_the_builtin_corpus(user_file, tmp_path):
    result = run_strategy("logit-kd", task=user_file, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path,
                          config={"transfer_limit": "6", "eval_limit": "4", "epochs": "0.5",
                                  "max_length": "64"})
    assert_builtin(result, user_file, 6)
    assert result.metrics["privacy"]["transfer"] == f"corpus {FALLBACK_CORPUS}"
    assert result.metrics["efficiency"]["transfer_texts"] > 0
    # the corpus text crossed the guard (it is public), and the result on disk says so too
    assert result.metrics["efficiency"]["bytes_crossed"]["by_kind"]["token_ids"] > 0
    assert written(tmp_path)["metrics"]["data"]["public_source"] == BUILTIN


def test_logit_kd_on_a_task_with_a_public_split_reports_the_task(tmp_path):
    task = str(write_task_file(tmp_path, public=6))
    result = run_strategy("logit-kd", task=task, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path / "run",
                          config={"transfer_limit": "4", "eval_limit": "4", "epochs": "0.5",
                                  "max_length": "64"})
    assert result.metrics["data"] == {"public_source": "task", "public_texts": 4}
    assert result.metrics["privacy"]["transfer"] == "public"
    assert not any("no public split" in note for note in result.notes)


def test_mutual_kt_distils_both_ways_on_the_builtin_corpus(user_file, tmp_path):
    result = run_strategy("mutual-kt", task=user_file, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path,
                          config={"rounds": "1", "transfer_limit": "4", "eval_limit": "4",
                                  "train_limit": "8", "max_length": "96",
                                  "compare_local": "false"})
    assert_builtin(result, user_file, 4)
    # the corpus has no answers: the LM learnt at every position (default lm_targets=answer)
    assert any("as with lm_targets=all" in note for note in result.notes)
    (round_1,) = result.metrics["utility"]["per_round"]
    assert round_1["bytes_up"] > 0 and round_1["bytes_down"] > 0
    assert result.metrics["privacy"]["transfer"] == f"corpus {FALLBACK_CORPUS}"


def test_speculative_decodes_public_prompts_from_the_builtin_corpus(user_file, tmp_path):
    result = run_strategy("speculative", task=user_file, large="tiny-large", small="tiny-small",
                          out_dir=tmp_path,
                          config={"prompts": "public", "limit": "2", "max_new_tokens": "6",
                                  "batch_size": "2"})
    assert_builtin(result, user_file, 2)
    assert result.metrics["utility"]["prompts"] == 2
    # corpus prompts carry no label: no accuracy is claimed on them
    assert "answer_accuracy" not in result.metrics["utility"]
    assert result.metrics["utility"]["identical_to_lm"] == 1.0


def test_offsite_distils_its_emulator_on_the_builtin_corpus(user_file, tmp_path):
    result = run_strategy("offsite-tuning", task=user_file, large="tiny-large",
                          small="tiny-small", out_dir=tmp_path,
                          config={"distill_corpus": "public", "distill_steps": "1",
                                  "distill_limit": "4", "adapter_bottom": "1",
                                  "adapter_top": "1", "epochs": "0.5", "eval_limit": "4",
                                  "compare_full": "false", "evaluate_plugin": "false"})
    assert_builtin(result, user_file, 4)
    assert result.metrics["efficiency"]["bytes_crossed"]["by_kind"]["text"] > 0


def test_fed_mutual_kt_parties_agree_on_the_builtin_transfer_set(user_file):
    from crossbound.federation.mutual_client import transfer_set
    from crossbound.federation.mutual_config import FedMutualKTConfig
    from crossbound.federation.mutual_server import lm_side
    from crossbound.models.loading import load_model

    config = FedMutualKTConfig(task=user_file, large="tiny-large",
                              small="tiny-small", transfer_limit=3, max_length=64)
    lm = load_model("tiny-large")
    server = lm_side(config, load_task(user_file), lm)
    client = transfer_set(config, lm.tokenizer, "tiny-small")
    # the model party's allowed rows are exactly what every data party computes
    assert server.ids == client.lm.ids and len(server.ids) == 3
    assert client.answer_at == [0, 0, 0]  # no answers: every position is a target


def test_bench_enumerates_the_public_text_strategies_for_a_user_file(user_file):
    from crossbound.bench.cells import enumerate_cells

    cells = enumerate_cells("full", task=user_file, large="tiny-large", small="tiny-small")
    assert {"logit-kd", "mutual-kt"} <= {cell.strategy for cell in cells}
    assert all(cell.task == user_file for cell in cells)


def test_crossbound_run_takes_the_file_as_it_is(user_file, tmp_path):
    from typer.testing import CliRunner

    from crossbound.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["tasks", "show", user_file])
    assert shown.exit_code == 0, shown.output
    assert FALLBACK_CORPUS in shown.output and "no public split" in shown.output
    out = tmp_path / "run"
    ran = runner.invoke(app, ["run", "speculative", "--task", user_file, "--large", "tiny-large",
                              "--small", "tiny-small", "--set", "prompts=public", "--set",
                              "limit=2", "--set", "max_new_tokens=6", "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    assert written(out)["metrics"]["data"]["public_source"] == BUILTIN
