"""Inversion of hidden-state messages: which private tokens does a split-inference message reveal?

In split inference the data party runs the first ``L`` blocks of a model and sends their output
``(B, T, d)`` across the boundary. The model party shipped those blocks, so it can run them on
public text as often as it likes and learn to map activations back to tokens; then it applies
that map to the private messages. These are plain functions of (model, texts); they know nothing
of the strategy that produced the messages.

Attacks, weakest to strongest (each returns one predicted token id per hidden-state row):

* :func:`nearest_embedding` (no training): the cosine-nearest row of the input embedding table.
  Exact at layer 0 (the message *is* the embedding); deeper only a baseline, since the residual
  stream carries the token's embedding among much else (on SmolLM2-135M it already fails after
  block 1, whose output is dominated by a few outlier dimensions). The embedding-inversion
  baseline of Song & Raghunathan 2020, "Information leakage in embedding models", arXiv
  2004.00053.
* :class:`LinearInverter`: ridge regression (closed form) from hidden states to the token's
  unit input embedding, fitted on public activations, decoded by nearest embedding, so it can
  name any token of the vocabulary, including tokens the public text never contained.
* :class:`MLPInverter`: a two-layer MLP trained with Adam on public activations, the learned
  decoder of split-learning inversion attacks (He et al. 2019, "Model inversion attacks against
  collaborative inference", ACSAC).
  Its ``"tied"`` head maps into embedding space and scores tokens against the (frozen,
  unit-normalised) embedding table, so it also decodes over the full vocabulary; ``"logits"``
  is a plain softmax over the tokens seen in public text.

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

import copy
import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from crossbound.models.derived import decoder_layers
from crossbound.privacy.activation_noise import add_activation_noise, mean_dim_std

Method = Literal["nearest", "linear", "mlp"]
METHODS: tuple[str, ...] = ("nearest", "linear", "mlp")
_CHUNK = 1024  # rows per (chunk, V) similarity table: 1024 × 49k floats ≈ 200 MB


# --------------------------------------------------------------------------- activations


@dataclass
class Activations:
    """Hidden states of some texts at some layers, one row per real (non-pad) token."""

    hidden: dict[int, Tensor]  # layer -> (N, d) float32, rows in text order
    ids: Tensor  # (N,) int64 token ids
    lengths: list[int]  # tokens per text (after truncation); sums to N

    def __len__(self) -> int:
        return int(self.ids.numel())


def num_blocks(model: Any) -> int:
    """How many transformer blocks the model has; valid layers are ``0 .. num_blocks``."""
    return len(decoder_layers(model))


def _check_texts(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a sequence of texts, not one string")
    texts = list(texts)
    if not texts:
        raise ValueError(f"{what} is empty: give at least one text")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{what}[{bad[0]}] is {type(texts[bad[0]]).__name__}, not str")
    return texts


def _check_layer(layer: int, total: int) -> None:
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= total:
        raise ValueError(f"layer must be an integer in 0..{total} (0 = embedding output, "
                         f"{total} = last block, after the final norm), got {layer!r}")


def _truncated_decoder(model: Any, blocks: int) -> Any:
    """The model's decoder (no LM head) running only its first ``blocks`` blocks.

    A shallow copy that shares every weight, so ``model`` itself is never changed. HF applies
    the final norm to the last entry of ``hidden_states``; keeping one block past the deepest
    layer asked for leaves that layer's entry raw, exactly as in the full model.
    """
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = decoder_layers(model)
    if blocks >= len(layers):
        return decoder
    for name, child in decoder.named_children():
        if child is layers:
            trunc = copy.copy(decoder)
            trunc._modules = dict(decoder._modules)  # the copy gets its own child table
            trunc._modules[name] = torch.nn.ModuleList(list(layers)[:blocks])
            return trunc
    return decoder  # blocks not a direct child of the decoder: run them all (slower, same result)


@torch.no_grad()
def collect_activations(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    layers: Sequence[int],
    *,
    max_length: int = 128,
    batch_size: int = 8,
) -> Activations:
    """Hidden states at block outputs ``layers`` (0 = embedding output) for every real token.

    Each text is tokenised as the model would see it alone (the tokenizer's own special tokens,
    cut to ``max_length``) and batched with right padding, so positions start at 0 as they
    would for that text alone; texts are batched by length to waste little on padding. Only
    the blocks up to the deepest layer asked for (plus one) run.
    """
    texts = _check_texts(texts, "texts")
    total = num_blocks(model)
    wanted = sorted(set(layers))
    if not wanted:
        raise ValueError("layers is empty: give at least one layer")
    for layer in wanted:
        _check_layer(layer, total)
    if max_length < 1 or batch_size < 1:
        raise ValueError(f"max_length and batch_size must be >= 1, got {max_length}, {batch_size}")
    encoded = [list(tokenizer(t, truncation=True, max_length=max_length)["input_ids"])
               for t in texts]
    if not any(encoded):
        raise ValueError("no text has any token: nothing to collect")
    decoder = _truncated_decoder(model, wanted[-1] + 1)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted((i for i in range(len(texts)) if encoded[i]), key=lambda i: len(encoded[i]))
    per_text: dict[int, dict[int, Tensor]] = {}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, i in enumerate(rows):
            input_ids[j, : len(encoded[i])] = torch.tensor(encoded[i])
            mask[j, : len(encoded[i])] = 1
        out = decoder(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                      output_hidden_states=True, use_cache=False)
        states = out.hidden_states  # blocks + 1 tensors of (B, T, d)
        for j, i in enumerate(rows):
            n = len(encoded[i])
            per_text[i] = {layer: states[layer][j, :n].float().cpu() for layer in wanted}
    kept = [i for i in range(len(texts)) if encoded[i]]
    hidden = {layer: torch.cat([per_text[i][layer] for i in kept]) for layer in wanted}
    ids = torch.tensor([t for seq in encoded for t in seq], dtype=torch.long)
    return Activations(hidden=hidden, ids=ids, lengths=[len(seq) for seq in encoded])


def collect_hidden(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    layer: int,
    *,
    max_length: int = 128,
    batch_size: int = 8,
) -> tuple[Tensor, Tensor]:
    """Hidden states ``(N, d)`` float32 at block output ``layer`` and token ids ``(N,)`` int64.

    One row per real (non-pad) token, texts in order; ``layer`` 0 is the embedding output and
    ``num_blocks(model)`` the last block (after the final norm, as HF reports it).
    """
    acts = collect_activations(model, tokenizer, texts, [layer], max_length=max_length,
                               batch_size=batch_size)
    return acts.hidden[layer], acts.ids


def context_features(hidden: Tensor, lengths: Sequence[int], window: int = 1) -> Tensor:
    """Each row with its neighbours in the same text: ``(N, (2·window+1)·d)``, zeros past the ends.

    Column blocks are ``h_{t-window} .. h_t .. h_{t+window}``.
    """
    n, d = hidden.shape
    if sum(lengths) != n:
        raise ValueError(f"lengths sum to {sum(lengths)} but hidden has {n} rows")
    seq_start = torch.repeat_interleave(
        torch.cumsum(torch.tensor([0, *lengths[:-1]]), 0), torch.tensor(list(lengths)))  # (N,)
    seq_len = torch.repeat_interleave(torch.tensor(list(lengths)), torch.tensor(list(lengths)))
    rows = torch.arange(n)
    pos = rows - seq_start  # (N,) position within its text
    blocks = []
    for offset in range(-window, window + 1):
        block = hidden.new_zeros((n, d))
        valid = (pos + offset >= 0) & (pos + offset < seq_len)
        block[valid] = hidden[rows[valid] + offset]
        blocks.append(block)
    return torch.cat(blocks, dim=1)


# --------------------------------------------------------------------------- attacks


def nearest_embedding(hidden: Tensor, embeddings: Tensor, *, chunk: int = _CHUNK) -> Tensor:
    """Ids ``(N,)`` of the cosine-nearest rows of ``embeddings`` ``(V, d)`` to ``hidden`` (N, d)."""
    if hidden.ndim != 2 or embeddings.ndim != 2 or hidden.shape[1] != embeddings.shape[1]:
        raise ValueError(f"hidden {tuple(hidden.shape)} and embeddings "
                         f"{tuple(embeddings.shape)} must be (N, d) and (V, d) with the same d")
    table = F.normalize(embeddings.detach().float(), dim=1)  # (V, d)
    out = torch.empty(hidden.shape[0], dtype=torch.long)
    for start in range(0, hidden.shape[0], chunk):
        part = F.normalize(hidden[start : start + chunk].float().to(table.device), dim=1)
        out[start : start + chunk] = (part @ table.T).argmax(dim=1).cpu()  # (chunk, V) -> (chunk,)
    return out


class _Standardizer:
    """Per-feature centring and scaling fitted on the training rows (outlier dimensions of the
    residual stream are orders of magnitude larger than the rest)."""

    def __init__(self, x: Tensor) -> None:
        self.mean = x.mean(0)
        self.std = x.std(0).clamp_min(1e-6)

    def __call__(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class LinearInverter:
    """Ridge regression from hidden states ``(N, k)`` to the token's unit input embedding.

    Fitted in closed form, ``W = (XᵀX + λI)⁻¹ XᵀY`` on standardised features, with
    ``λ = alpha · tr(XᵀX) / k``; predictions are decoded by :func:`nearest_embedding` over the
    whole table, so tokens absent from the training text can still be named.
    """

    def __init__(self, embeddings: Tensor, alpha: float = 1e-3) -> None:
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.embeddings = embeddings.detach().float().cpu()  # (V, d)
        self.alpha = alpha
        self.weight: Tensor | None = None  # (k, d)

    def fit(self, hidden: Tensor, ids: Tensor) -> LinearInverter:
        if hidden.shape[0] != ids.shape[0] or hidden.shape[0] < 2:
            raise ValueError(f"need >= 2 rows and one id per row: {tuple(hidden.shape)} vs "
                             f"{tuple(ids.shape)}")
        x = hidden.double()
        self._scale = _Standardizer(x)
        x = self._scale(x)  # (N, k)
        y = F.normalize(self.embeddings[ids].double(), dim=1)  # (N, d)
        self.target_mean = y.mean(0)
        gram = x.T @ x  # (k, k)
        lam = self.alpha * float(gram.trace()) / gram.shape[0]
        eye = torch.eye(gram.shape[0], dtype=gram.dtype)
        self.weight = torch.linalg.solve(gram + lam * eye, x.T @ (y - self.target_mean))
        return self

    def embed(self, hidden: Tensor) -> Tensor:
        """Predicted embeddings ``(N, d)``."""
        if self.weight is None:
            raise RuntimeError("call fit() before predict()")
        return (self._scale(hidden.double()) @ self.weight + self.target_mean).float()

    def predict(self, hidden: Tensor) -> Tensor:
        return nearest_embedding(self.embed(hidden), self.embeddings)


class MLPInverter:
    """Two-layer MLP from hidden states ``(N, k)`` to tokens, trained with Adam.

    ``head="tied"`` (default): the network maps into embedding space, ``z = xW + b + MLP(x)``,
    where the linear part starts at the ridge solution (:class:`LinearInverter`) and the MLP's
    output layer at zero, so training starts from the linear attack and only has to improve on
    it. ``z`` is scored by a cosine softmax (learned temperature) against the unit-normalised,
    frozen embedding table, over the tokens of the training text; prediction takes the nearest
    row of the whole table, so unseen tokens can be named. ``head="logits"``: a plain MLP with a
    softmax layer over the training text's tokens (it can never name a token it did not see;
    it recovers less, see ``benchmarks/inversion.py``). ``train_noise_std`` adds fresh Gaussian
    noise to every training batch: the attacker who knows the activation-noise mechanism
    trains through it.
    """

    def __init__(
        self,
        embeddings: Tensor,
        *,
        hidden_size: int = 512,
        head: Literal["tied", "logits"] = "tied",
        steps: int = 200,
        batch_size: int = 256,
        lr: float = 1e-3,
        alpha: float = 1e-3,
        train_noise_std: float = 0.0,
        seed: int = 0,
    ) -> None:
        if head not in ("tied", "logits"):
            raise ValueError(f"head must be 'tied' or 'logits', got {head!r}")
        if steps < 1 or batch_size < 1 or hidden_size < 1:
            raise ValueError("steps, batch_size and hidden_size must be >= 1")
        self.embeddings = embeddings.detach().float().cpu()  # (V, d)
        self.table = F.normalize(self.embeddings, dim=1)  # (V, d)
        self.hidden_size, self.head, self.steps = hidden_size, head, steps
        self.batch_size, self.lr, self.alpha, self.seed = batch_size, lr, alpha, seed
        self.train_noise_std = train_noise_std
        self.linear: torch.nn.Linear | None = None
        self.net: torch.nn.Sequential | None = None
        self.losses: list[float] = []

    def _build(self, x: Tensor, ids: Tensor, width: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = torch.nn.Sequential(
                torch.nn.Linear(x.shape[1], self.hidden_size), torch.nn.GELU(),
                torch.nn.Linear(self.hidden_size, width))
        if self.head == "tied":
            # Start from the ridge solution: z = x W + b, with the MLP adding nothing yet.
            ridge = LinearInverter(self.embeddings, self.alpha)
            ridge.fit(x, ids)  # x is standardised already; its own standardiser is ~identity
            assert ridge.weight is not None
            scale = ridge._scale
            self.linear = torch.nn.Linear(x.shape[1], width)
            with torch.no_grad():
                w = ridge.weight / scale.std[:, None]  # (k, d), folded standardiser
                self.linear.weight.copy_(w.T.float())
                self.linear.bias.copy_((ridge.target_mean - scale.mean @ w).float())
                last = self.net[2]
                assert isinstance(last, torch.nn.Linear)
                last.weight.zero_()
                last.bias.zero_()

    def fit(self, hidden: Tensor, ids: Tensor) -> MLPInverter:
        if hidden.shape[0] != ids.shape[0] or hidden.shape[0] < 2:
            raise ValueError(f"need >= 2 rows and one id per row: {tuple(hidden.shape)} vs "
                             f"{tuple(ids.shape)}")
        gen = torch.Generator().manual_seed(self.seed)
        raw = hidden.float()
        if self.train_noise_std > 0:  # standardise as the noisy inputs will be
            raw = add_activation_noise(raw, self.train_noise_std, gen)
        self._scale = _Standardizer(raw)
        x = hidden.float()
        self.vocab, target = torch.unique(ids, return_inverse=True)  # (m,), (N,)
        width = self.table.shape[1] if self.head == "tied" else len(self.vocab)
        self._build(self._scale(raw), ids, width)
        assert self.net is not None
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(20.0)))
        params = [*self.net.parameters(), self.logit_scale]
        if self.linear is not None:
            params += list(self.linear.parameters())
        optim = torch.optim.Adam(params, lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, self.steps)
        table = self.table[self.vocab]  # (m, d) scored during training
        with torch.enable_grad():
            for _ in range(self.steps):
                pick = torch.randint(0, x.shape[0], (self.batch_size,), generator=gen)
                batch = x[pick]  # (b, k)
                if self.train_noise_std > 0:
                    batch = add_activation_noise(batch, self.train_noise_std, gen)
                loss = F.cross_entropy(self._logits(self._scale(batch), table), target[pick])
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                sched.step()
                self.losses.append(loss.item())
        return self

    def _forward(self, x: Tensor) -> Tensor:
        assert self.net is not None
        out = self.net(x)  # (b, d) or (b, m)
        return out if self.linear is None else out + self.linear(x)

    def _logits(self, x: Tensor, table: Tensor) -> Tensor:
        out = self._forward(x)
        if self.head == "logits":
            return out
        # Unit output times a learned temperature: a cosine softmax against the table.
        return self.logit_scale.exp() * F.normalize(out, dim=1) @ table.T  # (b, m)

    @torch.no_grad()
    def predict(self, hidden: Tensor) -> Tensor:
        if self.net is None:
            raise RuntimeError("call fit() before predict()")
        out = self._forward(self._scale(hidden.float()))
        if self.head == "tied":
            return nearest_embedding(out, self.table)
        return self.vocab[out.argmax(dim=1)]


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
    _check_layer(layer, num_blocks(model))
    public_texts = _check_texts(public_texts, "public_texts")
    private_texts = _check_texts(private_texts, "private_texts")
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
