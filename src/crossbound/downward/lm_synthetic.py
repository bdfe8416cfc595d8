"""``lm-synthetic-data``: the model party's LM writes labelled examples; the data party's SM learns.

For each label the data party sends the LM a generation prompt: the task instruction, the
label, and optionally a few of its own messages of that label as examples (*seeds*), protected
before they leave (``seed_privacy``: Presidio pseudonyms, or metric-DP token perturbation; raw
seeds only on an explicit opt-in). The LM continues with a new message. Back on the data side
the continuations are parsed, de-duplicated and (``filter_agreement``) re-labelled by the LM;
the SM fine-tunes on the survivors, mixed with its own private data unless ``mix_private`` is
off. Optionally the LM also gives a one-sentence rationale per kept example (stored, reported).

After PDSS / FedCoT (arXiv:2406.12403): LM-generated task data and rationales for the SM, with
prompts perturbed before they leave the data party. Before anything crosses, every message is
checked locally against the same contract the boundary enforces (a "pre-flight"), so a prompt
the guard would refuse is repaired (sanitised again) or dropped, and counted, instead of
failing the run half-way.

This module holds the contracts and the strategy (the SM's training and the result); the
generation half is :mod:`crossbound.downward.lm_synthesis`, the settings
:mod:`crossbound.downward.lm_synthetic_config`.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from crossbound.baselines.common import (
    QUICK_EVAL_LIMIT,
    QUICK_TRAINING,
    answer_pairs,
    eval_subset,
    evaluate_on,
    evaluate_untuned,
    guarded_by_sanitizer,
    load_sm_to_tune,
    make_trainable,
    private_records,
    protected_text_contract,
    require_labels,
    sm_finetune,
    sm_utility,
    train_report,
)
from crossbound.boundary.contracts import AccessContract, allow
from crossbound.boundary.messages import Kind
from crossbound.boundary.operations import generate, score_choices
from crossbound.downward.lm_synthesis import Synthesiser
from crossbound.downward.lm_synthetic_config import LMSyntheticConfig
from crossbound.downward.registry import DOWNWARD
from crossbound.downward.synthetic_text import distance_to_real
from crossbound.privacy.sanitizer import Sanitizer
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, cells
from crossbound.tasks.base import Example, Task

# Prompts carry the instruction and protected seeds (the sanitiser guards the run's boundary
# with seed_privacy=sanitize).
SYNTHETIC_DOWN = protected_text_contract(
    "synthetic-data-down",
    "The data party sends generation and re-labelling prompts (sanitised or perturbed seeds, "
    "never raw private text); the model party returns generated text or label scores.")
RAW_SEEDS = AccessContract(
    "raw-private-seeds-to-lm",
    (allow("data", Kind.TEXT), allow("model", Kind.TEXT, Kind.TENSORS)),
    "Opted in (allow_raw_seeds): raw private seed messages cross to the LM as text.",
    operations=(*generate(), score_choices()),
)


@DOWNWARD.register
class LMSyntheticData(Strategy[LMSyntheticConfig]):
    name = "lm-synthetic-data"
    direction = "downward"
    summary = "The LM writes labelled examples from protected seeds; the SM fine-tunes on them"
    paper = "arXiv:2406.12403 (PDSS / FedCoT)"
    needs_model_party = "an LM that generates and scores labels"
    needs_data_party = "an SM, private labelled data (seeds, mixing)"
    crosses = ("data→model: generation prompts (instruction, sanitised or perturbed seeds), "
               "synthetic messages to re-label; model→data: generated text, label scores")
    contract = SYNTHETIC_DOWN
    private_text_crosses = True  # protected seeds are derived from private records

    @classmethod
    def contract_for(cls, config: LMSyntheticConfig) -> AccessContract:
        # Raw seeds cross only on the opt-in validate() insists on (allow_raw_seeds).
        if config.seed_privacy == "none" and config.seeds_per_prompt > 0:
            return RAW_SEEDS
        return SYNTHETIC_DOWN

    bench_cells = cells(
        # 5 messages per label of at most 28 new tokens, written 16 prompts to a batch; the SM
        # trains on them + the records as local-finetune's quick cell does (3 messages and one
        # epoch left the SM below its own baseline at 16 records: 0.36 vs 0.68).
        quick=[("sanitized-seeds", {"per_label": "5", "max_new_tokens": "28",
                                    "prompts_per_request": "16", "lm_batch_size": "16",
                                    "train_limit": "120", "eval_limit": QUICK_EVAL_LIMIT,
                                    **QUICK_TRAINING, "seed_privacy": "sanitize"})],
        full=[("sanitized-seeds", {"seed_privacy": "sanitize"}),
              ("perturbed-seeds-eps15", {"seed_privacy": "perturb", "seed_epsilon": "15"})],
    )

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        require_labels(task, self.name, "Use logit-kd (mode=sequence) or local-finetune for "
                                        "free-text tasks")
        private = private_records(task, cfg)
        if cfg.seed_privacy != "sanitize":
            return self._run(ctx, cfg, task, private, None)
        sanitizer = Sanitizer(presidio=cfg.sanitizer == "presidio")
        with guarded_by_sanitizer(ctx, sanitizer, cfg.sanitizer):
            return self._run(ctx, cfg, task, private, sanitizer)

    def _run(self, ctx: RunContext, cfg: LMSyntheticConfig, task: Task,
             private: tuple[Example, ...], sanitizer: Any) -> Result:
        choices = require_labels(task, self.name)
        sm = load_sm_to_tune(ctx, cfg.trainable)
        syn = Synthesiser(ctx, cfg, sanitizer).synthesise(task, private, sm)

        test = eval_subset(task, cfg.eval_limit)
        before = evaluate_untuned(ctx, sm.model, sm.tokenizer, test, cfg.batch_size)
        model = make_trainable(sm.model, cfg.trainable, cfg.lora_rank)
        examples = [Example(id=r["id"], text=r["text"], target=r["label"]) for r in syn.records]
        if cfg.mix_private:
            examples += list(private)
        pairs = answer_pairs(task, examples)
        started = time.perf_counter()
        stats = sm_finetune(ctx, "SM fine-tuning on synthetic" +
                            (" + private" if cfg.mix_private else ""), model, sm.tokenizer,
                            pairs, cfg, epochs=cfg.epochs, seed=cfg.seed)
        train_seconds = time.perf_counter() - started
        after = evaluate_on(ctx, "SM after", model, sm.tokenizer, test, cfg.batch_size)

        result = self.new_result(ctx)
        result.artifacts.update(syn.artifacts)
        result.metrics["utility"] = sm_utility(task, before, after, len(test))
        per_label = Counter(r["label"] for r in syn.records)
        texts = [r["text"] for r in syn.records]
        result.metrics["synthetic"] = {
            **syn.stages,
            "per_label": {label: per_label.get(label, 0) for label in choices},
            "duplicates_removed": syn.removed,
            "dropped": dict(Counter(r["dropped"] for r in syn.rejected)),
            "label_agreement_rate": None if syn.agreement is None else round(syn.agreement, 4),
            "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
            "distinct_prompts": syn.distinct_prompts,
            "to_private": distance_to_real(texts, [ex.text for ex in private],
                                           [ex.text for ex in task.public]),
            **({"rationales": sum(1 for r in syn.records if r.get("rationale"))}
               if cfg.rationales else {}),
            "train_examples": len(pairs),
        }
        result.metrics["efficiency"].update({
            **{k: round(v, 3) for k, v in syn.seconds.items()},
            **train_report(stats, train_seconds),
        })
        raw = cfg.seed_privacy == "none" and bool(syn.seeds_sent)
        result.metrics["privacy"] = {
            "seeds": syn.protection,
            "contract": ctx.boundary.contract.name if ctx.boundary.contract else None,
            "seed_messages_sent": len(syn.seeds_sent),
            "seed_records_sent": len(set(syn.seeds_sent)),
            "private_records_sent": len(set(syn.seeds_sent)) if raw else 0,
            "refused_by_guard": {k: syn.refused[k] for k in ("seeds", "prompts", "relabel")},
        }
        if cfg.save_model:
            ctx.save_small_model(result, model, sm.tokenizer)
        return result
