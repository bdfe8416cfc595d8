"""Token-level inference: the KV decoding state, speculative decoding, proxy-tuning.

The tiny models of ``crossbound.models.tiny`` repeat one token forever when decoded greedily
(tied embeddings, small random weights), which would let a broken verifier pass. The LM here
is instead a small Llama with untied, larger random weights, whose greedy output wanders over
the vocabulary, and its drafts come from noisy copies of it: acceptance is then partial,
so corrections, bonuses and rewinds all happen.
"""

from __future__ import annotations

import copy
import math
from collections import Counter

import pytest
import torch

from crossbound.boundary.channel import Boundary
from crossbound.boundary.transcript import Transcript
from crossbound.evaluate.utility import choice_logprobs
from crossbound.inference.cross_tokenizer import cross_speculative_generate
from crossbound.inference.gamma import GammaController, SpeculativeSettings
from crossbound.inference.generation import (
    GenerationSettings,
    direct_generate,
    encode_prompts,
    expected_speedup,
)
from crossbound.inference.proxy_tuning import (
    check_same_tokenizer,
    proxy_choice_scores,
    proxy_generate,
    proxy_logits,
)
from crossbound.inference.remote import RemoteTarget
from crossbound.inference.sampling import (
    Sampling,
    accept_deterministic,
    accept_sampled,
    probabilities,
)
from crossbound.inference.speculative import speculative_generate
from crossbound.models.kv import DecodeState
from crossbound.models.loading import load_model
from crossbound.models.tiny import build_tiny, build_tokenizer
from crossbound.parties import ModelParty

PROMPTS = [
    "a",
    "hello there",
    "The patient reports chest pain since Monday.",
    "Route the message: rash on the left arm for two weeks, itching at night.",
    "xyz 123",
    "Ünïcode ✓ and numbers 3.14159",
]


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer("byte")


def _wandering_llama(tok, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
                         tie_word_embeddings=False, initializer_range=0.2,
                         max_position_embeddings=512, pad_token_id=tok.pad_token_id,
                         eos_token_id=tok.eos_token_id, bos_token_id=None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config).eval()


def _noisy(model, sigma: float, seed: int):
    copy_ = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in copy_.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * sigma)
    return copy_


@pytest.fixture(scope="module")
def lm(tok):
    return _wandering_llama(tok, seed=0)


@pytest.fixture(scope="module")
def drafts(lm):
    # good (α ≈ 0.8), poor (α ≈ 0.5) and useless (α ≈ 0) drafts, and the LM itself (α = 1)
    return {"good": _noisy(lm, 0.005, 1), "poor": _noisy(lm, 0.01, 2),
            "useless": _noisy(lm, 0.1, 3), "self": lm}


def _hf_greedy(model, tok, prompt_ids: list[int], n: int) -> list[int]:
    out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=n, do_sample=False,
                         pad_token_id=tok.pad_token_id)
    return out[0, len(prompt_ids):].tolist()


@pytest.fixture(scope="module")
def reference(lm, tok):
    """The LM's own greedy continuations (HF generate, one prompt at a time), 32 tokens."""
    ids = encode_prompts(tok, PROMPTS)
    return ids, [_hf_greedy(lm, tok, p, 32) for p in ids]


# ---------------------------------------------------------------- the decoding state


@pytest.mark.parametrize("name", ["tiny-large", "tiny-other"])  # Llama; Gemma-3 (sliding 64)
def test_decode_state_with_garbage_rewound_matches_generate(name):
    model, tokenizer = build_tiny(name)
    prompts = encode_prompts(tokenizer, [PROMPTS[1], PROMPTS[3]])  # 73 + 40: past the window
    expected = [_hf_greedy(model, tokenizer, p, 40) for p in prompts]
    state = DecodeState(model, tokenizer.pad_token_id, compact_share=0.2)
    out = [[int(t)] for t in state.feed(prompts, 1, "argmax")[:, -1]]
    generator = torch.Generator().manual_seed(0)
    for _ in range(39):
        # each row feeds its last token plus 0-3 junk tokens, reads the real one's output,
        # then takes the junk back: ragged blocks, holes and rewinds at every step
        junk = torch.randint(0, 4, (len(out),), generator=generator).tolist()
        rows = [[o[-1], *torch.randint(4, 200, (k,), generator=generator).tolist()]
                for o, k in zip(out, junk, strict=True)]
        logits = state.feed(rows, max(len(r) for r in rows))
        for b, k in enumerate(junk):
            out[b].append(int(logits[b, -(k + 1)].argmax()))
        state.rewind(junk)
    assert out == expected
    assert state.slots <= max(len(p) for p in prompts) + 40 + 3  # compaction kept it small


def test_decode_state_select_repeats_rows_and_rejects_bad_input(tok, lm):
    state = DecodeState(lm, tok.pad_token_id)
    ids = encode_prompts(tok, PROMPTS[:2])
    first = state.feed(ids, 1)[:, -1]
    state.select([1, 1, 0])
    nxt = state.feed([[5], [5], [5]], 1)[:, -1]
    assert torch.allclose(nxt[0], nxt[1])
    alone = DecodeState(lm, tok.pad_token_id)
    alone.feed([ids[0]], 1)
    assert torch.allclose(alone.feed([[5]], 1)[0, -1], nxt[2], atol=1e-5)
    assert first.shape == (2, len(tok))
    with pytest.raises(ValueError, match="rows"):
        state.feed([[1]], 1)
    with pytest.raises(ValueError, match="past its first token"):
        state.rewind([0, 0, 10_000])


# ---------------------------------------------------------------- speculative: greedy identity


@pytest.mark.parametrize("draft,gamma,adaptive,shortlist", [
    ("good", 1, False, 0), ("poor", 8, False, 0), ("useless", 2, True, 0),
    ("self", 4, False, 0), ("good", 5, True, 150),
])
def test_greedy_speculative_equals_the_lm_alone(lm, tok, drafts, reference, draft, gamma,
                                                adaptive, shortlist):
    prompts, expected = reference
    spec = SpeculativeSettings(gamma=gamma, adaptive=adaptive, gamma_max=8,
                               draft_vocab=shortlist)
    for n, batch in ((32, [0, 1, 2, 3]), (7, [4, 5]), (1, [2])):
        rows = [prompts[i] for i in batch]  # batches of different prompt lengths
        out = speculative_generate(DecodeState(lm, tok.pad_token_id), drafts[draft], tok, rows,
                                   GenerationSettings(max_new_tokens=n), spec, lm_model=lm)
        assert out.ids == [expected[i][:n] for i in batch], (draft, gamma, n)
        assert out.stats.new_tokens == sum(len(expected[i][:n]) for i in batch)


def test_speculative_statistics_tell_good_drafts_from_bad(lm, tok, drafts, reference):
    prompts = reference[0][1:4]
    settings = GenerationSettings(max_new_tokens=24)
    spec = SpeculativeSettings(gamma=4, adaptive=False, draft_confidence=0.0)  # γ every step
    stats = {}
    for name in ("self", "good", "useless"):
        stats[name] = speculative_generate(DecodeState(lm, tok.pad_token_id), drafts[name], tok,
                                           prompts, settings, spec, lm_model=lm).stats
    assert stats["self"].acceptance_rate == 1.0 and stats["self"].rejections == 0
    assert stats["self"].lm_forward_passes == 1 + math.ceil(23 / 5)  # prefill + verifications
    assert stats["good"].acceptance_rate > 0.4 > stats["useless"].acceptance_rate
    assert stats["useless"].lm_forward_passes > stats["good"].lm_forward_passes
    d = stats["good"].to_dict()
    assert d["sm_forward_passes"] == stats["good"].step_sm_passes
    assert 0 < d["alpha"] < 1 and d["tokens_per_lm_pass"] == pytest.approx(
        1 + d["mean_accepted_length"])
    direct = direct_generate(DecodeState(lm, tok.pad_token_id), tok, prompts, settings, lm)
    assert direct.stats.lm_forward_passes == 24
    # adaptive γ gives up on a useless draft (the LM decodes alone), probing now and then
    gives_up = speculative_generate(DecodeState(lm, tok.pad_token_id), drafts["useless"], tok,
                                    prompts, settings, SpeculativeSettings(probe_every=4),
                                    lm_model=lm)
    assert gives_up.ids == direct.ids and gives_up.stats.plain_steps > 0
    assert gives_up.stats.sm_forward_passes < stats["useless"].sm_forward_passes


def test_gamma_adapts_to_acceptance_and_cost():
    assert expected_speedup(0.0, 3, 0.1) == pytest.approx(1 / 1.3)
    assert expected_speedup(1.0, 3, 0.1) == pytest.approx(4 / 1.3)
    assert expected_speedup(0.8, 4, 0.05) == pytest.approx((1 - 0.8**5) / 0.2 / 1.2)
    settings = SpeculativeSettings(gamma=4, gamma_max=10)
    high, low, costly = (GammaController(settings) for _ in range(3))
    for _ in range(10):
        high.update(accepted=9, rejections=1, cost_ratio=0.05)
        low.update(accepted=1, rejections=9, cost_ratio=0.05)
        costly.update(accepted=9, rejections=1, cost_ratio=0.6)
    assert high.gamma > costly.gamma and high.gamma > low.gamma and low.gamma == 1
    fixed = GammaController(SpeculativeSettings(gamma=3, adaptive=False))
    assert fixed.update(0, 5, 0.1) == 3 and fixed.next() == 3
    hopeless = GammaController(SpeculativeSettings(gamma=4, probe_every=3))
    hopeless.update(accepted=0, rejections=10, cost_ratio=0.5)
    assert [hopeless.next() for _ in range(6)] == [0, 0, 1, 0, 0, 1]  # probes every 3rd
    hopeless.update(accepted=40, rejections=1, cost_ratio=0.1)
    assert hopeless.next() > 1  # drafting pays again
    with pytest.raises(ValueError):
        SpeculativeSettings(gamma=12, gamma_max=10)


# ---------------------------------------------------------------- EOS and stop strings


def test_eos_and_stop_strings_end_rows_one_by_one(lm, tok, drafts, reference):
    prompts, expected = reference
    rows = [1, 2, 3]
    # EOS: a token the LM emits early in row 1 only (per the reference), made its EOS
    eos_model = copy.deepcopy(lm)
    eos = next(t for t in expected[1][3:] if t not in expected[2] + expected[3])
    cut = expected[1].index(eos) + 1
    eos_model.generation_config.eos_token_id = eos
    settings = GenerationSettings(max_new_tokens=32)
    batch = [prompts[i] for i in rows]
    for engine in ("direct", "speculative"):
        target = DecodeState(eos_model, tok.pad_token_id)
        out = (direct_generate(target, tok, batch, settings, eos_model) if engine == "direct"
               else speculative_generate(target, drafts["good"], tok, batch, settings,
                                         lm_model=eos_model))
        assert out.ids[0] == expected[1][:cut] and out.finish[0] == "eos", engine
        assert out.ids[1:] == [expected[2], expected[3]] and out.finish[1:] == ["length"] * 2
    # a stop string: two decoded characters of row 3's continuation
    text = tok.decode(expected[3], skip_special_tokens=True)
    stop = text[10:12]
    first = text.find(stop)
    settings = GenerationSettings(max_new_tokens=32, stop=(stop,))
    plain = direct_generate(DecodeState(lm, tok.pad_token_id), tok, [prompts[3], prompts[2]],
                            settings, lm)
    fast = speculative_generate(DecodeState(lm, tok.pad_token_id), drafts["poor"], tok,
                                [prompts[3], prompts[2]], settings, lm_model=lm)
    for out in (plain, fast):
        assert out.finish[0] == "stop" and out.texts[0] == text[:first]
        assert stop in tok.decode(out.ids[0]) and stop not in tok.decode(out.ids[0][:-1])
        other = tok.decode(expected[2], skip_special_tokens=True)
        assert out.finish[1] == ("stop" if stop in other else "length")
    assert plain.ids == fast.ids


# ---------------------------------------------------------------- sampling


def _chi_square_ok(observed: Counter, expected_probs: dict[int, float], n: int) -> float:
    stats = pytest.importorskip("scipy.stats")
    keys = [k for k, p in expected_probs.items() if p * n >= 5]
    rest = 1.0 - sum(expected_probs[k] for k in keys)
    obs = [observed.get(k, 0) for k in keys] + [n - sum(observed.get(k, 0) for k in keys)]
    exp = [expected_probs[k] * n for k in keys] + [rest * n]
    if exp[-1] < 1e-6:
        obs, exp = obs[:-1], exp[:-1]
    exp = [e * sum(obs) / sum(exp) for e in exp]  # float rounding: the sums must agree
    return float(stats.chisquare(obs, exp).pvalue)


def first_two_follow_the_lm(lm, prompt: list[int], sampling: Sampling,
                            ids: list[list[int]]) -> float:
    """The p-value of the outputs' first two tokens (``ids``) against the LM's joint
    distribution of them after ``prompt`` (asserts that none falls outside it)."""
    with torch.no_grad():
        p1 = probabilities(lm(torch.tensor([prompt])).logits[0, -1], sampling)
        firsts = p1.nonzero()[:, 0].tolist()
        p2 = probabilities(lm(torch.tensor([[*prompt, t] for t in firsts])).logits[:, -1],
                           sampling)
    joint = {(a, b): float(p1[a] * p2[i, b]) for i, a in enumerate(firsts)
             for b in p2[i].nonzero()[:, 0].tolist()}
    keys = {pair: k for k, pair in enumerate(joint)}
    observed = Counter(keys.get((x[0], x[1]), -1) for x in ids)
    assert observed.get(-1, 0) == 0
    return _chi_square_ok(observed, {keys[pair]: v for pair, v in joint.items()}, len(ids))


def test_accept_reject_rule_keeps_the_target_distribution():
    generator = torch.Generator().manual_seed(0)
    n, vocab, gamma = 20_000, 6, 3
    p = torch.softmax(torch.randn(gamma + 1, vocab, generator=generator) * 1.5, -1)
    q = torch.softmax(torch.randn(gamma, vocab, generator=generator) * 1.5, -1)
    p_b, q_b = p.expand(n, -1, -1), q.expand(n, -1, -1)
    drafts = torch.multinomial(q_b.reshape(-1, vocab), 1, generator=generator).view(n, gamma)
    kept, nxt = accept_sampled(p_b, q_b, drafts, generator)
    first = torch.where(kept > 0, drafts[:, 0], nxt)  # the first emitted token: ~ p_1
    counts = Counter(first.tolist())
    assert _chi_square_ok(counts, dict(enumerate(p[0].tolist())), n) > 1e-3
    # the draft's own distribution is far from p, so the test could fail
    assert 0.5 * (p[0] - q[0]).abs().sum() > 0.15
    # q == p: every draft is kept and the bonus token follows p_{γ+1}
    same = p[:gamma].expand(n, -1, -1)
    drafts = torch.multinomial(same.reshape(-1, vocab), 1, generator=generator).view(n, gamma)
    kept, bonus = accept_sampled(p_b, same, drafts, generator)
    assert bool((kept == gamma).all())
    assert _chi_square_ok(Counter(bonus.tolist()), dict(enumerate(p[gamma].tolist())), n) > 1e-3
    # deterministic drafts (q = δ(d), as across tokenizers), and rows without drafts
    fixed = torch.full((n, gamma), 2)
    kept, nxt = accept_deterministic(p_b, fixed, generator)
    first = torch.where(kept > 0, fixed[:, 0], nxt)
    assert _chi_square_ok(Counter(first.tolist()), dict(enumerate(p[0].tolist())), n) > 1e-3
    kept, nxt = accept_deterministic(p_b, fixed, generator, torch.zeros(n, dtype=torch.long))
    assert not bool(kept.any())
    assert _chi_square_ok(Counter(nxt.tolist()), dict(enumerate(p[0].tolist())), n) > 1e-3
    # a shortlist draft (q over the first 4 ids only): still p
    short = torch.softmax(torch.randn(gamma, 4, generator=generator), -1).expand(n, -1, -1)
    drafts = torch.multinomial(short.reshape(-1, 4), 1, generator=generator).view(n, gamma)
    kept, nxt = accept_sampled(p_b, short, drafts, generator)
    first = torch.where(kept > 0, drafts[:, 0], nxt)
    assert _chi_square_ok(Counter(first.tolist()), dict(enumerate(p[0].tolist())), n) > 1e-3


def test_sampled_speculative_follows_the_lm_distribution(lm, tok):
    """The first two sampled tokens, over many rows of one batch, against the exact joint
    distribution of the LM (warped by temperature and top-k) — the second token is the one
    the accept/reject rule chose."""
    prompt = encode_prompts(tok, ["The patient reports"])[0]
    sampling = Sampling(temperature=1.5, top_k=5)
    n = 1200
    draft = _noisy(lm, 0.03, 3)  # far enough from the LM to be rejected often
    out = speculative_generate(
        DecodeState(lm, tok.pad_token_id), draft, tok, [prompt] * n,
        GenerationSettings(max_new_tokens=3, temperature=1.5, top_k=5, use_eos=False, seed=1),
        SpeculativeSettings(gamma=2, adaptive=False), lm_model=lm)
    assert 0.0 < out.stats.acceptance_rate < 0.9  # drafts are both kept and rejected
    with torch.no_grad():
        p1 = probabilities(lm(torch.tensor([prompt])).logits[0, -1], sampling)
        firsts = p1.nonzero()[:, 0].tolist()
        rows = torch.tensor([[*prompt, t] for t in firsts])
        p2 = probabilities(lm(rows).logits[:, -1], sampling)  # (first tokens, V)
        q2 = probabilities(draft(rows).logits[:, -1], sampling)
    joint = {(a, b): float(p1[a] * p2[i, b]) for i, a in enumerate(firsts)
             for b in p2[i].nonzero()[:, 0].tolist()}
    keys = {pair: k for k, pair in enumerate(joint)}
    observed = Counter(keys.get((ids[0], ids[1]), -1) for ids in out.ids)
    assert observed.get(-1, 0) == 0  # nothing outside the warped support
    assert _chi_square_ok(observed, {keys[pair]: v for pair, v in joint.items()}, n) > 1e-3
    # the draft's own second-token distribution is far from the LM's: the test has power
    tv = sum(float(p1[a]) * 0.5 * float((p2[i] - q2[i]).abs().sum())
             for i, a in enumerate(firsts))
    assert tv > 0.3


# ---------------------------------------------------------------- the LM behind the boundary


def test_remote_lm_gives_the_same_tokens_and_records_each_step(lm, tok, drafts, reference,
                                                               tmp_path):
    from crossbound.models.loading import LoadedModel
    from crossbound.models.registry import get_spec

    prompts, expected = reference
    loaded = LoadedModel(name="wandering", spec=get_spec("tiny-large"), model=lm, tokenizer=tok)
    with Transcript(tmp_path / "t.jsonl") as transcript:
        boundary = Boundary(transcript)
        boundary.attach(ModelParty(loaded))
        target = RemoteTarget(boundary, "data-party-0")
        out = speculative_generate(target, drafts["good"], tok, prompts[:4],
                                   GenerationSettings(max_new_tokens=20),
                                   SpeculativeSettings(gamma=3), lm_model=lm)
        target.close()
        assert out.ids == [e[:20] for e in expected[:4]]
        # greedy verification needs only argmax ids back: no logits crossed
        assert set(boundary.bytes_by_kind) == {"token_ids", "metrics"}
        assert target.requests == out.stats.lm_forward_passes + 1  # + the close
        sampled = RemoteTarget(boundary, "data-party-0")
        proxy_generate(sampled, drafts["good"], lm, tok, prompts[:2],
                       GenerationSettings(max_new_tokens=3, temperature=1.0))
        assert "logits" in boundary.bytes_by_kind
        summary = transcript.summary()
    assert summary["entries"] == boundary.messages


# ---------------------------------------------------------------- proxy-tuning


def _slow_proxy_greedy(lm, tuned, base, prompt: list[int], alpha: float, n: int) -> list[int]:
    """Plainly correct reference: full forwards without caches, one prompt at a time."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            x = torch.tensor([ids])
            logits = lm(x).logits[0, -1] + alpha * (tuned(x).logits[0, -1]
                                                     - base(x).logits[0, -1])
            ids.append(int(logits.argmax()))
    return ids[len(prompt):]


def test_proxy_tuning_is_the_logit_arithmetic(lm, tok, drafts, reference):
    prompts, expected = reference
    tuned, base = drafts["poor"], drafts["useless"]
    prompts, expected = prompts[1:4], expected[1:4]  # a batch of three lengths
    settings = GenerationSettings(max_new_tokens=8, use_eos=False)
    out = proxy_generate(DecodeState(lm, tok.pad_token_id), tuned, base, tok, prompts, settings,
                         alpha=1.5)
    assert out.ids == [_slow_proxy_greedy(lm, tuned, base, p, 1.5, 8) for p in prompts]
    assert out.ids != [e[:8] for e in expected]  # the SMs' difference changed the output
    zero = proxy_generate(DecodeState(lm, tok.pad_token_id), tuned, base, tok, prompts,
                          GenerationSettings(max_new_tokens=8), alpha=0.0, lm_model=lm)
    assert zero.ids == [e[:8] for e in expected]  # α = 0 is the LM alone
    a, b, c = (torch.randn(2, 7) for _ in range(3))
    assert torch.equal(proxy_logits(a, b, torch.cat([c, torch.zeros(2, 1)], -1), 2.0),
                       a + 2.0 * (b - c))


def test_proxy_label_scores_match_choice_logprobs_and_the_arithmetic(lm, tok, drafts):
    tuned, base = drafts["poor"], drafts["useless"]
    prompts = ["Message: chest pain\nAnswer:", "hi", "Message: a rash for two weeks\nAnswer:"]
    choices = ["cardiology", "skin", "x"]
    scores = proxy_choice_scores(lambda: DecodeState(lm, tok.pad_token_id), tuned, base, tok,
                                 prompts, choices, [0.0, 0.7], batch_size=2)
    reference = choice_logprobs(lm, tok, prompts, choices)
    assert torch.allclose(scores["lm"], reference, atol=1e-4)
    assert torch.allclose(scores["proxy@0"], reference, atol=1e-4)
    assert torch.allclose(scores["tuned"], choice_logprobs(tuned, tok, prompts, choices),
                          atol=1e-4)
    # by hand: one full forward per (prompt, label), combined logits, mean label log-prob
    for p, prompt in enumerate(prompts):
        for c, choice in enumerate(choices):
            pre = tok(prompt)["input_ids"]
            label = tok(" " + choice, add_special_tokens=False)["input_ids"]
            x = torch.tensor([pre + label])
            with torch.no_grad():
                logits = lm(x).logits + 0.7 * (tuned(x).logits - base(x).logits)
            logp = torch.log_softmax(logits[0], -1)
            want = sum(float(logp[len(pre) - 1 + j, t]) for j, t in enumerate(label))
            assert scores["proxy@0.7"][p, c] == pytest.approx(want / len(label), abs=1e-4)


def test_proxy_tuning_refuses_mismatched_tokenizers(tmp_path):
    large, other = load_model("tiny-large"), load_model("tiny-other")
    with pytest.raises(ValueError, match="shared tokenizer"):
        check_same_tokenizer(large.tokenizer, other.tokenizer, "proxy-tuning's LM and SM")
    check_same_tokenizer(large.tokenizer, load_model("tiny-small").tokenizer, "a pair")
    from crossbound.runner import run_strategy

    with pytest.raises(ValueError, match="shared tokenizer"):
        run_strategy("proxy-tuning", task="clinic-triage:n=60,seed=0", large="tiny-large",
                     small="tiny-other", out_dir=tmp_path)


# ---------------------------------------------------------------- across tokenizers


def _ascii_only(model, tok):
    """A copy of ``model`` that only emits letters, digits and ' .,' (text that decodes and
    re-encodes to the same bytes, as a real LM's mostly does)."""
    out = copy.deepcopy(model)
    head = torch.nn.Linear(out.lm_head.in_features, out.lm_head.out_features, bias=True)
    pieces = [tok.decode([i]) for i in range(len(tok))]
    ok = torch.tensor([len(p) == 1 and (p.isascii() and (p.isalnum() or p in " .,"))
                       for p in pieces])
    with torch.no_grad():
        head.weight.copy_(out.lm_head.weight)
        head.bias.copy_(torch.where(ok, 0.0, -1e4))
    out.lm_head = head
    return out


def test_cross_tokenizer_speculative_is_lossless(lm, tok):
    texts = PROMPTS[1:4]
    settings = GenerationSettings(max_new_tokens=16)
    other, other_tok = build_tiny("tiny-other")  # Gemma-3, BPE tokenizer
    text_lm = _ascii_only(lm, tok)
    good = _noisy(text_lm, 0.005, 1)
    for big, big_tok, small, small_tok in ((text_lm, tok, other, other_tok),
                                           (other, other_tok, lm, tok),
                                           (text_lm, tok, good, tok)):
        expected = [_hf_greedy(big, big_tok, p, 16) for p in encode_prompts(big_tok, texts)]
        out = cross_speculative_generate(DecodeState(big, big_tok.pad_token_id), big_tok, small,
                                         small_tok, texts, settings, lm_model=big)
        assert out.ids == expected
    # text that round-trips: drafts survive re-tokenisation, so acceptance is as high as
    # drafting in the LM's own tokens
    assert out.stats.acceptance_rate > 0.4 and out.stats.extra["mode"] == "cross-tokenizer"


def test_cross_tokenizer_sampling_follows_the_lm(lm, tok):
    text_lm = _ascii_only(lm, tok)
    draft = _noisy(text_lm, 0.01, 2)
    prompt = "The patient reports"
    sampling = Sampling(temperature=1.0, top_k=4)
    n = 800
    out = cross_speculative_generate(
        DecodeState(text_lm, tok.pad_token_id), tok, draft, tok, [prompt] * n,
        GenerationSettings(max_new_tokens=3, temperature=1.0, top_k=4, use_eos=False, seed=3),
        SpeculativeSettings(gamma=2, adaptive=False), lm_model=text_lm)
    assert 0.0 < out.stats.acceptance_rate < 1.0
    ids = encode_prompts(tok, [prompt])[0]
    assert first_two_follow_the_lm(text_lm, ids, sampling, out.ids) > 1e-3


# ---------------------------------------------------------------- the strategies


def test_speculative_run_reports_identity_speed_and_crossings(tmp_path):
    from crossbound.runner import run_strategy

    result = run_strategy("speculative", task="clinic-triage:n=60,seed=0", large="tiny-large",
                          small="tiny-small", out_dir=tmp_path,
                          config={"limit": "4", "max_new_tokens": "10", "batch_size": "3"})
    utility, eff = result.metrics["utility"], result.metrics["efficiency"]
    assert utility["identical_to_lm"] == 1.0 and utility["prompts"] == 4
    assert eff["speculative"]["new_tokens"] == 4 * 10 == eff["lm_alone"]["new_tokens"]
    assert eff["round_trips"] == eff["speculative"]["lm_forward_passes"] + 2  # + 2 closes
    assert set(eff["bytes_crossed"]["by_kind"]) <= {"token_ids", "metrics"}
    assert result.metrics["privacy"]["private_records_sent"] == 4
    assert result.metrics["privacy"]["pii_crossed"]["occurrences"] > 0  # prompts crossed
    assert (tmp_path / "generations.jsonl").read_text().count("\n") == 4
    across = run_strategy("speculative", task="clinic-triage:n=60,seed=0", large="tiny-large",
                          small="tiny-other", out_dir=tmp_path / "across",
                          config={"limit": "2", "max_new_tokens": "6"})
    assert across.metrics["utility"]["identical_to_lm"] == 1.0
    assert across.metrics["utility"]["tokenizers"] == "different"


def test_proxy_tuning_run_scores_the_lm_the_sms_and_the_proxy(tmp_path):
    from crossbound.runner import run_strategy

    result = run_strategy("proxy-tuning", task="clinic-triage:n=60,seed=0", large="tiny-large",
                          small="tiny-small", out_dir=tmp_path,
                          config={"eval_limit": "4", "train_limit": "8", "alpha": "0",
                                  "alphas": "1", "lm_reference": "true"})
    utility = result.metrics["utility"]
    assert utility["lm_after"] == utility["lm_before"]  # α = 0: the LM alone
    assert set(utility["by_alpha"]) == {"0", "1"} and "lm_finetuned" in utility
    assert utility["eval_examples"] == 4
    assert "logits" in result.metrics["efficiency"]["bytes_crossed"]["by_kind"]
    # a free-text task: proxy-tuned answers, scored by ROUGE-L
    free = run_strategy("proxy-tuning", task="clinic-triage:n=60,seed=0,target=reply",
                        large="tiny-large", small="tiny-small", out_dir=tmp_path / "free",
                        config={"eval_limit": "2", "train_limit": "8", "alpha": "0",
                                "alphas": "", "max_new_tokens": "4"})
    assert free.metrics["utility"]["lm_after"] == free.metrics["utility"]["lm_before"]
    assert "rouge_l" in free.metrics["utility"]["lm_metrics"]
    with pytest.raises(ValueError, match="alphas"):
        from crossbound.inference.proxy_strategy import ProxyTuningConfig

        ProxyTuningConfig(alphas="1,x")


def test_run_generate_for_the_cli(tmp_path):
    from crossbound.inference.generate import read_prompts, run_generate

    (tmp_path / "p.txt").write_text("first\n\nsecond line\n")
    (tmp_path / "p.jsonl").write_text('{"prompt": "a\\nb"}\n')
    assert read_prompts("x", tmp_path / "p.txt") == ["x", "first", "second line"]
    assert read_prompts(None, tmp_path / "p.jsonl") == ["a\nb"]
    with pytest.raises(ValueError, match="--prompt"):
        read_prompts(None, None)

    prompts = ["hello there", "The patient reports chest pain"]
    common = {"large": "tiny-large", "prompts": prompts, "max_new_tokens": 9}
    alone = run_generate("direct", **common)
    fast = run_generate("speculative", small="tiny-small", boundary=True, batch_size=1,
                        **common)
    assert [o["text"] for o in fast["outputs"]] == [o["text"] for o in alone["outputs"]]
    assert fast["stats"]["new_tokens"] == 18 and "acceptance_rate" in fast["stats"]
    assert fast["boundary"]["round_trips"] == fast["stats"]["lm_forward_passes"] + 2
    assert fast["boundary"]["bytes_per_token"] > 0
    tuned = run_generate("proxy-tuning", small="tiny-small", small_base="tiny-small",
                         alpha=3.0, **common)  # tuned == base: the LM alone
    assert [o["text"] for o in tuned["outputs"]] == [o["text"] for o in alone["outputs"]]
    with pytest.raises(ValueError, match="small-base"):
        run_generate("proxy-tuning", small="tiny-small", **common)
    across = run_generate("speculative", small="tiny-other", **common)  # re-tokenised drafts
    assert [o["text"] for o in across["outputs"]] == [o["text"] for o in alone["outputs"]]
    assert across["settings"]["tokenizers"].startswith("different")


def test_speculative_over_http_matches_in_process(tmp_path):
    from crossbound.boundary.http import HttpTransport
    from crossbound.inference.generate import run_generate
    from crossbound.parties.lm_sessions import TOKEN_STEPS
    from crossbound.service.app import Limits, create_app
    from crossbound.service.keys import KeyStore
    from tests.servers import running_server

    key = "key-of-data-party-0-0123456789"
    # A fixed γ: the adaptive one follows measured draft/verify times, so on a loaded machine
    # the two runs drafted differently and crossed different bytes (3025 against 2530).
    common = {"large": "tiny-large", "small": "tiny-small", "max_new_tokens": 8,
              "prompts": ["hello there", "The patient reports chest pain"], "adaptive": False}
    local = run_generate("speculative", boundary=True, **common)
    with Transcript(tmp_path / "server.jsonl") as transcript:
        app = create_app(load_model("tiny-large"), KeyStore.from_keys({"data-party-0": key}),
                         TOKEN_STEPS, transcript, Limits())
        with running_server(app) as url:
            remote = run_generate("speculative", remote=HttpTransport(url, key), **common)
        served = transcript.summary()["entries"]
    assert remote["outputs"] == local["outputs"]
    assert remote["boundary"]["transport"] == "http"
    for key_ in ("bytes", "round_trips", "bytes_per_token"):
        assert remote["boundary"][key_] == local["boundary"][key_]
    assert served == remote["boundary"]["messages"]  # the server recorded every crossing


# ---------------------------------------------------------------- the real pair


@pytest.mark.real
def test_real_pair_greedy_speculative_equals_smollm2_alone():
    # A 24-of-30-block copy drafts: it is built in seconds and both accepts and rejects
    # (the distilled smollm2-135m-draft takes most of an hour to build on a fresh machine).
    lm, draft = load_model("smollm2-135m"), load_model("smollm2-135m:layers=24")
    tok = lm.tokenizer
    texts = ["What is the capital of France?",
             "Route this message to a department: my chest hurts when I climb stairs."]
    prompts = encode_prompts(tok, texts, chat=True)  # a batch of two prompt lengths
    expected = [_hf_greedy(lm.model, tok, p, 16) for p in prompts]  # ends at EOS too
    out = speculative_generate(DecodeState(lm.model, tok.pad_token_id), draft.model, tok,
                               prompts, GenerationSettings(max_new_tokens=16),
                               SpeculativeSettings(gamma=3, adaptive=False), lm_model=lm.model)
    assert out.ids == expected
    assert out.stats.accepted > 0 and out.stats.rejections > 0
