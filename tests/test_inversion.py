"""Inversion of hidden-state messages and activation noise (tiny models, offline, seconds)."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch

from crossbound.evaluate.hidden_states import (
    Activations,
    collect_activations,
    collect_hidden,
    context_features,
    num_blocks,
)
from crossbound.evaluate.inversion import (
    attack_activations,
    inversion_attack,
    recovery_scores,
    word_mask,
)
from crossbound.evaluate.inverters import LinearInverter, MLPInverter, nearest_embedding
from crossbound.models.tiny import build_tiny
from crossbound.privacy.activation_noise import add_activation_noise, mean_dim_std

PUBLIC = [
    "The council said the new bridge would open to traffic next week after repairs.",
    "Heavy rain is expected across the state tomorrow, with flooding in low areas.",
    "The minister told reporters that talks with the union would continue on Monday.",
    "Police are asking witnesses of the crash on the highway to come forward.",
    "Shares in the mining company rose sharply after a strong quarterly report.",
    "the quick brown fox jumps over the lazy dog while the cat sleeps in the sun.",
]
PRIVATE = [
    "Hello, my name is Omar Ionescu and I have chest pain since yesterday.",
    "Please call me back about my appointment, the rash has lasted two weeks.",
    "I feel dizzy when I stand up and my left knee is swollen and stiff.",
]


@pytest.fixture(scope="module")
def tiny() -> tuple:
    return build_tiny("tiny-large")


@pytest.fixture(scope="module")
def acts(tiny) -> tuple[Activations, Activations]:
    model, tok = tiny
    layers = list(range(num_blocks(model) + 1))
    return (collect_activations(model, tok, PUBLIC, layers),
            collect_activations(model, tok, PRIVATE, layers))


def _embeddings(model) -> torch.Tensor:
    return model.get_input_embeddings().weight.detach()


# ------------------------------------------------------------------ collecting hidden states


@pytest.mark.parametrize("name", ["tiny-large", "tiny-other"])
def test_collect_hidden_matches_the_full_forward_pass(name):
    model, tok = build_tiny(name)
    texts = PRIVATE[:2]
    full = []
    for text in texts:  # each text alone, unpadded, every block run
        with torch.no_grad():
            full.append(model.get_decoder()(**tok(text, return_tensors="pt"),
                                            output_hidden_states=True).hidden_states)
    for layer in range(num_blocks(model) + 1):
        hidden, ids = collect_hidden(model, tok, texts, layer, batch_size=2)
        assert hidden.dtype == torch.float32 and ids.dtype == torch.int64
        assert hidden.shape == (len(ids), model.config.hidden_size)
        assert ids.tolist() == [i for t in texts for i in tok(t)["input_ids"]]
        expected = torch.cat([states[layer][0] for states in full])
        torch.testing.assert_close(hidden, expected, atol=1e-5, rtol=1e-4)


def test_collect_keeps_text_order_and_truncates(tiny):
    model, tok = tiny
    texts = ["a much longer text than the other one", "short", ""]
    acts = collect_activations(model, tok, texts, [0, 2], max_length=10, batch_size=1)
    assert acts.lengths == [10, 5, 0]
    assert acts.ids.tolist() == tok(texts[0])["input_ids"][:10] + tok("short")["input_ids"]
    assert set(acts.hidden) == {0, 2} and acts.hidden[2].shape == (15, model.config.hidden_size)


def test_context_features_stay_inside_each_text():
    hidden = torch.arange(1.0, 6.0)[:, None]  # (5, 1): texts [1, 2, 3] and [4, 5]
    feats = context_features(hidden, [3, 2])
    assert feats.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 0], [0, 4, 5], [4, 5, 0]]
    with pytest.raises(ValueError, match="lengths"):
        context_features(hidden, [3, 3])


# ------------------------------------------------------------------ attacks


def test_layer_zero_nearest_embedding_recovers_everything(tiny):
    model, tok = tiny
    result = inversion_attack(model, tok, PUBLIC, PRIVATE, 0, "nearest")
    assert result["token_recovery"] == 1.0
    assert result["tokens"] == sum(len(tok(t)["input_ids"]) for t in PRIVATE)
    assert {"word_recovery", "layer", "method", "seconds", "collect_seconds"} <= set(result)
    # Gemma-3 scales its embedding output by sqrt(d): cosine does not care.
    other_model, other_tok = build_tiny("tiny-other")
    assert inversion_attack(other_model, other_tok, PUBLIC, PRIVATE, 0,
                            "nearest")["token_recovery"] == 1.0


def test_linear_inverter_beats_chance_and_names_unseen_tokens(tiny, acts):
    model, tok = tiny
    public, private = acts
    result = attack_activations(public, private, 1, _embeddings(model), tok, "linear")
    chance = 1 / model.config.vocab_size
    assert result["token_recovery"] > max(0.5, 10 * chance, 2 * result["most_frequent_baseline"])
    # Decoding is over the whole vocabulary: private tokens that never occur in public text
    # (capitals, commas ...) are recovered too.
    inverter = LinearInverter(_embeddings(model)).fit(public.hidden[1], public.ids)
    predicted = inverter.predict(private.hidden[1])
    unseen = ~torch.isin(private.ids, public.ids)
    assert unseen.any()
    assert (predicted[unseen] == private.ids[unseen]).double().mean() > 0.5


@pytest.mark.parametrize("head", ["tied", "logits"])
def test_mlp_inverter_learns(tiny, acts, head):
    model, tok = tiny
    public, private = acts
    inverter = MLPInverter(_embeddings(model), hidden_size=32, steps=30, batch_size=64,
                           lr=3e-3, head=head).fit(public.hidden[2], public.ids)
    assert len(inverter.losses) == 30
    if head == "logits":  # trained from scratch (the tied head starts at the ridge solution)
        assert inverter.losses[-1] < inverter.losses[0]
    predicted = inverter.predict(private.hidden[2])
    assert predicted.shape == private.ids.shape
    scores = recovery_scores(tok, predicted, private.ids)
    assert scores["token_recovery"] > 0.5
    if head == "logits":  # a softmax over public tokens names only public tokens
        assert torch.isin(predicted, public.ids).all()


def test_huge_activation_noise_drives_recovery_to_chance(tiny, acts):
    model, tok = tiny
    public, private = acts
    for method in ("nearest", "linear"):
        result = attack_activations(public, private, 1, _embeddings(model), tok, method,
                                    noise_std=1e4, seed=3)
        assert result["token_recovery"] < 0.05, method
        assert result["noise_std"] == 1e4


def test_context_features_flow_through_the_attack(tiny, acts):
    model, tok = tiny
    public, private = acts
    std = 0.2 * mean_dim_std(private.hidden[2])
    result = attack_activations(public, private, 2, _embeddings(model), tok, "linear",
                                context=True, noise_std=std, noise_aware=True)
    assert result["context"] and result["noise_aware"] and result["token_recovery"] > 0.5


def test_nearest_embedding_shapes():
    table = torch.eye(4)  # (V=4, d=4)
    hidden = torch.tensor([[0.0, 2.0, 0.1, 0.0], [-1.0, 0.0, 0.0, 0.2]])
    assert nearest_embedding(hidden, table, chunk=1).tolist() == [1, 3]
    with pytest.raises(ValueError, match="same d"):
        nearest_embedding(torch.zeros(2, 3), table)


# ------------------------------------------------------------------ scoring


class WordTokenizer:
    all_special_ids = (0,)
    pieces: ClassVar[dict[int, str]] = {
        0: "<s>", 1: " the", 2: " Omar", 3: "   ", 4: "ab", 5: "123", 6: " chest"}

    def decode(self, ids: list[int]) -> str:
        return "".join(self.pieces[i] for i in ids)


def test_word_recovery_counts_alphabetic_tokens_of_three_or_more_characters():
    tok = WordTokenizer()
    ids = torch.tensor([0, 1, 2, 3, 4, 5, 6, 2])
    assert word_mask(tok, ids).tolist() == [False, True, True, False, False, False, True, True]
    guess = torch.tensor([0, 1, 9, 3, 9, 5, 6, 2])
    scores = recovery_scores(tok, guess, ids)
    assert scores["tokens"] == 7  # the special token is not scored
    assert scores["token_recovery"] == pytest.approx(5 / 7)
    assert scores["word_tokens"] == 4 and scores["word_recovery"] == pytest.approx(3 / 4)
    assert recovery_scores(tok, torch.tensor([3]), torch.tensor([3]))["word_recovery"] is None


# ------------------------------------------------------------------ validation


def test_inversion_attack_validates_its_inputs(tiny, acts):
    model, tok = tiny
    top = num_blocks(model)
    with pytest.raises(ValueError, match=rf"layer must be an integer in 0\.\.{top}"):
        inversion_attack(model, tok, PUBLIC, PRIVATE, top + 1)
    with pytest.raises(ValueError, match="layer must be"):
        inversion_attack(model, tok, PUBLIC, PRIVATE, -1)
    with pytest.raises(ValueError, match="public_texts is empty"):
        inversion_attack(model, tok, [], PRIVATE, 1)
    with pytest.raises(ValueError, match="private_texts is empty"):
        inversion_attack(model, tok, PUBLIC, [], 1)
    with pytest.raises(TypeError, match="not one string"):
        inversion_attack(model, tok, PUBLIC, "one private text", 1)
    with pytest.raises(ValueError, match="unknown method"):
        inversion_attack(model, tok, PUBLIC, PRIVATE, 1, "magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="noise std"):
        inversion_attack(model, tok, PUBLIC, PRIVATE, 1, noise_std=-1.0)
    with pytest.raises(ValueError, match="no text has any token"):
        collect_hidden(model, tok, ["", ""], 1)
    public, private = acts
    with pytest.raises(ValueError, match="trains nothing"):
        attack_activations(public, private, 1, _embeddings(model), tok, "nearest", context=True)
    with pytest.raises(ValueError, match="was not collected"):
        attack_activations(public, private, top + 5, _embeddings(model), tok)
    with pytest.raises(RuntimeError, match="fit"):
        LinearInverter(_embeddings(model)).predict(private.hidden[1])


# ------------------------------------------------------------------ the noise mechanism


def test_add_activation_noise():
    hidden = torch.zeros(2, 3, 4)  # (B, T, d)
    same = add_activation_noise(hidden, 0.0)
    assert torch.equal(same, hidden) and same is not hidden
    a = add_activation_noise(hidden, 2.0, torch.Generator().manual_seed(1))
    b = add_activation_noise(hidden, 2.0, torch.Generator().manual_seed(1))
    assert a.shape == hidden.shape and a.dtype == hidden.dtype and torch.equal(a, b)
    big = add_activation_noise(torch.zeros(20_000), 2.0, torch.Generator().manual_seed(0))
    assert big.std().item() == pytest.approx(2.0, rel=0.05)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number >= 0"):
            add_activation_noise(hidden, bad)
    with pytest.raises(TypeError, match="floating-point"):
        add_activation_noise(torch.zeros(3, dtype=torch.long), 1.0)


def test_mean_dim_std():
    hidden = torch.stack([torch.tensor([0.0, 10.0]), torch.tensor([2.0, 10.0])])  # (2, 2)
    assert mean_dim_std(hidden) == pytest.approx((2**0.5 + 0.0) / 2)
    with pytest.raises(ValueError, match="at least two"):
        mean_dim_std(torch.zeros(1, 4))
