"""``speculative``: speculative decoding of a task's prompts, the LM behind the boundary.

The data party drafts; the model party's LM verifies through a KV-cached session
(:mod:`crossbound.inference.remote`): token ids go over, the LM's argmax ids (greedy) or
logits (sampling) come back, one round trip per step, each a recorded crossing. The LM reads
the context it continues — the prompt included, so a private prompt crosses (as token ids;
the run's PII scan decodes and counts them). What drafts stays with the data party: the SM
(``draft="model"``, or ``model:NAME``; one with another tokenizer than the LM's drafts in its
own tokens, re-tokenised for the LM — :mod:`crossbound.inference.cross_tokenizer` — still
lossless), or a lookup that loads no model (``ngram``: prompt lookup; ``suffix``: the longest
earlier match in the prompt, the text so far, or the run's earlier outputs —
:mod:`crossbound.inference.lookup`).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from crossbound.config_checks import check_at_least
from crossbound.inference.cross_tokenizer import cross_speculative_generate
from crossbound.inference.drafts import DraftSpec, parse_draft
from crossbound.inference.gamma import SpeculativeSettings
from crossbound.inference.generation import (
    Generation,
    GenerationSettings,
    direct_generate,
    encode_prompts,
    merge_stats,
    prompt_texts,
)
from crossbound.inference.proposers import Proposer
from crossbound.inference.proxy_tuning import same_tokenizer
from crossbound.inference.registry import INFERENCE
from crossbound.inference.remote import RemoteTarget
from crossbound.inference.speculative import model_draft, speculate
from crossbound.models.loading import load_model, load_tokenizer
from crossbound.naming import DATA_PARTY
from crossbound.parties.lm_sessions import TOKEN_STEPS
from crossbound.result import Result
from crossbound.strategy import RunContext, Strategy, StrategyConfig, cells
from crossbound.tasks.public_text import PublicText, public_text


def unescape(text: str) -> str:
    """``\\n``-style escapes typed on a command line, as the characters they stand for."""
    return codecs.decode(text, "unicode_escape") if "\\" in text else text


@dataclass
class SpeculativeConfig(StrategyConfig):
    """Speculative decoding of the task's prompts: the data party drafts ``gamma`` tokens
    per step, the model party's LM verifies them (arXiv:2211.17192).

    ``draft``: what drafts — ``model`` (the run's small model), ``model:NAME`` (another),
    ``ngram`` (prompt lookup; ``ngram:max=3,min=1``) or ``suffix`` (a suffix automaton over
    the prompt, the text so far and the run's earlier outputs; ``suffix:min=1,factor=8``).
    The lookups load no model and cost ~0, so adaptive γ grows to what acceptance supports
    (at most ``gamma_max``). ``suffix+model`` (or ``ngram+model:NAME``): the lookup drafts
    where it finds a match, the small model where it does not.

    ``prompts``: the task's ``test`` or ``public`` split (the first ``limit``; a task without
    a public split uses the built-in fallback corpus, see ``tasks.public_text``); ``chat`` wraps
    each in the LM's chat template. ``temperature`` 0 is greedy (output identical to the LM
    alone). ``stop``: one stop string (``\\n`` for a newline; empty: none). ``compare``: also
    run the LM alone on the same prompts, over the measurement channel, for the speed-up and
    the token-for-token identity check.
    """

    prompts: Literal["test", "public"] = "test"
    limit: int = 8
    chat: bool = False
    max_new_tokens: int = 48
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    stop: str = ""
    draft: str = "model"
    gamma: int = 4
    adaptive: bool = True
    gamma_max: int = 10
    draft_vocab: int = 0  # > 0: the SM drafts over the first N token ids only (cheaper)
    draft_confidence: float = 0.7  # the SM's draft ends at a token it is less sure of
    batch_size: int = 4
    compare: bool = True

    def validate(self) -> None:
        super().validate()
        check_at_least(self, 1, "limit", "batch_size")
        self.settings()  # sampling and length checks
        self.speculative()  # γ checks
        self.drafting()

    def settings(self) -> GenerationSettings:
        stop = unescape(self.stop)
        return GenerationSettings(max_new_tokens=self.max_new_tokens,
                                  temperature=self.temperature, top_k=self.top_k,
                                  top_p=self.top_p, stop=(stop,) if stop else (),
                                  seed=self.seed)

    def drafting(self) -> DraftSpec:
        return parse_draft(self.draft)

    def speculative(self) -> SpeculativeSettings:
        return SpeculativeSettings(gamma=self.gamma, adaptive=self.adaptive,
                                   gamma_max=self.gamma_max, draft_vocab=self.draft_vocab,
                                   draft_confidence=self.draft_confidence)


@INFERENCE.register
class Speculative(Strategy[SpeculativeConfig]):
    name = "speculative"
    direction = "inference"
    summary = "The SM drafts tokens, the LM verifies several per pass (same output, faster)"
    paper = "arXiv:2211.17192 (speculative decoding)"
    needs_model_party = "an LM serving KV-cached decoding sessions (lm_step)"
    needs_data_party = ("a small model (the LM's tokenizer, or another: drafts re-tokenised), "
                        "or none (draft=ngram or suffix)")
    prefers_lm_tokenizer = True  # a same-tokenizer draft needs no re-tokenising
    crosses = ("data→model: token ids (prompts, drafts); model→data: the LM's argmax ids "
               "(greedy) or logits (sampling)")
    contract = TOKEN_STEPS
    private_text_crosses = True  # the prompts, as token ids (test prompts by default)

    # Full profile only: it measures speed, not utility, so it cannot rank against the other
    # cells (benchmarks/speculative.py measures it properly).
    bench_cells = cells(full=[("greedy", {}),
                              ("sampled", {"temperature": "1.0", "top_p": "0.95"})])

    def run(self, ctx: RunContext) -> Result:
        cfg = self.config
        task = ctx.task
        public: PublicText | None = None
        if cfg.prompts == "public":
            public = public_text(task, cfg.limit)
        examples = task.test[: cfg.limit] if public is None else public.examples
        if not examples:
            raise ValueError(f"task {task.name} has no {cfg.prompts} examples")
        drafting = cfg.drafting()
        drafter = drafting.label(ctx.small)
        tokenizer = load_tokenizer(ctx.large)  # tokenizers are public; weights are not
        sm = None
        if not drafting.draft_free:
            small = drafting.model or ctx.small
            with ctx.step(f"loading small model {small}"):
                sm = load_model(small, frozen=True)  # it only runs: the run's precision
        # Another tokenizer is fine: the SM's drafts are then re-tokenised for the LM.
        cross = sm is not None and not same_tokenizer(tokenizer, sm.tokenizer)
        if cross and drafting.lookup is not None:
            raise ValueError(f"draft {cfg.draft!r}: a lookup drafts the LM's token ids, and "
                             f"{small}'s tokenizer is not the LM's; use draft=model")
        settings, spec = cfg.settings(), cfg.speculative()
        # One proposer for every batch: a suffix proposer's corpus grows batch by batch, and
        # adaptive γ starts each batch from what the last one learnt.
        proposer: Proposer | None = None
        if not cross:
            proposer = (model_draft(sm.model, tokenizer, spec, drafting.first())
                        if sm is not None else drafting.proposer())
        ctx.connect_model_party()
        texts_in = prompt_texts(tokenizer, [task.prompt(ex) for ex in examples], cfg.chat)
        prompts = encode_prompts(tokenizer, texts_in)
        before = ctx.boundary.summary()["bytes"]
        requests = 0

        def speculate_rows(rows: range) -> Generation:
            nonlocal requests
            target = RemoteTarget(ctx.boundary, DATA_PARTY)
            try:
                if proposer is not None:
                    return speculate(target, proposer, tokenizer, [prompts[i] for i in rows],
                                     settings, spec)
                assert sm is not None
                return cross_speculative_generate(
                    target, tokenizer, sm.model, sm.tokenizer, [texts_in[i] for i in rows],
                    settings, spec)
            finally:
                target.close()
                requests += target.requests

        spec_out = _batched(ctx, "speculative decoding", len(prompts), cfg.batch_size,
                            speculate_rows)
        stats = merge_stats([g.stats for g in spec_out])
        crossed = ctx.boundary.summary()["bytes"] - before
        texts = [t for g in spec_out for t in g.texts]
        ids = [i for g in spec_out for i in g.ids]
        efficiency: dict[str, Any] = {
            "speculative": stats.to_dict(),
            "round_trips": requests,
            "round_trips_per_token": round(requests / max(1, stats.new_tokens), 4),
            "bytes_per_token": round(crossed / max(1, stats.new_tokens), 1),
        }
        utility: dict[str, Any] = {"prompts": len(prompts), "draft": drafter,
                                   "tokenizers": "different" if cross else "same"}
        if task.choices is not None and all(ex.target for ex in examples):  # corpus: no labels
            hits = [_starts_with_label(t, ex.target) for t, ex in zip(texts, examples,
                                                                        strict=True)]
            utility["answer_accuracy"] = sum(hits) / len(hits)
        if cfg.compare:
            alone = self._lm_alone(ctx, prompts, tokenizer, settings)
            alone_stats = merge_stats([g.stats for g in alone])
            efficiency["lm_alone"] = alone_stats.to_dict()
            efficiency["speedup_vs_lm_alone"] = round(
                stats.tokens_per_second / max(1e-9, alone_stats.tokens_per_second), 3)
            alone_ids = [i for g in alone for i in g.ids]
            same = sum(a == b for a, b in zip(ids, alone_ids, strict=True))
            # Sampled outputs match the LM's distribution, not its individual samples.
            utility["identical_to_lm"] = same / len(ids) if settings.sampling.greedy else None
        result = self.new_result(ctx, small=drafter)
        result.metrics["utility"] = utility
        result.metrics["efficiency"].update(efficiency)
        result.metrics["privacy"] = {
            "prompt_source": cfg.prompts,
            "prompts_sent": len(prompts),
            "private_records_sent": len(prompts) if cfg.prompts == "test" else 0,
        }
        path = ctx.out_dir / "generations.jsonl"
        with path.open("w") as handle:
            for ex, text, reason in zip(examples, texts,
                                        [f for g in spec_out for f in g.finish], strict=True):
                handle.write(json.dumps({"id": ex.id, "text": text, "finish": reason}) + "\n")
        result.artifacts["generations"] = str(path)
        if public is not None:
            public.record(result)
        return result

    def _lm_alone(self, ctx: RunContext, prompts: list[list[int]], tokenizer: Any,
                  settings: GenerationSettings) -> list[Generation]:
        channel = ctx.measurement if ctx.measurement is not None else ctx.boundary

        def alone(rows: range) -> Generation:
            target = RemoteTarget(channel, DATA_PARTY)
            try:
                return direct_generate(target, tokenizer, [prompts[i] for i in rows], settings)
            finally:
                target.close()

        cfg = self.config
        return _batched(ctx, "LM alone (reference)", len(prompts), cfg.batch_size, alone)


def _batched(ctx: RunContext, label: str, count: int, batch_size: int,
             run: Callable[[range], Generation]) -> list[Generation]:
    """``run`` over consecutive batches of prompt indices, with a progress bar."""
    out: list[Generation] = []
    with ctx.step(label, count) as bar:
        for start in range(0, count, batch_size):
            rows = range(start, min(count, start + batch_size))
            out.append(run(rows))
            bar.advance(len(rows))
    return out


def _starts_with_label(text: str, label: str) -> bool:
    words = text.strip().lower().split()
    return bool(words) and words[0].strip(".,;:!") == label.lower()
