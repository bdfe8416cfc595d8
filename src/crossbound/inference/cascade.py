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

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.baselines.common import (
    QUICK_EVAL_LIMIT,
    QUICK_TRAINING,
    QUICK_VALIDATION_LIMIT,
    check_party,
    eval_subset,
)
from crossbound.boundary.contracts import OPEN_TEXT, AccessContract, GuardContext, allow
from crossbound.boundary.messages import Kind
from crossbound.boundary.operations import score_choices
from crossbound.config_checks import check_at_least, check_choice
from crossbound.evaluate.utility import (
    classification_metrics,
    subgroup_accuracy,
    within_label_sets,
)
from crossbound.inference.querying import (
    GUARD,
    Protector,
    QueryConfig,
    admissible,
    lm_label_logprobs,
    raw_label_reference,
    sm_label_logprobs,
    tuned_sm,
)
from crossbound.inference.registry import INFERENCE
from crossbound.inference.routing import (
    ROUTERS,
    LogisticRouter,
    Router,
    apgr,
    confidence,
    curve,
    features,
    threshold_for,
)
from crossbound.naming import DATA_PARTY
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy
from crossbound.tasks.base import Example, Task

CASCADE = AccessContract(
    "cascade",
    (
        allow("data", Kind.TEXT, guards=(GUARD,)),
        allow("model", Kind.TENSORS),
    ),
    "The data party sends the protected prompts the router escalates (and a protected "
    "calibration split); the model party returns label scores.",
    operations=(score_choices(),),
)


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
        check_choice(self, "router", ROUTERS)
        if not 0.0 < self.target_quality <= 1.0:
            raise ValueError("target_quality must be in (0, 1]: a share of the always-LM "
                             "quality")
        if self.protect == "none" and not self.allow_raw:
            raise ValueError("protect=none sends escalated private prompts raw to the model "
                             "party; set allow_raw=true to accept that, or protect=sanitize")
        check_at_least(self, 2, "curve_points")


@INFERENCE.register
class Cascade(Strategy[CascadeConfig]):
    name = "cascade"
    direction = "inference"
    summary = "The SM answers; a router sends the queries it is unsure of to the LM, protected"
    paper = "arXiv:2406.18665 (RouteLLM); FrugalGPT; AutoMix"
    needs_model_party = "an LM that scores labels"
    needs_data_party = "an SM (tuned locally first by default), private queries"
    crosses = ("data→model: protected prompts of escalated queries and of a calibration "
               "split; model→data: label scores")
    contract = CASCADE
    private_text_crosses = True  # protected prompts of the escalated queries

    @classmethod
    def contract_for(cls, config: CascadeConfig) -> AccessContract:
        # Raw escalated prompts only on the opt-in validate() insists on (allow_raw).
        return OPEN_TEXT if config.protect == "none" else CASCADE

    @classmethod
    def bench_settings(cls, profile: str) -> list[tuple[str, dict[str, str]]]:
        if profile == "quick":
            limits = {"sm_epochs": QUICK_TRAINING["epochs"], "lr": QUICK_TRAINING["lr"],
                      "train_limit": "120", "validation_limit": QUICK_VALIDATION_LIMIT,
                      "eval_limit": QUICK_EVAL_LIMIT,
                      "reference_raw": "false"}
            return [("max-prob", {**limits, "router": "max_prob"})]
        return [("max-prob", {"router": "max_prob"}), ("learned", {"router": "learned"})]

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        if task.choices is None:
            raise ValueError(f"cascade routes classification queries; {task.name} is "
                             "free-text (use private-prompt or remote-lm)")
        check_party(task, cfg.party)
        protector = Protector(cfg)
        with protector.guarding(ctx):
            return self._run(ctx, cfg, task, protector)

    def _prompts(self, ctx: RunContext, cfg: CascadeConfig, task: Task, protector: Protector,
                 sm: Any, queries: list[Example]) -> tuple[list[str | None], dict[str, Any]]:
        """Each query's protected prompt, or None where the guard would refuse it."""
        protected = protector.protect(ctx, sm, [ex.text for ex in queries])
        released = protected.texts if protector.sanitizer is not None else []
        ctx.boundary.guard_contexts[DATA_PARTY] = GuardContext(
            private_texts=[ex.text for ex in (*task.train, *queries)],
            public_texts=[ex.text for ex in task.public] + released)
        prompts: list[str | None] = []
        for ex, text in zip(queries, protected.texts, strict=True):
            prompt = task.prompt(dataclasses.replace(ex, text=text, pii=(), canary=None))
            prompts.append(prompt if admissible(ctx, prompt) else None)
        return prompts, {"protection": protected.how,
                         "pii_replaced_by_kind": dict(sorted(protected.kinds.items()))}

    def _run(self, ctx: RunContext, cfg: CascadeConfig, task: Task,
             protector: Protector) -> Result:
        assert task.choices is not None
        started = time.perf_counter()
        sm = tuned_sm(ctx, cfg, task)
        tuned_seconds = time.perf_counter() - started
        ctx.connect_model_party(batch_size=cfg.lm_batch_size)
        test = list(eval_subset(task, cfg.eval_limit))
        calibration = list(task.validation[: cfg.validation_limit])
        if len(calibration) < 2:
            raise ValueError(f"cascade needs >= 2 validation records to calibrate its router; "
                             f"{task.name} has {len(task.validation)}")
        index = {label: i for i, label in enumerate(task.choices)}
        gold_cal = torch.tensor([index[ex.target] for ex in calibration])
        gold_test = torch.tensor([index[ex.target] for ex in test])
        with ctx.step("SM answering every query"):
            own = within_label_sets(task, [*calibration, *test],
                                    sm_label_logprobs(sm, task, [*calibration, *test],
                                                      cfg.batch_size))
        own_cal, own_test = own[: len(calibration)], own[len(calibration):]
        prompts, privacy = self._prompts(ctx, cfg, task, protector, sm, [*calibration, *test])
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

        def metrics(predicted_ids: torch.Tensor) -> dict[str, float]:
            predicted = [task.choices[i] for i in predicted_ids.tolist()]  # type: ignore[index]
            return {**classification_metrics(predicted, [ex.target for ex in test],
                                             task.choices),  # type: ignore[arg-type]
                    **subgroup_accuracy(predicted, test)}

        final = metrics(chosen)
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
        raw = raw_label_reference(ctx, task, test, cfg.prompts_per_request, utility) \
            if cfg.reference_raw else None
        if raw is not None:
            raw = within_label_sets(task, test, raw)
            utility["lm_raw"] = round(float((raw.argmax(-1) == gold_test).float().mean()), 4)
        result = Result(strategy=self.name, config=cfg.to_dict(), task={},
                        models={"large": ctx.large, "small": ctx.small})
        result.metrics["utility"] = utility
        result.metrics["privacy"] = {
            **privacy,
            "prompts_sent": sum(p is not None for p in cal_prompts) + sum(escalate),
            "prompts_withheld": sum(p is None for p in prompts),
            "contract": ctx.boundary.contract.name if ctx.boundary.contract else None,
        }
        result.metrics["efficiency"] = {"sm_tuning_seconds": round(tuned_seconds, 3)}
        return result
