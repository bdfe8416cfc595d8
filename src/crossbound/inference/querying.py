"""What the query-level strategies (``private-prompt``, ``cascade``) share.

The data party tunes its SM locally, protects a prompt before it may leave (sanitise,
perturb, or both), checks it against the contract locally first (a prompt the guard would
refuse is withheld, never sent), and asks the model party's LM for calibrated label scores —
over the protocol's boundary, or over the run's measurement channel for reference numbers.
"""

from __future__ import annotations

import dataclasses
import math
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import torch

from crossbound.baselines.common import (
    QUICK_EVAL_LIMIT,
    QUICK_TRAINING,
    QUICK_VALIDATION_LIMIT,
    answer_pairs,
    check_party,
    eval_subset,
    finetuned,
    guarded_by_sanitizer,
    lm_label_scores,
    load_sm_to_tune,
    private_records,
)
from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.http import RemoteError
from crossbound.boundary.messages import Kind, Message
from crossbound.config_checks import (
    Records,
    SMTraining,
    check_at_least,
    check_in_range,
    check_limits,
    check_positive,
)
from crossbound.evaluate.utility import calibrated, choice_logprobs, content_free_prompt
from crossbound.naming import DATA_PARTY
from crossbound.privacy.sanitizer import Sanitizer
from crossbound.privacy.token_dp import TokenPerturber
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig
from crossbound.tasks.base import Example, Task

Protect = Literal["none", "sanitize", "perturb", "sanitize+perturb"]


@dataclass
class QueryConfig(SMTraining, Records, StrategyConfig):
    """The data party's side of a query-level strategy.

    ``sm_epochs``: local fine-tuning of the SM on party ``party``'s private data first (0: the
    SM as it is), as local-finetune tunes it. ``protect``: how a prompt is protected before it
    crosses — ``sanitize`` (pseudonyms by the ``presidio`` or faster ``regex`` recognisers),
    ``perturb`` (token metric-DP at ``epsilon`` per token on the SM's input embeddings), both,
    or ``none`` (where the strategy allows it). ``validation_limit``: validation records (a
    calibration split) where the strategy uses them. ``reference_raw``: also measure the LM on
    the raw test prompts, over the measurement channel (not the protocol).
    """

    protect: Protect = "sanitize"
    sanitizer: Literal["presidio", "regex"] = "presidio"
    epsilon: float = 16.0
    sm_epochs: float = 2.0
    validation_limit: int | None = 60
    prompts_per_request: int = 16
    lm_batch_size: int = 8  # the model party's batch size (in process)
    reference_raw: bool = True

    def validate(self) -> None:
        super().validate()
        check_positive(self, "epsilon")
        check_at_least(self, 0, "sm_epochs")
        check_limits(self, "validation_limit")
        check_in_range(self, "prompts_per_request", 1, 1024)
        check_at_least(self, 1, "lm_batch_size")


# The quick bench's query strategies: the SM tuned as local-finetune's quick cell tunes it (a
# bench trains it once), the quick evaluation; the LM's answer on raw prompts is remote-lm's
# cell, so no reference run.
QUICK_QUERY = {"sm_epochs": QUICK_TRAINING["epochs"], "lr": QUICK_TRAINING["lr"],
               "train_limit": "120", "validation_limit": QUICK_VALIDATION_LIMIT,
               "eval_limit": QUICK_EVAL_LIMIT, "reference_raw": "false"}


def tuned_sm(ctx: RunContext, cfg: QueryConfig, task: Task) -> Any:
    """The data party's SM, fine-tuned on its private data unless ``sm_epochs`` is 0."""
    sm = load_sm_to_tune(ctx, cfg.trainable)
    if cfg.sm_epochs > 0:
        # the same training as local-finetune's at this budget: a bench runs it once
        sm.model = finetuned(ctx, "SM fine-tuning on private data", sm,
                             answer_pairs(task, private_records(task, cfg)), cfg,
                             epochs=cfg.sm_epochs, seed=cfg.seed, share=True)
    sm.model.eval()
    return sm


Q = TypeVar("Q", bound=QueryConfig)


class QueryStrategy(Strategy[Q]):
    """A query-level strategy: the data party tunes its SM locally (``tuned_sm``), protects
    each prompt before it may cross (a ``Protector``, whose sanitiser also guards the run's
    boundary), and asks the model party's LM. ``run`` does that opening; a subclass answers
    the test queries in ``answer``."""

    private_text_crosses = True  # protected copies of private prompts

    def check_task(self, task: Task) -> None:
        """Refuse a task the strategy cannot serve, before anything loads."""

    @abstractmethod
    def answer(self, ctx: RunContext, sm: Any, test: list[Example],
               protector: Protector) -> Result:
        """Answer the ``test`` queries with the tuned ``sm`` and the LM; the result."""

    def raw_reference(self, ctx: RunContext, test: Sequence[Example],
                      utility: dict[str, Any]) -> torch.Tensor | None:
        """Where ``reference_raw`` asks, the LM's label log-probs on the raw ``test`` prompts
        (see :func:`raw_label_reference`); else None."""
        if not self.config.reference_raw:
            return None
        return raw_label_reference(ctx, ctx.task, test, self.config.prompts_per_request,
                                   utility)

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        self.check_task(ctx.task)
        check_party(ctx.task, cfg.party)
        protector = Protector(cfg)
        with protector.guarding(ctx):
            started = time.perf_counter()
            sm = tuned_sm(ctx, cfg, ctx.task)
            tuned_seconds = time.perf_counter() - started
            ctx.connect_model_party(batch_size=cfg.lm_batch_size)
            result = self.answer(ctx, sm, list(eval_subset(ctx.task, cfg.eval_limit)),
                                 protector)
        result.metrics["efficiency"] = {"sm_tuning_seconds": round(tuned_seconds, 3)}
        return result


@dataclass
class Protected:
    """Protected messages (what may cross), the PII kinds replaced, how, and (local only) a
    function per message that puts the originals back into text that mentions placeholders."""

    texts: list[str]
    kinds: Counter[str]
    how: str
    restore: list[Callable[[str], str]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """What a result's ``privacy`` says of the protection: how, and the PII replaced."""
        return {"protection": self.how,
                "pii_replaced_by_kind": dict(sorted(self.kinds.items()))}


class Protector:
    """Protects messages as ``cfg.protect`` says; while ``guarding()``, the run's boundary's
    ``no-raw-private-text`` guard also refuses any PII the sanitiser finds."""

    def __init__(self, cfg: QueryConfig) -> None:
        self.cfg = cfg
        self.sanitizer: Any = None
        if "sanitize" in cfg.protect:
            self.sanitizer = Sanitizer(presidio=cfg.sanitizer == "presidio")

    @contextmanager
    def guarding(self, ctx: RunContext) -> Iterator[None]:
        if self.sanitizer is None:
            yield
            return
        with guarded_by_sanitizer(ctx, self.sanitizer, self.cfg.sanitizer):
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
                weights = sm.model.get_input_embeddings().weight.detach().float()
                perturber = TokenPerturber(weights, sm.tokenizer, cfg.epsilon, seed=cfg.seed)
                out.texts = perturber.perturb_batch(out.texts)
                how.append(f"perturbed (token metric-DP, ε={cfg.epsilon:g} per token, on the "
                           "SM's embeddings)")
        out.how = " then ".join(how) or "none (raw prompts)"
        return out


    def prompts(self, ctx: RunContext, sm: Any,
                queries: Sequence[Example]) -> tuple[list[str | None], Protected]:
        """Each query's task prompt around its protected text, or None where the guard would
        refuse it (withheld: never sent); and what protecting did."""
        task = ctx.task
        protected = self.protect(ctx, sm, [ex.text for ex in queries])
        # Sanitised prompts are what the data party chose to release: their word runs are no
        # longer "raw private text" (the sanitiser half of the guard still checks them).
        # Perturbed-only prompts get no such pass: a long verbatim run is refused.
        released = protected.texts if self.sanitizer is not None else []
        ctx.guard_private([*task.train, *queries], [ex.text for ex in task.public] + released)
        prompts: list[str | None] = []
        for ex, text in zip(queries, protected.texts, strict=True):
            prompt = task.prompt(dataclasses.replace(ex, text=text, pii=(), canary=None))
            prompts.append(prompt if admissible(ctx, prompt) else None)
        return prompts, protected


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
    scores = lm_label_scores(ctx, task, [p for p in prompts if p is not None], per_request,
                             label=label, measurement=measurement)
    if send:
        out[torch.tensor(send)] = torch.log_softmax(scores, dim=-1)
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
