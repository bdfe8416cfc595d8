"""Crafted and careless input (issue 23, items 3, 5, 6, 7, 8 and 10): each gets a clear error,
never a crash, a traceback, a runaway allocation or a quadratic blow-up."""

from __future__ import annotations

import json
import random
import struct

import pytest
import torch
from typer.testing import CliRunner

from crossbound.boundary.messages import (
    MAGIC,
    MAX_JSON_DEPTH,
    Kind,
    Message,
    MessageError,
    decode,
    encode,
)
from crossbound.cli import app

runner = CliRunner()


# ---------------------------------------------------------------- item 3: the wire


def _frame(header: bytes, body: bytes = b"[]") -> bytes:
    return MAGIC + struct.pack("<I", len(header)) + header + body


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 990, 5_000, 100_000])
def test_deeply_nested_header_meta_is_a_message_error(depth):
    meta = "[" * depth + "]" * depth
    header = ('{"kind": "text", "sender": "a", "receiver": "b", "meta": {"x": '
              + meta + "}}").encode()
    with pytest.raises(MessageError, match="nests deeper"):
        decode(_frame(header))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 990, 100_000])
def test_deeply_nested_json_body_is_a_message_error(depth):
    header = b'{"kind": "records", "sender": "a", "receiver": "b", "meta": {}}'
    body = ("[" * depth + "]" * depth).encode()
    with pytest.raises(MessageError, match="nests deeper"):
        decode(_frame(header, body))


def test_ordinary_nesting_still_round_trips():
    records = [{"a": {"b": [[1, 2], {"c": "d"}]}}]
    message = Message(Kind.RECORDS, "a", "b", records, {"op": "x", "settings": {"k": [1]}})
    assert decode(encode(message)).payload == records


@pytest.fixture(scope="module")
def tiny_lm():
    from crossbound.models.loading import load_model

    return load_model("tiny-large")


@pytest.mark.parametrize("bad_id", [100_000, -1])
def test_lm_step_refuses_token_ids_outside_the_vocabulary(tiny_lm, bad_id):
    from crossbound.parties import ModelParty

    party = ModelParty(tiny_lm)
    vocab = tiny_lm.model.get_input_embeddings().num_embeddings
    ids = torch.tensor([[5, 6, bad_id]], dtype=torch.int32)
    request = Message(Kind.TOKEN_IDS, "data-party-0", "model-party", {"ids": ids},
                      {"op": "lm_step", "session": "s1", "new": True})
    with pytest.raises(MessageError, match=f"0..{vocab - 1}"):
        party.handle(request)
    # the refused step started no session, and a good one still works
    good = Message(Kind.TOKEN_IDS, "data-party-0", "model-party",
                   {"ids": torch.tensor([[5, 6, vocab - 1]], dtype=torch.int32)},
                   {"op": "lm_step", "session": "s1", "new": True})
    assert party.handle(good).payload["ids"].shape == (1, 1)


def test_lm_step_turns_bad_rewinds_and_row_counts_into_message_errors(tiny_lm):
    from crossbound.parties import ModelParty

    party = ModelParty(tiny_lm)

    def step(payload, **meta):
        return party.handle(Message(Kind.TOKEN_IDS, "data-party-0", "model-party", payload,
                                    {"op": "lm_step", "session": "s2", **meta}))

    step({"ids": torch.tensor([[5, 6]], dtype=torch.int32)}, new=True)
    with pytest.raises(MessageError, match="rewind"):
        step({"ids": torch.zeros((0, 1), dtype=torch.int32),
              "drop": torch.tensor([50], dtype=torch.int32)})
    with pytest.raises(MessageError, match="rows"):
        step({"ids": torch.tensor([[5], [6]], dtype=torch.int32)})


# ---------------------------------------------------------------- item 5: sizes


def test_generated_task_size_is_bounded_up_front(monkeypatch):
    from crossbound.tasks import clinic_triage
    from crossbound.tasks.clinic_triage import MAX_N
    from crossbound.tasks.registry import load_task

    def generating(*args, **kwargs):
        raise AssertionError("records were generated before the size was refused")

    # Refused before generating anything: no record may be drawn for these requests.
    monkeypatch.setattr(clinic_triage, "_generate_split", generating)
    monkeypatch.setattr(clinic_triage, "_plant_canaries", generating)
    with pytest.raises(ValueError, match=f"n must be <= {MAX_N:,}"):
        load_task("clinic-triage:n=1000000000000")
    with pytest.raises(ValueError, match="public must be <="):
        load_task("clinic-triage:n=100,public=1000000000000")
    with pytest.raises(ValueError, match="canary_repeats must be <="):
        load_task("clinic-triage:n=100,canary_repeats=1000000000")
    with pytest.raises(ValueError, match="repeated records"):
        load_task("clinic-triage:n=100000,canaries=50000,canary_repeats=100")


def _rows(n: int) -> list[str]:
    return [json.dumps({"text": f"message number {i}", "target": "ab"[i % 2]}) for i in range(n)]


def test_task_file_line_length_is_bounded(tmp_path):
    from crossbound.tasks.loaders import MAX_RECORD_CHARS, load_file_task

    path = tmp_path / "long.jsonl"
    long_line = json.dumps({"text": "x" * (MAX_RECORD_CHARS + 1), "target": "a"})
    path.write_text("\n".join([*_rows(12), long_line]) + "\n")
    with pytest.raises(ValueError, match=r"line 13: record of [\d,]+ characters exceeds the "
                                         r"limit of [\d,]+; shorten or chunk"):
        load_file_task(path)
    csv_path = tmp_path / "long.csv"
    rows = "\n".join(f"message {i},{'ab'[i % 2]}" for i in range(12))
    csv_path.write_text(f"text,target\n{rows}\n\"{'y' * (MAX_RECORD_CHARS + 1)}\",a\n")
    with pytest.raises(ValueError, match="exceeds the limit"):
        load_file_task(csv_path)
    huge_field = tmp_path / "huge.csv"  # past csv's own field limit (131,072 characters)
    huge_field.write_text(f"text,target\n{rows}\n\"{'y' * 200_000}\",a\n")
    with pytest.raises(ValueError, match="unreadable CSV record"):
        load_file_task(huge_field)


def test_task_file_size_and_record_count_are_bounded(tmp_path, monkeypatch):
    from crossbound.tasks import loaders

    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(_rows(40)) + "\n")
    assert len(loaders.load_file_task(path).train) > 0
    monkeypatch.setattr(loaders, "MAX_RECORDS", 30)
    with pytest.raises(ValueError, match=r"more than 30 records.*split it"):
        loaders.load_file_task(path)
    monkeypatch.setattr(loaders, "MAX_FILE_BYTES", 100)
    with pytest.raises(ValueError, match="exceeds the task file limit of 100 bytes; split"):
        loaders.load_file_task(path)


# ---------------------------------------------------------------- item 6: the CLI


@pytest.mark.parametrize("args", [
    ["tasks", "show", "nope[/x]"],
    ["tasks", "show", "[keys]"],
    ["audit", "w/br[/b]"],
    ["run", "remote-lm", "--task", "nope[/x]", "--large", "tiny-large", "--small",
     "tiny-small"],
])
def test_cli_errors_print_brackets_literally(args, tmp_path):
    if args[0] == "run":
        args = [*args, "--out", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    given = next(a for a in args if "[" in a)
    assert "error:" in result.output and given in result.output


def test_cli_sanitize_on_a_binary_file_names_it(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(b"\x00\xff\xfe\x80binary\n")
    result = runner.invoke(app, ["sanitize", "--regex-only", str(path)])
    assert result.exit_code == 1 and "blob.txt" in result.output and "UTF-8" in result.output


def test_cli_audit_on_a_binary_file_is_a_verdict_not_a_traceback(tmp_path):
    path = tmp_path / "blob.jsonl"
    path.write_bytes(b"\x00\xff\xfe\x80binary\n\xff\n")
    result = runner.invoke(app, ["audit", str(path)])
    assert result.exit_code == 3 and "TAMPERED" in result.output, result.output


def _results(cells):
    return {"schema": 1, "kind": "crossbound-bench", "cells": cells}


_RECORD = {"utility": {"headline": 0.5, "headline_key": "final"},
           "privacy": {"data_leakage": None, "data_leakage_basis": "pii"},
           "efficiency": {"bytes_crossed": 10, "wall_seconds": 1.0},
           "exposure": {"bytes_from_model_party": 5}}
_CELL = {"id": "remote-lm--default", "strategy": "remote-lm", "setting": "default",
         "status": "ok", "record": _RECORD}


@pytest.mark.parametrize(("data", "match"), [
    ("not json at all {", "not valid JSON"),
    ([1, 2, 3], "a JSON list, not an object"),
    ({"schema": 1, "kind": "crossbound-bench"}, "'cells' must be a list"),
    (_results([7]), r"cells\[0\] must be an object"),
    (_results([{"status": "ok"}]), r"cells\[0\]\.id must be a string"),
    (_results([{**_CELL, "record": {**_RECORD, "efficiency": {"wall_seconds": 1.0}}}]),
     "record.efficiency lacks 'bytes_crossed'"),
    (_results([{**_CELL, "record": {**_RECORD, "exposure": {"bytes_from_model_party": "x"}}}]),
     "must be a number or null"),
    (_results([{**_CELL, "record": {**_RECORD, "utility": None}}]),
     "record.utility must be an object"),
])
def test_cli_plan_on_a_malformed_results_file_says_what_is_wrong(tmp_path, data, match):
    path = tmp_path / "results.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    result = runner.invoke(app, ["plan", "--results", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "results.json" in result.output
    assert " ".join(result.output.split()).count(match.replace("\\", "")) or \
        pytest.fail(f"{match!r} not in {result.output!r}")


def test_cli_plan_on_a_binary_results_file(tmp_path):
    (tmp_path / "results.json").write_bytes(b"\xff\xfe\x00garbage")
    result = runner.invoke(app, ["plan", "--results", str(tmp_path)])
    assert result.exit_code == 1 and "not UTF-8" in result.output, result.output


def test_cli_plan_on_a_well_formed_results_file_with_brackets_in_a_cell(tmp_path):
    cell = {**_CELL, "id": "remote-lm--[bold]x[/b]",
            "record": {**_RECORD, "efficiency": {"bytes_crossed": 10, "wall_seconds": None}}}
    (tmp_path / "results.json").write_text(json.dumps(_results([cell])))
    result = runner.invoke(app, ["plan", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "remote-lm--[bold]x[/b]" in " ".join(result.output.split())


# ---------------------------------------------------------------- item 7: failed runs


def test_a_run_that_fails_before_anything_crossed_leaves_nothing_behind(tmp_path):
    from crossbound.runner import run_strategy

    out = tmp_path / "run"
    kwargs = {"task": "clinic-triage:n=60", "small": "tiny-small", "out_dir": out,
              "config": {"eval_limit": "4"}}
    with pytest.raises(ValueError, match="unknown model"):
        run_strategy("remote-lm", large="nope-model", **kwargs)
    assert not out.exists()  # the run made the folder, and nothing of it is left
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="unknown model"):
        run_strategy("remote-lm", large="nope-model", **kwargs)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # no transcript, no key
    run_strategy("remote-lm", large="tiny-large", **kwargs)  # the corrected rerun is accepted
    assert (out / "result.json").is_file()


def test_a_run_that_fails_after_crossings_keeps_its_transcript_and_says_how_to_rerun(
        tmp_path, monkeypatch):
    import crossbound.runner as runner_module
    from crossbound.boundary.transcript import key_path, verify_transcript

    def broken_scan(*args, **kwargs):
        raise RuntimeError("the PII scan broke")

    monkeypatch.setattr(runner_module, "pii_crossed_summary", broken_scan)
    out = tmp_path / "run"
    kwargs = {"task": "clinic-triage:n=60", "large": "tiny-large", "small": "tiny-small",
              "out_dir": out, "config": {"eval_limit": "4"}}
    with pytest.raises(RuntimeError, match="PII scan broke") as caught:
        runner_module.run_strategy("remote-lm", **kwargs)
    transcript = out / runner_module.TRANSCRIPT_NAME
    assert transcript.stat().st_size > 0 and key_path(transcript).is_file()
    assert verify_transcript(transcript).ok  # the evidence is intact
    assert any("--overwrite" in note for note in caught.value.__notes__)
    with pytest.raises(FileExistsError, match="--overwrite"):
        runner_module.run_strategy("remote-lm", **kwargs)
    monkeypatch.undo()
    runner_module.run_strategy("remote-lm", overwrite=True, **kwargs)


def test_cli_run_reports_the_kept_transcript_and_overwrite(tmp_path, monkeypatch):
    import crossbound.runner as runner_module

    def broken_scan(*args, **kwargs):
        raise RuntimeError("the PII scan broke")

    monkeypatch.setattr(runner_module, "pii_crossed_summary", broken_scan)
    result = runner.invoke(app, ["run", "remote-lm", "--task", "clinic-triage:n=60",
                                 "--large", "tiny-large", "--small", "tiny-small",
                                 "--set", "eval_limit=4", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "PII scan broke" in result.output and "--overwrite" in result.output


# ---------------------------------------------------------------- item 8: sanitiser scaling


def _many_names(size: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ra", "ne", "to", "su", "vi", "da", "pe", "an", "or"]

    def name() -> str:
        def word() -> str:
            return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))).capitalize()
        return f"{word()} {word()}"

    parts, length = [], 0
    while length < size:
        part = (f"Hello, my name is {name()} and I saw Dr. {name()} on 03/14/2020. "
                f"Call 415-555-{rng.randint(1000, 9999)}. Thanks, {name()}\n")
        parts.append(part)
        length += len(part)
    return "".join(parts)


def test_regex_sanitiser_work_grows_linearly_with_distinct_names(monkeypatch):
    from crossbound.privacy import recognizers
    from crossbound.privacy.sanitizer import Sanitizer

    sanitizer = Sanitizer(presidio=False)
    small, large = _many_names(10_000), _many_names(40_000)
    # Deterministic: name-token lookups per document (one scan per known person per name
    # was the quadratic step: ~70x more calls for 4x the text).
    calls = 0
    real = recognizers.name_tokens

    def counting(name: str) -> list[str]:
        nonlocal calls
        calls += 1
        return real(name)

    monkeypatch.setattr(recognizers, "name_tokens", counting)
    counts = []
    for text in (small, large):
        calls = 0
        sanitizer.sanitize(text)
        counts.append(calls)
    monkeypatch.undo()
    assert counts[1] < 6 * counts[0], counts


def test_sanitiser_word_echoes_match_one_scan_per_word():
    from crossbound.privacy.recognizers import word_occurrences, words_occurrences

    text = ("Ann Ann Ann. Ann-Marie and Annabel met Ann Lee; O'Neil, Ann Lee's friend, "
            "saw Lee.\nAnn")
    words = ["Ann", "Ann Ann", "Ann Lee", "Lee", "O'Neil", "Annabel", "Marie"]
    fast = sorted(words_occurrences(text, words))
    slow = sorted((w, s, e) for w in words for s, e in word_occurrences(text, w))
    assert fast == slow and ("Ann", 0, 3) in fast


# ---------------------------------------------------------------- item 10: bundle configs


@pytest.fixture(scope="module")
def bundle(tiny_lm):
    from crossbound.models.emulator import unique_state

    config = json.loads(tiny_lm.model.config.to_json_string(use_diff=False))
    tensors = {n: t.detach().clone() for n, t in unique_state(tiny_lm.model).items()}
    return config, tensors


@pytest.fixture
def no_real_build(monkeypatch):
    """Fail the test if a model is built anywhere but on the meta device (no memory)."""
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_config

    def guarded(*args, **kwargs):
        if torch.empty(0).device.type != "meta":
            raise AssertionError("a model was built from a config that was not checked")
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_config", guarded)


def test_a_well_formed_bundle_assembles(bundle):
    from crossbound.models.emulator import assemble_model

    config, tensors = bundle
    model = assemble_model(config, tensors)
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize(("change", "match"), [
    ({"num_hidden_layers": 10_000}, r"num_hidden_layers=10000.*1\.\.512"),
    ({"vocab_size": 10**9}, "vocab_size"),
    ({"hidden_size": -1}, "hidden_size"),
    ({"intermediate_size": "big"}, "intermediate_size"),
    ({"num_attention_heads": True}, "num_attention_heads"),
    ({"num_hidden_layers": 64}, "its tensors hold 4 blocks"),
    ({"intermediate_size": 1 << 18}, "no tensor of the bundle has"),
    ({"head_dim": 4_096}, "shape"),  # in range, but q/k/v/o would not be what was sent
    ({"num_attention_heads": 1_024}, "not a valid llama config"),
])
def test_a_hostile_bundle_config_is_refused_before_anything_is_built(bundle, no_real_build,
                                                                      change, match):
    from crossbound.models.emulator import assemble_model

    config, tensors = bundle
    with pytest.raises(ValueError, match=match):
        assemble_model({**config, **change}, tensors)


def test_a_config_implying_more_parameters_than_sent_is_refused(bundle, no_real_build):
    from crossbound.models.emulator import assemble_model

    config, tensors = bundle
    # Every size appears in some tensor, yet the config asks for far more than was sent.
    tensors = {**tensors, "extra.0.weight": torch.zeros(1, 8_192)}
    with pytest.raises(ValueError, match="implies at least"):
        assemble_model({**config, "intermediate_size": 8_192}, tensors)
