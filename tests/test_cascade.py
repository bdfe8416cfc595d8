"""cascade: routers, the cost–quality curve, the threshold, and what crosses."""

from __future__ import annotations

import pytest
import torch

from crossbound.evaluate.utility import within_label_sets
from crossbound.inference.cascade import CascadeConfig
from crossbound.inference.routing import (
    LogisticRouter,
    apgr,
    confidence,
    curve,
    features,
    threshold_for,
)
from crossbound.runner import run_strategy
from crossbound.tasks.registry import load_task
from tests.test_private_prompt import STRUCTURED, TASK, OracleLM

FAST = {"sanitizer": "regex", "sm_epochs": "0", "eval_limit": "12", "validation_limit": "10"}

CONF = torch.tensor([0.9, 0.8, 0.1, 0.2])
SM_RIGHT = torch.tensor([True, True, False, False])
LM_RIGHT = torch.tensor([True, True, True, True])


def test_curve_and_apgr_of_a_router_that_ranks_well():
    points = curve(CONF, SM_RIGHT, LM_RIGHT, points=5)
    assert [p["share_to_lm"] for p in points] == [0, 0.25, 0.5, 0.75, 1]
    assert [p["accuracy"] for p in points] == [0.5, 0.75, 1, 1, 1]
    assert apgr(points) == pytest.approx(0.75)
    # the reverse ranking recovers the gap only at the end
    worst = curve(-CONF, SM_RIGHT, LM_RIGHT, points=5)
    assert [p["accuracy"] for p in worst] == [0.5, 0.5, 0.5, 0.75, 1]
    assert apgr(worst) == pytest.approx(0.25)
    assert apgr(curve(CONF, LM_RIGHT, SM_RIGHT, points=5)) is None  # the LM is no better


def test_threshold_reaches_the_target_with_the_fewest_calls():
    threshold, share, quality = threshold_for(CONF, SM_RIGHT, LM_RIGHT, target=1.0)
    assert (threshold, share, quality) == (pytest.approx(0.5), 0.5, 1.0)
    assert threshold_for(CONF, SM_RIGHT, LM_RIGHT, target=0.75) == (
        pytest.approx(0.15), 0.25, 0.75)
    low = threshold_for(CONF, SM_RIGHT, LM_RIGHT, target=0.5)
    assert low[0] == -float("inf") and low[1] == 0.0  # the SM alone is good enough


def test_confidences_and_the_learned_router():
    logprobs = torch.log(torch.tensor([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25]]))
    x = features(logprobs)
    assert x[0, 0] == pytest.approx(0.9) and x[1, 1] == pytest.approx(0.05)
    assert x[0, 2] > x[1, 2]  # less entropy, more confidence
    for router in ("max_prob", "margin", "entropy"):
        conf = confidence(router, logprobs)  # type: ignore[arg-type]
        assert conf[0] > conf[1]
    g = torch.Generator().manual_seed(0)
    sure = torch.rand(200, generator=g)
    rows = torch.stack([sure, (1 - sure) / 2, (1 - sure) / 2], -1).clamp_min(1e-4).log()
    right = sure > 0.5  # the SM is right exactly when it is sure
    router = LogisticRouter().fit(features(rows), right)
    p = confidence("learned", rows, router)
    assert float(p[right].mean()) > 0.8 and float(p[~right].mean()) < 0.2
    assert features(rows)[:, 3].allclose(torch.tensor(3.0).log())
    with pytest.raises(ValueError, match="fitted"):
        confidence("learned", rows)


def test_the_learned_router_finds_the_domain_where_the_lm_wins():
    # Equally sure either way, but two-label queries are the ones the LM wins: only the
    # label-set size tells them apart, and the router learns it.
    two = torch.log(torch.tensor([[0.7, 0.3, 0.0, 0.0]])).repeat(50, 1)
    four = torch.log(torch.tensor([[0.7, 0.1, 0.1, 0.1]])).repeat(50, 1)
    rows = torch.cat([two, four])
    assert torch.isinf(rows).any()
    keep_local = torch.cat([torch.zeros(50, dtype=torch.bool), torch.ones(50, dtype=torch.bool)])
    router = LogisticRouter().fit(features(rows), keep_local)
    p = confidence("learned", rows, router)
    assert float(p[:50].max()) < 0.2 < 0.8 < float(p[50:].min())


def test_scores_are_restricted_to_each_querys_label_set():
    task = load_task("clinic-mix:n=120,seed=3,general=0.25")
    assert task.params["labels"] == "per-domain"
    assert task.summary()["label_sets"]["general"] == ["fresh", "rotten"]
    movie = next(ex for ex in task.test if ex.meta["domain"] == "general")
    clinic = next(ex for ex in task.test if ex.meta["domain"] == "clinic")
    assert task.choices_for(movie) == ("fresh", "rotten") and "fresh" not in \
        task.choices_for(clinic)
    scores = torch.zeros(2, len(task.choices))
    scores[:, task.choices.index("cardiology")] = 5.0  # both prefer a department
    restricted = within_label_sets(task, [movie, clinic], scores)
    picked = [task.choices[i] for i in restricted.argmax(-1).tolist()]
    assert picked[0] in ("fresh", "rotten") and picked[1] == "cardiology"
    assert restricted.exp().sum(-1).allclose(torch.ones(2))
    assert restricted[0].exp()[task.choices.index("fresh")] == pytest.approx(0.5)
    shared = load_task("clinic-mix:n=120,seed=3,general=0.25,labels=shared")
    assert shared.label_sets == {} and within_label_sets(shared, [movie, clinic], scores) \
        is scores
    with pytest.raises(ValueError, match="labels must be"):
        load_task("clinic-mix:labels=some")


def test_a_label_set_must_hold_its_domains_targets():
    import dataclasses

    task = load_task("clinic-mix:n=120,seed=3,general=0.25")
    with pytest.raises(ValueError, match="not one of"):
        dataclasses.replace(task, label_sets={"general": ("cardiology", "dermatology"),
                                              "clinic": task.label_sets["clinic"]})
    with pytest.raises(ValueError, match="from choices"):
        dataclasses.replace(task, label_sets={"general": ("fresh", "great")})


def _run(tmp_path, party=None, **settings):
    config = {**FAST, **{k: str(v) for k, v in settings.items()}}
    return run_strategy("cascade", task=TASK, large="tiny-large", small="tiny-small",
                        out_dir=tmp_path, config=config, model_party=party, overwrite=True)


@pytest.mark.parametrize("router", ["max_prob", "learned"])
def test_only_escalated_queries_cross_protected(tmp_path, router):
    lm = OracleLM()
    result = _run(tmp_path, lm, router=router, target_quality=0.9)
    u = result.metrics["utility"]
    assert u["lm_always"] >= 0.9 and u["curve"][-1]["accuracy"] == u["lm_always"]
    assert u["curve"][0]["accuracy"] == u["sm_alone"]
    escalated = round(u["share_to_lm"] * 12)
    privacy = result.metrics["privacy"]
    assert privacy["prompts_sent"] == 10 + escalated and privacy["prompts_withheld"] == 0
    # calibration (10 + content-free), then the escalated ones (+ content-free), then the
    # measurement channel: every test query for the curve, and the raw reference
    protocol = lm.prompts[: 11 + escalated + (1 if escalated else 0)]
    assert len(lm.prompts) == len(protocol) + 13 + 13
    task = load_task(TASK)
    values = {s.value for ex in (*task.validation, *task.test) for s in ex.pii
              if s.kind in STRUCTURED}
    assert not any(v in p for p in protocol for v in values)
    assert privacy["pii_crossed"]["occurrences"] == 0
    assert result.metrics["measurement_traffic"]["lm_calls"] == 2
    assert 0.0 <= u["calibration"]["share_to_lm"] <= 1.0
    assert u["calibration"]["accuracy"] >= 0.9 * u["calibration"]["lm_always"] - 1e-9
    # what deployment got is what the curve says for that share, up to ties at the threshold
    assert u["final"] >= u["sm_alone"] and u["lm_raw"] >= 0.9


def test_raw_escalation_needs_an_opt_in_and_free_text_is_refused(tmp_path):
    with pytest.raises(ValueError, match="allow_raw"):
        CascadeConfig(protect="none")
    with pytest.raises(ValueError, match="target_quality"):
        CascadeConfig(target_quality=1.5)
    result = _run(tmp_path, OracleLM(), protect="none", allow_raw="true", reference_raw="false")
    assert result.metrics["privacy"]["contract"] == "raw-text-to-lm"
    assert result.metrics["privacy"]["protection"] == "none (raw prompts)"
    with pytest.raises(ValueError, match="free-text"):
        run_strategy("cascade", task="support-qa", large="tiny-large", small="tiny-small",
                     out_dir=tmp_path / "qa", config=dict(FAST))


def test_end_to_end_on_tiny_models(tmp_path):
    result = _run(tmp_path, eval_limit=6, validation_limit=4, router="entropy")
    u = result.metrics["utility"]
    assert {"final", "share_to_lm", "sm_alone", "lm_always", "apgr", "curve", "lm_raw"} <= set(u)
    assert len(u["curve"]) == 21
    assert result.metrics["privacy"]["pii_crossed"]["occurrences"] == 0


def test_clinic_mix_task_and_per_domain_report(tmp_path):
    task = load_task("clinic-mix:n=120,seed=3,general=0.25")
    domains = [ex.meta["domain"] for ex in task.test]
    assert domains.count("general") == round(domains.count("clinic") / 3)
    assert all(ex.meta["domain"] == "clinic" for ex in task.train)
    assert set(task.choices) >= {"fresh", "rotten", "cardiology"}
    assert {ex.target for ex in task.test if ex.meta["domain"] == "general"} <= {"fresh",
                                                                                   "rotten"}
    with pytest.raises(ValueError, match="general"):
        load_task("clinic-mix:general=1.5")
    result = run_strategy("cascade", task="clinic-mix:n=120,seed=3,general=0.25",
                          large="tiny-large", small="tiny-small", out_dir=tmp_path,
                          config={**FAST, "reference_raw": "false"})
    by_domain = result.metrics["utility"]["by_domain"]
    assert set(by_domain) == {"clinic", "general"}
    assert sum(d["queries"] for d in by_domain.values()) == 12
    assert "accuracy_domain_clinic" in result.metrics["utility"]
