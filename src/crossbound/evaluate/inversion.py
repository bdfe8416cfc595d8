"""Inversion of hidden-state messages: which private tokens does a split-inference message reveal?

In split inference the data party runs the first ``L`` blocks of a model and sends their output
``(B, T, d)`` across the boundary. The model party shipped those blocks, so it can run them on
public text as often as it likes and learn to map activations back to tokens; then it applies
that map to the private messages. These are plain functions of (model, texts); they know nothing
of the strategy that produced the messages.

Attacks (:mod:`crossbound.evaluate.inverters`, weakest to strongest): ``nearest`` (the
cosine-nearest input embedding, no training), ``linear`` (ridge regression to the token's
embedding) and ``mlp`` (a two-layer MLP, the learned decoder of split-learning inversion
attacks). The hidden states come from :mod:`crossbound.evaluate.hidden_states`.

Either inverter can read the neighbours' hidden states too (``context=True``: ``h_{t-1}, h_t,
h_{t+1}`` of the same message), as a message carries the whole sequence. Measured on SmolLM2 it
did not help the MLP (fewer tokens recovered at layers 6 and 15), so it is off by default.

:func:`inversion_attack` runs one attack end to end, with optional activation noise on the
private messages (:mod:`crossbound.privacy.activation_noise`): ``token_recovery`` is the share of
private tokens recovered exactly, ``word_recovery`` the same over word-like tokens (alphabetic,
three or more characters: names, symptoms, streets). :func:`collect_activations` and
:func:`attack_activations` split the work so that one forward pass serves many attacks.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from crossbound.evaluate.hidden_states import (
    Activations,
    check_layer,
    check_texts,
    collect_activations,
    context_features,
    num_blocks,
)
from crossbound.evaluate.inverters import LinearInverter, MLPInverter, nearest_embedding
from crossbound.privacy.activation_noise import add_activation_noise, mean_dim_std

Method = Literal["nearest", "linear", "mlp"]
METHODS: tuple[str, ...] = ("nearest", "linear", "mlp")


# --------------------------------------------------------------------------- scoring


def word_mask(tokenizer: Any, ids: Tensor) -> Tensor:
    """``(N,)`` bool: tokens whose text (stripped) is alphabetic and at least 3 characters."""
    uniq, inv = torch.unique(ids, return_inverse=True)
    flags = []
    for i in uniq.tolist():
        piece = tokenizer.decode([i]).strip()
        flags.append(len(piece) >= 3 and piece.isalpha())
    return torch.tensor(flags, dtype=torch.bool)[inv] if flags else ids.new_zeros(0).bool()


def recovery_scores(tokenizer: Any, predicted: Tensor, ids: Tensor) -> dict[str, Any]:
    """Exact-recovery rates of ``predicted`` against the true ``ids`` (both ``(N,)``).

    Special tokens (BOS and the like, which reveal nothing) are not scored.
    """
    if predicted.shape != ids.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and ids {tuple(ids.shape)} differ")
    special = torch.tensor(sorted(set(getattr(tokenizer, "all_special_ids", []))),
                           dtype=torch.long)
    scored = ~torch.isin(ids, special)
    words = word_mask(tokenizer, ids) & scored
    hit = predicted == ids
    n_tok, n_word = int(scored.sum()), int(words.sum())
    return {
        "token_recovery": float(hit[scored].double().mean()) if n_tok else None,
        "word_recovery": float(hit[words].double().mean()) if n_word else None,
        "tokens": n_tok,
        "word_tokens": n_word,
        "tokens_recovered": int(hit[scored].sum()),
        "words_recovered": int(hit[words].sum()),
    }


# --------------------------------------------------------------------------- the attack


def attack_activations(
    public: Activations,
    private: Activations,
    layer: int,
    embeddings: Tensor,
    tokenizer: Any,
    method: Method = "linear",
    *,
    noise_std: float = 0.0,
    noise_aware: bool = False,
    context: bool = False,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    keep_predictions: bool = False,
) -> dict[str, Any]:
    """Fit ``method`` on public activations at ``layer``, invert the (noised) private ones.

    ``noise_std`` is added to the private hidden states (the activation-noise mechanism);
    with ``noise_aware`` the attacker also trains on public activations noised alike (fresh
    noise every batch for the MLP; one noisy copy for the ridge fit, which measured no better
    than training on clean activations). ``options`` go to the inverter's constructor
    (``alpha``; ``steps``, ``head`` ...). ``keep_predictions`` adds ``predicted``: the guessed
    ids, one list per private text.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if layer not in public.hidden or layer not in private.hidden:
        raise ValueError(f"layer {layer} was not collected (have public "
                         f"{sorted(public.hidden)}, private {sorted(private.hidden)})")
    if method == "nearest" and (context or options):
        raise ValueError("the nearest-embedding attack trains nothing: it takes no context "
                         "features and no options")
    started = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    clean = private.hidden[layer]  # (N, d)
    observed = add_activation_noise(clean, noise_std, gen)  # what crossed the boundary
    train = public.hidden[layer]  # (M, d)
    opts = dict(options or {})
    if noise_aware and noise_std > 0:
        if method == "mlp":
            opts.setdefault("train_noise_std", noise_std)  # fresh noise every batch
        else:
            train = add_activation_noise(train, noise_std, gen)
    if context:
        train = context_features(train, public.lengths)
        observed = context_features(observed, private.lengths)
    fit_started = time.perf_counter()
    inverter: LinearInverter | MLPInverter | None = None
    if method == "linear":
        inverter = LinearInverter(embeddings, **opts).fit(train, public.ids)
    elif method == "mlp":
        inverter = MLPInverter(embeddings, seed=seed, **opts).fit(train, public.ids)
    fit_seconds = time.perf_counter() - fit_started
    predict_started = time.perf_counter()
    if inverter is None:
        predicted = nearest_embedding(observed, embeddings)
    else:
        predicted = inverter.predict(observed)
    predict_seconds = time.perf_counter() - predict_started

    scores = recovery_scores(tokenizer, predicted, private.ids)
    public_vocab = torch.unique(public.ids)
    top = torch.mode(public.ids).values
    scores.update({
        "layer": layer,
        "method": method,
        "context": context,
        "noise_std": float(noise_std),
        "noise_aware": bool(noise_aware and noise_std > 0),
        "activation_std": mean_dim_std(clean),  # mean per-dimension std of the clean messages
        # The share of private tokens that occur in the public text (a softmax over public
        # tokens cannot do better), and the guess-the-commonest-public-token baseline.
        "in_public_vocab": float(torch.isin(private.ids, public_vocab).double().mean()),
        "most_frequent_baseline": float((private.ids == top).double().mean()),
        "public_tokens": len(public),
        "options": dict(opts),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "seconds": time.perf_counter() - started,
    })
    if keep_predictions:
        bounds = torch.cumsum(torch.tensor([0, *private.lengths]), 0).tolist()
        flat = predicted.tolist()
        scores["predicted"] = [flat[a:b] for a, b in itertools.pairwise(bounds)]
    if isinstance(inverter, MLPInverter) and inverter.losses:
        scores["final_train_loss"] = sum(inverter.losses[-20:]) / len(inverter.losses[-20:])
    return scores


def inversion_attack(
    model: Any,
    tokenizer: Any,
    public_texts: Sequence[str],
    private_texts: Sequence[str],
    layer: int,
    method: Method = "linear",
    noise_std: float = 0.0,
    seed: int = 0,
    *,
    noise_aware: bool = False,
    context: bool = False,
    max_length: int = 128,
    batch_size: int = 8,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train an inverter on public activations at ``layer``; attack the private texts' messages.

    Returns ``token_recovery`` (share of private tokens recovered exactly), ``word_recovery``
    (the same over alphabetic tokens of >= 3 characters; None if there are none), counts,
    layer, method, noise and timings (``collect_seconds`` for the forward passes, ``seconds``
    for the attack itself, ``total_seconds`` for both). See :func:`attack_activations`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    check_layer(layer, num_blocks(model))
    public_texts = check_texts(public_texts, "public_texts")
    private_texts = check_texts(private_texts, "private_texts")
    add_activation_noise(torch.zeros(1), noise_std)  # validates noise_std before any work
    started = time.perf_counter()
    public = collect_activations(model, tokenizer, public_texts, [layer],
                                 max_length=max_length, batch_size=batch_size)
    private = collect_activations(model, tokenizer, private_texts, [layer],
                                  max_length=max_length, batch_size=batch_size)
    collect_seconds = time.perf_counter() - started
    embeddings = model.get_input_embeddings().weight.detach()  # (V, d)
    result = attack_activations(public, private, layer, embeddings, tokenizer, method,
                                noise_std=noise_std, noise_aware=noise_aware, context=context,
                                seed=seed, options=options)
    result["collect_seconds"] = collect_seconds
    result["total_seconds"] = time.perf_counter() - started
    return result
