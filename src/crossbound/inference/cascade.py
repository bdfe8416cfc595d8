"""``cascade``: the data party's SM answers; a router escalates the queries it is unsure of.

After RouteLLM (arXiv:2406.18665), FrugalGPT and AutoMix. The SM (tuned locally first by
default) answers every query; a router (``routing``) scores its confidence, and queries below
a threshold go to the model party's LM — protected first (sanitised by default), pre-flighted
against the contract, and withheld (answered by the SM) if the guard would refuse them.

The threshold is chosen on a calibration split (the task's validation records, which are sent
to the LM once, protected, and counted) as the one that reaches ``target_quality`` × the
quality of always asking the LM with the fewest LM calls. Then only the escalated test queries
cross. The cost–quality curve over the test set (what each share of LM calls would have
given, and APGR) needs the LM's answer on every test query: those what-if answers, and the LM
on the raw prompts as a reference, come over the run's measurement channel, not the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from crossbound.baselines.common import label_metrics, protected_text_contract, require_labels
from crossbound.boundary.contracts import OPEN_TEXT, AccessContract
from crossbound.boundary.messages import Kind
from crossbound.boundary.operations import score_choices
from crossbound.config_checks import check_at_least
from crossbound.evaluate.utility import within_label_sets
from crossbound.inference.querying import (
    QUICK_QUERY,
    Protector,
    QueryConfig,
    QueryStrategy,
    lm_label_logprobs,
    sm_label_logprobs,
)
from crossbound.inference.registry import INFERENCE
from crossbound.inference.routing import (
    LogisticRouter,
    Router,
    apgr,
    confidence,
    curve,
    features,
    threshold_for,
)
from crossbound.result import Result
from crossbound.strategy import RunContext, cells
from crossbound.tasks.base import Example, Task

CASCADE = protected_text_contract(
    "cascade",
    "The data party sends the protected prompts the router escalates (and a protected "
    "calibration split); the model party returns label scores.",
    replies=(Kind.TENSORS,), operations=(score_choices(),))


@dataclass
class CascadeConfig(QueryConfig):
    """Route with ``router`` (``max_prob``, ``margin``, ``entropy`` or ``learned``); pick the
    threshold on ``validation_limit`` calibration records to reach ``target_quality`` × the
    always-LM quality. ``protect=none`` sends escalated prompts raw: it needs
    ``allow_raw=true``. ``curve_points``: shares on the reported cost–quality curve."""

    router: Router = "max_prob"
    target_quality: float = 0.95
    allow_raw: bool = False
    curve_points: int = 21

    def validate(self) -> None:
        super().validate()
        if not 0.0 < self.target_quality <= 1.0:
            raise ValueError("target_quality must be in (0, 1]: a share of the always-LM "
                             "quality")
        if self.protect == "none" and not self.allow_raw:
            raise ValueError("protect=none sends escalated private prompts raw to the model "
                             "party; set allow_raw=true to accept that, or protect=sanitize")
        check_at_least(self, 2, "curve_points")


@INFERENCE.register
class Cascade(QueryStrategy[CascadeConfig]):
    name = "cascade"
    direction = "inference"
    summary = "The SM answers; a router sends the queries it is unsure of to the LM, protected"
    paper = "arXiv:2406.18665 (RouteLLM); FrugalGPT; AutoMix"
    needs_model_party = "an LM that scores labels"
    needs_data_party = "an SM (tuned locally first by default), private queries"
    crosses = ("data→model: protected prompts of escalated queries and of a calibration "
               "split; model→data: label scores")
    contract = CASCADE

    @classmethod
    def contract_for(cls, config: CascadeConfig) -> AccessContract:
        # Raw escalated prompts only on the opt-in validate() insists on (allow_raw).
        return OPEN_TEXT if config.protect == "none" else CASCADE

    bench_cells = cells(quick=[("max-prob", {**QUICK_QUERY, "router": "max_prob"})],
                        full=[("max-prob", {"router": "max_prob"}),
                              ("learned", {"router": "learned"})])

    def check_task(self, task: Task) -> None:
        require_labels(task, self.name, "Use private-prompt or remote-lm")

    def answer(self, ctx: RunContext, sm: Any, test: list[Example],
               protector: Protector) -> Result:
        cfg, task = self.config, ctx.task
        choices = require_labels(task, self.name)
        calibration = list(task.validation[: cfg.validation_limit])
        if len(calibration) < 2:
            raise ValueError(f"cascade needs >= 2 validation records to calibrate its router; "
                             f"{task.name} has {len(task.validation)}")
        index = {label: i for i, label in enumerate(choices)}
        gold_cal = torch.tensor([index[ex.target] for ex in calibration])
        gold_test = torch.tensor([index[ex.target] for ex in test])
        with ctx.step("SM answering every query"):
            own = within_label_sets(task, [*calibration, *test],
                                    sm_label_logprobs(sm, task, [*calibration, *test],
                                                      cfg.batch_size))
        own_cal, own_test = own[: len(calibration)], own[len(calibration):]
        prompts, protected = protector.prompts(ctx, sm, [*calibration, *test])
        cal_prompts, test_prompts = prompts[: len(calibration)], prompts[len(calibration):]

        # Calibration: the LM answers the (protected) calibration split once.
        lm_cal = within_label_sets(task, calibration, lm_label_logprobs(
            ctx, task, cal_prompts, cfg.prompts_per_request,
            label="LM answering the calibration split"))
        sm_right_cal = own_cal.argmax(-1) == gold_cal
        lm_right_cal = lm_cal.argmax(-1) == gold_cal
        learned = None
        if cfg.router == "learned":  # learns where the LM beats the SM (RouteLLM's wins)
            learned = LogisticRouter().fit(features(own_cal), ~(lm_right_cal & ~sm_right_cal))
        conf_cal = confidence(cfg.router, own_cal, learned)
        threshold, cal_share, cal_quality = threshold_for(conf_cal, sm_right_cal, lm_right_cal,
                                                          cfg.target_quality)

        # Deployment: only the test queries below the threshold cross.
        conf_test = confidence(cfg.router, own_test, learned)
        escalate = [bool(c < threshold) and p is not None
                    for c, p in zip(conf_test.tolist(), test_prompts, strict=True)]
        lm_escalated = within_label_sets(task, test, lm_label_logprobs(
            ctx, task, [p if e else None for p, e in zip(test_prompts, escalate, strict=True)],
            cfg.prompts_per_request, label="LM answering escalated queries"))
        chosen = own_test.argmax(-1).clone()
        mask = torch.tensor(escalate, dtype=torch.bool)
        chosen[mask] = lm_escalated.argmax(-1)[mask]

        final = label_metrics(task, test, chosen)
        # What-if answers for the curve, and the raw-prompt reference: measurement channel.
        lm_all = within_label_sets(task, test, lm_label_logprobs(
            ctx, task, test_prompts, cfg.prompts_per_request, measurement=True,
            label="LM on every test query (curve)"))
        sm_right = own_test.argmax(-1) == gold_test
        lm_right = lm_all.argmax(-1) == gold_test
        points = curve(conf_test, sm_right, lm_right, cfg.curve_points)
        sm_alone, lm_always = points[0]["accuracy"], points[-1]["accuracy"]
        utility: dict[str, Any] = {
            "final": final["accuracy"], **final,
            "share_to_lm": round(float(mask.float().mean()), 4),
            "sm_alone": sm_alone, "lm_always": lm_always,
            "better_of_two": max(sm_alone, lm_always),
            "quality_vs_lm": round(final["accuracy"] / lm_always, 4) if lm_always else None,
            "apgr": apgr(points), "curve": points,
            "router": cfg.router, "threshold": threshold,
            "calibration": {"examples": len(calibration), "share_to_lm": round(cal_share, 4),
                            "accuracy": round(cal_quality, 4),
                            "sm_alone": round(float(sm_right_cal.float().mean()), 4),
                            "lm_always": round(float(lm_right_cal.float().mean()), 4)},
            "eval_examples": len(test),
        }
        domains = sorted({ex.meta["domain"] for ex in test if "domain" in ex.meta})
        if domains:  # a mixed task: each model's accuracy per kind of query
            utility["by_domain"] = {}
            for domain in domains:
                rows = torch.tensor([ex.meta.get("domain") == domain for ex in test])
                utility["by_domain"][domain] = {
                    "queries": int(rows.sum()),
                    "final": round(float((chosen == gold_test)[rows].float().mean()), 4),
                    "sm_alone": round(float(sm_right[rows].float().mean()), 4),
                    "lm_always": round(float(lm_right[rows].float().mean()), 4),
                    "share_to_lm": round(float(mask[rows].float().mean()), 4)}
        raw = self.raw_reference(ctx, test, utility)
        if raw is not None:
            raw = within_label_sets(task, test, raw)
            utility["lm_raw"] = round(float((raw.argmax(-1) == gold_test).float().mean()), 4)
        result = self.new_result(ctx)
        result.metrics["utility"] = utility
        result.metrics["privacy"] = {
            **protected.report(),
            "prompts_sent": sum(p is not None for p in cal_prompts) + sum(escalate),
            "prompts_withheld": sum(p is None for p in prompts),
            "contract": ctx.boundary.contract.name if ctx.boundary.contract else None,
        }
        return result
