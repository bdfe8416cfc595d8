"""The data party's side of a split: the bottom it receives, and everything it sends.

:class:`SplitClient` runs the bottom blocks on private token ids, zeroes the padding (a pad
position's hidden state attends to the real tokens before it, so it would carry them too),
clips and noises each token's vector (:mod:`crossbound.privacy.clipped_noise`) and sends the
result in the wire dtype; in U-shape it runs the final norm, head and loss on what comes back
and returns the loss's gradient, clipped and noised alike. It keeps what the measurements need
and nothing is sent for them: a sample of the hidden-state tokens exactly as they crossed
(with their true ids, for the inversion attack) and how many vectors each record put on the
wire (for the noise's accounting).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message
from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import block_prefix
from crossbound.models.split_parts import assemble_bottom, decoder_view
from crossbound.parties.split import ACTIVATIONS, BUNDLE_ARTIFACT, GRADIENTS, WIRE_DTYPES
from crossbound.privacy.clipped_noise import clip_and_noise
from crossbound.training.hook_lora import HookLoRA, lora_targets


@dataclass
class Bottom:
    """The bottom as the data party holds it: a causal LM of ``cut`` blocks (fp32, frozen),
    its decoder view without the final norm, and in U-shape the norm and head."""

    model: Any
    base: Any
    cut: int
    u_shape: bool
    meta: dict[str, Any]
    lora: HookLoRA | None = None

    def run(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hidden states after block ``cut - 1``: (B, T) ids → (B, T, d) fp32."""
        if self.lora is None:
            return self.base(input_ids=ids, attention_mask=mask,
                             use_cache=False).last_hidden_state.float()
        with self.lora.active():
            return self.base(input_ids=ids, attention_mask=mask,
                             use_cache=False).last_hidden_state.float()

    def logits(self, rows: torch.Tensor) -> torch.Tensor:
        """U-shape's head: the top's raw output rows (N, d) → logits (N, V) fp32."""
        model = self.model
        out = model.get_output_embeddings()(model.get_decoder().norm(rows)).float()
        cap = getattr(model.config, "final_logit_softcapping", None)
        return torch.tanh(out / cap) * cap if cap else out

    def add_lora(self, rank: int, seed: int) -> HookLoRA:
        """Train a LoRA of ``rank`` on the bottom's own blocks (the data party's option)."""
        prefixes = tuple(f"{block_prefix(self.model)}.{i}." for i in range(self.cut))
        self.lora = HookLoRA(lora_targets(self.model, prefixes), rank, 2.0 * rank, seed)
        return self.lora


def receive_bottom(reply: Message) -> Bottom:
    """Check the model party's bundle and rebuild the bottom from it."""
    meta = reply.meta
    if reply.kind != Kind.TENSORS or meta.get("artifact") != BUNDLE_ARTIFACT:
        raise ValueError(f"expected a tensors reply with artifact {BUNDLE_ARTIFACT!r}")
    config, u_shape, cut = meta.get("config"), meta.get("u_shape"), meta.get("cut")
    if not isinstance(config, dict) or not isinstance(u_shape, bool) or \
            config.get("num_hidden_layers") != cut:
        raise ValueError("the bundle's meta lacks its config, its shape or a matching cut")
    if meta.get("wire_dtype") not in WIRE_DTYPES:
        raise ValueError(f"the bundle's wire dtype {meta.get('wire_dtype')!r} is not one of "
                         f"{sorted(WIRE_DTYPES)}")
    model = assemble_bottom(config, reply.payload, with_head=u_shape)
    blocks = len(decoder_layers(model))
    return Bottom(model, decoder_view(model, 0, blocks, final_norm=False), blocks, u_shape,
                  dict(meta))


@dataclass
class Crossed:
    """Hidden-state tokens as they crossed (real positions only), with their true ids."""

    limit: int
    hidden: list[torch.Tensor] = field(default_factory=list)  # (n_i, d) fp32 per row
    ids: list[torch.Tensor] = field(default_factory=list)  # (n_i,)

    @property
    def tokens(self) -> int:
        return sum(int(i.numel()) for i in self.ids)

    def keep(self, sent: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> None:
        for row in range(sent.shape[0]):
            if self.tokens >= self.limit:
                return
            real = mask[row].bool()
            self.hidden.append(sent[row][real].float().clone())
            self.ids.append(ids[row][real].clone())


@dataclass
class Rows:
    """A batch of token rows, right-padded: ids and mask (B, T) and the target each position
    must predict (B, T), -100 where none; ``keys`` name the record each row came from."""

    ids: torch.Tensor
    mask: torch.Tensor
    targets: torch.Tensor
    keys: list[str]


def rows_from_labels(batch: dict[str, torch.Tensor], keys: list[str]) -> Rows:
    """:func:`~crossbound.training.causal_lm.build_batch`'s labels as per-position targets
    (position t predicts token t + 1)."""
    labels = batch["labels"]
    targets = torch.full_like(labels, -100)
    targets[:, :-1] = labels[:, 1:]
    return Rows(batch["input_ids"], batch["attention_mask"], targets, keys)


def choice_rows(tokenizer: Any, prompts: Sequence[str], choices: Sequence[str],
                max_length: int, keys: Sequence[str]) -> tuple[Rows, list[int]]:
    """One row per (prompt, label): the prompt's tokens (as the tokenizer adds them, cut from
    the left) and the label's (`` label``), the label's tokens as targets. Returns the rows
    and each row's label token count."""
    label_ids = [tokenizer(" " + c, add_special_tokens=False)["input_ids"] for c in choices]
    if any(not ids for ids in label_ids):
        raise ValueError(f"a label tokenises to nothing: {list(choices)}")
    seqs, lengths, starts, row_keys = [], [], [], []
    for prompt, key in zip(prompts, keys, strict=True):
        ids = list(tokenizer(prompt)["input_ids"])
        for label in label_ids:
            p = ids[-(max_length - len(label)):]
            seqs.append(p + label)
            starts.append(len(p))
            lengths.append(len(label))
            row_keys.append(key)
    width = max(len(s) for s in seqs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros_like(out)
    targets = torch.full_like(out, -100)
    for i, (seq, start, n) in enumerate(zip(seqs, starts, lengths, strict=True)):
        out[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
        targets[i, start - 1 : start + n - 1] = out[i, start : start + n]
    return Rows(out, mask, targets, row_keys), lengths


class SplitClient:
    """The data party's side of one split session over ``boundary``."""

    def __init__(self, boundary: Boundary, party: str, bottom: Bottom, *,
                 sigma: float, seed: int, crossed: Crossed) -> None:
        self.boundary, self.party, self.bottom = boundary, party, bottom
        self.wire = WIRE_DTYPES[bottom.meta["wire_dtype"]]
        self.clip: float | None = bottom.meta.get("clip_norm")
        self.grad_clip: float | None = bottom.meta.get("grad_clip_norm")
        self.sigma = sigma
        self.generator = torch.Generator().manual_seed(seed)
        self.crossed = crossed
        self.vectors: Counter[str] = Counter()  # record -> vectors it put on the wire
        self.optimizer: torch.optim.Optimizer | None = None

    def train_own_blocks(self, rank: int, lr: float, seed: int) -> None:
        lora = self.bottom.add_lora(rank, seed)
        self.optimizer = torch.optim.AdamW(lora.parameters(), lr=lr, weight_decay=0.0)

    # ------------------------------------------------------------ crossings

    def _request(self, kind: Kind, payload: Any, **meta: Any) -> Message:
        return self.boundary.request(Message(kind, self.party, MODEL_PARTY, payload, meta))

    def _send_side(self, rows: Rows, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The bottom's output for ``rows`` as it will cross: (kept for the backward pass,
        the wire tensor). Counted and sampled for the measurements."""
        with torch.set_grad_enabled(train and self.bottom.lora is not None):
            hidden = self.bottom.run(rows.ids, rows.mask)
            hidden = hidden * rows.mask.unsqueeze(-1).to(hidden.dtype)  # pads carry nothing
            noised = clip_and_noise(hidden, self.clip, self.sigma, self.generator)
        sent = noised.detach().to(self.wire).contiguous()
        self.crossed.keep(sent, rows.ids, rows.mask)
        for key, n in zip(rows.keys, rows.mask.sum(-1).tolist(), strict=True):
            self.vectors[key] += int(n)
        return noised, sent

    def train_step(self, rows: Rows) -> float:
        """One step of split learning on ``rows``; the mean loss over their targets."""
        noised, sent = self._send_side(rows, train=True)
        want_grad = self.bottom.lora is not None
        if self.bottom.u_shape:
            reply = self._request(Kind.TENSORS, {"hidden": sent, "mask": rows.mask},
                                  op="split_forward", artifact=ACTIVATIONS, train=True)
            top = reply.payload["hidden"].float().requires_grad_(True)  # (B, T, d)
            keep = rows.targets != -100
            losses = torch.nn.functional.cross_entropy(
                self.bottom.logits(top[keep]), rows.targets[keep], reduction="none")
            # The summed token losses: each position's gradient is its own token's, on a
            # scale that does not depend on how many tokens share the batch, so one clip
            # norm fits every batch (the model party's AdamW is invariant to overall scale).
            (grad,) = torch.autograd.grad(losses.sum(), top)
            grad = clip_and_noise(grad, self.grad_clip, self.sigma, self.generator)
            for key, n in zip(rows.keys, rows.mask.sum(-1).tolist(), strict=True):
                self.vectors[key] += int(n)
            back = self._request(Kind.TENSORS, {"grad": grad.to(self.wire).contiguous()},
                                 op="split_backward", artifact=GRADIENTS,
                                 return_grad=want_grad)
            loss = float(losses.detach().mean())
        else:
            back = self._request(Kind.TENSORS, {"hidden": sent, "mask": rows.mask,
                                                "targets": rows.targets},
                                 op="split_step", artifact=ACTIVATIONS, return_grad=want_grad)
            loss = float(back.payload["loss"][0])
        if not math.isfinite(loss):
            raise ValueError(f"split learning's loss is not finite ({loss})")
        if want_grad:
            assert self.optimizer is not None
            self.optimizer.zero_grad(set_to_none=True)
            noised.backward(back.payload["grad"].to(noised.dtype))
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            self.optimizer.step()
        return loss

    @torch.no_grad()
    def target_logprobs(self, rows: Rows) -> torch.Tensor:
        """Each target's log-probability under the split model (B, T), 0 where none."""
        _, sent = self._send_side(rows, train=False)
        if self.bottom.u_shape:
            reply = self._request(Kind.TENSORS, {"hidden": sent, "mask": rows.mask},
                                  op="split_forward", artifact=ACTIVATIONS, train=False)
            top = reply.payload["hidden"].float()
            keep = rows.targets != -100
            logp = torch.log_softmax(self.bottom.logits(top[keep]), dim=-1)
            out = torch.zeros(rows.targets.shape)
            out[keep] = logp.gather(-1, rows.targets[keep].unsqueeze(-1)).squeeze(-1)
            return out
        reply = self._request(Kind.TENSORS, {"hidden": sent, "mask": rows.mask,
                                             "targets": rows.targets},
                              op="split_score", artifact=ACTIVATIONS)
        return reply.payload["logprobs"].float()
