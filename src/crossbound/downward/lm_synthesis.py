"""The generation half of ``lm-synthetic-data``: from private records to kept synthetic ones.

Seeds are protected (sanitised, perturbed, or raw on an opt-in), pre-flighted against the
run's boundary (a seed or prompt its guard would refuse is repaired or dropped, and counted,
instead of failing the run half-way), the LM writes one message per prompt, and the
continuations are parsed, de-duplicated and (``filter_agreement``) re-labelled by the LM.
What survives, what was dropped and why, is written next to the run's result.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from crossbound.boundary.contracts import MODEL_PARTY, GuardContext
from crossbound.boundary.messages import Kind, Message
from crossbound.downward.lm_synthetic_config import LMSyntheticConfig
from crossbound.downward.synthetic_text import (
    SENTENCE_END,
    dedupe,
    flatten,
    generation_prompt,
    parse_continuation,
    repetitive,
)
from crossbound.evaluate.utility import calibrated, content_free_prompt
from crossbound.naming import DATA_PARTY
from crossbound.parties import scores_from
from crossbound.privacy.token_dp import TokenPerturber
from crossbound.strategy import RunContext
from crossbound.tasks.base import Example, Task

# Style nudges that make the prompts of one label differ: the model party decodes greedily,
# so equal prompts give equal messages. Generic on purpose (any text-classification task).
HINTS = ("", "Keep it short.", "Give some detail.", "Write it informally.",
         "Write it politely.", "Use your own words.")


@dataclass
class Synthesis:
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


class Synthesiser:
    """Runs the generation half for one run: its context, settings and sanitiser (None
    unless ``seed_privacy`` is ``sanitize``; it also repairs what the guard refuses)."""

    def __init__(self, ctx: RunContext, cfg: LMSyntheticConfig, sanitizer: Any = None) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.sanitizer = sanitizer

    def synthesise(self, task: Task, private: Sequence[Example], sm: Any) -> Synthesis:
        """Protect seeds, have the LM write, parse, de-duplicate, re-label; save the records."""
        assert task.choices is not None
        ctx, cfg = self.ctx, self.cfg
        rng = random.Random(cfg.seed)
        syn = Synthesis()
        started = time.perf_counter()
        seeds, syn.protection = self._seeds(private, sm, rng)
        ctx.boundary.guard_contexts[DATA_PARTY] = GuardContext(
            private_texts=[ex.text for ex in task.parties[cfg.party]],
            # Sanitised seeds are what the data party chose to release: their word runs are no
            # longer "raw private text"; the sanitiser half of the guard still checks them.
            public_texts=[ex.text for ex in task.public]
            + ([s for pool in seeds.values() for _, s in pool]
               if cfg.seed_privacy == "sanitize" else []))
        for label, pool in seeds.items():  # a seed the guard would refuse never enters a prompt
            seeds[label] = [(i, s) for i, s in pool if self._admissible(s)]
            syn.refused["seeds"] += len(pool) - len(seeds[label])
        syn.seconds["seed_protection_seconds"] = time.perf_counter() - started

        jobs: list[tuple[str, str, list[str]]] = []  # (label, prompt, seed record ids)
        for label in task.choices:
            pool = seeds.get(label, [])
            for i in range(cfg.per_label):
                chosen = rng.sample(pool, min(cfg.seeds_per_prompt, len(pool)))
                prompt = self._repaired(generation_prompt(
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
            outputs = self._ask([p for _, p, _ in jobs],
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
            records, syn.agreement = self._agreement(task, records, rejected, syn.refused)
        syn.seconds["relabel_seconds"] = time.perf_counter() - started
        syn.records = records
        syn.stages = {"requested": cfg.per_label * len(task.choices), "generated": len(jobs),
                      "parsed": n_parsed, "deduplicated": n_deduped, "kept": len(records)}
        if records and cfg.rationales:
            self._rationales(task, records)
        for index, record in enumerate(records):
            record["id"] = f"synthetic-{index}"
        syn.artifacts = self._save(records, rejected)
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

    def _seeds(self, private: Sequence[Example], sm: Any, rng: random.Random
               ) -> tuple[dict[str, list[tuple[str, str]]], str]:
        """Per label, (record id, protected text) of the records that may serve as seeds, and
        how they were protected."""
        cfg = self.cfg
        if cfg.seeds_per_prompt == 0:
            return {}, "no seeds (task description only)"
        by_label: dict[str, list[Example]] = {}
        for ex in private:
            by_label.setdefault(ex.target, []).append(ex)
        chosen = {label: rng.sample(pool, min(cfg.seed_pool or len(pool), len(pool)))
                  for label, pool in by_label.items()}
        flat = [ex for pool in chosen.values() for ex in pool]
        with self.ctx.step(f"protecting {len(flat)} seed messages ({cfg.seed_privacy})"):
            if cfg.seed_privacy == "sanitize":
                done = [s.text for s in self.sanitizer.sanitize_many([e.text for e in flat])]
                how = f"seeds sanitised ({cfg.sanitizer} pseudonyms)"
            elif cfg.seed_privacy == "perturb":
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

    def _admissible(self, text: str) -> bool:
        """Whether the boundary would let ``text`` cross (checked locally, nothing is sent)."""
        return self.ctx.boundary.admits(Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY, [text],
                                                {"op": "check"}))

    def _repaired(self, text: str) -> str | None:
        """``text`` if it may cross; else sanitised once more (sanitise mode); else None."""
        if self._admissible(text):
            return text
        if self.sanitizer is None:
            return None
        fixed: str = self.sanitizer.sanitize(text).text
        return fixed if self._admissible(fixed) else None

    def _ask(self, prompts: list[str], meta: dict[str, Any],
             advance: Callable[[int], None]) -> list[Any]:
        """Send ``prompts`` in chunks; generated texts, or score rows for ``score_choices``."""
        out: list[Any] = []
        per_request = self.cfg.prompts_per_request
        for start in range(0, len(prompts), per_request):
            chunk = prompts[start : start + per_request]
            reply = self.ctx.boundary.request(Message(Kind.TEXT, DATA_PARTY, MODEL_PARTY,
                                                      chunk, dict(meta)))
            out.extend(scores_from(reply) if meta["op"] == "score_choices" else reply.payload)
            advance(len(chunk))
        return out

    def _agreement(self, task: Task, records: list[dict[str, Any]],
                   rejected: list[dict[str, Any]], refused: Counter[str]
                   ) -> tuple[list[dict[str, Any]], float]:
        """Keep the records whose calibrated LM label is the requested one; the agreement rate."""
        assert task.choices is not None

        def prompt(text: str) -> str:
            return task.prompt(Example(id="synthetic", text=text, target=""))

        asked: list[dict[str, Any]] = []
        prompts: list[str] = []
        for record in records:
            sent = self._repaired(record["text"])  # the message alone: repair, then wrap
            if sent is None or not self._admissible(prompt(sent)):
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
        with self.ctx.step("LM re-labelling synthetic examples", len(prompts)) as bar:
            rows = self._ask(prompts, {"op": "score_choices", "choices": list(task.choices)},
                             bar.advance)
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

    def _rationales(self, task: Task, records: list[dict[str, Any]]) -> None:
        """A one-sentence reason per record, from the LM, stored in ``record["rationale"]``."""
        jobs: list[tuple[dict[str, Any], str]] = []
        for record in records:
            ask = (task.prompt(Example(id="synthetic", text=record["text"], target=""))
                   + f" {record['label']}\nReason (one sentence):")
            if self._admissible(ask):
                jobs.append((record, ask))
        with self.ctx.step("LM explaining labels", len(jobs)) as bar:
            answers = self._ask([a for _, a in jobs],
                                {"op": "generate", "max_new_tokens": self.cfg.max_new_tokens},
                                bar.advance)
        for (record, _), answer in zip(jobs, answers, strict=True):
            reason = parse_continuation(answer, min_chars=1)
            if reason:
                record["rationale"] = SENTENCE_END.split(reason)[0].strip() + "."

    def _save(self, records: list[dict[str, Any]],
              rejected: list[dict[str, Any]]) -> dict[str, str]:
        out_dir = self.ctx.out_dir
        paths = {"synthetic_data": out_dir / "synthetic.jsonl",
                 "synthetic_rejected": out_dir / "synthetic-rejected.jsonl"}
        for key, rows in (("synthetic_data", records), ("synthetic_rejected", rejected)):
            with paths[key].open("w") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return {key: str(path) for key, path in paths.items()}
