"""``private-prompt``: the LM answers a protected copy of each private prompt; the SM decides.

After InferDPT (arXiv:2310.12214). For every query the data party protects the message before
it leaves — Presidio/regex pseudonyms (``sanitize``), metric-DP token replacement at ε
(``perturb``), or both — and asks the model party's LM for a draft: its calibrated label
scores on a classification task, a generated answer on a free-text one. The final answer is
written locally, by the data party's SM, from the *original* prompt plus the LM's draft:

- labels: a product of experts, log p_SM(y | raw prompt) + w · log p_LM(y | protected prompt),
  with w picked on the task's validation split (w = 0 is the SM alone, so the choice can only
  help on that split);
- free text: the SM continues the raw prompt with the LM's draft (placeholders restored
  locally) written in as a hint.

Every protected prompt is pre-flighted against the contract before it is sent; one the guard
would refuse is withheld (the SM answers alone) and counted, never sent. The LM's answer on
the raw prompts, the reference this strategy is compared with, is measured on the run's
separate measurement channel (``measurement-transcript.jsonl``), so the protocol's transcript
and its PII scan show only what the strategy itself sends.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from crossbound.baselines.common import check_party, eval_subset, make_trainable
from crossbound.boundary.contracts import (
    MODEL_PARTY,
    AccessContract,
    ContractViolation,
    GuardContext,
    allow,
    get_guard,
    register_guard,
)
from crossbound.boundary.messages import Kind, Message
from crossbound.evaluate.utility import (
    calibrated,
    choice_logprobs,
    classification_metrics,
    content_free_prompt,
    generate_answers,
    headline,
    rouge_l,
    subgroup_accuracy,
)
from crossbound.inference import INFERENCE
from crossbound.models.loading import load_model
from crossbound.parties import scores_from
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig
from crossbound.tasks.base import Example, Task
from crossbound.training.causal_lm import finetune

DATA_PARTY = "data-party-0"
GUARD = "no-raw-private-text"

PRIVATE_PROMPT = AccessContract(
    "private-prompt",
    (
        # Protected prompts only: the guard refuses word runs of a private record that the data
        # party did not release, and (with the sanitiser installed) any PII it can find.
        allow("data", Kind.TEXT, guards=(GUARD,)),
        allow("model", Kind.TEXT, Kind.TENSORS),
    ),
    "The data party sends sanitised or perturbed prompts; the model party returns label "
    "scores or a draft answer. The final answer is made locally from the raw prompt.",
)


@dataclass
class PrivatePromptConfig(StrategyConfig):
    """Protect each prompt (``protect``), ask the LM for a draft, let the SM answer.

    ``protect``: ``sanitize`` (pseudonyms by the ``presidio`` or faster ``regex``
    recognisers), ``perturb`` (token metric-DP at ``epsilon`` per token on the SM's input
    embeddings) or ``sanitize+perturb``. ``sm_epochs``: local fine-tuning of the SM on the
    party's private data first (0: use the SM as it is). ``weights``: the fusion weights w
    tried on ``validation_limit`` validation records. ``reference_raw``: also measure the LM
    on the raw prompts (measurement channel, not the protocol).
    """

    party: int = 0
    protect: Literal["sanitize", "perturb", "sanitize+perturb"] = "sanitize"
    sanitizer: Literal["presidio", "regex"] = "presidio"
    epsilon: float = 16.0
    sm_epochs: float = 2.0
    lr: float = 2e-4
    batch_size: int = 8
    max_length: int = 192
    trainable: Literal["full", "lora", "linear"] = "full"
    lora_rank: int = 8
    train_limit: int | None = None
    weights: str = "0,0.25,0.5,1,2,4"
    validation_limit: int | None = 60
    eval_limit: int | None = 200
    prompts_per_request: int = 16
    lm_batch_size: int = 8  # the model party's batch size (in process)
    max_new_tokens: int = 48  # free-text tasks: the LM's draft and the SM's answer
    reference_raw: bool = True

    def validate(self) -> None:
        super().validate()
        if self.party < 0:
            raise ValueError(f"party must be >= 0, got {self.party}")
        if self.protect not in ("sanitize", "perturb", "sanitize+perturb"):
            raise ValueError("protect must be sanitize, perturb or sanitize+perturb")
        if self.sanitizer not in ("presidio", "regex"):
            raise ValueError("sanitizer must be presidio or regex")
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon}")
        if self.sm_epochs < 0 or self.lr <= 0 or self.batch_size < 1 or self.max_length < 16:
            raise ValueError("sm_epochs must be >= 0, lr > 0, batch_size >= 1, max_length >= 16")
        if self.trainable not in ("full", "lora", "linear") or self.lora_rank < 1:
            raise ValueError("trainable must be full, lora or linear; lora_rank >= 1")
        self.fusion_weights()  # raises on a bad list
        for name in ("train_limit", "validation_limit", "eval_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if not 1 <= self.prompts_per_request <= 1024 or self.lm_batch_size < 1:
            raise ValueError("prompts_per_request must be in 1..1024 and lm_batch_size >= 1")
        if not 1 <= self.max_new_tokens <= 512:
            raise ValueError("max_new_tokens must be in 1..512")

    def fusion_weights(self) -> list[float]:
        try:
            values = [float(w) for w in str(self.weights).split(",") if w.strip()]
        except ValueError as exc:
            raise ValueError(f"weights must be comma-separated numbers, got {self.weights!r}"
                             ) from exc
        if not values or any(not w >= 0 for w in values):
            raise ValueError(f"weights must be one or more numbers >= 0, got {self.weights!r}")
        return values


def fuse(sm_logprobs: torch.Tensor, lm_logprobs: torch.Tensor, weight: float) -> torch.Tensor:
    """Product of experts over the labels: log p_SM + w · log p_LM (rows need not be normal)."""
    return sm_logprobs + weight * lm_logprobs


def pick_weight(sm_logprobs: torch.Tensor, lm_logprobs: torch.Tensor, gold: torch.Tensor,
                weights: Sequence[float]) -> tuple[float, dict[str, float]]:
    """The weight with the best accuracy on (validation) rows ``gold``; ties go to the
    smaller weight (less trust in the LM). Returns it and every weight's accuracy."""
    accuracy = {}
    for w in sorted(weights):
        hits = (fuse(sm_logprobs, lm_logprobs, w).argmax(-1) == gold).float().mean()
        accuracy[f"{w:g}"] = round(float(hits), 4)
    best = max(sorted(weights), key=lambda w: (accuracy[f"{w:g}"], -w))
    return best, accuracy


@INFERENCE.register
class PrivatePrompt(Strategy):
    name = "private-prompt"
    direction = "inference"
    summary = "The LM drafts from sanitised or perturbed prompts; the SM answers from the raw one"
    paper = "arXiv:2310.12214 (InferDPT)"
    needs_model_party = "an LM that scores labels or generates"
    needs_data_party = "an SM (tuned locally first by default), private prompts"
    crosses = ("data→model: sanitised or perturbed prompts; model→data: label scores or a "
               "draft answer")
    config_class = PrivatePromptConfig
    contract = PRIVATE_PROMPT

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        assert isinstance(cfg, PrivatePromptConfig)
        check_party(ctx.task, cfg.party)
        previous = get_guard(GUARD)
        self._sanitizer: Any = None
        self._restore: list[Callable[[str], str]] = []
        if "sanitize" in cfg.protect:
            from crossbound.privacy.sanitizer import Sanitizer, install_sanitizer_guard

            self._sanitizer = Sanitizer(presidio=cfg.sanitizer == "presidio")
            with ctx.step(f"loading the {cfg.sanitizer} sanitiser"):
                self._sanitizer.warm_up()
            install_sanitizer_guard(self._sanitizer)
        try:
            return self._run(ctx, cfg, ctx.task)
        finally:  # the guard registry is process-wide: leave it as it was found
            register_guard(GUARD, previous, replace=True)

    # ------------------------------------------------------------------ the data party's side

    def _tuned_sm(self, ctx: RunContext, cfg: PrivatePromptConfig, task: Task) -> Any:
        with ctx.step(f"loading small model {ctx.small}"):
            sm = load_model(ctx.small)
        if cfg.sm_epochs > 0:
            private = task.parties[cfg.party][: cfg.train_limit]
            pairs = [(task.prompt(ex), task.answer(ex)) for ex in private]
            steps = max(1, round(cfg.sm_epochs * -(-len(pairs) // cfg.batch_size)))
            sm.model = make_trainable(sm.model, cfg.trainable, cfg.lora_rank)
            with ctx.step("SM fine-tuning on private data", steps) as bar:
                finetune(sm.model, sm.tokenizer, pairs, epochs=cfg.sm_epochs, lr=cfg.lr,
                         batch_size=cfg.batch_size, max_length=cfg.max_length, seed=cfg.seed,
                         on_step=lambda _s, _l: bar.advance())
        sm.model.eval()
        return sm

    def _protect(self, ctx: RunContext, cfg: PrivatePromptConfig, sm: Any,
                 examples: Sequence[Example]) -> tuple[list[str], Counter[str], str]:
        """The protected message of each example, the PII kinds replaced, and a description."""
        texts = [ex.text for ex in examples]
        kinds: Counter[str] = Counter()
        how = []
        with ctx.step(f"protecting {len(texts)} prompts ({cfg.protect})"):
            if self._sanitizer is not None:
                done = self._sanitizer.sanitize_many(texts)
                kinds.update(r.kind for d in done for r in d.replacements)
                texts = [d.text for d in done]
                self._restore = [d.restore for d in done]  # local maps, to undo placeholders
                how.append(f"sanitised ({cfg.sanitizer} pseudonyms)")
            if "perturb" in cfg.protect:
                from crossbound.privacy.token_dp import TokenPerturber

                weights = sm.model.get_input_embeddings().weight.detach().float()
                perturber = TokenPerturber(weights, sm.tokenizer, cfg.epsilon, seed=cfg.seed)
                texts = perturber.perturb_batch(texts)
                how.append(f"perturbed (token metric-DP, ε={cfg.epsilon:g} per token, on the "
                           "SM's embeddings)")
        return texts, kinds, " then ".join(how)

    def _admissible(self, ctx: RunContext, text: str) -> bool:
        """Whether the boundary would let ``text`` cross (checked locally; nothing is sent)."""
        contract = ctx.boundary.contract
        if contract is None:
            return True
        try:
            contract.check(Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, [text], {"op": "check"}),
                           ctx.boundary.guard_contexts.get(DATA_PARTY))
        except ContractViolation:
            return False
        return True

    # ------------------------------------------------------------------ asking the LM

    def _lm_label_logprobs(self, ctx: RunContext, cfg: PrivatePromptConfig, task: Task,
                           prompts: list[str | None], channel: str = "protocol"
                           ) -> torch.Tensor:
        """Calibrated label log-probs of the LM for each prompt; a withheld (None) prompt gets
        the uniform distribution, i.e. no opinion."""
        assert task.choices is not None
        n_labels = len(task.choices)
        out = torch.full((len(prompts), n_labels), -math.log(n_labels))
        send = [i for i, p in enumerate(prompts) if p is not None]
        rows: list[torch.Tensor] = []
        free: torch.Tensor | None = None
        label = "LM scoring protected prompts" if channel == "protocol" else \
            "LM on the raw prompts (reference)"
        with ctx.step(label, len(send)) as bar:
            for start in range(0, len(send), cfg.prompts_per_request):
                chunk = [prompts[i] for i in send[start : start + cfg.prompts_per_request]]
                texts = [p for p in chunk if p is not None]
                if free is None:  # one public content-free prompt, for calibration
                    texts.append(content_free_prompt(task))
                message = Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, texts,
                                  {"op": "score_choices", "choices": list(task.choices)})
                reply = (ctx.boundary.request(message) if channel == "protocol"
                         else ctx.measure(message))
                scores = scores_from(reply)
                if free is None:
                    free, scores = scores[-1], scores[:-1]
                rows.append(scores)
                bar.advance(len(chunk))
        if send:
            assert free is not None
            lm = torch.log_softmax(calibrated(torch.cat(rows), free), dim=-1)
            out[torch.tensor(send)] = lm
        return out

    def _sm_label_logprobs(self, sm: Any, cfg: PrivatePromptConfig, task: Task,
                           examples: Sequence[Example]) -> torch.Tensor:
        assert task.choices is not None
        prompts = [task.prompt(ex) for ex in examples]
        scores = choice_logprobs(sm.model, sm.tokenizer, prompts, task.choices, cfg.batch_size)
        free = choice_logprobs(sm.model, sm.tokenizer, [content_free_prompt(task)], task.choices)
        return torch.log_softmax(calibrated(scores, free[0]), dim=-1)

    # ------------------------------------------------------------------ the run

    def _run(self, ctx: RunContext, cfg: PrivatePromptConfig, task: Task) -> Result:
        started = time.perf_counter()
        sm = self._tuned_sm(ctx, cfg, task)
        tuned_seconds = time.perf_counter() - started
        ctx.connect_model_party(batch_size=cfg.lm_batch_size)
        test = list(eval_subset(task, cfg.eval_limit))
        validation = list(task.validation[: cfg.validation_limit]) if task.choices else []
        queries = validation + test
        protected, kinds, how = self._protect(ctx, cfg, sm, queries)
        released = list(protected) if self._sanitizer is not None else []
        # Sanitised prompts are what the data party chose to release: their word runs are no
        # longer "raw private text" (the sanitiser half of the guard still checks them).
        # Perturbed-only prompts get no such pass: a long verbatim run is refused.
        ctx.boundary.guard_contexts[DATA_PARTY] = GuardContext(
            private_texts=[ex.text for ex in (*task.train, *queries)],
            public_texts=[ex.text for ex in task.public] + released)
        prompts: list[str | None] = []
        for ex, text in zip(queries, protected, strict=True):
            prompt = task.prompt(dataclasses.replace(ex, text=text, pii=(), canary=None))
            prompts.append(prompt if self._admissible(ctx, prompt) else None)
        withheld = sum(p is None for p in prompts)

        result = Result(strategy=self.name, config=cfg.to_dict(), task={},
                        models={"large": ctx.large, "small": ctx.small})
        if task.choices is not None:
            utility = self._labels(ctx, cfg, task, sm, validation, test, prompts)
        else:
            utility = self._free_text(ctx, cfg, task, sm, test, prompts)
        result.metrics["utility"] = {**utility, "eval_examples": len(test),
                                     "validation_examples": len(validation)}
        result.metrics["privacy"] = {
            "protection": how,
            "prompts_sent": len(prompts) - withheld,
            "prompts_withheld": withheld,
            "pii_replaced_by_kind": dict(sorted(kinds.items())),
            "contract": self.contract.name,
        }
        result.metrics["efficiency"] = {"sm_tuning_seconds": round(tuned_seconds, 3)}
        return result

    def _labels(self, ctx: RunContext, cfg: PrivatePromptConfig, task: Task, sm: Any,
                validation: list[Example], test: list[Example],
                prompts: list[str | None]) -> dict[str, Any]:
        assert task.choices is not None
        lm = self._lm_label_logprobs(ctx, cfg, task, prompts)
        with ctx.step("SM scoring the raw prompts"):
            own = self._sm_label_logprobs(sm, cfg, task, [*validation, *test])
        n_val = len(validation)
        index = {label: i for i, label in enumerate(task.choices)}
        gold_val = torch.tensor([index[ex.target] for ex in validation], dtype=torch.long)
        if n_val:
            weight, by_weight = pick_weight(own[:n_val], lm[:n_val], gold_val,
                                            cfg.fusion_weights())
        else:
            weight, by_weight = 1.0, {}

        def metrics(scores: torch.Tensor) -> dict[str, float]:
            predicted = [task.choices[i] for i in scores.argmax(-1).tolist()]  # type: ignore[index]
            return {**classification_metrics(predicted, [ex.target for ex in test],
                                             task.choices),  # type: ignore[arg-type]
                    **subgroup_accuracy(predicted, test)}

        final = metrics(fuse(own[n_val:], lm[n_val:], weight))
        sm_alone = metrics(own[n_val:])
        lm_protected = metrics(lm[n_val:])
        utility: dict[str, Any] = {
            "final": headline(final, task), **final,
            "sm_alone": headline(sm_alone, task), "sm_alone_metrics": sm_alone,
            "lm_protected": headline(lm_protected, task), "lm_protected_metrics": lm_protected,
            "fusion_weight": weight, "validation_accuracy_by_weight": by_weight,
        }
        if cfg.reference_raw:
            raw = self._lm_label_logprobs(ctx, cfg, task, [task.prompt(ex) for ex in test],
                                          channel="measurement")
            lm_raw = metrics(raw)
            utility.update({"lm_raw": headline(lm_raw, task), "lm_raw_metrics": lm_raw})
        return utility

    def _free_text(self, ctx: RunContext, cfg: PrivatePromptConfig, task: Task, sm: Any,
                   test: list[Example], prompts: list[str | None]) -> dict[str, Any]:
        send = [p for p in prompts if p is not None]
        drafts: list[str] = []
        with ctx.step("LM drafting from protected prompts", len(send)) as bar:
            for start in range(0, len(send), cfg.prompts_per_request):
                chunk = send[start : start + cfg.prompts_per_request]
                reply = ctx.boundary.request(Message(
                    Kind.TEXT, DATA_PARTY, MODEL_PARTY, chunk,
                    {"op": "generate", "max_new_tokens": cfg.max_new_tokens}))
                drafts.extend(reply.payload)
                bar.advance(len(chunk))
        it = iter(drafts)
        per_query = [next(it) if p is not None else "" for p in prompts]
        if self._sanitizer is not None:  # put the originals back, locally
            per_query = [undo(d) for undo, d in zip(self._restore, per_query, strict=True)]
        hinted = [task.prompt(ex) if not d else
                  f"{task.instruction}\n\nMessage: {ex.text}\nDraft answer: {d}\nAnswer:"
                  for ex, d in zip(test, per_query, strict=True)]
        with ctx.step("SM answering", len(test)) as bar:
            final = generate_answers(sm.model, sm.tokenizer, hinted, cfg.max_new_tokens,
                                     cfg.batch_size, bar.advance)
            alone = generate_answers(sm.model, sm.tokenizer, [task.prompt(ex) for ex in test],
                                     cfg.max_new_tokens, cfg.batch_size)

        def mean_rouge(answers: Sequence[str]) -> float:
            return sum(rouge_l(a, ex.target) for a, ex in zip(answers, test, strict=True)) \
                / len(test)

        utility: dict[str, Any] = {"final": mean_rouge(final), "rouge_l": mean_rouge(final),
                                   "sm_alone": mean_rouge(alone),
                                   "lm_protected": mean_rouge(per_query)}
        if cfg.reference_raw:
            raw: list[str] = []
            for start in range(0, len(test), cfg.prompts_per_request):
                chunk = [task.prompt(ex) for ex in test[start : start + cfg.prompts_per_request]]
                raw.extend(ctx.measure(Message(
                    Kind.TEXT, DATA_PARTY, MODEL_PARTY, chunk,
                    {"op": "generate", "max_new_tokens": cfg.max_new_tokens})).payload)
            utility["lm_raw"] = mean_rouge(raw)
        return utility
