"""One comparable record per cell from a strategy's ``result.json``.

Strategies report what they measured under their own keys; the planner needs the same few
numbers from each: a headline utility, a data-leakage figure, what the model party exposed,
and the data party's cost. Every number keeps the key it came from, so a reader can check it.
"""

from __future__ import annotations

import math
from typing import Any

from crossbound.boundary.contracts import MODEL_PARTY

# Where a strategy's headline utility is, best first: its own final answer, the tuned SM,
# the LM after collaboration, then the task's metric as reported plainly.
HEADLINE_KEYS = ("final", "sm_after", "lm_after", "accuracy", "rouge_l")

# Why a cell's data leakage is what it is (the planner shows this next to the number).
DP = "dp-epsilon"
NOTHING_CROSSED = "no-private-text-crossed"
PRIVATE_TEXT = "private-text-crosses"
PII_FOUND = "pii-crossed"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def headline_utility(utility: dict[str, Any]) -> tuple[float | None, str | None]:
    """The strategy's final headline and the key it was read from."""
    for key in HEADLINE_KEYS:
        value = _number(utility.get(key))
        if value is not None:
            return value, key
    return None, None


def data_leakage(privacy: dict[str, Any], private_text_crosses: bool) -> tuple[float, str]:
    """The planner's leakage figure for one run, and why.

    ε of the DP guarantee when the run trained under DP; 0 when nothing derived from private
    records crossed (the strategy sends none *and* the PII scan of its transcript found
    none); otherwise unbounded (``inf``): sanitised or perturbed text still carries what
    the mechanisms missed, and a scan only finds the PII it has ground truth for.
    """
    epsilon = _number((privacy.get("dp") or {}).get("epsilon"))
    if epsilon is not None:
        return epsilon, DP
    crossed = privacy.get("pii_crossed") or {}
    pii = (crossed.get("occurrences") or 0) + (crossed.get("canaries_crossed") or 0)
    if pii:
        return math.inf, PII_FOUND
    if private_text_crosses:
        return math.inf, PRIVATE_TEXT
    return 0.0, NOTHING_CROSSED


def _membership(privacy: dict[str, Any]) -> dict[str, float]:
    attacks = (privacy.get("membership") or {}).get("attacks") or {}
    aucs = {name: _number(report.get("auc")) for name, report in attacks.items()
            if isinstance(report, dict)}
    return {name: auc for name, auc in aucs.items() if auc is not None}


def _split_directions(by_direction: dict[str, int]) -> tuple[int, int]:
    """Bytes sent to the model party and bytes sent by it (direction keys are 'a->b')."""
    to_model = sum(n for pair, n in by_direction.items() if pair.endswith(f"->{MODEL_PARTY}"))
    from_model = sum(n for pair, n in by_direction.items()
                     if pair.startswith(f"{MODEL_PARTY}->"))
    return to_model, from_model


def normalise(metrics: dict[str, Any], private_text_crosses: bool) -> dict[str, Any]:
    """The comparable record of one finished cell (see the module docstring)."""
    utility = metrics.get("utility") or {}
    privacy = metrics.get("privacy") or {}
    exposure = metrics.get("exposure") or {}
    efficiency = metrics.get("efficiency") or {}
    value, key = headline_utility(utility)
    leakage, basis = data_leakage(privacy, private_text_crosses)
    crossed = privacy.get("pii_crossed") or {}
    canaries = privacy.get("canaries") or {}
    aucs = _membership(privacy)
    bytes_crossed = efficiency.get("bytes_crossed") or {}
    by_direction = bytes_crossed.get("by_direction") or {}
    to_model, from_model = _split_directions(by_direction)
    return {
        "utility": {
            "headline": value,
            "headline_key": key,
            **{k: _number(utility.get(k)) for k in ("sm_before", "sm_after", "lm_before",
                                                    "lm_after") if k in utility},
        },
        "privacy": {
            "data_leakage": None if math.isinf(leakage) else leakage,  # JSON has no inf
            "data_leakage_basis": basis,
            "private_text_crosses": private_text_crosses,
            "pii_crossed": crossed.get("occurrences"),
            "canaries_crossed": crossed.get("canaries_crossed"),
            "dp_epsilon": _number((privacy.get("dp") or {}).get("epsilon")),
            "membership_auc": aucs,
            "membership_auc_max": max(aucs.values()) if aucs else None,
            "canary_exposure_mean": _number(canaries.get("mean_exposure")),
            "canary_exposure_gain": _number(canaries.get("mean_exposure_gain")),
            # Split learning's measured leakage: the share of crossed hidden-state tokens the
            # model party's best inversion recovered (its ε, where one holds, is dp_epsilon).
            "inversion_token_recovery": _number(
                (privacy.get("inversion") or {}).get("token_recovery")),
        },
        "exposure": {
            "bytes_from_model_party": exposure.get("bytes_from_model_party", from_model),
            "lm_calls": exposure.get("lm_calls", efficiency.get("lm_calls")),
            "lm_tokens": exposure.get("lm_tokens", efficiency.get("lm_tokens")),
            "top1_agreement_with_lm": _number(exposure.get("top1_agreement_with_lm")),
        },
        "efficiency": {
            "wall_seconds": _number(efficiency.get("wall_seconds")),
            "peak_memory_mb": _number(efficiency.get("peak_memory_mb")),
            "bytes_crossed": bytes_crossed.get("total", 0),
            "bytes_to_model_party": to_model,
            "bytes_from_model_party": from_model,
            "bytes_by_direction": dict(by_direction),
        },
    }


def leakage_of(record: dict[str, Any]) -> float:
    """A record's data leakage as a number (``None`` in JSON stands for unbounded)."""
    value = record["privacy"]["data_leakage"]
    return math.inf if value is None else float(value)
