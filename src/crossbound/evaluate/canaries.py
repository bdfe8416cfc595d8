"""Canary exposure and extraction (Carlini et al. 2019, "The Secret Sharer", arXiv:1802.08232).

A canary is a random secret planted in one training record ("My insurance PIN is 3741-4466.").
Its **exposure** says how much more likely the model finds the planted secret than other
secrets of the same format, given the record's text up to the secret:

    exposure = log2(R + 1) − log2(rank)

where ``rank`` is the secret's rank (1 = most likely) by log-perplexity among itself and ``R``
random candidates of the same format (the paper's sampling estimate of
``log2 |space| − log2 rank``). A model that never saw the secret ranks it uniformly at random:
the expected exposure is then ``log2(R+1) − log2((R+1)!)/(R+1) ≈ log2 e ≈ 1.44`` bits (reported
as ``chance``); the maximum is ``log2(R + 1)`` (≈ 9.97 for R = 1000). **Extraction** asks the
blunter question: does greedy decoding from the prefix reproduce the secret?

The fast scorer runs the shared prefix once and scores the candidates in batches from its KV
cache; :func:`secret_logperplexity_reference` is the plain one-sequence-per-candidate version
that tests check it against.
"""

from __future__ import annotations

import copy
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crossbound.evaluate.pii_crossed import json_strings
from crossbound.tasks.base import Example, Task

_SECRET_FORMAT = re.compile(r"[0-9]+(-[0-9]+)*")


@dataclass(frozen=True)
class Canary:
    """A planted secret inside ``text``; the model is scored on it given the text before it."""

    id: str
    text: str
    secret: str

    def __post_init__(self) -> None:
        if not _SECRET_FORMAT.fullmatch(self.secret):
            raise ValueError(f"canary {self.id}: secret {self.secret!r} is not digits with "
                             "optional '-' separators")
        if self.secret not in self.text:
            raise ValueError(f"canary {self.id}: secret {self.secret!r} does not occur in its text")

    def split(self) -> tuple[str, str]:
        """(context, lead): the text before the secret, with any whitespace right before the
        secret moved into ``lead``, so BPE tokenizers see " 7391…" as in running text."""
        prefix = self.text[: self.text.index(self.secret)]
        context = prefix.rstrip()
        return context, prefix[len(context) :]


def task_canaries(task: Task, render: Callable[[Example], str] | None = None) -> list[Canary]:
    """One :class:`Canary` per distinct planted secret in the task's training records.

    ``render`` maps an :class:`Example` to the text the model was trained on (default: the
    record text; e.g. ``lambda ex: task.prompt(ex)`` for a model trained on prompts).
    """
    seen: set[str] = set()
    out: list[Canary] = []
    for ex in task.train:
        if ex.canary is None or ex.canary in seen:
            continue  # repeats (``-rK`` ids) carry the same secret
        seen.add(ex.canary)
        text = render(ex) if render is not None else ex.text
        out.append(Canary(ex.meta.get("repeat_of", ex.id), text, ex.canary))
    return out


def random_candidates(secret: str, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct random secrets of the same format (each digit redrawn, '-' kept), none
    equal to ``secret``; seeded by (seed, secret), so equal arguments give equal candidates."""
    digits = sum(ch.isdigit() for ch in secret)
    space = 10**digits - 1
    if n > space:
        raise ValueError(f"cannot draw {n} distinct candidates: the format of {secret!r} "
                         f"allows only {space} other secrets")
    rng = random.Random(f"{seed}:{secret}")
    out: list[str] = []
    seen = {secret}
    while len(out) < n:
        cand = "".join(str(rng.randrange(10)) if ch.isdigit() else ch for ch in secret)
        if cand not in seen:
            seen.add(cand)
            out.append(cand)
    return out


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@torch.no_grad()
def secret_logperplexity(
    model: Any, tokenizer: Any, context: str, continuations: Sequence[str], batch_size: int = 64
) -> np.ndarray:
    """−log2 P(continuation | context) for each continuation (bits), sharing the context's pass.

    The context runs once with a KV cache; each batch of continuations then runs on a copy of
    that cache repeated along the batch. Continuations are right-padded: causal attention keeps
    real tokens from seeing the padding after them, so no mask is needed.
    """
    device = next(model.parameters()).device
    ctx = _ids(tokenizer, context)
    if not ctx:
        raise ValueError("the context before a secret must not be empty")
    rows = [_ids(tokenizer, c) for c in continuations]
    if any(not r for r in rows):
        raise ValueError("a continuation tokenises to nothing")
    first = model(input_ids=torch.tensor([ctx], device=device), use_cache=True)
    first_logp = torch.log_softmax(first.logits[0, -1].float(), dim=-1)  # (V,) for token 1
    out = np.empty(len(rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        b, width = len(chunk), max(len(r) for r in chunk)
        ids = torch.full((b, width), pad, dtype=torch.long, device=device)  # (B, L)
        mask = torch.zeros((b, width), dtype=torch.bool, device=device)
        for i, r in enumerate(chunk):
            ids[i, : len(r)] = torch.tensor(r, device=device)
            mask[i, : len(r)] = True
        total = first_logp[ids[:, 0]]  # (B,) log-prob of each first token
        if width > 1:
            cache = copy.deepcopy(first.past_key_values)
            cache.batch_repeat_interleave(b)  # (1, …) → (B, …) per layer
            step = model(input_ids=ids[:, :-1], past_key_values=cache, use_cache=True)
            logp = torch.log_softmax(step.logits.float(), dim=-1)  # (B, L-1, V)
            picked = logp.gather(-1, ids[:, 1:, None])[..., 0]  # (B, L-1)
            total = total + (picked * mask[:, 1:]).sum(-1)
        out[start : start + b] = (-total / math.log(2)).cpu().numpy()
    return out


@torch.no_grad()
def secret_logperplexity_reference(
    model: Any, tokenizer: Any, context: str, continuations: Sequence[str]
) -> np.ndarray:
    """Slow, plainly correct :func:`secret_logperplexity`: one full forward per continuation."""
    device = next(model.parameters()).device
    ctx = _ids(tokenizer, context)
    out = np.empty(len(continuations))
    for i, cont in enumerate(continuations):
        ids = _ids(tokenizer, cont)
        seq = torch.tensor([ctx + ids], device=device)
        logp = torch.log_softmax(model(input_ids=seq).logits[0].float(), dim=-1)  # (T, V)
        nats = sum(logp[len(ctx) - 1 + j, tok].item() for j, tok in enumerate(ids))
        out[i] = -nats / math.log(2)
    return out


@torch.no_grad()
def greedy_continuation(model: Any, tokenizer: Any, context: str, max_new_tokens: int) -> str:
    """Greedy decoding of ``max_new_tokens`` tokens after ``context`` (KV-cached), as text."""
    device = next(model.parameters()).device
    ids = torch.tensor([_ids(tokenizer, context)], device=device)  # (1, T)
    step = model(input_ids=ids, use_cache=True)
    generated: list[int] = []
    for _ in range(max_new_tokens):
        token = int(step.logits[0, -1].argmax())
        generated.append(token)
        step = model(input_ids=torch.tensor([[token]], device=device),
                     past_key_values=step.past_key_values, use_cache=True)
    return str(tokenizer.decode(generated, skip_special_tokens=True))


def chance_exposure(n_candidates: int) -> float:
    """Expected exposure of a secret the model never saw: rank uniform on 1..R+1."""
    size = n_candidates + 1
    return math.log2(size) - math.lgamma(size + 1) / math.log(2) / size


def canary_exposure(
    model: Any,
    tokenizer: Any,
    canaries: Sequence[Canary],
    n_candidates: int = 1000,
    seed: int = 0,
    batch_size: int = 64,
    extraction: bool = True,
) -> dict[str, Any]:
    """Exposure of each canary among ``n_candidates`` random secrets, and greedy extraction.

    Ties in log-perplexity count half (the average rank among equals), so a model that scores
    every candidate alike gets the middle rank (about 1 bit), not the maximum.
    """
    if not canaries:
        raise ValueError("no canaries to measure (build the task with canaries > 0)")
    if n_candidates < 1:
        raise ValueError(f"n_candidates must be >= 1, got {n_candidates}")
    per: list[dict[str, Any]] = []
    top = math.log2(n_candidates + 1)
    for canary in canaries:
        context, lead = canary.split()
        candidates = random_candidates(canary.secret, n_candidates, seed)
        bits = secret_logperplexity(
            model, tokenizer, context, [lead + s for s in [canary.secret, *candidates]],
            batch_size=batch_size,
        )
        own, others = bits[0], bits[1:]
        rank = 1 + float((others < own).sum()) + 0.5 * float((others == own).sum())
        row: dict[str, Any] = {
            "id": canary.id,
            "secret": canary.secret,
            "logperplexity_bits": float(own),
            "median_candidate_bits": float(np.median(others)),
            "rank": rank,
            "exposure": top - math.log2(rank),
        }
        if extraction:
            n_tokens = len(_ids(tokenizer, lead + canary.secret))
            text = greedy_continuation(model, tokenizer, context, n_tokens + 2)
            row["greedy"] = text
            row["extracted"] = text.strip().startswith(canary.secret)
        per.append(row)
    exposures = [r["exposure"] for r in per]
    summary: dict[str, Any] = {
        "canaries": len(per),
        "candidates": n_candidates,
        "mean_exposure": float(np.mean(exposures)),
        "max_exposure": float(np.max(exposures)),
        "max_possible": top,
        "chance": chance_exposure(n_candidates),
        "per_canary": per,
    }
    if extraction:
        summary["extracted"] = sum(bool(r["extracted"]) for r in per)
    return summary


def canaries_in_records(
    records: Iterable[str | Mapping[str, Any]], canaries: Iterable[str] | Mapping[str, str]
) -> dict[str, list[int]]:
    """Secrets that occur verbatim in ``records`` (texts or JSON objects, e.g. synthetic
    records that crossed), each with the indices of the records that contain it.

    ``canaries`` is a list of secrets or ``Task.canaries`` (example id → secret).
    """
    secrets = sorted(set(canaries.values() if isinstance(canaries, Mapping) else canaries))
    found: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        text = record if isinstance(record, str) else "\n".join(json_strings(record))
        for secret in secrets:
            if secret in text:
                found.setdefault(secret, []).append(index)
    return found
