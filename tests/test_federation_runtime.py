"""fed-adapter on Flower's deployment runtime: a SuperLink and SuperNodes as separate
processes on 127.0.0.1 (ports picked free), with tiny models.

Each SuperNode starts a fresh ``flwr-clientapp`` process per message, so a run costs about
ten seconds per message round-trip on a small machine: the one run here (3 parties, 2
rounds, one SuperNode killed mid-run) takes about two minutes, the SecAgg+ one (3 parties,
1 round of 4 protocol stages) about a minute and a half.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("flwr")

from safetensors.torch import load_file

from crossbound.boundary.transcript import verify_transcript
from crossbound.federation.adapter_config import FedAdapterConfig
from crossbound.federation.deploy import LocalDeployment, _descendants
from crossbound.federation.mutual_config import FedMutualKTConfig
from crossbound.federation.secagg import MASKED
from tests.test_federation import (
    QUANTISATION,
    SECURE,
    assert_close_adapters,
    assert_only_masked_updates_crossed,
    flower_identity,  # noqa: F401  (a fixture)
    last_updates_of,
    run_local,
    weighted_mean,
)

pytestmark = [pytest.mark.federation, pytest.mark.deployment, pytest.mark.slow]

TASK = "clinic-triage:n=80,seed=5,parties=3"
TINY = {"task": TASK, "small": "tiny-small", "lr": 1e-2, "max_length": 64, "lora_rank": 4,
        "eval_limit": 12}


def _all_gone(pids: set[int], wait: float = 20.0) -> list[int]:
    """The pids still alive after waiting up to ``wait`` seconds (a process killed at the very
    end of a run may take a moment to exit on a busy machine)."""
    deadline = time.monotonic() + wait
    while True:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by a parent we do not own) counts as gone
        status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return status != "Z"


def test_deployment_runtime_completes_when_a_supernode_is_killed_mid_run(tmp_path):
    config = FedAdapterConfig(**TINY, rounds=2, evaluate_initial=False, round_timeout=40.0,
                              runtime="deployment", out=str(tmp_path / "unused"))
    out = tmp_path / "run"
    out.mkdir()
    reports: list[Any] = []
    pids: set[int] = set()
    with LocalDeployment(config, out, 3) as deployment:
        assert deployment.address.startswith("127.0.0.1:")

        def on_round(report: Any) -> None:
            reports.append(report)
            for service in deployment.services.values():
                pids.update([service.process.pid, *_descendants(service.process.pid)])
            if report.round == 1:  # all three took part; now data party 2's machine dies
                deployment.kill_supernode(2)

        result = deployment.run(on_round)
    # Every process this run started is gone (SuperLink, SuperExecs, SuperNodes, apps).
    assert pids and not _all_gone(pids)
    assert [r.round for r in reports] == [0, 1, 2]
    assert [r.aggregated for r in reports[1:]] == [3, 2]
    assert reports[1].dropped_out == {}
    assert set(reports[2].dropped_out) == {"data-party-2"}
    assert reports[2].dropped_out["data-party-2"] in ("timeout", "offline")
    assert set(reports[2].evaluate) == {"data-party-0", "data-party-1"}
    federation = result.metrics["federation"]
    assert federation["dropped_out"] == {"2": reports[2].dropped_out}
    assert result.metrics["utility"]["final"] is not None
    # The boundary recorded every crossing, per party, as in the simulation.
    for i in range(3):
        report = verify_transcript(out / "transcripts" / f"data-party-{i}.jsonl")
        assert report.ok, report.error
    # The final adapter is FedAvg of the two surviving parties' round-2 updates.
    updates = last_updates_of(out / "transcripts", 2, ["data-party-0", "data-party-1"])
    expected = weighted_mean(list(updates.values()))
    final = load_file(str(out / "global-adapter.safetensors"))
    for name, value in final.items():
        torch.testing.assert_close(value.double(), expected[name], rtol=1e-5, atol=1e-6)
    rounds = [json.loads(line) for line in (out / "rounds.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert json.loads((out / "status.json").read_text()) == {"ok": True}


@pytest.mark.usefixtures("flower_identity")
def test_secure_aggregation_over_tls_on_the_deployment_runtime_equals_fedavg(tmp_path):
    config = FedAdapterConfig(**{**SECURE, "runtime": "deployment", "round_timeout": 60.0})
    out = tmp_path / "run"
    out.mkdir()
    with LocalDeployment(config, out, 3, tls=True) as deployment:
        result = deployment.run()
    # The SuperNodes reached the SuperLink over TLS (certificates made for this run).
    assert "running on https://127.0.0.1" in (out / "deployment/logs/superlink.log").read_text()
    assert (out / "deployment/certs/ca.pem").exists()
    secure = result.metrics["federation"]["rounds"][1]["secure_aggregation"]
    assert secure["masked_updates"] == ["data-party-0", "data-party-1", "data-party-2"]
    assert_only_masked_updates_crossed(out / "transcripts",
                                       ["data-party-0", "data-party-1", "data-party-2"])
    assert MASKED in result.metrics["federation"]["contract"][-1]
    # The same round in this process without secure aggregation: FedAvg of plain updates.
    plain, _, _ = run_local(FedAdapterConfig(**{**SECURE, "secure_aggregation": False}),
                            tmp_path / "plain")
    final = load_file(str(out / "global-adapter.safetensors"))
    assert_close_adapters(final, plain.final, QUANTISATION)


def test_fed_mutual_kt_on_the_deployment_runtime_survives_a_killed_supernode(tmp_path):
    from tests.test_federation_mutual import TINY as MUTUAL

    config = FedMutualKTConfig(**{**MUTUAL, "evaluate_initial": False, "round_timeout": 40.0,
                                  "runtime": "deployment", "out": str(tmp_path / "unused")})
    out = tmp_path / "run"
    out.mkdir()
    reports: list[Any] = []
    with LocalDeployment(config, out, 3) as deployment:
        def on_round(report: Any) -> None:
            reports.append(report)
            if report.round == 1:  # everyone took part; now data party 1's machine dies
                deployment.kill_supernode(1)

        result = deployment.run(on_round)
    assert [r.round for r in reports] == [0, 1, 2]
    assert [r.aggregated for r in reports[1:]] == [3, 2]
    assert set(reports[2].dropped_out) == {"data-party-1"}
    # Each surviving SM kept its own LoRA weights between the SuperNode's app processes.
    assert reports[2].train["data-party-0"]["sm-rounds"] == 2
    assert reports[2].train["data-party-2"]["sm-rounds"] == 2
    utility = result.metrics["utility"]
    assert len(utility["lm_per_round"]) == 3 and utility["lm_per_round"][-1] is not None
    assert utility["sm_per_round"]["data-party-1"][2] is None
    assert (out / "lm-adapter" / "adapter_config.json").exists()
    for i in range(3):
        assert verify_transcript(out / "transcripts" / f"data-party-{i}.jsonl").ok
    assert json.loads((out / "status.json").read_text()) == {"ok": True}
