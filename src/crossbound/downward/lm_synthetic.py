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
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from crossbound.baselines.common import (
    QUICK_EVAL_LIMIT,
    QUICK_TRAINING,
    check_party,
    eval_subset,
    evaluate_on,
    evaluate_untuned,
    make_trainable,
    sm_utility,
)
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
from crossbound.boundary.operations import generate, score_choices
from crossbound.downward.registry import DOWNWARD
from crossbound.downward.synthetic_text import (
    SENTENCE_END,
    dedupe,
    distance_to_real,
    flatten,
    generation_prompt,
    parse_continuation,
    repetitive,
)
from crossbound.evaluate.utility import calibrated, content_free_prompt
from crossbound.models.loading import load_model
from crossbound.parties import scores_from
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig
from crossbound.tasks.base import Example, Task
from crossbound.training.causal_lm import finetune

DATA_PARTY = "data-party-0"
GUARD = "no-raw-private-text"

SYNTHETIC_DOWN = AccessContract(
    "synthetic-data-down",
    (
        # Prompts carry the instruction and protected seeds; the guard refuses any text that
        # repeats a private record (and, with seed_privacy=sanitize, any PII the sanitiser finds).
        allow("data", Kind.TEXT, guards=(GUARD,)),
        allow("model", Kind.TEXT, Kind.TENSORS),
    ),
    "The data party sends generation and re-labelling prompts (sanitised or perturbed seeds, "
    "never raw private text); the model party returns generated text or label scores.",
    operations=(*generate(), score_choices()),
)
RAW_SEEDS = AccessContract(
    "raw-private-seeds-to-lm",
    (allow("data", Kind.TEXT), allow("model", Kind.TEXT, Kind.TENSORS)),
    "Opted in (allow_raw_seeds): raw private seed messages cross to the LM as text.",
    operations=(*generate(), score_choices()),
)

# Style nudges that make the prompts of one label differ: the model party decodes greedily,
# so equal prompts give equal messages. Generic on purpose (any text-classification task).
HINTS = ("", "Keep it short.", "Give some detail.", "Write it informally.",
         "Write it politely.", "Use your own words.")


@dataclass
class LMSyntheticConfig(StrategyConfig):
    """The LM writes ``per_label`` messages per label; the SM fine-tunes on those that survive.

    ``seeds_per_prompt``: private messages shown per prompt (0: the task instruction only),
    drawn from at most ``seed_pool`` records per label. ``seed_privacy``: ``sanitize``
    (pseudonyms; ``sanitizer`` = ``presidio`` or the faster ``regex`` recognisers; the boundary
    guard then refuses any text with PII), ``perturb`` (token metric-DP at ``seed_epsilon`` on
    the SM's embeddings; on SmolLM2's, ε = 12 / 15 / 20 keep about 13 / 47 / 87 % of the
    tokens) or ``none`` (raw seeds cross: needs ``allow_raw_seeds=true``).
    Filters: ``min_chars`` / ``min_words`` and looping text (a sentence repeated), ``dedupe``
    (exact after normalising, or word 5-gram Jaccard above ``near_duplicate``; copies of a
    seed too), ``filter_agreement`` (the LM's calibrated label must equal the requested one).
    The rest tunes the SM like local-finetune."""

    party: int = 0
    per_label: int = 30
    seeds_per_prompt: int = 2
    seed_pool: int | None = None  # distinct records per label that may serve as seeds
    seed_privacy: Literal["sanitize", "perturb", "none"] = "sanitize"
    sanitizer: Literal["presidio", "regex"] = "presidio"
    seed_epsilon: float = 15.0
    allow_raw_seeds: bool = False
    max_new_tokens: int = 64
    prompts_per_request: int = 8
    lm_batch_size: int = 8  # the model party's batch size (in process)
    min_chars: int = 20
    min_words: int = 4
    dedupe: bool = True
    near_duplicate: float = 0.8
    filter_agreement: bool = True
    rationales: bool = False
    mix_private: bool = True
    epochs: float = 2.0
    lr: float = 2e-4
    batch_size: int = 8
    max_length: int = 192
    train_limit: int | None = None  # private records used (seeds and mixing)
    eval_limit: int | None = 200
    trainable: Literal["full", "lora", "linear"] = "full"
    lora_rank: int = 8
    save_model: bool = False

    def validate(self) -> None:
        super().validate()
        if self.party < 0 or self.per_label < 1 or not 0 <= self.seeds_per_prompt <= 16:
            raise ValueError("party must be >= 0, per_label >= 1, seeds_per_prompt in 0..16")
        if self.seed_privacy not in ("sanitize", "perturb", "none"):
            raise ValueError("seed_privacy must be sanitize, perturb or none")
        if self.sanitizer not in ("presidio", "regex"):
            raise ValueError("sanitizer must be presidio or regex")
        if self.seed_privacy == "none" and self.seeds_per_prompt > 0 and not self.allow_raw_seeds:
            raise ValueError("seed_privacy=none sends raw private records to the model party; "
                             "set allow_raw_seeds=true to accept that, or use seed_privacy="
                             "sanitize / perturb, or seeds_per_prompt=0")
        if not self.seed_epsilon > 0:
            raise ValueError(f"seed_epsilon must be > 0, got {self.seed_epsilon}")
        if not 1 <= self.max_new_tokens <= 512 or not 1 <= self.prompts_per_request <= 1024:
            raise ValueError("max_new_tokens must be in 1..512 and prompts_per_request 1..1024")
        if min(self.lm_batch_size, self.min_chars, self.min_words, self.batch_size) < 1:
            raise ValueError("lm_batch_size, min_chars, min_words and batch_size must be >= 1")
        if not 0.0 < self.near_duplicate <= 1.0:
            raise ValueError("near_duplicate must be in (0, 1]")
        if self.epochs <= 0 or self.lr <= 0 or self.max_length < 16:
            raise ValueError("epochs and lr must be > 0 and max_length >= 16")
        for name in ("seed_pool", "train_limit", "eval_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if self.trainable not in ("full", "lora", "linear") or self.lora_rank < 1:
            raise ValueError("trainable must be full, lora or linear; lora_rank >= 1")


# ---------------------------------------------------------------- text pieces (pure functions)


# ---------------------------------------------------------------- the strategy


@dataclass
class _Synthesis:
    """What the generation half of a run produced (records kept, and the bookkeeping)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # each with "dropped": why
    stages: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=lambda: {"exact": 0, "near": 0,
                                                              "copies": 0})
    agreement: float | None = None
    refused: Counter[str] = field(default_factory=Counter)  # by the guard, per stage
    seeds_sent: list[str] = field(default_factory=list)  # record id per seed occurrence
    protection: str = ""
    distinct_prompts: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


@DOWNWARD.register
class LMSyntheticData(Strategy):
    name = "lm-synthetic-data"
    direction = "downward"
    summary = "The LM writes labelled examples from protected seeds; the SM fine-tunes on them"
    paper = "arXiv:2406.12403 (PDSS / FedCoT)"
    needs_model_party = "an LM that generates and scores labels"
    needs_data_party = "an SM, private labelled data (seeds, mixing)"
    crosses = ("data→model: generation prompts (instruction, sanitised or perturbed seeds), "
               "synthetic messages to re-label; model→data: generated text, label scores")
    config_class = LMSyntheticConfig
    contract = SYNTHETIC_DOWN
    private_text_crosses = True  # protected seeds are derived from private records

    @classmethod
    def bench_settings(cls, profile: str) -> list[tuple[str, dict[str, str]]]:
        if profile == "quick":
            # 5 messages per label of at most 28 new tokens, written 16 prompts to a batch; the
            # SM trains on them + the records as local-finetune's quick cell does (3 messages
            # and one epoch left the SM below its own baseline at 16 records: 0.36 vs 0.68).
            limits = {"per_label": "5", "max_new_tokens": "28", "prompts_per_request": "16",
                      "lm_batch_size": "16", "train_limit": "120",
                      "eval_limit": QUICK_EVAL_LIMIT, **QUICK_TRAINING}
            return [("sanitized-seeds", {**limits, "seed_privacy": "sanitize"})]
        return [("sanitized-seeds", {"seed_privacy": "sanitize"}),
                ("perturbed-seeds-eps15", {"seed_privacy": "perturb", "seed_epsilon": "15"})]

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        assert isinstance(cfg, LMSyntheticConfig)
        task = ctx.task
        if task.choices is None:
            raise ValueError(f"lm-synthetic-data needs a classification task (one with a label "
                             f"set); {task.name} is free-text. Use logit-kd (mode=sequence) "
                             "or local-finetune for free-text tasks")
        check_party(task, cfg.party)
        if cfg.seed_privacy == "none" and cfg.seeds_per_prompt > 0:
            ctx.boundary.contract = RAW_SEEDS  # validate() made sure this was opted into
        self._sanitizer: Any = None
        previous = get_guard(GUARD)
        if cfg.seed_privacy == "sanitize":
            from crossbound.privacy.sanitizer import Sanitizer, install_sanitizer_guard

            self._sanitizer = Sanitizer(presidio=cfg.sanitizer == "presidio")
            with ctx.step(f"loading the {cfg.sanitizer} sanitiser"):
                self._sanitizer.warm_up()
            install_sanitizer_guard(self._sanitizer)
        try:
            return self._run(ctx, cfg, task)
        finally:  # the guard registry is process-wide: leave it as it was found
            register_guard(GUARD, previous, replace=True)

    def _run(self, ctx: RunContext, cfg: LMSyntheticConfig, task: Task) -> Result:
        assert task.choices is not None
        private = task.parties[cfg.party][: cfg.train_limit]
        with ctx.step(f"loading small model {ctx.small}"):
            # LoRA trains adapters only: the base is frozen, held in the run's precision
            sm = load_model(ctx.small, frozen=cfg.trainable == "lora")
        syn = self._synthesise(ctx, cfg, task, private, sm)

        test = eval_subset(task, cfg.eval_limit)
        before = evaluate_untuned(ctx, sm.model, sm.tokenizer, test, cfg.batch_size)
        model = sm.model
        model = make_trainable(model, cfg.trainable, cfg.lora_rank)
        examples = [Example(id=r["id"], text=r["text"], target=r["label"]) for r in syn.records]
        if cfg.mix_private:
            examples += list(private)
        pairs = [(task.prompt(ex), task.answer(ex)) for ex in examples]
        steps = max(1, round(cfg.epochs * -(-len(pairs) // cfg.batch_size)))
        started = time.perf_counter()
        with ctx.step("SM fine-tuning on synthetic" + (" + private" if cfg.mix_private else ""),
                      steps) as bar:
            stats = finetune(model, sm.tokenizer, pairs, epochs=cfg.epochs, lr=cfg.lr,
                             batch_size=cfg.batch_size, max_length=cfg.max_length,
                             seed=cfg.seed, on_step=lambda _s, _l: bar.advance())
        train_seconds = time.perf_counter() - started
        after = evaluate_on(ctx, "SM after", model, sm.tokenizer, test, cfg.batch_size)

        result = Result(strategy=self.name, config=cfg.to_dict(), task={},
                        models={"large": ctx.large, "small": ctx.small},
                        artifacts=dict(syn.artifacts))
        result.metrics["utility"] = sm_utility(task, before, after, len(test))
        per_label = Counter(r["label"] for r in syn.records)
        texts = [r["text"] for r in syn.records]
        result.metrics["synthetic"] = {
            **syn.stages,
            "per_label": {label: per_label.get(label, 0) for label in task.choices},
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
            "train_seconds": round(train_seconds, 3),
            "train_steps": stats.steps,
            "train_tokens": stats.tokens,
            "train_loss_first": round(stats.first_loss, 4),
            "train_loss_last": round(stats.last_loss, 4),
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
            folder = ctx.out_dir / "small-model"
            model.save_pretrained(folder)
            sm.tokenizer.save_pretrained(folder)
            result.artifacts["small_model"] = str(folder)
        return result

    def _synthesise(self, ctx: RunContext, cfg: LMSyntheticConfig, task: Task,
                    private: Sequence[Example], sm: Any) -> _Synthesis:
        """Protect seeds, have the LM write, parse, de-duplicate, re-label; save the records."""
        assert task.choices is not None
        rng = random.Random(cfg.seed)
        syn = _Synthesis()
        started = time.perf_counter()
        seeds, syn.protection = self._seeds(ctx, cfg, private, sm, rng)
        ctx.boundary.guard_contexts[DATA_PARTY] = GuardContext(
            private_texts=[ex.text for ex in task.parties[cfg.party]],
            # Sanitised seeds are what the data party chose to release: their word runs are no
            # longer "raw private text"; the sanitiser half of the guard still checks them.
            public_texts=[ex.text for ex in task.public]
            + ([s for pool in seeds.values() for _, s in pool]
               if cfg.seed_privacy == "sanitize" else []))
        for label, pool in seeds.items():  # a seed the guard would refuse never enters a prompt
            seeds[label] = [(i, s) for i, s in pool if self._admissible(ctx, s)]
            syn.refused["seeds"] += len(pool) - len(seeds[label])
        syn.seconds["seed_protection_seconds"] = time.perf_counter() - started

        jobs: list[tuple[str, str, list[str]]] = []  # (label, prompt, seed record ids)
        for label in task.choices:
            pool = seeds.get(label, [])
            for i in range(cfg.per_label):
                chosen = rng.sample(pool, min(cfg.seeds_per_prompt, len(pool)))
                prompt = self._repaired(ctx, generation_prompt(
                    task, label, [s for _, s in chosen], HINTS[i % len(HINTS)]))
                if prompt is None:
                    syn.refused["prompts"] += 1
                    continue
                jobs.append((label, prompt, [rid for rid, _ in chosen]))
        syn.seeds_sent = [rid for _, _, ids in jobs for rid in ids]
        syn.distinct_prompts = len({p for _, p, _ in jobs})
        ctx.connect_model_party(batch_size=cfg.lm_batch_size)
        started = time.perf_counter()
        with ctx.step("LM writing synthetic examples", len(jobs)) as bar:
            outputs = self._ask(ctx, [p for _, p, _ in jobs],
                                {"op": "generate", "max_new_tokens": cfg.max_new_tokens},
                                bar.advance)
        syn.seconds["generation_seconds"] = time.perf_counter() - started

        records, rejected = syn.records, syn.rejected
        for (label, _, seed_ids), raw in zip(jobs, outputs, strict=True):
            text = parse_continuation(raw, cfg.min_chars, cfg.min_words)
            if text is None or repetitive(text):
                rejected.append({"label": label, "text": raw, "seed_ids": seed_ids,
                                 "dropped": "parse" if text is None else "repetitive"})
            else:
                records.append({"label": label, "text": text, "seed_ids": seed_ids})
        n_parsed = len(records)
        if cfg.dedupe:
            shown = [s for pool in seeds.values() for _, s in pool]
            keep, syn.removed = dedupe([r["text"] for r in records], cfg.near_duplicate,
                                       against=shown)
            rejected += [{**r, "dropped": "duplicate"} for i, r in enumerate(records)
                         if i not in set(keep)]
            records = [records[i] for i in keep]
        n_deduped = len(records)
        started = time.perf_counter()
        if cfg.filter_agreement and records:
            records, syn.agreement = self._agreement(ctx, task, records, rejected, syn.refused)
        syn.seconds["relabel_seconds"] = time.perf_counter() - started
        syn.records = records
        syn.stages = {"requested": cfg.per_label * len(task.choices), "generated": len(jobs),
                      "parsed": n_parsed, "deduplicated": n_deduped, "kept": len(records)}
        if records and cfg.rationales:
            self._rationales(ctx, task, records, cfg.max_new_tokens)
        for index, record in enumerate(records):
            record["id"] = f"synthetic-{index}"
        syn.artifacts = self._save(ctx, records, rejected)
        if not records:
            raise RuntimeError(
                "no synthetic example survived the filters (" + ", ".join(
                    f"{k}: {v}" for k, v in syn.stages.items()) + f"). What the LM wrote and "
                f"why each was dropped: {syn.artifacts['synthetic_rejected']}"
                + (f"; refused by the guard: {dict(syn.refused)}" if syn.refused else "")
                + ". Hint: lower "
                "min_chars / min_words, raise max_new_tokens or per_label, add seeds "
                "(seeds_per_prompt), or set filter_agreement=false")
        return syn

    # ------------------------------------------------------------ pieces

    def _seeds(self, ctx: RunContext, cfg: LMSyntheticConfig, private: Sequence[Example],
               sm: Any, rng: random.Random) -> tuple[dict[str, list[tuple[str, str]]], str]:
        """Per label, (record id, protected text) of the records that may serve as seeds, and
        how they were protected."""
        if cfg.seeds_per_prompt == 0:
            return {}, "no seeds (task description only)"
        by_label: dict[str, list[Example]] = {}
        for ex in private:
            by_label.setdefault(ex.target, []).append(ex)
        chosen = {label: rng.sample(pool, min(cfg.seed_pool or len(pool), len(pool)))
                  for label, pool in by_label.items()}
        flat = [ex for pool in chosen.values() for ex in pool]
        with ctx.step(f"protecting {len(flat)} seed messages ({cfg.seed_privacy})"):
            if cfg.seed_privacy == "sanitize":
                done = [s.text for s in self._sanitizer.sanitize_many([e.text for e in flat])]
                how = f"seeds sanitised ({cfg.sanitizer} pseudonyms)"
            elif cfg.seed_privacy == "perturb":
                from crossbound.privacy.token_dp import TokenPerturber

                weights = sm.model.get_input_embeddings().weight.detach().float()
                perturber = TokenPerturber(weights, sm.tokenizer, cfg.seed_epsilon,
                                           seed=cfg.seed)
                done = perturber.perturb_batch([flatten(e.text) for e in flat])
                how = (f"seeds perturbed (token metric-DP, ε={cfg.seed_epsilon:g} per token, "
                       "on the SM's embeddings)")
            else:
                done = [e.text for e in flat]
                how = "raw private seeds (allow_raw_seeds opted in)"
        texts = iter(flatten(t) for t in done)
        return {label: [(ex.id, next(texts)) for ex in pool]
                for label, pool in chosen.items()}, how

    def _admissible(self, ctx: RunContext, text: str) -> bool:
        """Whether the boundary would let ``text`` cross (checked locally, nothing is sent)."""
        contract = ctx.boundary.contract
        if contract is None:
            return True
        try:
            contract.check(Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, [text], {"op": "check"}),
                           ctx.boundary.guard_contexts.get(DATA_PARTY))
        except ContractViolation:
            return False
        return True

    def _repaired(self, ctx: RunContext, text: str,
                  rebuild: Callable[[str], str] | None = None) -> str | None:
        """``text`` if it may cross; else sanitised once more (sanitise mode); else None."""
        if self._admissible(ctx, text):
            return text
        if self._sanitizer is None:
            return None
        fixed = self._sanitizer.sanitize(text).text
        fixed = rebuild(fixed) if rebuild is not None else fixed
        return fixed if self._admissible(ctx, fixed) else None

    def _ask(self, ctx: RunContext, prompts: list[str], meta: dict[str, Any],
             advance: Callable[[int], None]) -> list[Any]:
        """Send ``prompts`` in chunks; generated texts, or score rows for ``score_choices``."""
        cfg = self.config
        assert isinstance(cfg, LMSyntheticConfig)
        out: list[Any] = []
        for start in range(0, len(prompts), cfg.prompts_per_request):
            chunk = prompts[start : start + cfg.prompts_per_request]
            reply = ctx.boundary.request(Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, chunk,
                                                 dict(meta)))
            out.extend(scores_from(reply) if meta["op"] == "score_choices" else reply.payload)
            advance(len(chunk))
        return out

    def _agreement(self, ctx: RunContext, task: Task, records: list[dict[str, Any]],
                   rejected: list[dict[str, Any]], refused: Counter[str]
                   ) -> tuple[list[dict[str, Any]], float]:
        """Keep the records whose calibrated LM label is the requested one; the agreement rate."""
        assert task.choices is not None

        def prompt(text: str) -> str:
            return task.prompt(Example(id="synthetic", text=text, target=""))

        asked: list[dict[str, Any]] = []
        prompts: list[str] = []
        for record in records:
            sent = self._repaired(ctx, record["text"])  # the message alone: repair, then wrap
            if sent is None or not self._admissible(ctx, prompt(sent)):
                refused["relabel"] += 1
                rejected.append({**record, "dropped": "guard"})
                continue
            record["text"] = sent  # train on what was labelled (sanitised if it had to be)
            asked.append(record)
            prompts.append(prompt(sent))
        if not asked:
            return [], 0.0
        # One public content-free prompt rides along for calibration (as in remote-lm).
        prompts.append(content_free_prompt(task))
        with ctx.step("LM re-labelling synthetic examples", len(prompts)) as bar:
            rows = self._ask(ctx, prompts, {"op": "score_choices",
                                            "choices": list(task.choices)}, bar.advance)
        scores = torch.stack(rows)  # (n + 1, choices)
        best = calibrated(scores[:-1], scores[-1]).argmax(-1).tolist()
        kept: list[dict[str, Any]] = []
        for record, index in zip(asked, best, strict=True):
            record["lm_label"] = task.choices[index]
            if record["lm_label"] == record["label"]:
                kept.append(record)
            else:
                rejected.append({**record, "dropped": "label disagreement"})
        return kept, len(kept) / len(asked)

    def _rationales(self, ctx: RunContext, task: Task, records: list[dict[str, Any]],
                    max_new_tokens: int) -> None:
        """A one-sentence reason per record, from the LM, stored in ``record["rationale"]``."""
        jobs: list[tuple[dict[str, Any], str]] = []
        for record in records:
            ask = (task.prompt(Example(id="synthetic", text=record["text"], target=""))
                   + f" {record['label']}\nReason (one sentence):")
            if self._admissible(ctx, ask):
                jobs.append((record, ask))
        with ctx.step("LM explaining labels", len(jobs)) as bar:
            answers = self._ask(ctx, [a for _, a in jobs],
                                {"op": "generate", "max_new_tokens": max_new_tokens},
                                bar.advance)
        for (record, _), answer in zip(jobs, answers, strict=True):
            reason = parse_continuation(answer, min_chars=1)
            if reason:
                record["rationale"] = SENTENCE_END.split(reason)[0].strip() + "."

    def _save(self, ctx: RunContext, records: list[dict[str, Any]],
              rejected: list[dict[str, Any]]) -> dict[str, str]:
        paths = {"synthetic_data": ctx.out_dir / "synthetic.jsonl",
                 "synthetic_rejected": ctx.out_dir / "synthetic-rejected.jsonl"}
        for key, rows in (("synthetic_data", records), ("synthetic_rejected", rejected)):
            with paths[key].open("w") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return {key: str(path) for key, path in paths.items()}
