"""What the query-level strategies (``private-prompt``, ``cascade``) share.

The data party tunes its SM locally, protects a prompt before it may leave (sanitise,
perturb, or both), checks it against the contract locally first (a prompt the guard would
refuse is withheld, never sent), and asks the model party's LM for calibrated label scores —
over the protocol's boundary, or over the run's measurement channel for reference numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import torch

from crossbound.baselines.common import make_trainable
from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.http import RemoteError
from crossbound.boundary.messages import Kind, Message
from crossbound.evaluate.utility import calibrated, choice_logprobs, content_free_prompt
from crossbound.models.loading import load_model
from crossbound.naming import DATA_PARTY
from crossbound.parties import scores_from
from crossbound.strategy import RunContext, StrategyConfig
from crossbound.tasks.base import Example, Task
from crossbound.training.causal_lm import finetune, sft_key

GUARD = "no-raw-private-text"
Protect = Literal["none", "sanitize", "perturb", "sanitize+perturb"]


@dataclass
class QueryConfig(StrategyConfig):
    """The data party's side of a query-level strategy.

    ``sm_epochs``: local fine-tuning of the SM on party ``party``'s private data first (0: the
    SM as it is). ``protect``: how a prompt is protected before it crosses — ``sanitize``
    (pseudonyms by the ``presidio`` or faster ``regex`` recognisers), ``perturb`` (token
    metric-DP at ``epsilon`` per token on the SM's input embeddings), both, or ``none``
    (where the strategy allows it). ``reference_raw``: also measure the LM on the raw test
    prompts, over the measurement channel (not the protocol).
    """

    party: int = 0
    protect: Protect = "sanitize"
    sanitizer: Literal["presidio", "regex"] = "presidio"
    epsilon: float = 16.0
    sm_epochs: float = 2.0
    lr: float = 2e-4
    batch_size: int = 8
    max_length: int = 192
    trainable: Literal["full", "lora", "linear"] = "full"
    lora_rank: int = 8
    train_limit: int | None = None
    validation_limit: int | None = 60
    eval_limit: int | None = 200
    prompts_per_request: int = 16
    lm_batch_size: int = 8  # the model party's batch size (in process)
    reference_raw: bool = True

    def validate(self) -> None:
        super().validate()
        if self.party < 0:
            raise ValueError(f"party must be >= 0, got {self.party}")
        if self.protect not in ("none", "sanitize", "perturb", "sanitize+perturb"):
            raise ValueError("protect must be none, sanitize, perturb or sanitize+perturb")
        if self.sanitizer not in ("presidio", "regex"):
            raise ValueError("sanitizer must be presidio or regex")
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon}")
        if self.sm_epochs < 0 or self.lr <= 0 or self.batch_size < 1 or self.max_length < 16:
            raise ValueError("sm_epochs must be >= 0, lr > 0, batch_size >= 1, max_length >= 16")
        if self.trainable not in ("full", "lora", "linear") or self.lora_rank < 1:
            raise ValueError("trainable must be full, lora or linear; lora_rank >= 1")
        for name in ("train_limit", "validation_limit", "eval_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if not 1 <= self.prompts_per_request <= 1024 or self.lm_batch_size < 1:
            raise ValueError("prompts_per_request must be in 1..1024 and lm_batch_size >= 1")


def tuned_sm(ctx: RunContext, cfg: QueryConfig, task: Task) -> Any:
    """The data party's SM, fine-tuned on its private data unless ``sm_epochs`` is 0."""
    with ctx.step(f"loading small model {ctx.small}"):
        # LoRA trains adapters only: the base is frozen, held in the run's precision
        sm = load_model(ctx.small, frozen=cfg.trainable == "lora")
    if cfg.sm_epochs > 0:
        private = task.parties[cfg.party][: cfg.train_limit]
        pairs = [(task.prompt(ex), task.answer(ex)) for ex in private]
        steps = max(1, round(cfg.sm_epochs * -(-len(pairs) // cfg.batch_size)))
        sm.model = make_trainable(sm.model, cfg.trainable, cfg.lora_rank)
        key = sft_key(pairs, trainable=cfg.trainable, lora_rank=cfg.lora_rank,
                      epochs=cfg.sm_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                      max_length=cfg.max_length, seed=cfg.seed, loss_on="answer")
        with ctx.step("SM fine-tuning on private data", steps) as bar:
            # the same training as local-finetune's at this budget: a bench runs it once
            ctx.train_once(key, sm.model, lambda: finetune(
                sm.model, sm.tokenizer, pairs, epochs=cfg.sm_epochs, lr=cfg.lr,
                batch_size=cfg.batch_size, max_length=cfg.max_length, seed=cfg.seed,
                loss_on="answer", on_step=lambda _s, _l: bar.advance()))
    sm.model.eval()
    return sm


@dataclass
class Protected:
    """Protected messages (what may cross), the PII kinds replaced, how, and (local only) a
    function per message that puts the originals back into text that mentions placeholders."""

    texts: list[str]
    kinds: Counter[str]
    how: str
    restore: list[Callable[[str], str]] = field(default_factory=list)


class Protector:
    """Protects messages as ``cfg.protect`` says; while ``guarding()``, the run's boundary's
    ``no-raw-private-text`` guard also refuses any PII the sanitiser finds."""

    def __init__(self, cfg: QueryConfig) -> None:
        self.cfg = cfg
        self.sanitizer: Any = None
        if "sanitize" in cfg.protect:
            from crossbound.privacy.sanitizer import Sanitizer

            self.sanitizer = Sanitizer(presidio=cfg.sanitizer == "presidio")

    @contextmanager
    def guarding(self, ctx: RunContext) -> Iterator[None]:
        if self.sanitizer is None:
            yield
            return
        from crossbound.privacy.sanitizer import sanitizer_guard

        with ctx.step(f"loading the {self.cfg.sanitizer} sanitiser"):
            self.sanitizer.warm_up()
        # On this run's boundary only: other runs in the process keep the registered guard.
        with ctx.boundary.override_guard(GUARD, sanitizer_guard(self.sanitizer)):
            yield

    def protect(self, ctx: RunContext, sm: Any, texts: Sequence[str]) -> Protected:
        cfg = self.cfg
        out = Protected(list(texts), Counter(), "")
        how = []
        with ctx.step(f"protecting {len(texts)} prompts ({cfg.protect})"):
            if self.sanitizer is not None:
                done = self.sanitizer.sanitize_many(out.texts)
                out.kinds.update(r.kind for d in done for r in d.replacements)
                out.texts = [d.text for d in done]
                out.restore = [d.restore for d in done]
                how.append(f"sanitised ({cfg.sanitizer} pseudonyms)")
            if "perturb" in cfg.protect:
                from crossbound.privacy.token_dp import TokenPerturber

                weights = sm.model.get_input_embeddings().weight.detach().float()
                perturber = TokenPerturber(weights, sm.tokenizer, cfg.epsilon, seed=cfg.seed)
                out.texts = perturber.perturb_batch(out.texts)
                how.append(f"perturbed (token metric-DP, ε={cfg.epsilon:g} per token, on the "
                           "SM's embeddings)")
        out.how = " then ".join(how) or "none (raw prompts)"
        return out


def admissible(ctx: RunContext, text: str) -> bool:
    """Whether the boundary would let ``text`` cross (checked locally; nothing is sent)."""
    return ctx.boundary.admits(Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, [text],
                                       {"op": "check"}))


def lm_label_logprobs(ctx: RunContext, task: Task, prompts: Sequence[str | None],
                      per_request: int, *, measurement: bool = False,
                      label: str = "LM scoring prompts") -> torch.Tensor:
    """The LM's calibrated label log-probs ``(len(prompts), labels)``; a withheld (None)
    prompt is not sent and gets the uniform row (no opinion). ``measurement``: over the
    run's measurement channel instead of the protocol's boundary."""
    assert task.choices is not None
    n_labels = len(task.choices)
    out = torch.full((len(prompts), n_labels), -math.log(n_labels))
    send = [i for i, p in enumerate(prompts) if p is not None]
    rows: list[torch.Tensor] = []
    free: torch.Tensor | None = None
    with ctx.step(label, len(send)) as bar:
        for start in range(0, len(send), per_request):
            texts = [p for p in (prompts[i] for i in send[start : start + per_request])
                     if p is not None]
            count = len(texts)
            if free is None:  # one public content-free prompt rides along, for calibration
                texts.append(content_free_prompt(task))
            message = Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, texts,
                              {"op": "score_choices", "choices": list(task.choices)})
            reply = ctx.measure(message) if measurement else ctx.boundary.request(message)
            scores = scores_from(reply)
            if scores.shape != (len(texts), n_labels):
                raise ValueError(f"the LM returned scores of shape {tuple(scores.shape)} for "
                                 f"{len(texts)} prompts and {n_labels} labels")
            if free is None:
                free, scores = scores[-1], scores[:-1]
            rows.append(scores)
            bar.advance(count)
    if send:
        assert free is not None
        out[torch.tensor(send)] = torch.log_softmax(calibrated(torch.cat(rows), free), dim=-1)
    return out


def sm_label_logprobs(sm: Any, task: Task, examples: Sequence[Example],
                      batch_size: int) -> torch.Tensor:
    """The SM's calibrated label log-probs on the raw prompts of ``examples``."""
    assert task.choices is not None
    prompts = [task.prompt(ex) for ex in examples]
    scores = choice_logprobs(sm.model, sm.tokenizer, prompts, task.choices, batch_size)
    free = choice_logprobs(sm.model, sm.tokenizer, [content_free_prompt(task)], task.choices)
    return torch.log_softmax(calibrated(scores, free[0]), dim=-1)


T = TypeVar("T")


def reference_or_refusal(measure: Callable[[], T]) -> tuple[T | None, str | None]:
    """Run a reference measurement (the LM on raw prompts). A remote model party applies its
    contract to every message it receives, measurement or not, and may refuse raw prompts:
    the run then goes on without the reference and says why."""
    try:
        return measure(), None
    except RemoteError as exc:
        return None, f"the model party refused the reference measurement: {exc}"


def raw_label_reference(ctx: RunContext, task: Task, test: Sequence[Example],
                        per_request: int, utility: dict[str, Any]
                        ) -> torch.Tensor | None:
    """The LM's label log-probs on the raw test prompts, over the measurement channel (a
    reference the strategy itself never sends); None, with ``utility["lm_raw_refused"]``
    saying why, where a remote model party refuses raw prompts."""
    raw, refused = reference_or_refusal(lambda: lm_label_logprobs(
        ctx, task, [task.prompt(ex) for ex in test], per_request, measurement=True,
        label="LM on the raw prompts (reference)"))
    if raw is None:
        utility["lm_raw_refused"] = refused
    return raw
