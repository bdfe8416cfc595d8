"""Token-level metric-DP perturbation and the reconstruction attacks (tiny models, offline)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from crossbound.evaluate.reconstruction import (
    BayesAttack,
    IdentityAttack,
    LMAttack,
    NearestAttack,
    log_prior,
    public_counts,
    reconstruction_curve,
    recovery_rate,
)
from crossbound.models.tiny import build_tiny
from crossbound.privacy.token_dp import NO_CLASS, PerturbedText, TokenPerturber

TEXTS = [
    "Hello, my name is Omar Ionescu and I have chest pain since yesterday.",
    "Please call me back at 555 0162 about my appointment.",
    "The rash on my arm has lasted two weeks and it itches.",
]


class ToyTokenizer:
    """Five tokens, no specials: enough for the mechanism's maths."""

    all_special_ids: tuple[int, ...] = ()

    def __len__(self) -> int:
        return 5

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return ["a", "b", "c", "d", "e"][: len(ids)]


TOY = torch.tensor([[0.0, 1.0], [0.3, 0.9], [1.0, 0.0], [0.7, 0.7], [-1.0, 0.2]])  # (5, 2)


def reference_probs(x: int, eps: float) -> torch.Tensor:
    """P(y | x) ∝ exp(-ε·||u_x - u_y|| / 2) over unit-normalised rows, written out plainly."""
    u = TOY.double() / TOY.double().norm(dim=1, keepdim=True)
    weights = torch.tensor([math.exp(-eps * float((u[x] - u[y]).norm()) / 2) for y in range(5)],
                           dtype=torch.float64)
    return weights / weights.sum()


@pytest.fixture(scope="module")
def tiny() -> tuple:
    return build_tiny("tiny-large")


@pytest.fixture(scope="module")
def tiny_small() -> tuple:
    return build_tiny("tiny-small")


def perturber(model_tok: tuple, eps: float, **kw) -> TokenPerturber:
    model, tok = model_tok
    return TokenPerturber(model.get_input_embeddings().weight, tok, eps, **kw)


@pytest.mark.parametrize("eps", [0.5, 3.0, 8.0])
def test_probabilities_are_the_exponential_mechanism(eps):
    p = TokenPerturber(TOY, ToyTokenizer(), eps)
    for x in range(5):
        ids, probs = p.probabilities(x)
        assert ids.tolist() == list(range(5))
        torch.testing.assert_close(probs, reference_probs(x, eps), atol=1e-6, rtol=1e-5)


def test_empirical_frequencies_match_the_mechanism():
    eps, n = 4.0, 200_000
    p = TokenPerturber(TOY, ToyTokenizer(), eps, seed=7)
    for x in (0, 2):
        out = p.perturb_ids([[x] * n])[0]
        counts = Counter(out)
        freq = torch.tensor([counts[y] / n for y in range(5)], dtype=torch.float64)
        expected = reference_probs(x, eps)
        assert (freq - expected).abs().max() < 0.005  # ~4.5 standard errors at p = 0.5
        chi2 = float(((freq - expected) ** 2 / expected).sum() * n)
        assert chi2 < 20.0  # 4 degrees of freedom: P(chi2 > 20) < 0.001


def test_huge_epsilon_keeps_the_text(tiny_small):
    for eps in (math.inf, 1e6):
        p = perturber(tiny_small, eps)
        assert p.perturb_batch(TEXTS) == TEXTS
        assert p.expected_keep_rate() == pytest.approx(1.0)


def test_tiny_epsilon_is_uniform_over_candidates(tiny_small):
    p = TokenPerturber(TOY, ToyTokenizer(), 1e-9, seed=1)
    out = Counter(p.perturb_ids([[0] * 50_000])[0])
    assert max(abs(out[y] / 50_000 - 0.2) for y in range(5)) < 0.01
    byte = perturber(tiny_small, 0.0)
    ids, probs = byte.probabilities(byte.encode("a")[0])
    members = byte.metric.classes[ids] != NO_CLASS
    assert int(members.sum()) == 256  # every byte, no special token
    torch.testing.assert_close(probs[members], torch.full((256,), 1 / 256, dtype=torch.float64))
    assert float(probs[~members].sum()) == 0.0
    top = perturber(tiny_small, 0.0, candidates=8)
    ids, probs = top.probabilities(top.encode("a")[0])
    assert len(ids) == 8 and torch.allclose(probs, torch.full((8,), 1 / 8, dtype=torch.float64))


def test_top_k_outputs_stay_among_the_k_nearest(tiny_small):
    p = perturber(tiny_small, 1.0, candidates=4, seed=3)
    ids = p.encode(TEXTS[0])
    out = p.perturb_ids([ids] * 20)
    near = p.metric.nearest(torch.tensor(ids), 4)[0]  # (n, 4)
    for seq in out:
        assert all(y in near[i].tolist() for i, y in enumerate(seq))


def test_protected_tokens_never_change_nor_appear(tiny_small):
    _, tok = tiny_small
    keep = set(tok.all_special_ids) | {tok.convert_tokens_to_ids("a")}
    p = perturber(tiny_small, 0.0, protect=keep, seed=5)
    text = "<|im_start|>a banana, a cat<|im_end|>"
    ids = p.encode(text)
    assert set(ids) & keep
    for seq in p.perturb_ids([ids] * 50):
        for x, y in zip(ids, seq, strict=True):
            assert (y == x) if x in keep else (y not in keep)


def test_seeded_runs_repeat_and_seeds_differ(tiny_small):
    a = perturber(tiny_small, 2.0, seed=11).perturb_batch(TEXTS)
    b = perturber(tiny_small, 2.0, seed=11).perturb_batch(TEXTS)
    c = perturber(tiny_small, 2.0, seed=12).perturb_batch(TEXTS)
    assert a == b and a != c
    base = perturber(tiny_small, 2.0, seed=11)
    assert base.with_epsilon(2.0).perturb_batch(TEXTS) == a  # shares the metric, same seed


def test_expected_keep_rate_matches_the_observed_one(tiny_small):
    p = perturber(tiny_small, 12.0, seed=2)
    ids = [p.encode(t) for t in TEXTS] * 40
    observed = recovery_rate(ids, p.perturb_ids(ids), aligned=True)
    expected = p.expected_keep_rate(token_ids=[i for seq in ids for i in seq])
    assert 0.05 < expected < 0.95 and abs(observed - expected) < 0.03
    assert p.expected_keep_rate(epsilon=1.0) < p.expected_keep_rate(epsilon=30.0)


def test_planned_normalisers_equal_single_ones(tiny_small):
    alone = perturber(tiny_small, 5.0)
    planned = perturber(tiny_small, 5.0)
    planned.metric.planned |= {1.0, 5.0, 20.0}
    ids = torch.arange(4, 260)
    torch.testing.assert_close(alone.metric.log_normalizer(ids, 5.0),
                               planned.metric.log_normalizer(ids, 5.0))
    torch.testing.assert_close(alone.metric.log_normalizer(ids, 20.0),
                               planned.metric.log_normalizer(ids, 20.0))


def test_wordpiece_pieces_stay_in_their_class():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[unused0]", "the", "pain", "chest", "om",
             "##ar", "##an", "call", "me", "back", ",", "."]
    core = Tokenizer(models.WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.decoder = decoders.WordPiece()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]",
                                  cls_token="[CLS]", sep_token="[SEP]")
    emb = torch.randn(len(words), 8, generator=torch.Generator().manual_seed(0))
    p = TokenPerturber(emb, tok, 0.0, seed=0)
    classes = p.metric.classes
    assert classes[[0, 1, 2, 3, 4]].tolist() == [NO_CLASS] * 5  # specials and [unused0]
    assert classes[words.index("##ar")] == 1 and classes[words.index("the")] == 0
    ids = p.encode("Omar, call me back")
    cont = {i for i, w in enumerate(words) if w.startswith("##")}
    for seq in p.perturb_ids([ids] * 30):
        for x, y in zip(ids, seq, strict=True):
            assert (x in cont) == (y in cont) and classes[y] != NO_CLASS
    assert TokenPerturber(emb, tok, math.inf).perturb("Omar, call me back") == "omar, call me back"


def test_perturbed_text_wraps_a_transform(tiny_small):
    p = perturber(tiny_small, math.inf)
    shout = PerturbedText(p, inner=lambda texts: [t.upper() for t in texts])
    assert shout(TEXTS) == [t.upper() for t in TEXTS]
    assert shout.describe()["epsilon"] == math.inf and shout.name.startswith("token-dp")
    noisy = PerturbedText(perturber(tiny_small, 0.0))
    out = noisy(TEXTS)
    assert len(out) == len(TEXTS) and out != TEXTS


@pytest.mark.parametrize("candidates", ["all", 3])
def test_bayes_attack_is_the_posterior_argmax(candidates):
    p = TokenPerturber(TOY, ToyTokenizer(), 3.0, candidates=candidates)
    prior = torch.log(torch.tensor([0.5, 0.2, 0.1, 0.1, 0.1], dtype=torch.float64))
    table = torch.zeros((5, 5), dtype=torch.float64)  # (x, y) = P(y | x)
    for x in range(5):
        ids, probs = p.probabilities(x)
        table[x, ids] = probs
    for log_p, attack in ((torch.zeros(5, dtype=torch.float64), BayesAttack(None, k=5)),
                          (prior, BayesAttack(prior, k=5))):
        guesses = attack.reconstruct(p, [list(range(5))])[0]
        expected = (table.log() + log_p[:, None]).argmax(0).tolist()  # per observed y
        assert guesses == expected


def lm_reference(model, p: TokenPerturber, attack: LMAttack, observed: list[int]) -> list[int]:
    """Greedy reconstruction, one full forward per position and full log-softmax: the slow way.

    Candidates come from the attack's table (k) or are the whole vocabulary (k=None), with
    log P(y | x) read off the mechanism's exact probabilities.
    """
    if attack.k is None:
        table = torch.zeros((p.metric.size, p.metric.size), dtype=torch.float64)  # (x, y)
        for x in range(p.metric.size):
            ids, probs = p.probabilities(x)
            table[x, ids] = probs
        cand = torch.arange(p.metric.size)[None, :].expand(len(observed), -1)
        loglik = table[:, observed].T.log()  # (T, V)
    else:
        cand, loglik = attack._table(p, torch.tensor(observed))
    chosen = [p.tokenizer.eos_token_id]
    for t in range(len(observed)):
        logp = torch.log_softmax(model(input_ids=torch.tensor([chosen])).logits[0, -1], -1)
        score = loglik[t] + attack.lm_weight * logp[cand[t]].double()
        chosen.append(int(cand[t][score.argmax()]))
    return chosen[1:]


@pytest.mark.slow
@pytest.mark.parametrize("k", [6, None])
@torch.no_grad()
def test_lm_attack_matches_the_slow_reference(tiny_small, k):
    model, _ = tiny_small
    p = perturber(tiny_small, 1.0, seed=4)  # a flat likelihood, so the LM decides
    ids = [p.encode(t)[:n] for t, n in zip(TEXTS, (25, 18, 30), strict=True)]
    ids[1][3] = p.tokenizer.convert_tokens_to_ids("<|im_start|>")  # a protected token
    observed = [*p.perturb_ids(ids), []]
    attack = LMAttack(model, k=k, pool=12, batch_size=2, lm_weight=20.0)  # batches of 2, 2
    fast = attack.reconstruct(p, observed)
    assert fast == [lm_reference(model, p, attack, seq) for seq in observed]
    assert fast[1][3] == observed[1][3] and fast[-1] == []
    blind = LMAttack(model, k=k, pool=12, lm_weight=0.0).reconstruct(p, observed)
    assert blind != fast  # the LM's scores did change choices


@pytest.mark.slow
def test_attacks_recover_more_at_large_epsilon(tiny, tiny_small):
    base = perturber(tiny, 1.0, seed=0)
    counts = public_counts(base, TEXTS * 3 + ["the patient says hello"])
    attacks = [IdentityAttack(), NearestAttack(torch.nonzero(counts).flatten()),
               BayesAttack(None, k=16), BayesAttack(log_prior(base, counts), k=16),
               LMAttack(tiny_small[0], k=4, pool=16), LMAttack(tiny_small[0], k=None)]
    for observe in ("text", "ids"):
        rows = reconstruction_curve(base.with_epsilon, TEXTS, [0.5, 40.0], attacks,
                                    observe=observe)
        low, high = rows
        assert low["keep_rate"] < 0.2 < 0.9 < high["keep_rate"]
        for attack in attacks:
            assert low["recovery"][attack.name] < high["recovery"][attack.name]
        assert set(low["recovery"]) == {"identity", "nearest", "bayes-uniform", "bayes-prior",
                                        "lm", "lm-full"}


@pytest.mark.real
def test_minilm_wordpiece_vocabulary():
    from crossbound.models import load_model

    enc = load_model("minilm-l6")
    p = TokenPerturber(enc.model.get_input_embeddings().weight, enc.tokenizer, 30.0, seed=0)
    tok = enc.tokenizer
    classes = p.metric.classes
    for special in (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id):
        assert classes[special] == NO_CLASS
    assert classes[tok.convert_tokens_to_ids("[unused5]")] == NO_CLASS
    assert classes[tok.convert_tokens_to_ids("##ing")] == 1
    text = "Omar Ionescu reports chest pain."
    assert p.with_epsilon(math.inf).perturb(text) == tok.decode(p.encode(text))
    # At a small ε almost no token survives (a keep rate near 1/V), yet the sequence keeps its
    # length and each position its class (a word stays a word, a ##piece a ##piece).
    loose = p.with_epsilon(1.0)
    ids = loose.encode(text)
    out = loose.perturb_ids([ids])[0]
    assert len(out) == len(ids)
    assert classes[torch.tensor(out)].tolist() == classes[torch.tensor(ids)].tolist()
    changed = sum(x != y for x, y in zip(ids, out, strict=True))
    assert loose.expected_keep_rate(token_ids=ids) < 0.05
    assert changed >= len(ids) // 2
    assert loose.perturb(text) != tok.decode(ids)
