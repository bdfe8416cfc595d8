"""Inverters: maps from hidden states back to token ids, fitted on public activations.

Each returns one predicted token id per hidden-state row, weakest to strongest:

* :func:`nearest_embedding` (no training): the cosine-nearest row of the input embedding table.
  Exact at layer 0 (the message *is* the embedding); deeper only a baseline, since the residual
  stream carries the token's embedding among much else (on SmolLM2-135M it already fails after
  block 1, whose output is dominated by a few outlier dimensions). The embedding-inversion
  baseline of Song & Raghunathan 2020, "Information leakage in embedding models", arXiv
  2004.00053.
* :class:`LinearInverter`: ridge regression (closed form) from hidden states to the token's
  unit input embedding, decoded by nearest embedding, so it can name any token of the
  vocabulary, including tokens the public text never contained.
* :class:`MLPInverter`: a two-layer MLP trained with Adam, the learned decoder of
  split-learning inversion attacks (He et al. 2019, "Model inversion attacks against
  collaborative inference", ACSAC).

:mod:`crossbound.evaluate.inversion` runs them as attacks and scores what they recover.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from crossbound.privacy.activation_noise import add_activation_noise

_CHUNK = 1024  # rows per (chunk, V) similarity table: 1024 × 49k floats ≈ 200 MB


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
