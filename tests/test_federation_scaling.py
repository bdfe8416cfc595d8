"""benchmarks/federation_scaling.py: bad input fails in one line; a tiny run on Flower's
simulation runtime (Ray, two federations of about 15 s each) writes the JSON row by row,
bytes per round grow with the parties, and a rerun skips the Ns already there."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.federation

pytest.importorskip("flwr")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "federation_scaling.py"
TINY = ["--small", "tiny-small", "--task", "clinic-triage:n=80,seed=5", "--rounds", "1",
        "--set", "lr=0.01", "--set", "max_length=64", "--set", "lora_rank=4",
        "--set", "eval_limit=12"]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("federation_scaling", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module



@pytest.mark.parametrize(("extra", "message"), [
    (["--parties", "1"], "at least 2 data parties"),
    (["--parties", "2", "500"], "--parties 500: cannot give 500 parties"),
    (["--set", "no_such_setting=1"], "has no setting 'no_such_setting'"),
    (["--set", "rounds=3"], "rounds is set by --rounds"),
    (["--set", "lr=fast"], "lr='fast': expected float"),
    (["--task", "clinic-triage:parties=3"], "leave out parties"),
])
def test_bad_input_fails_in_one_line_with_exit_code_2(bench, tmp_path, capsys, extra,
                                                      message):
    code = bench.main([*TINY, *extra, "--out", str(tmp_path / "s.json"),
                       "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "w").exists()


def test_scaling_rows_grow_in_bytes_and_a_rerun_skips_finished_ns(bench, tmp_path, capsys,
                                                                  one_thread):
    pytest.importorskip("ray")
    out, work = tmp_path / "scaling.json", tmp_path / "work"
    argv = [*TINY, "--parties", "2", "3", "--out", str(out), "--work", str(work)]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| N | records/party |" in printed and "Scaling N 2 → 3" in printed

    report = json.loads(out.read_text())
    assert report["benchmark"] == "federation_scaling"
    assert {"torch", "flwr"} <= set(report["versions"]) and report["machine"]["cpus"] >= 1
    assert report["settings"]["config"]["small"] == "tiny-small"
    rows = report["rows"]
    assert [row["parties"] for row in rows] == [2, 3]
    for row in rows:
        n = row["parties"]
        assert len(row["records_per_party"]) == n and sum(row["records_per_party"]) == 56
        assert row["rounds"] == 1 and len(row["seconds_per_round"]) == 1
        assert row["round0_seconds"] > 0 and row["mean_seconds_per_round"] > 0
        assert len(row["utility_per_round"]) == 2 and row["final_utility"] is not None
        assert row["aggregated_updates"] == [n]
        assert row["bytes_per_party_per_round"]["up"] > 0
        assert row["bytes_per_party_per_round"]["down"] > row["bytes_per_party_per_round"]["up"]
        (train,) = row["train_seconds_per_round"]
        assert 0 < train["max"] <= train["sum"]
        assert row["peak_memory_mb"] > 0 and row["wall_seconds"] > 0
        assert (Path(row["run_folder"]) / "result.json").exists()
    # Every party receives the adapter and sends one back: bytes per round grow with N,
    # while each party's own traffic stays the same (the adapter's size).
    assert rows[1]["mean_bytes_per_round"] > rows[0]["mean_bytes_per_round"] * 1.4
    per_party = [row["bytes_per_party_per_round"]["down"] for row in rows]
    assert per_party[1] == pytest.approx(per_party[0], rel=0.02)

    before = out.read_text()
    assert bench.main(argv) == 0  # both Ns are there with these settings: nothing runs
    captured = capsys.readouterr()
    assert "[N=2] already in" in captured.err and "[N=3] already in" in captured.err
    assert out.read_text() == before

    # Other settings do not mix into this file without --force.
    assert bench.main([*argv, "--set", "lora_alpha=8"]) == 2
    assert "differ in lora_alpha" in capsys.readouterr().err
