"""The CLI as a user calls it (in process, through typer's runner)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from crossbound.cli import app

runner = CliRunner()


def test_models_list_shows_every_model():
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {"smollm2-135m", "gemma3-270m", "minilm-l6", "tiny-large", "tiny-small",
            "tiny-other"} <= set(rows)
    assert rows["smollm2-135m"]["vocab_size"] == 49_152
    assert rows["tiny-small"]["parameters"] > 0


def test_tasks_list_and_show():
    result = runner.invoke(app, ["tasks", "list"])
    assert result.exit_code == 0, result.output
    for name in ("clinic-triage", "support-qa", "movie-sentiment", "construction-faq",
                 "lee-news", "wiki-sample"):
        assert name in result.output
    shown = runner.invoke(app, ["tasks", "show", "clinic-triage:n=100", "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert info["train"] > 0 and info["labels"] and info["canaries"] > 0
    shown = runner.invoke(app, ["tasks", "show", "construction-faq:seed=1", "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert info["test"] == 96 and len(info["labels"]) == 39 and min(info["labels"].values()) >= 3


def test_strategies_list():
    result = runner.invoke(app, ["strategies", "list", "--json"])
    assert result.exit_code == 0
    names = {r["name"]: r for r in json.loads(result.output)}
    assert names["remote-lm"]["direction"] == "baseline"


def test_run_and_audit(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, [
        "run", "remote-lm", "--task", "clinic-triage:n=60", "--large", "tiny-large",
        "--small", "tiny-small", "--set", "eval_limit=6", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    assert (out / "result.json").is_file() and (out / "transcript.jsonl").is_file()
    audited = runner.invoke(app, ["audit", str(out)])
    assert audited.exit_code == 0 and "intact" in audited.output
    lines = (out / "transcript.jsonl").read_text().splitlines()
    (out / "transcript.jsonl").write_text("\n".join(lines[1:]) + "\n")
    tampered = runner.invoke(app, ["audit", str(out)])
    assert tampered.exit_code == 3 and "TAMPERED" in tampered.output


def test_bad_input_gets_a_message_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["run", "remote-lm", "--task", "clinic-triage:n=60",
                                 "--large", "tiny-large", "--set", "nonsense",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 1 and "key=value" in result.output
    result = runner.invoke(app, ["run", "remote-lm", "--set", "bogus=1", "--large",
                                 "tiny-large", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "no setting" in result.output
    result = runner.invoke(app, ["tasks", "show", "no-such-task"])
    assert result.exit_code == 1 and "unknown task" in result.output


def test_generate_prints_text_and_statistics(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("the first prompt\n\nthe second prompt\n")
    common = ["--large", "tiny-large", "--max-new-tokens", "6", "--batch-file", str(prompts)]
    alone = runner.invoke(app, ["generate", "direct", *common, "--json"])
    assert alone.exit_code == 0, alone.output
    base = json.loads(alone.output)
    assert [o["prompt"] for o in base["outputs"]] == ["the first prompt", "the second prompt"]
    fast = runner.invoke(app, ["generate", "speculative", "--small", "tiny-small", *common,
                               "--boundary", "--json"])
    assert fast.exit_code == 0, fast.output
    spec = json.loads(fast.output)
    # greedy speculative decoding is the LM's own output, and the boundary was counted
    assert [o["text"] for o in spec["outputs"]] == [o["text"] for o in base["outputs"]]
    assert spec["boundary"]["bytes_per_token"] > 0 and "acceptance_rate" in spec["stats"]
    plain = runner.invoke(app, ["generate", "direct", "--large", "tiny-large", "--prompt",
                                "hello", "--max-new-tokens", "4"])
    assert plain.exit_code == 0 and "new tokens" in plain.output
    for bad in (["generate", "speculative", "--large", "tiny-large", "--prompt", "x"],
                ["generate", "nonsense", "--large", "tiny-large", "--prompt", "x"],
                ["generate", "direct", "--large", "tiny-large"]):
        refused = runner.invoke(app, bad)
        assert refused.exit_code == 1 and "error:" in refused.output, refused.output
