"""Membership inference against a data party's fine-tuned causal LM.

The question an auditor asks: given the fine-tuned small model, can an attacker tell the records
it was trained on (members) from records of the same distribution it never saw (non-members)?
The attacks here are plain functions of (model, data, reference models); they know nothing of
the strategy that produced the model.

Attacks (a higher score means "more likely a member"):

- ``loss``: minus the mean loss on the target tokens (Yeom et al. 2018, arXiv:1709.01604).
- ``min_k``: Min-K% Prob (Shi et al. 2023, arXiv:2310.16789): the mean of the lowest k% token
  log-probabilities, which ignores the tokens every model finds easy.
- ``reference``: the likelihood ratio against reference models that did not train on the
  members (e.g. the untuned base model, or the same base fine-tuned on public data): target
  log-likelihood minus the log of the references' mean likelihood. This is RMIA's
  ``Pr(x|θ) / Pr(x)`` with ``Pr(x)`` averaged over reference models (Zarifzadeh et al. 2024,
  arXiv:2312.03262, offline with a = 1); its population comparison at γ = 1 is a monotone
  transform of this ratio, so it leaves the ROC unchanged and is not repeated here.
- ``lira_offline`` (two or more references): offline LiRA (Carlini et al. 2022,
  arXiv:2112.03570, §IV-C): a Gaussian fitted to each example's log-likelihood under the
  reference ("out") models; the score is the one-sided z-value of the target's log-likelihood.
  With few references the variance is pooled over examples ("global variance", their §VI-B).

Metrics follow the paper's advice to report the low-FPR regime: AUC, TPR at 1 % and 0.1 % FPR
and the membership advantage max(TPR − FPR) (Yeom et al.), from the exact empirical ROC.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from crossbound.tasks.base import Example, Task

Scope = Literal["answer", "sequence", "record"]
FPR_TARGETS = (0.01, 0.001)
# Below this many reference models a per-example variance is too noisy (Carlini et al. §VI-B).
_PER_EXAMPLE_VARIANCE_MIN_REFS = 64


# ------------------------------------------------------------------ per-token log-probabilities


def _encode(
    tokenizer: Any, context: str, target: str, max_length: int, eos: bool
) -> tuple[list[int], int]:
    """Ids of ``context + target`` and how many leading ids are context (not scored).

    Tokenised like :func:`crossbound.training.causal_lm.build_batch` (context and target apart,
    EOS after the target, context cut from the left), so scores see what training saw.
    """
    c = tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
    t = tokenizer(target, add_special_tokens=False)["input_ids"]
    if eos and tokenizer.eos_token_id is not None:
        t = [*t, tokenizer.eos_token_id]
    t = t[: max_length - 1] if c else t[:max_length]
    if c:
        c = c[-(max_length - len(t)) :]  # keep >= 1 context token, cut from the left
    return c + t, len(c)


@torch.no_grad()
def target_logprobs(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    eos: bool = True,
    batch_size: int = 8,
    max_length: int = 256,
) -> list[np.ndarray]:
    """Log-probability of every target token given its context, one array per (context, target).

    With an empty context the first target token has nothing to condition on and is not scored.
    The LM head runs only on scored positions (as in ``answer_loss``): the vocabulary projection
    dominates a small model's cost.
    """
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    base = getattr(model, "base_model", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    cap = getattr(model.config, "final_logit_softcapping", None)
    out: list[np.ndarray] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        rows = [_encode(tokenizer, c, t, max_length, eos) for c, t in chunk]
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        scored = torch.zeros((len(rows), width), dtype=torch.bool)  # positions t whose token counts
        for i, (row, n_ctx) in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
            scored[i, max(n_ctx, 1) : len(row)] = True
        ids, mask, scored = ids.to(device), mask.to(device), scored.to(device)
        keep = scored[:, 1:]  # (B, T-1): position t-1 predicts token t
        targets = ids[:, 1:][keep]  # (N,)
        # Right padding keeps real positions at 0..len-1, so no position ids are needed.
        hidden = None
        if base is not None and base is not model and head is not None:
            hidden = base(input_ids=ids, attention_mask=mask)[0]  # (B, T, H)
            if hidden.shape[-1] != head.weight.shape[-1]:  # a wrapper (e.g. PEFT) gave logits
                hidden = None
        if hidden is not None and head is not None:
            logits = head(hidden[:, :-1][keep])  # (N, V)
            if cap:
                logits = torch.tanh(logits / cap) * cap
        else:
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[:, None])[:, 0]
        counts = keep.sum(-1).tolist()
        for piece in torch.split(logp.cpu(), counts):
            out.append(piece.double().numpy())
    return out


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def _min_k(values: np.ndarray, k: float) -> float:
    if not values.size:
        return 0.0
    n = max(1, math.ceil(k * values.size))  # at least one token, so short targets still score
    return float(np.sort(values)[:n].mean())


def min_k_prob(
    model: Any, tokenizer: Any, texts: Sequence[str], k: float = 0.2, *, batch_size: int = 8,
    max_length: int = 256,
) -> np.ndarray:
    """Min-K% Prob of each text (Shi et al. 2023, arXiv:2310.16789): the mean of its lowest
    ``k`` fraction of token log-probabilities (at least one token). Higher: more likely seen."""
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be in (0, 1], got {k}")
    lps = target_logprobs(model, tokenizer, [("", t) for t in texts], eos=False,
                          batch_size=batch_size, max_length=max_length)
    return np.array([_min_k(v, k) for v in lps])


def example_pairs(task: Task, examples: Sequence[Example], scope: Scope = "answer"
                  ) -> list[tuple[str, str]]:
    """(context, target) per example: ``answer`` is the prompt and the answer the task trains on
    (``finetune`` puts its loss there); ``sequence`` is prompt + answer scored whole, for models
    fine-tuned with ``loss_on="record"``; ``record`` is the record's whole text, for models
    trained to generate records (e.g. DP synthetic-data generators)."""
    if scope == "answer":
        return [(task.prompt(ex), task.answer(ex)) for ex in examples]
    if scope == "sequence":
        return [("", task.prompt(ex) + task.answer(ex)) for ex in examples]
    if scope == "record":
        return [("", ex.text) for ex in examples]
    raise ValueError(f"scope must be 'answer', 'sequence' or 'record', got {scope!r}")


def example_losses(
    model: Any, tokenizer: Any, task: Task, examples: Sequence[Example], scope: Scope = "answer",
    *, batch_size: int = 8, max_length: int = 256,
) -> np.ndarray:
    """Mean cross-entropy per example on its target tokens (EOS included, as in training)."""
    pairs = example_pairs(task, examples, scope)
    lps = target_logprobs(model, tokenizer, pairs, batch_size=batch_size, max_length=max_length)
    return np.array([-_mean(v) for v in lps])


# ------------------------------------------------------------------ attacks (scores)


def loss_attack(losses: np.ndarray) -> np.ndarray:
    """Yeom et al. 2018: members have lower loss; score = −loss."""
    return -np.asarray(losses, dtype=float)


def min_k_attack(logprobs: Sequence[np.ndarray], k: float = 0.2) -> np.ndarray:
    """Min-K% Prob over each example's target-token log-probs (Shi et al. 2023)."""
    return np.array([_min_k(np.asarray(v), k) for v in logprobs])


def reference_attack(target_ll: np.ndarray, reference_ll: np.ndarray) -> np.ndarray:
    """Likelihood ratio: ``target_ll`` (n,) minus the log mean likelihood of ``reference_ll``
    (R, n) or (n,), in per-token log-likelihood units (RMIA's Pr(x|θ)/Pr(x), arXiv:2312.03262)."""
    ref = np.atleast_2d(np.asarray(reference_ll, dtype=float))  # (R, n)
    log_mean = np.logaddexp.reduce(ref, axis=0) - math.log(ref.shape[0])  # (n,)
    return np.asarray(target_ll, dtype=float) - log_mean


def lira_offline_attack(target_ll: np.ndarray, reference_ll: np.ndarray,
                        global_variance: bool | None = None) -> np.ndarray:
    """Offline LiRA (Carlini et al. 2022, arXiv:2112.03570): z-value of ``target_ll`` (n,) under
    a Gaussian fitted to the out-model log-likelihoods ``reference_ll`` (R ≥ 2, n).

    One-sided (members are *more* likely under the target); z is monotone in their
    ``1 − Pr[Z > φ]``, and keeps resolution where that probability rounds to 1.
    """
    ref = np.asarray(reference_ll, dtype=float)
    if ref.ndim != 2 or ref.shape[0] < 2:
        raise ValueError("offline LiRA needs log-likelihoods from at least 2 reference models")
    mu = ref.mean(axis=0)  # (n,)
    if global_variance is None:
        global_variance = ref.shape[0] < _PER_EXAMPLE_VARIANCE_MIN_REFS
    if global_variance:
        pooled = ((ref - mu) ** 2).sum() / (ref.size - ref.shape[1])  # ddof 1 per example
        sigma = np.full_like(mu, float(np.sqrt(pooled)))
    else:
        sigma = ref.std(axis=0, ddof=1)
    sigma = np.maximum(sigma, 1e-8)  # identical references: any difference is then decisive
    return (np.asarray(target_ll, dtype=float) - mu) / sigma


# ------------------------------------------------------------------ ROC metrics


def roc_curve(member_scores: Sequence[float] | np.ndarray,
              nonmember_scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact empirical ROC: (fpr, tpr) at every distinct threshold, from (0, 0) to (1, 1).

    "Member" is predicted for score ≥ threshold; tied scores share one threshold, so ties move
    the curve diagonally (and count half in the AUC).
    """
    pos = np.asarray(member_scores, dtype=float)
    neg = np.asarray(nonmember_scores, dtype=float)
    if pos.size == 0 or neg.size == 0:
        raise ValueError("need at least one member and one non-member score")
    if np.isnan(pos).any() or np.isnan(neg).any():
        raise ValueError("scores contain NaN; check the model's outputs")
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    # The last index of each run of equal scores: one ROC point per distinct threshold.
    ends = np.r_[np.nonzero(np.diff(scores))[0], scores.size - 1]
    tp = np.cumsum(labels)[ends]
    fp = np.cumsum(1 - labels)[ends]
    return np.r_[0.0, fp / neg.size], np.r_[0.0, tp / pos.size]


def mia_metrics(member_scores: Sequence[float] | np.ndarray,
                nonmember_scores: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """AUC, TPR at 1 % and 0.1 % FPR, and advantage max(TPR − FPR), from the exact ROC.

    TPR at an FPR target is read conservatively: the highest TPR over thresholds whose FPR does
    not exceed the target (no interpolation between points).
    """
    fpr, tpr = roc_curve(member_scores, nonmember_scores)
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    result: dict[str, Any] = {"auc": auc}
    for target in FPR_TARGETS:
        key = f"tpr_at_{target * 100:g}pct_fpr"
        result[key] = float(tpr[fpr <= target + 1e-12].max())
    result["advantage"] = float(np.max(tpr - fpr))
    n_neg = len(nonmember_scores)
    limited = [f"{t * 100:g}%" for t in FPR_TARGETS if n_neg * t < 1]
    if limited:
        result["note"] = (f"{n_neg} non-members resolve FPR only in steps of {1 / n_neg:.2g}: "
                          f"TPR at {' and '.join(limited)} FPR is resolution-limited "
                          f"(read at FPR 0); use >= {int(1 / min(FPR_TARGETS))} non-members")
    return result


# ------------------------------------------------------------------ driver


def member_nonmember_split(task: Task, n: int | None = None, seed: int = 0
                           ) -> tuple[list[Example], list[Example]]:
    """Balanced members (training records) and non-members (validation + test records).

    Clinic-triage splits by person, so non-members are non-members at the person level too.
    """
    members = list(task.train)
    nonmembers = [*task.validation, *task.test]
    size = min(len(members), len(nonmembers), n if n is not None else len(members))
    rng = random.Random(seed)
    return rng.sample(members, size), rng.sample(nonmembers, size)


def as_model_pair(reference: Any, tokenizer: Any) -> tuple[Any, Any]:
    if isinstance(reference, tuple):
        return reference[0], reference[1]
    if hasattr(reference, "model") and hasattr(reference, "tokenizer"):  # a LoadedModel
        return reference.model, reference.tokenizer
    return reference, tokenizer


def membership_inference(
    model: Any,
    tokenizer: Any,
    task: Task,
    members: Sequence[Example],
    nonmembers: Sequence[Example],
    reference_models: Sequence[Any] = (),
    *,
    scope: Scope = "answer",
    k: float = 0.2,
    batch_size: int = 8,
    max_length: int = 256,
) -> dict[str, Any]:
    """Run every attack that applies; metrics keyed by attack name under ``"attacks"``.

    ``reference_models``: models that did not train on ``members``, each a model sharing
    ``tokenizer``, a ``(model, tokenizer)`` pair, or a ``LoadedModel``. One gives the
    ``reference`` attack, two or more also ``lira_offline``.
    """
    if not members or not nonmembers:
        raise ValueError("need at least one member and one non-member")
    examples = [*members, *nonmembers]
    pairs = example_pairs(task, examples, scope)
    n = len(members)

    def logprobs(m: Any, tok: Any) -> list[np.ndarray]:
        return target_logprobs(m, tok, pairs, batch_size=batch_size, max_length=max_length)

    target = logprobs(model, tokenizer)
    target_ll = np.array([_mean(v) for v in target])  # (n_examples,) mean per-token log-lik
    scores: dict[str, np.ndarray] = {
        "loss": loss_attack(-target_ll),
        "min_k": min_k_attack(target, k),
    }
    if reference_models:
        ref_ll = np.array([[_mean(v) for v in logprobs(*as_model_pair(r, tokenizer))]
                           for r in reference_models])  # (R, n_examples)
        scores["reference"] = reference_attack(target_ll, ref_ll)
        if len(reference_models) >= 2:
            scores["lira_offline"] = lira_offline_attack(target_ll, ref_ll)
    attacks = {name: mia_metrics(s[:n], s[n:]) for name, s in scores.items()}
    return {
        "attacks": attacks,
        "members": n,
        "nonmembers": len(nonmembers),
        "references": len(reference_models),
        "scope": scope,
        "k": k,
        "mean_loss_members": float(-target_ll[:n].mean()),
        "mean_loss_nonmembers": float(-target_ll[n:].mean()),
    }
