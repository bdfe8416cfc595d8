"""Routers and the cost–quality curve of a small → large cascade (pure functions).

A router gives each query a confidence that the SM's answer is good enough; the cascade sends
the least confident share of queries to the LM. Confidences come from the SM's label
distribution — max-prob, margin (top-1 minus top-2), negative entropy — or from a small
logistic router trained on those features on a calibration split, its label whether the LM
won there — right where the SM was wrong (after RouteLLM, arXiv:2406.18665, which learns the
same decision from preference data; FrugalGPT and AutoMix score the small model's answer
similarly).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

import torch

Router = Literal["max_prob", "margin", "entropy", "learned"]
ROUTERS: tuple[str, ...] = ("max_prob", "margin", "entropy", "learned")


FEATURES = 4


def features(logprobs: torch.Tensor) -> torch.Tensor:
    """(N, 4) router features of label distributions (N, L): max-prob, margin, −entropy, and
    log of the number of labels the query may take (finite entries: a mixed workload's
    queries of different domains have label sets of different sizes)."""
    probs = logprobs.exp()
    top = probs.topk(min(2, probs.shape[-1]), dim=-1).values
    margin = top[:, 0] - (top[:, 1] if top.shape[-1] > 1 else 0.0)
    neg_entropy = (probs * logprobs.clamp_min(-1e4)).sum(-1)
    labels = torch.isfinite(logprobs).sum(-1).clamp_min(1).float().log()
    return torch.stack([top[:, 0], margin, neg_entropy, labels], dim=-1)


class LogisticRouter:
    """P(label | features), fitted by L2-regularised logistic regression. The cascade's label
    is "answering locally loses nothing", i.e. not (the LM right and the SM wrong)."""

    def __init__(self, l2: float = 1e-2, steps: int = 200) -> None:
        self.l2, self.steps = l2, steps
        self.mean = torch.zeros(FEATURES)
        self.std = torch.ones(FEATURES)
        self.weight = torch.zeros(FEATURES)
        self.bias = torch.zeros(())

    def fit(self, x: torch.Tensor, keep_local: torch.Tensor) -> LogisticRouter:
        if x.shape[0] < 2:
            raise ValueError("the learned router needs at least 2 calibration queries")
        self.mean, self.std = x.mean(0), x.std(0).clamp_min(1e-6)
        z = (x - self.mean) / self.std
        w = torch.zeros(x.shape[1], requires_grad=True)
        b = torch.zeros((), requires_grad=True)
        optimizer = torch.optim.LBFGS([w, b], max_iter=self.steps, line_search_fn="strong_wolfe")
        target = keep_local.float()

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, target)
            loss = loss + self.l2 * (w**2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        self.weight, self.bias = w.detach(), b.detach()
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(((x - self.mean) / self.std) @ self.weight + self.bias)


def confidence(router: Router, sm_logprobs: torch.Tensor,
               learned: LogisticRouter | None = None) -> torch.Tensor:
    """(N,) the router's confidence in the SM's answer; higher means keep it local."""
    x = features(sm_logprobs)
    if router == "max_prob":
        return x[:, 0]
    if router == "margin":
        return x[:, 1]
    if router == "entropy":
        return x[:, 2]
    if router == "learned":
        if learned is None:
            raise ValueError("the learned router must be fitted first")
        return learned(x)
    raise ValueError(f"router must be one of {', '.join(ROUTERS)}, got {router!r}")


def escalation_order(conf: torch.Tensor) -> torch.Tensor:
    """Query indices, least confident first (ties by index, so the order is reproducible)."""
    return torch.tensor(sorted(range(len(conf)), key=lambda i: (float(conf[i]), i)),
                        dtype=torch.long)


def quality_at(k: int, order: torch.Tensor, sm_right: torch.Tensor,
               lm_right: torch.Tensor) -> float:
    """Accuracy when the ``k`` least confident queries are answered by the LM."""
    right = sm_right.clone().bool()
    if k:
        right[order[:k]] = lm_right[order[:k]].bool()
    return float(right.float().mean())


def curve(conf: torch.Tensor, sm_right: torch.Tensor, lm_right: torch.Tensor,
          points: int = 21) -> list[dict[str, float]]:
    """Quality against the share of queries sent to the LM, at ``points`` evenly spaced
    shares from 0 (the SM alone) to 1 (always the LM)."""
    n = len(conf)
    order = escalation_order(conf)
    out = []
    for j in range(points):
        k = round(j * n / (points - 1))
        out.append({"share_to_lm": round(k / n, 4),
                    "accuracy": round(quality_at(k, order, sm_right, lm_right), 4)})
    return out


def apgr(points: Sequence[dict[str, float]]) -> float | None:
    """Average performance gap recovered (RouteLLM): the area under (quality − SM) / (LM − SM)
    over the call share, by the trapezoid rule. None when the LM is no better than the SM."""
    sm, lm = points[0]["accuracy"], points[-1]["accuracy"]
    if lm <= sm:
        return None
    area = 0.0
    for a, b in itertools.pairwise(points):
        width = b["share_to_lm"] - a["share_to_lm"]
        area += width * ((a["accuracy"] - sm) + (b["accuracy"] - sm)) / 2
    return round(area / (lm - sm), 4)


def threshold_for(conf: torch.Tensor, sm_right: torch.Tensor, lm_right: torch.Tensor,
                  target: float) -> tuple[float, float, float]:
    """The confidence threshold that reaches ``target`` × (always-LM accuracy) on these
    (calibration) queries while sending the fewest to the LM; a query is escalated when its
    confidence is below the threshold. Returns (threshold, share escalated, accuracy there).
    """
    n = len(conf)
    if n == 0:
        raise ValueError("no calibration queries to choose a threshold on")
    order = escalation_order(conf)
    goal = target * quality_at(n, order, sm_right, lm_right)
    for k in range(n + 1):
        reached = quality_at(k, order, sm_right, lm_right)
        if reached >= goal - 1e-12:
            break
    ranked = conf[order]
    if k == 0:
        threshold = -math.inf
    elif k == n:
        threshold = math.inf
    else:  # midway between the last escalated and the first kept confidence
        threshold = float((ranked[k - 1] + ranked[k]) / 2)
    return threshold, k / n, reached
