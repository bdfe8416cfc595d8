"""The strategy kit: what the strategies of every family share, said once.

- records: :func:`private_records` (a data party's split, its limit, the party checked),
  :func:`answer_pairs`, :func:`eval_subset`, :func:`require_labels`;
- the SM's tuning: :func:`load_sm_to_tune`, :func:`make_trainable`, :func:`sm_finetune` (shared
  by a bench where asked), :func:`finetuned` (all three), :func:`train_report` (a tuned SM
  is offered to the runner's attacks with ``RunContext.offer_tuned_sm``);
- the top-k transport's settings (:class:`TopkTransport`, a config group);
- asking the model party's LM, over the protocol's boundary or the measurement channel:
  :func:`lm_generate`, :func:`lm_label_scores` (calibrated label scores);
  :func:`guarded_by_sanitizer` (the boundary's ``GUARD`` also refuses PII a sanitiser finds),
  :func:`protected_text_contract` (what such methods may send);
- measurement rules: :func:`evaluate_untuned` / :func:`evaluate_on`, :func:`label_metrics`,
  :func:`mean_rouge`, :func:`sm_utility`;
- the quick bench's sizes (``QUICK_*``), so that cells compare.

The settings these read are the groups of :mod:`crossbound.config_checks` (``Records``,
``SMTraining``); ``RunContext`` has the run's own helpers (``load_small``,
``guard_private``, ``save_small_model``, ``offer_tuned_sm``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from crossbound.boundary.contracts import MODEL_PARTY, AccessContract, allow
from crossbound.boundary.logit_codec import VALUE_BITS
from crossbound.boundary.messages import Kind, Message
from crossbound.boundary.operations import Operation, generate, score_choices
from crossbound.boundary.replies import scores_from
from crossbound.config_checks import (
    Records,
    Settings,
    SMTraining,
    check_choice,
    check_in_range,
)
from crossbound.evaluate.utility import (
    calibrated,
    classification_metrics,
    content_free_prompt,
    evaluate_model,
    headline,
    rouge_l,
    subgroup_accuracy,
)
from crossbound.naming import DATA_PARTY
from crossbound.privacy.sanitizer import sanitizer_guard
from crossbound.strategy import RunContext
from crossbound.tasks.base import Example, Task
from crossbound.training.causal_lm import LossOn, TrainStats, finetune, sft_key
from crossbound.training.lora import add_lora, freeze_all_but_linear

if TYPE_CHECKING:
    from crossbound.models.loading import LoadedModel

# ---------------------------------------------------------------- records


def check_party(task: Task, party: int) -> None:
    """Refuse a data-party index the task does not have, saying how many it has."""
    if not 0 <= party < len(task.parties):
        raise ValueError(f"party {party} does not exist: the task has {len(task.parties)} "
                         "data parties (choose one with --set party=N, or split the task "
                         "with TASK:parties=N)")


def private_records(task: Task, records: Records) -> tuple[Example, ...]:
    """Data party ``records.party``'s private split, its first ``train_limit`` records (a
    party the task does not have is refused)."""
    check_party(task, records.party)
    return task.parties[records.party][: records.train_limit]


def answer_pairs(task: Task, examples: Sequence[Example]) -> list[tuple[str, str]]:
    """(prompt, answer) training pairs: what a supervised fine-tuning learns from."""
    return [(task.prompt(ex), task.answer(ex)) for ex in examples]


def eval_subset(task: Task, limit: int | None) -> tuple[Example, ...]:
    """The first ``limit`` test examples (the test split is already shuffled by its builder)."""
    return task.test if limit is None else task.test[:limit]


def require_labels(task: Task, strategy: str, instead: str = "") -> tuple[str, ...]:
    """The task's labels; a free-text task is refused, saying what to use ``instead``."""
    if task.choices is None:
        raise ValueError(f"{strategy} needs a classification task (one with a label set); "
                         f"{task.name} is free-text" + (f". {instead}" if instead else ""))
    return tuple(task.choices)


# ---------------------------------------------------------------- the SM's tuning


def load_sm_to_tune(ctx: RunContext, trainable: str) -> LoadedModel:
    """The SM a run tunes as ``trainable`` says. LoRA trains adapters only: the base is
    frozen, held in the run's precision."""
    return ctx.load_small(frozen=trainable == "lora")


def make_trainable(model: Any, trainable: str, lora_rank: int) -> Any:
    """Set up what trains: ``full`` (as is), ``lora`` (returns the PEFT-wrapped model) or
    ``linear`` (the blocks' linear layers only)."""
    if trainable == "lora":
        return add_lora(model, rank=lora_rank)
    if trainable == "linear":
        freeze_all_but_linear(model)
    elif trainable != "full":
        raise ValueError(f"trainable must be full, lora or linear, got {trainable!r}")
    return model


def sm_finetune(ctx: RunContext, label: str, model: Any, tokenizer: Any,
                pairs: Sequence[tuple[str, str]], settings: SMTraining, *, epochs: float,
                seed: int, lr: float | None = None, loss_on: LossOn = "answer",
                share: bool = False) -> TrainStats:
    """Fine-tune ``model`` in place on ``pairs`` (cross-entropy on the answers, or on whole
    records) as ``settings`` say, for ``epochs`` at ``lr`` (default:
    ``settings.rate_for(model)``), with a progress bar.

    ``share``: a bench runs this training once and gives its weights to every cell that asks
    for the same one (``ctx.train_once``) — local-finetune's SM, which the query strategies
    tune too."""
    rate = lr or settings.rate_for(model)
    steps = max(1, round(epochs * -(-len(pairs) // settings.batch_size)))
    with ctx.step(label, steps) as bar:
        def train() -> TrainStats:
            return finetune(model, tokenizer, pairs, epochs=epochs, lr=rate,
                            batch_size=settings.batch_size, max_length=settings.max_length,
                            seed=seed, loss_on=loss_on,
                            on_step=lambda _s, _l: bar.advance())

        if not share:
            return train()
        key = sft_key(pairs, trainable=settings.trainable, lora_rank=settings.lora_rank,
                      epochs=epochs, lr=rate, batch_size=settings.batch_size,
                      max_length=settings.max_length, seed=seed, loss_on=loss_on)
        return ctx.train_once(key, model, train)


def finetuned(ctx: RunContext, label: str, loaded: LoadedModel,
              pairs: Sequence[tuple[str, str]], settings: SMTraining, *, epochs: float,
              seed: int, trainable: str | None = None, lora_rank: int | None = None,
              share: bool = False) -> Any:
    """``loaded.model`` set up to train as ``trainable`` says (default ``settings``'), tuned
    on ``pairs`` (:func:`sm_finetune`) and put in eval mode: the tuned model, PEFT-wrapped
    under LoRA."""
    model = make_trainable(loaded.model, trainable or settings.trainable,
                           lora_rank or settings.lora_rank)
    sm_finetune(ctx, label, model, loaded.tokenizer, pairs, settings, epochs=epochs, seed=seed,
                share=share)
    model.eval()
    return model


def train_report(stats: TrainStats, seconds: float) -> dict[str, float | int]:
    """The ``efficiency`` entries of one training: its time, steps, tokens, losses and rate
    (the config's ``lr`` may be None: the rate then follows the model's size)."""
    report: dict[str, float | int] = {
        "train_seconds": round(seconds, 3), "train_steps": stats.steps,
        "train_tokens": stats.tokens, "seconds_per_step": round(seconds / stats.steps, 4),
        "train_loss_first": round(stats.first_loss, 4),
        "train_loss_last": round(stats.last_loss, 4)}
    if stats.lr is not None:
        report["train_lr"] = stats.lr
    return report


@dataclass
class TopkTransport(Settings):
    """How top-k log-probs cross: ``top_k`` entries per token (at most 1024, the contracts'
    limit) with values quantised to ``value_bits`` (``boundary.logit_codec``; 32: plain
    float32)."""

    top_k: int = 16
    value_bits: int = 8

    def validate(self) -> None:
        super().validate()
        check_in_range(self, "top_k", 1, 1024)
        check_choice(self, "value_bits", VALUE_BITS)


# ---------------------------------------------------------------- asking the LM

# The content guard of every contract that lets text derived from private data cross: it
# refuses a message that repeats a private record (boundary.contracts.verbatim_private_text).
GUARD = "no-raw-private-text"


def protected_text_contract(name: str, description: str,
                            replies: Sequence[Kind] = (Kind.TEXT, Kind.TENSORS),
                            operations: Sequence[Operation] | None = None) -> AccessContract:
    """The contract of a method that sends the LM text made from private records, protected
    (sanitised, perturbed): ``GUARD`` refuses any text with a word run of a private record
    the data party did not release (and, with a sanitiser installed, any PII it finds). The
    model party answers with ``replies``; requests may name ``operations`` (by default the LM
    writes text or scores labels)."""
    if operations is None:
        operations = (*generate(), score_choices())
    return AccessContract(name, (allow("data", Kind.TEXT, guards=(GUARD,)),
                                 allow("model", *replies)),
                          description, operations=tuple(operations))


@contextmanager
def guarded_by_sanitizer(ctx: RunContext, sanitizer: Any, name: str) -> Iterator[None]:
    """While open, the run's ``GUARD`` also refuses any PII ``sanitizer`` (a
    ``privacy.sanitizer.Sanitizer``, its recognisers ``name``) finds — on this run's boundary
    only: other runs in the process (a service's, a bench's) keep the registered guard."""
    with ctx.step(f"loading the {name} sanitiser"):
        sanitizer.warm_up()
    with ctx.boundary.override_guard(GUARD, sanitizer_guard(sanitizer)):
        yield



def lm_generate(ctx: RunContext, prompts: Sequence[str], per_request: int,
                max_new_tokens: int, *, label: str, measurement: bool = False) -> list[str]:
    """The LM's continuation of each prompt, ``per_request`` prompts a request, over the
    protocol's boundary (or the run's measurement channel: ``measurement``)."""
    out: list[str] = []
    with ctx.step(label, len(prompts)) as bar:
        for start in range(0, len(prompts), per_request):
            chunk = list(prompts[start : start + per_request])
            message = Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, chunk,
                              {"op": "generate", "max_new_tokens": max_new_tokens})
            out.extend((ctx.measure(message) if measurement
                        else ctx.boundary.request(message)).payload)
            bar.advance(len(chunk))
    return out


def lm_label_scores(ctx: RunContext, task: Task, prompts: Sequence[str], per_request: int,
                    *, label: str, measurement: bool = False) -> torch.Tensor:
    """The LM's label scores ``(len(prompts), labels)`` over the protocol's boundary (or the
    measurement channel), calibrated by the public content-free prompt that rides along with
    the first request."""
    choices = require_labels(task, "label scoring")
    rows: list[torch.Tensor] = []
    free: torch.Tensor | None = None
    with ctx.step(label, len(prompts)) as bar:
        for start in range(0, len(prompts), per_request):
            texts = list(prompts[start : start + per_request])
            count = len(texts)
            if free is None:
                texts.append(content_free_prompt(task))
            message = Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, texts,
                              {"op": "score_choices", "choices": list(choices)})
            scores = scores_from(ctx.measure(message) if measurement
                                 else ctx.boundary.request(message))
            if scores.shape != (len(texts), len(choices)):
                raise ValueError(f"the LM returned scores of shape {tuple(scores.shape)} for "
                                 f"{len(texts)} prompts and {len(choices)} labels")
            if free is None:
                free, scores = scores[-1], scores[:-1]
            rows.append(scores)
            bar.advance(count)
    if free is None:
        return torch.empty((0, len(choices)))
    return calibrated(torch.cat(rows), free)


# ---------------------------------------------------------------- measurement rules


def evaluate_on(ctx: RunContext, label: str, model: Any, tokenizer: Any,
                examples: Sequence[Example], batch_size: int) -> dict[str, float]:
    with ctx.step(label, len(examples)) as bar:
        return evaluate_model(model, tokenizer, ctx.task, examples, batch_size, bar.advance)


def evaluate_untuned(ctx: RunContext, model: Any, tokenizer: Any,
                     examples: Sequence[Example], batch_size: int) -> dict[str, float]:
    """The SM as loaded (before any tuning) on ``examples``: the same in every cell of a
    bench, so a bench computes it once (``ctx.compute_once``)."""
    dtype = str(next(model.parameters()).dtype)  # frozen bf16 and fp32 weights may differ
    key = {"kind": "untuned-sm-eval", "examples": [ex.id for ex in examples],
           "batch_size": batch_size, "weights": dtype}
    return ctx.compute_once(key, lambda: evaluate_on(ctx, "SM before", model, tokenizer,
                                                     examples, batch_size))


def label_metrics(task: Task, examples: Sequence[Example],
                  predicted: torch.Tensor) -> dict[str, float]:
    """Classification metrics and per-subgroup accuracy on ``examples`` of ``predicted``:
    label ids ``(n,)``, or label scores ``(n, labels)`` whose argmax is the answer."""
    choices = require_labels(task, "label metrics")
    ids = predicted.argmax(-1) if predicted.dim() == 2 else predicted
    answers = [choices[i] for i in ids.tolist()]
    return {**classification_metrics(answers, [ex.target for ex in examples], choices),
            **subgroup_accuracy(answers, examples)}


def mean_rouge(answers: Sequence[str], examples: Sequence[Example]) -> float:
    """Mean ROUGE-L of each answer against its example's reference answer."""
    return sum(rouge_l(a, ex.target) for a, ex in zip(answers, examples, strict=True)) \
        / len(examples)


def sm_utility(task: Task, before: dict[str, float], after: dict[str, float],
               examples: int) -> dict[str, Any]:
    """The ``utility`` section of a strategy that tunes the SM: headline before and after, the
    full metrics after (and before), and how many test examples they rest on."""
    return {"sm_before": headline(before, task), "sm_after": headline(after, task), **after,
            "sm_before_metrics": before, "eval_examples": examples}


# ---------------------------------------------------------------- the quick bench

# The quick bench's SM training (same in every cell that tunes the SM, so cells compare): the
# full profile's own settings, 2 epochs at lr 2e-4, so quick and full rank alike. lr 1e-3 (the
# rate the earlier 6-block SM needed) took the whole SmolLM2-135M to 0.220 on 16 clinic-triage
# records, below its zero-shot 0.280, where 2e-4 over the same 4 steps reached 0.667.
QUICK_TRAINING = {"epochs": "2", "lr": "2e-4"}
# The quick bench's evaluation: the first 50 test records in every cell (so cells compare and
# the LM's answers are shared), 20 validation records where a router or a calibration needs
# them. Sized so the quick profile on the default pair fits 15 minutes on 2 cores.
QUICK_EVAL_LIMIT = "50"
QUICK_VALIDATION_LIMIT = "20"
