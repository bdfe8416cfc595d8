"""Model exposure: how much of the model party's LM a data party ends up holding.

The model party's asset is its LM. Three things measure how much of it leaks to a data party:

- **Distillation fidelity**: how often a small model trained from the LM picks the LM's next
  token (:func:`next_token_agreement`, same vocabulary) or the LM's label on a task
  (:func:`label_agreement`, any two models). A distilled SM that agrees with the LM on every
  token is a copy of its behaviour on that distribution.
- **Emulator gap** (offsite-tuning, arXiv:2302.04870): utility of the full LM with the
  returned adapter plugged in minus utility of the lossy emulator the data party received with
  the same adapter (:func:`emulator_gap`). The larger the gap, the less of the LM the data
  party can use without the owner: the owner's IP protection.
- **LM queries and tokens** a data party made (counted by the boundary; the runner reports
  them under ``metrics.exposure``): the budget for a model-extraction attack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from crossbound.evaluate.utility import predict_labels
from crossbound.tasks.base import Example, Task


@torch.no_grad()
def next_token_agreement(
    student: Any,
    teacher: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_length: int = 128,
    batch_size: int = 8,
) -> dict[str, float | int]:
    """Top-1 agreement and mean KL(teacher ‖ student) over every next-token position of
    ``texts``, for two models that share ``tokenizer``'s vocabulary.

    Top-1 agreement is the share of positions where both models' most likely next token is
    the same; the KL is in nats per position.
    """
    if not texts:
        raise ValueError("no texts to compare the models on")
    device_s = next(student.parameters()).device
    device_t = next(teacher.parameters()).device
    agree = 0
    kl_total = 0.0
    positions = 0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(texts), batch_size):
        rows = [list(tokenizer(t, add_special_tokens=False)["input_ids"])[:max_length]
                for t in texts[start : start + batch_size]]
        rows = [r for r in rows if len(r) >= 2]
        if not rows:
            continue
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        s_logits = student(input_ids=ids.to(device_s), attention_mask=mask.to(device_s)).logits
        t_logits = teacher(input_ids=ids.to(device_t), attention_mask=mask.to(device_t)).logits
        if s_logits.shape[-1] != t_logits.shape[-1]:
            raise ValueError(
                f"the models' vocabularies differ ({s_logits.shape[-1]} vs "
                f"{t_logits.shape[-1]} logits): use label_agreement for models with "
                "different tokenizers")
        keep = mask[:, 1:].bool().to(device_s)  # (B, T-1): position t predicts a real t + 1
        s_logp = torch.log_softmax(s_logits[:, :-1][keep].float(), dim=-1)  # (N, V)
        t_logp = torch.log_softmax(t_logits[:, :-1].to(device_s)[keep].float(), dim=-1)
        agree += int((s_logp.argmax(-1) == t_logp.argmax(-1)).sum())
        kl_total += float((t_logp.exp() * (t_logp - s_logp)).sum())
        positions += int(keep.sum())
    if positions == 0:
        raise ValueError("every text tokenises to fewer than 2 tokens")
    return {"top1_agreement": agree / positions, "kl_teacher_student": kl_total / positions,
            "positions": positions}


def label_agreement(
    student: tuple[Any, Any],
    teacher: tuple[Any, Any],
    task: Task,
    examples: Sequence[Example],
    *,
    batch_size: int = 8,
) -> dict[str, float | int]:
    """Share of ``examples`` on which two (model, tokenizer) pairs predict the same label —
    works across tokenizers. Also reports how often they agree when the teacher is wrong,
    which a student can only learn from the teacher (not from the labels)."""
    if not examples:
        raise ValueError("no examples to compare the models on")
    s = predict_labels(student[0], student[1], task, examples, batch_size)
    t = predict_labels(teacher[0], teacher[1], task, examples, batch_size)
    same = [a == b for a, b in zip(s, t, strict=True)]
    wrong = [i for i, ex in enumerate(examples) if t[i] != ex.target]
    return {
        "label_agreement": sum(same) / len(same),
        "agreement_where_teacher_wrong": (sum(same[i] for i in wrong) / len(wrong)
                                          if wrong else float("nan")),
        "examples": len(examples),
    }


def emulator_gap(plugin: Mapping[str, float], emulator: Mapping[str, float],
                 metric: str) -> dict[str, float | str]:
    """Utility of the plugged-in LM minus that of the emulator with the same adapter."""
    for name, metrics in (("plug-in", plugin), ("emulator", emulator)):
        if metric not in metrics:
            raise KeyError(f"the {name} metrics have no {metric!r}: {sorted(metrics)}")
    return {"metric": metric, "plugin": float(plugin[metric]),
            "emulator": float(emulator[metric]),
            "gap": float(plugin[metric]) - float(emulator[metric])}
