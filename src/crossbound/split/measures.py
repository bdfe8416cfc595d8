"""What a split run measures: label-scored utility through the split, the wire (bytes per token
and round trips), the data party's training memory, the noise's accounting, and the inversion
attack on the hidden states that actually crossed.

The inversion attacker is the model party: it knows the LM's weights (it shipped the bottom),
so it runs blocks ``0 .. K-1`` on public text as often as it likes, clips and noises the
result exactly as the data party does (the mechanism is public), trains a decoder from those
activations back to tokens, and applies it to what it received. Its weights here are the
bottom's as shipped, without the data party's own LoRA (which the model party never sees).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.baselines.common import label_metrics, require_labels
from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.evaluate.hidden_states import Activations
from crossbound.evaluate.inversion import Method, attack_activations
from crossbound.evaluate.utility import calibrated, content_free_prompt, within_label_sets
from crossbound.privacy.clipped_noise import clip_and_noise, composed_mu, gaussian_epsilon
from crossbound.split.data_party import Bottom, Crossed, Rows, SplitClient, choice_rows
from crossbound.strategy import RunContext
from crossbound.tasks.base import Example, Task
from crossbound.training.memory import TrainingMemory, training_memory

PUBLIC_KEY = "public:"  # vectors of public text (the calibration prompt): not accounted
TRAIN_KEY = "train:"
TEST_KEY = "test:"


# ---------------------------------------------------------------- utility


def split_label_metrics(ctx: RunContext, client: SplitClient, tokenizer: Any, task: Task,
                        examples: Sequence[Example], batch_size: int, max_length: int,
                        label: str) -> dict[str, float]:
    """The task's label metrics with every score computed through the split: each (prompt,
    label) row crosses, the label's mean token log-probability is its score, calibrated by the
    content-free prompt (public), as :func:`~crossbound.evaluate.utility.predict_labels`."""
    choices = require_labels(task, "split label scoring")
    prompts = [task.prompt(ex) for ex in examples] + [content_free_prompt(task)]
    keys = [TEST_KEY + ex.id for ex in examples] + [PUBLIC_KEY + "content-free"]
    rows, lengths = choice_rows(tokenizer, prompts, choices, max_length, keys)
    totals = torch.empty(len(lengths))
    with ctx.step(label, len(prompts)) as bar:
        for start in range(0, len(lengths), batch_size):
            end = min(start + batch_size, len(lengths))
            part = Rows(rows.ids[start:end], rows.mask[start:end], rows.targets[start:end],
                        rows.keys[start:end])
            width = int(part.mask.sum(-1).max())  # drop the batch's all-padding columns
            part = Rows(part.ids[:, :width], part.mask[:, :width], part.targets[:, :width],
                        part.keys)
            totals[start:end] = client.target_logprobs(part).sum(-1)
            bar.advance(len({*part.keys}))
    scores = (totals / torch.tensor(lengths, dtype=torch.float32)).view(len(prompts),
                                                                        len(choices))
    scores = within_label_sets(task, examples, calibrated(scores[:-1], scores[-1]))
    return label_metrics(task, examples, scores)


# ---------------------------------------------------------------- the wire


@dataclass
class Wire:
    """Bytes and round trips of one phase, from the boundary's counters."""

    to_model: int
    from_model: int
    round_trips: int

    @classmethod
    def mark(cls, boundary: Boundary, party: str) -> Wire:
        by = boundary.bytes_by_direction
        return cls(by[f"{party}->{MODEL_PARTY}"], by[f"{MODEL_PARTY}->{party}"],
                   boundary.lm_calls)

    def since(self, earlier: Wire) -> Wire:
        return Wire(self.to_model - earlier.to_model, self.from_model - earlier.from_model,
                    self.round_trips - earlier.round_trips)

    def report(self, tokens: int) -> dict[str, Any]:
        """Bytes each way, per token of hidden state that crossed, and round trips."""
        per = max(1, tokens)
        return {"bytes_to_model": self.to_model, "bytes_from_model": self.from_model,
                "tokens": tokens, "bytes_per_token_to_model": round(self.to_model / per, 2),
                "bytes_per_token_from_model": round(self.from_model / per, 2),
                "round_trips": self.round_trips}


# ---------------------------------------------------------------- memory


class _DataSide(torch.nn.Module):
    """The data party's trainable state for memory counting: the bottom and its LoRA."""

    def __init__(self, bottom: Bottom) -> None:
        super().__init__()
        self.bottom_model = bottom.model
        self.adapters = torch.nn.ParameterList(bottom.lora.parameters() if bottom.lora else [])


def data_party_memory(bottom: Bottom, rows: Rows) -> TrainingMemory:
    """What one training step costs the data party in memory (``training.memory``): its
    bottom's weights, its LoRA's gradients and AdamW state, and what autograd saves in its
    forward pass — its blocks' (with a LoRA), and in U-shape the norm and head over the
    answer positions (the top's output stands in as a zero tensor of the same shape)."""

    def loss(_model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = bottom.run(batch["input_ids"], batch["attention_mask"])
        total = hidden.sum() * 0 if hidden.requires_grad else torch.zeros(())
        if bottom.u_shape:
            top = torch.zeros_like(hidden).requires_grad_(True)
            keep = batch["targets"] != -100
            total = total + torch.nn.functional.cross_entropy(
                bottom.logits(top[keep]), batch["targets"][keep])
        return total

    batch = {"input_ids": rows.ids, "attention_mask": rows.mask, "targets": rows.targets}
    return training_memory(_DataSide(bottom), batch, loss)


# ---------------------------------------------------------------- the noise's accounting


def noise_accounting(sigma: float, clip: float | None, grad_clip: float | None,
                     vectors: Counter[str], delta: float,
                     no_record_bound: str | None) -> dict[str, Any]:
    """The clipped Gaussian mechanism's figures (``privacy.clipped_noise``): per vector, and
    composed over every vector each record put on the wire (its worst record per set), unless
    ``no_record_bound`` says why no record-level bound holds."""
    out: dict[str, Any] = {
        "clip_norm": clip, "grad_clip_norm": grad_clip, "sigma": sigma,
        "noise_std": None if clip is None else sigma * clip, "delta": delta,
        "mechanism": "each token's vector clipped to L2 norm C, plus N(0, σ²C²) per "
                     "coordinate; sensitivity 2C, so one vector is (2/σ)-GDP",
    }
    if sigma <= 0:
        out["per_vector_epsilon"] = None
        out["record_level"] = "no noise: nothing bounds what a vector reveals"
        return out
    out["per_vector_mu"] = round(2 / sigma, 6)
    out["per_vector_epsilon"] = round(gaussian_epsilon(2 / sigma, delta), 4)
    sets: dict[str, dict[str, Any]] = {}
    for prefix, name in ((TRAIN_KEY, "training_records"), (TEST_KEY, "test_queries")):
        counts = [n for key, n in vectors.items() if key.startswith(prefix)]
        if counts:
            mu = composed_mu(sigma, max(counts))
            sets[name] = {"records": len(counts), "max_vectors_per_record": max(counts),
                          "mu": round(mu, 4), "epsilon": round(gaussian_epsilon(mu, delta), 4)}
    out["by_set"] = sets
    if no_record_bound is not None:
        out["record_level"] = f"not bounded: {no_record_bound}"
    else:
        out["record_level"] = ("every vector that depends on a record is clipped and noised; "
                               "ε composes them all (GDP, exact for Gaussians) for the "
                               "record that crossed most; shapes and padding masks are not "
                               "protected")
    return out


def dp_section(accounting: dict[str, Any], no_record_bound: str | None) -> dict[str, Any] | None:
    """``privacy.dp`` for the planner: the worst record-level ε, where one holds."""
    sets = accounting.get("by_set") or {}
    if no_record_bound is not None or not sets:
        return None
    worst = max(s["epsilon"] for s in sets.values())
    return {"epsilon": worst, "delta": accounting["delta"], "unit": "one record",
            "mechanism": "clipped Gaussian noise on every crossed vector (split learning)",
            "accounting": "Gaussian DP composition over the vectors of the record that "
                          "crossed most (privacy.activation_noise.by_set)"}


# ---------------------------------------------------------------- inversion


def _public_activations(bottom: Bottom, tokenizer: Any, texts: Sequence[str], max_length: int,
                        clip: float | None, sigma: float, seed: int) -> Activations:
    generator = torch.Generator().manual_seed(seed)
    hidden, ids, lengths = [], [], []
    for text in texts:  # one at a time, as each text would cross alone
        row = list(tokenizer(text, truncation=True, max_length=max_length)["input_ids"])
        if not row:
            continue
        with torch.no_grad():
            h = bottom.base(input_ids=torch.tensor([row]),
                            use_cache=False).last_hidden_state.float()[0]
        hidden.append(clip_and_noise(h, clip, sigma, generator))
        ids.append(torch.tensor(row))
        lengths.append(len(row))
    return Activations({bottom.cut: torch.cat(hidden)}, torch.cat(ids), lengths)


KEPT_SCORES = ("token_recovery", "word_recovery", "tokens", "word_tokens", "tokens_recovered",
               "most_frequent_baseline", "in_public_vocab", "public_tokens", "activation_std",
               "final_train_loss")


def invert_crossed(bottom: Bottom, tokenizer: Any, crossed: Crossed, public: Sequence[str],
                   *, clip: float | None, sigma: float, seed: int, steps: int,
                   max_length: int) -> dict[str, Any]:
    """The model party's inversion of the hidden-state tokens that crossed (``crossed``):
    nearest embedding, and an MLP decoder trained on ``public`` texts' activations at the
    same cut, clipped and noised alike. ``token_recovery``: the best attack's share of the
    crossed tokens recovered exactly."""
    if not crossed.ids:
        return {"skipped": "no hidden state crossed"}
    private = Activations({bottom.cut: torch.cat(crossed.hidden)}, torch.cat(crossed.ids),
                          [int(i.numel()) for i in crossed.ids])
    train = _public_activations(bottom, tokenizer, public, max_length, clip, sigma, seed + 1)
    embeddings = bottom.model.get_input_embeddings().weight.detach()
    out: dict[str, Any] = {"layer": bottom.cut, "tokens_attacked": len(private),
                           "public_texts": len(train.lengths),
                           "attacker": "the model party (the LM's weights, public text "
                                       "through the same clip and noise)"}
    attacks: tuple[tuple[Method, dict[str, Any] | None], ...] = (
        ("nearest", None), ("mlp", {"steps": steps}))
    for method, options in attacks:
        scores = attack_activations(train, private, bottom.cut, embeddings, tokenizer, method,
                                    seed=seed, options=options)
        out[method] = {k: scores[k] for k in KEPT_SCORES if k in scores}
    recovered = [out[m]["token_recovery"] for m in ("nearest", "mlp")
                 if out[m].get("token_recovery") is not None]
    out["token_recovery"] = max(recovered) if recovered else None
    return out
