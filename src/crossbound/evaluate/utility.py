"""Task utility of a causal LM: label scoring for classification, ROUGE-L for free text.

Classification is scored the way evaluation harnesses do it: the model picks the label whose
tokens it finds most likely after the prompt (mean log-probability per label token, so long
labels are not penalised for their length), calibrated against a content-free prompt. The
fast path runs each prompt once and scores all labels from its KV cache;
:func:`choice_logprobs_reference` is the plain one-sequence-per-label version that tests check
it against.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from crossbound.tasks.base import Example, Task

Progress = Callable[[int], None]  # called with the number of examples just finished


def _label_token_ids(tokenizer: Any, choices: Sequence[str]) -> list[list[int]]:
    ids = [tokenizer(" " + c, add_special_tokens=False)["input_ids"] for c in choices]
    if any(not i for i in ids):
        raise ValueError(f"a label tokenises to nothing: {choices}")
    return ids


def _last_logits_only(model: Any) -> dict[str, int]:
    """``logits_to_keep=1`` where the model takes it: only the prompt's last position is read,
    so the LM head need not run over every position (benchmarks/last_logits.py: the same
    scores, the 1.5B's scoring 10-20 % faster)."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return {}
    if "logits_to_keep" in params:
        return {"logits_to_keep": 1}
    base = getattr(model, "get_base_model", None)  # a PEFT wrapper forwards **kwargs to it
    if base is not None and any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return _last_logits_only(base())
    return {}


@torch.no_grad()
def choice_logprobs(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    choices: Sequence[str],
    batch_size: int = 8,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Mean log-probability of each label after each prompt: ``(len(prompts), len(choices))``."""
    device = next(model.parameters()).device
    label_ids = _label_token_ids(tokenizer, choices)
    n_choices, max_label = len(choices), max(len(i) for i in label_ids)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # (C, L) label tokens padded on the right, and their mask
    labels = torch.full((n_choices, max_label), pad_id, dtype=torch.long, device=device)
    label_mask = torch.zeros((n_choices, max_label), dtype=torch.long, device=device)
    for c, ids in enumerate(label_ids):
        labels[c, : len(ids)] = torch.tensor(ids, device=device)
        label_mask[c, : len(ids)] = 1
    out = torch.empty((len(prompts), n_choices))
    for start in range(0, len(prompts), batch_size):
        chunk = list(prompts[start : start + batch_size])
        enc = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="left").to(device)
        mask = enc["attention_mask"]  # (B, T), left padded
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        first = model(
            input_ids=enc["input_ids"], attention_mask=mask, position_ids=positions, use_cache=True,
            **_last_logits_only(model),
        )
        b = mask.shape[0]
        # log-probs of each label's first token come from the prompt's last position: (B, C)
        last = torch.log_softmax(first.logits[:, -1, :].float(), dim=-1)
        total = last[:, labels[:, 0]] * 1.0
        if max_label > 1:
            # Score the remaining label tokens for every (prompt, label) pair in one batch,
            # reusing the prompt's cache repeated C times: rows are (B·C).
            cache = first.past_key_values
            cache.batch_repeat_interleave(n_choices)
            rest = labels[:, :-1].repeat(b, 1)  # (B·C, L-1) inputs: label tokens but the last
            full_mask = torch.cat(
                [mask.repeat_interleave(n_choices, 0), label_mask[:, :-1].repeat(b, 1)], dim=1
            )
            next_pos = positions[:, -1:].repeat_interleave(n_choices, 0) + 1
            pos = next_pos + torch.arange(max_label - 1, device=device)
            step = model(
                input_ids=rest,
                attention_mask=full_mask,
                position_ids=pos,
                past_key_values=cache,
                use_cache=True,
            )
            logp = torch.log_softmax(step.logits.float(), dim=-1)  # (B·C, L-1, V)
            target = labels[:, 1:].repeat(b, 1)  # (B·C, L-1)
            picked = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
            picked = picked * label_mask[:, 1:].repeat(b, 1)
            total = total + picked.sum(-1).view(b, n_choices)
        lengths = label_mask.sum(-1).to(total.dtype)  # (C,)
        out[start : start + b] = (total / lengths).cpu()
        if progress:
            progress(b)
    return out


@torch.no_grad()
def choice_logprobs_reference(
    model: Any, tokenizer: Any, prompts: Sequence[str], choices: Sequence[str]
) -> torch.Tensor:
    """Slow, plainly correct version of :func:`choice_logprobs`: one forward per (prompt, label)."""
    device = next(model.parameters()).device
    label_ids = _label_token_ids(tokenizer, choices)
    out = torch.empty((len(prompts), len(choices)))
    for p, prompt in enumerate(prompts):
        prompt_ids = tokenizer(prompt)["input_ids"]
        for c, ids in enumerate(label_ids):
            seq = torch.tensor([prompt_ids + ids], device=device)
            logp = torch.log_softmax(model(input_ids=seq).logits[0].float(), dim=-1)
            picked = [logp[len(prompt_ids) - 1 + j, tok].item() for j, tok in enumerate(ids)]
            out[p, c] = sum(picked) / len(picked)
    return out


def classification_metrics(predicted: Sequence[str], gold: Sequence[str],
                           choices: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1 (labels absent from both gold and predictions are skipped)."""
    if len(predicted) != len(gold) or not gold:
        raise ValueError("need equally many predictions and gold labels, at least one")
    accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
    f1s = []
    for label in choices:
        tp = sum(p == label and g == label for p, g in zip(predicted, gold, strict=True))
        fp = sum(p == label and g != label for p, g in zip(predicted, gold, strict=True))
        fn = sum(p != label and g == label for p, g in zip(predicted, gold, strict=True))
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": accuracy, "macro_f1": sum(f1s) / len(f1s)}


# Example.meta keys whose values split a test set into groups worth reporting separately, e.g.
# clinic-triage's "phrasing": complaints seen in training vs held out (memorised vs general).
SUBGROUP_KEYS = ("phrasing", "domain")


def subgroup_accuracy(predicted: Sequence[str], examples: Sequence[Example]) -> dict[str, float]:
    """``accuracy_<key>_<value>`` for every group of :data:`SUBGROUP_KEYS` present."""
    out: dict[str, float] = {}
    for key in SUBGROUP_KEYS:
        groups: dict[str, list[bool]] = {}
        for p, ex in zip(predicted, examples, strict=True):
            if key in ex.meta:
                groups.setdefault(ex.meta[key], []).append(p == ex.target)
        for value, hits in sorted(groups.items()):
            out[f"accuracy_{key}_{value}"] = sum(hits) / len(hits)
    return out


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased whitespace tokens (longest common subsequence)."""
    a, b = candidate.lower().split(), reference.lower().split()
    if not a or not b:
        return float(a == b)
    prev = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b):
            row.append(prev[j] + 1 if x == y else max(prev[j + 1], row[j]))
        prev = row
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


@torch.no_grad()
def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int = 48,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> list[str]:
    """Greedy continuations of ``prompts``, cut at the first newline."""
    device = next(model.parameters()).device
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = list(prompts[start : start + batch_size])
        enc = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="left").to(device)
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        for row in out[:, enc["input_ids"].shape[1] :]:
            text = tokenizer.decode(row, skip_special_tokens=True)
            answers.append(text.strip().split("\n")[0].strip())
        if progress:
            progress(len(chunk))
    return answers


def content_free_prompt(task: Task) -> str:
    """The task's prompt around a message with no content ("N/A"), for calibration."""
    return task.prompt(Example(id="content-free", text="N/A", target=""))


def calibrated(scores: torch.Tensor, content_free: torch.Tensor) -> torch.Tensor:
    """Contextual calibration (Zhao et al. 2021, arXiv:2102.09690): subtract each label's score
    on a content-free prompt, removing the model's prior preference for some labels. Small
    models zero-shot otherwise pick one label for almost every input."""
    return scores - content_free.reshape(1, -1)


def within_label_sets(task: Task, examples: Sequence[Example],
                      scores: torch.Tensor) -> torch.Tensor:
    """``scores`` (N, labels) with each row restricted to its example's label set
    (:meth:`Task.choices_for`) and renormalised there: a query of a mixed workload is only
    ever answered from its own domain's labels. Unchanged for a task without label sets."""
    if not task.label_sets:
        return scores
    assert task.choices is not None
    if scores.shape != (len(examples), len(task.choices)):
        raise ValueError(f"scores of shape {tuple(scores.shape)} for {len(examples)} examples "
                         f"and {len(task.choices)} labels")
    allowed = torch.tensor([[label in task.choices_for(ex) for label in task.choices]
                            for ex in examples], dtype=torch.bool)
    return torch.log_softmax(scores.masked_fill(~allowed, -math.inf), dim=-1)


def predict_labels(
    model: Any,
    tokenizer: Any,
    task: Task,
    examples: Sequence[Example],
    batch_size: int = 8,
    progress: Progress | None = None,
    calibrate: bool = True,
) -> list[str]:
    """The label ``model`` picks for each example (calibrated label scoring)."""
    if task.choices is None:
        raise ValueError(f"task {task.name} has no label set")
    prompts = [task.prompt(ex) for ex in examples]
    scores = choice_logprobs(model, tokenizer, prompts, task.choices, batch_size, progress)
    if calibrate:
        free = choice_logprobs(model, tokenizer, [content_free_prompt(task)], task.choices)
        scores = calibrated(scores, free[0])
    scores = within_label_sets(task, examples, scores)
    return [task.choices[i] for i in scores.argmax(-1).tolist()]


def evaluate_model(
    model: Any,
    tokenizer: Any,
    task: Task,
    examples: Sequence[Example],
    batch_size: int = 8,
    progress: Progress | None = None,
    calibrate: bool = True,
) -> dict[str, float]:
    """The task's metrics for ``model`` on ``examples`` (higher is better for every metric)."""
    if not examples:
        raise ValueError("no examples to evaluate on")
    if task.choices is not None:
        predicted = predict_labels(model, tokenizer, task, examples, batch_size, progress,
                                   calibrate)
        gold = [ex.target for ex in examples]
        return {**classification_metrics(predicted, gold, task.choices),
                **subgroup_accuracy(predicted, examples)}
    prompts = [task.prompt(ex) for ex in examples]
    answers = generate_answers(model, tokenizer, prompts, batch_size=batch_size, progress=progress)
    scores_l = [rouge_l(a, ex.target) for a, ex in zip(answers, examples, strict=True)]
    return {"rouge_l": sum(scores_l) / len(scores_l)}


def headline(metrics: dict[str, float], task: Task) -> float:
    """The one number that stands for utility on ``task`` (its declared metric)."""
    return float(metrics[task.metric])
