"""The model party's side of split learning and split inference (SplitLoRA, arXiv:2407.00952).

The LM is cut after block ``K`` (:mod:`crossbound.models.split_parts`). The data party runs
the embeddings and blocks ``0 .. K-1`` on its private text and sends the hidden states; the
model party runs blocks ``K .. N-1`` with a LoRA of its own *per data party* (a
:class:`~crossbound.training.hook_lora.HookLoRA` beside the shared LM, never merged into it),
trained by the gradients that come back. Requests (a :class:`SplitOwner` per model party):

- ``split_bundle`` (``text``, settings in ``meta``) → the bottom as a ``tensors`` message
  (embeddings and blocks ``0 .. K-1``; in U-shape also the final norm and LM head), and a
  fresh session for the requester: its LoRA, optimiser and the bounds its tensors must keep;
- ``split_forward`` (U-shape; ``tensors``: ``hidden`` (B, T, d), ``mask`` (B, T)) → the raw
  hidden state after block ``N-1`` (B, T, d); with ``train`` the graph is kept for:
- ``split_backward`` (U-shape; ``tensors``: ``grad`` (B, T, d), the loss's gradient with
  respect to that hidden state, computed at the data party) → one LoRA step, and the
  gradient with respect to the cut's hidden state if ``return_grad`` (for the data party's
  own LoRA), else a ``metrics`` acknowledgement;
- ``split_step`` (not U-shape; ``hidden``, ``mask``, ``targets`` (B, T): the token each
  position must predict, -100 where none) → the loss and one LoRA step (and the cut's
  gradient if ``return_grad``): the model party runs the head, so it sees the targets;
- ``split_score`` (not U-shape; same tensors) → each target's log-probability (B, T).

Every tensor that arrives is checked against the requester's session before any block runs
(:func:`checked_hidden`): the names expected and no others, the wire dtype agreed, the shape
(batch and length bounded, hidden size the LM's), a right-padded 0/1 mask, finite values, and
each token's norm within the bound the agreed clipping implies. A bad one is a
``MessageError``; nothing of it reaches the LM. How deep the cut may go is the model party's
:class:`SplitPolicy`, not the requester's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from crossbound.boundary.contracts import OperationRefused
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.boundary.operations import (
    FLAG,
    POSITIVE,
    Integer,
    Number,
    Operation,
    one_of,
    operation,
)
from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import BUNDLE_DTYPES, block_prefix, parameter_count
from crossbound.models.loading import LoadedModel
from crossbound.models.split_parts import (
    bottom_config,
    bottom_state,
    decoder_view,
    hidden_size,
)
from crossbound.parties.model_party import OwnerReply, int_meta, owner_family
from crossbound.privacy.clipped_noise import noised_norm_bound
from crossbound.tasks.corpora import load_corpus
from crossbound.training.hook_lora import HookLoRA, WithAdapters, lora_targets

SPLIT_MODEL = "split-tuned"  # meta.model: the LM with the requester's split LoRA on its top
BUNDLE_ARTIFACT = "split-bundle"
ACTIVATIONS = "split-activations"  # data → model: hidden states (+ mask, + targets)
GRADIENTS = "split-gradients"  # data → model: the U-shape's gradient on the way back
WIRE_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MAX_CUT = 64  # a ceiling a contract can state without knowing the LM (the policy bounds it)
MAX_BATCH = 64
MAX_LENGTH = 4096
MAX_TOKENS = 1 << 15  # B·T of one request
MAX_LORA_RANK = 64
MAX_SIGMA = 1e4
# Per-token norm a session without clipping may send: far above any LM's residual stream
# (massive activations reach ~1e4), far below what overflows bf16 arithmetic downstream.
UNCLIPPED_NORM = 1e6
MAX_GRAD_NORM = 1.0  # the model party clips its LoRA's gradient, as the training loop does

# Where a requester asks for clipping "at a quantile" rather than a number, the model party
# measures the per-token norms at the cut (and, for the U-shape's gradients, at the top's
# output) on this public corpus: no private record chooses the bound, and both sides know it.
CALIBRATION_CORPUS = "wiki-sample"
CALIBRATION_TEXTS = 16
CALIBRATION_TOKENS = 64

SPLIT_BUNDLE: Operation = operation(
    "split_bundle", cut=Integer(1, MAX_CUT), u_shape=FLAG, dtype=one_of(*BUNDLE_DTYPES),
    wire_dtype=one_of(*WIRE_DTYPES), lora_rank=Integer(1, MAX_LORA_RANK), lora_alpha=POSITIVE,
    lr=Number(0.0, 1.0, open_low=True), seed=Integer(0, 2**31 - 1), clip_norm=POSITIVE,
    noise_sigma=Number(0.0, MAX_SIGMA), grad_clip_norm=POSITIVE,
    clip_quantile=Number(0.0, 1.0, open_low=True), grad_clip_quantile=Number(0.0, 1.0,
                                                                             open_low=True))
SPLIT_FORWARD: Operation = operation("split_forward", artifact=one_of(ACTIVATIONS), train=FLAG)
SPLIT_BACKWARD: Operation = operation("split_backward", artifact=one_of(GRADIENTS),
                                      return_grad=FLAG)
SPLIT_STEP: Operation = operation("split_step", artifact=one_of(ACTIVATIONS), return_grad=FLAG)
SPLIT_SCORE: Operation = operation("split_score", artifact=one_of(ACTIVATIONS))
U_SHAPE_OPS = (SPLIT_BUNDLE, SPLIT_FORWARD, SPLIT_BACKWARD)
HEAD_AT_MODEL_OPS = (SPLIT_BUNDLE, SPLIT_STEP, SPLIT_SCORE)


@dataclass(frozen=True)
class SplitPolicy:
    """How many of its blocks the model party ships as a bottom, whatever is asked: at most
    ``max_cut_share`` of them (at least one). The top, where the requester's LoRA trains and
    that never leaves, keeps the rest."""

    max_cut_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.max_cut_share < 1:
            raise ValueError(f"max_cut_share must be in (0, 1), got {self.max_cut_share}")

    def max_cut(self, total: int) -> int:
        return max(1, min(total - 1, math.floor(total * self.max_cut_share)))

    def check(self, total: int, cut: int) -> None:
        most = self.max_cut(total)
        if cut > most:
            raise OperationRefused(
                f"the model party ships at most {most} of its {total} blocks as a split "
                f"bottom; cut={cut} asks for more (choose cut in 1..{most})")


@dataclass
class _Session:
    """One data party's split: its cut, what its tensors must look like, its LoRA."""

    cut: int
    u_shape: bool
    wire: torch.dtype
    top: Any  # decoder view of blocks cut..N-1 (final norm applied unless U-shape)
    lora: HookLoRA
    optimizer: torch.optim.Optimizer
    act_bound: float  # per-token norm an arriving hidden state may have
    grad_bound: float  # per-token norm an arriving gradient may have
    pending: tuple[torch.Tensor, torch.Tensor] | None = None  # U-shape: (input leaf, output)
    steps: int = 0
    settings: dict[str, Any] = field(default_factory=dict)


def _number(meta: dict[str, Any], key: str, default: float | None) -> float | None:
    value = meta.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or value < 0:
        raise MessageError(f"meta.{key} must be a finite number >= 0, got {value!r}")
    return float(value)


def _flag(meta: dict[str, Any], key: str, default: bool) -> bool:
    value = meta.get(key, default)
    if not isinstance(value, bool):
        raise MessageError(f"meta.{key} must be true or false, got {value!r}")
    return value


def checked_hidden(tensor: Any, name: str, wire: torch.dtype, width: int,
                   norm_bound: float, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """A (B, T, d) float tensor as a session allows it, or a ``MessageError`` saying why not:
    dtype ``wire``, d = ``width`` (or exactly ``shape``), B and T and B·T bounded, finite,
    every token's L2 norm at most ``norm_bound``."""
    if not isinstance(tensor, torch.Tensor):
        raise MessageError(f"{name} is missing")
    if tensor.dtype != wire:
        raise MessageError(f"{name} has dtype {tensor.dtype}; this session agreed on {wire}")
    if tensor.dim() != 3 or tensor.shape[-1] != width:
        raise MessageError(f"{name} must be (batch, tokens, {width}), got {tuple(tensor.shape)}")
    batch, length = int(tensor.shape[0]), int(tensor.shape[1])
    if not 1 <= batch <= MAX_BATCH or not 1 <= length <= MAX_LENGTH or \
            batch * length > MAX_TOKENS:
        raise MessageError(f"{name} of {batch} × {length} tokens: at most {MAX_BATCH} rows, "
                           f"{MAX_LENGTH} tokens a row and {MAX_TOKENS} in all")
    if shape is not None and tuple(tensor.shape) != shape:
        raise MessageError(f"{name} has shape {tuple(tensor.shape)}; expected {shape}")
    values = tensor.float()
    if not bool(torch.isfinite(values).all()):
        raise MessageError(f"{name} holds NaN or infinite values")
    worst = float(values.norm(dim=-1).max())
    if worst > norm_bound:
        raise MessageError(f"{name}: a token's norm is {worst:.4g}, over this session's bound "
                           f"of {norm_bound:.4g}")
    return tensor


def checked_mask(mask: Any, batch: int, length: int) -> torch.Tensor:
    """A right-padded 0/1 mask (B, T) with a real first token in every row, as int64."""
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (batch, length) or \
            mask.dtype.is_floating_point or mask.is_complex():
        raise MessageError(f"mask must be an integer (batch, tokens) = ({batch}, {length}) "
                           "tensor")
    mask = mask.long()
    if not bool(((mask == 0) | (mask == 1)).all()) or not bool((mask[:, 0] == 1).all()) or \
            not bool((mask[:, 1:] <= mask[:, :-1]).all()):
        raise MessageError("mask must be 0/1, right-padded, with a real first token per row")
    return mask


def checked_targets(targets: Any, mask: torch.Tensor, vocab: int) -> torch.Tensor:
    """Targets (B, T): a token id in 0..vocab-1 at real positions that have one, -100 elsewhere;
    at least one."""
    if not isinstance(targets, torch.Tensor) or targets.shape != mask.shape or \
            targets.dtype.is_floating_point or targets.is_complex():
        raise MessageError(f"targets must be an integer tensor shaped like the mask "
                           f"{tuple(mask.shape)}")
    targets = targets.long()
    scored = targets != -100
    if not bool(scored.any()) or bool((scored & (mask == 0)).any()):
        raise MessageError("targets must name at least one token, at real positions only")
    if int(targets[scored].min()) < 0 or int(targets[scored].max()) >= vocab:
        raise MessageError(f"targets must be -100 or token ids in 0..{vocab - 1}")
    return targets


class SplitOwner:
    """Ships split bottoms and runs the top blocks with a LoRA per requesting data party."""

    def __init__(self, lm: LoadedModel, policy: SplitPolicy | None = None) -> None:
        self.lm = lm
        self.policy = policy or SplitPolicy()
        self.sessions: dict[str, _Session] = {}
        self.total = len(decoder_layers(lm.model))
        self.width = hidden_size(lm.model)
        self.vocab = int(lm.model.config.vocab_size)
        self.dtype = next(lm.model.parameters()).dtype

    # ------------------------------------------------------------ requests

    def bundle(self, request: Message) -> OwnerReply:
        if request.kind != Kind.TEXT or request.payload:
            raise MessageError("split_bundle takes a text request with no texts (settings in "
                               "meta)")
        meta = request.meta
        cut = int_meta(meta, "cut", 2, 1, self.total - 1)
        self.policy.check(self.total, cut)  # the model party's decision, not the requester's
        u_shape = _flag(meta, "u_shape", True)
        dtype_name, wire_name = meta.get("dtype", "float32"), meta.get("wire_dtype", "float32")
        if dtype_name not in BUNDLE_DTYPES or wire_name not in WIRE_DTYPES:
            raise MessageError(f"meta.dtype must be one of {sorted(BUNDLE_DTYPES)} and "
                               f"meta.wire_dtype one of {sorted(WIRE_DTYPES)}")
        rank = int_meta(meta, "lora_rank", 8, 1, MAX_LORA_RANK)
        alpha = _number(meta, "lora_alpha", 2.0 * rank) or 2.0 * rank
        lr = _number(meta, "lr", 1e-4)
        if lr is None or not 0 < lr <= 1:
            raise MessageError(f"meta.lr must be in (0, 1], got {lr!r}")
        seed = int_meta(meta, "seed", 0, 0, 2**31 - 1)
        sigma = _number(meta, "noise_sigma", 0.0) or 0.0
        clip, grad_clip = self._clip_norms(meta, cut, u_shape)
        if sigma > 0 and clip is None:
            raise MessageError("noise_sigma > 0 needs a clip_norm (the noise is σ·clip_norm)")
        if sigma > MAX_SIGMA:
            raise MessageError(f"meta.noise_sigma must be at most {MAX_SIGMA:g}")
        prefixes = tuple(f"{block_prefix(self.lm.model)}.{i}." for i in range(cut, self.total))
        lora = HookLoRA(lora_targets(self.lm.model, prefixes), rank, alpha, seed)
        top = decoder_view(self.lm.model, cut, self.total, final_norm=not u_shape)
        self.sessions[request.sender] = _Session(
            cut=cut, u_shape=u_shape, wire=WIRE_DTYPES[wire_name], top=top, lora=lora,
            optimizer=torch.optim.AdamW(lora.parameters(), lr=lr, weight_decay=0.0),
            act_bound=(UNCLIPPED_NORM if clip is None
                       else noised_norm_bound(clip, sigma, self.width)),
            grad_bound=(UNCLIPPED_NORM if grad_clip is None
                        else noised_norm_bound(grad_clip, sigma, self.width)),
            settings={"lora_rank": rank, "lora_alpha": alpha, "lr": lr})
        dtype = BUNDLE_DTYPES[dtype_name]
        tensors = {n: t.detach().to(dtype).contiguous()
                   for n, t in bottom_state(self.lm.model, cut, u_shape).items()}
        lm_params = sum(p.numel() for p in self.lm.model.parameters())
        config = bottom_config(self.lm.model, cut)
        json.dumps(config)  # a config that cannot cross as JSON is this party's bug, not theirs
        return OwnerReply(Kind.TENSORS, tensors, 0, {
            "artifact": BUNDLE_ARTIFACT, "config": config, "cut": cut, "lm_layers": self.total,
            "u_shape": u_shape, "dtype": dtype_name, "wire_dtype": wire_name,
            "hidden_size": self.width, "clip_norm": clip, "grad_clip_norm": grad_clip,
            "noise_sigma": sigma,
            "parameters": {"shipped": parameter_count(tensors), "lm": lm_params,
                           "model_party_lora": lora.parameter_count()},
        })

    def forward(self, request: Message) -> OwnerReply:
        session = self._session(request, u_shape=True)
        train = _flag(request.meta, "train", False)
        hidden, mask = self._inputs(request, session, {"hidden", "mask"})
        session.pending = None  # a new forward pass drops an unfinished one
        if train:
            leaf = hidden.float().requires_grad_(True)
            with torch.enable_grad():
                out = self._top(session, leaf, mask)
            session.pending = (leaf, out)
        else:
            with torch.no_grad():
                out = self._top(session, hidden.float(), mask)
        return OwnerReply(Kind.TENSORS, {"hidden": out.detach().to(session.wire).contiguous()},
                          int(mask.sum()), {"artifact": ACTIVATIONS})

    def backward(self, request: Message) -> OwnerReply:
        session = self._session(request, u_shape=True)
        if request.kind != Kind.TENSORS or set(request.payload) != {"grad"}:
            raise MessageError("split_backward takes a tensors message holding only 'grad'")
        if session.pending is None:
            raise MessageError("no training forward pass awaits its gradient: send "
                               "split_forward with train=true first")
        leaf, out = session.pending
        grad = checked_hidden(request.payload["grad"], "grad", session.wire, self.width,
                              session.grad_bound, tuple(out.shape))
        session.pending = None
        leaf_grad = self._backward(session, out, grad.to(out.dtype), leaf)
        return self._after_step(request, session, leaf_grad, int(out.shape[0] * out.shape[1]),
                                None)

    def step(self, request: Message) -> OwnerReply:
        session = self._session(request, u_shape=False)
        hidden, mask = self._inputs(request, session, {"hidden", "mask", "targets"})
        targets = checked_targets(request.payload["targets"], mask, self.vocab)
        leaf = hidden.float().requires_grad_(True)
        with torch.enable_grad():
            logits, keep = self._head(session, self._top(session, leaf, mask), targets)
            loss = torch.nn.functional.cross_entropy(logits, targets[keep])
            if not torch.isfinite(loss):
                raise MessageError("the loss on these activations is not finite")
        leaf_grad = self._backward(session, loss, None, leaf)
        return self._after_step(request, session, leaf_grad, int(mask.sum()),
                                loss.detach().float().reshape(1))

    def score(self, request: Message) -> OwnerReply:
        session = self._session(request, u_shape=False)
        hidden, mask = self._inputs(request, session, {"hidden", "mask", "targets"})
        targets = checked_targets(request.payload["targets"], mask, self.vocab)
        with torch.no_grad():
            logits, keep = self._head(session, self._top(session, hidden.float(), mask), targets)
            picked = torch.log_softmax(logits, dim=-1).gather(
                -1, targets[keep].unsqueeze(-1)).squeeze(-1)
        out = torch.zeros(targets.shape, dtype=torch.float32)  # (B, T), 0 where nothing scored
        out[keep] = picked
        return OwnerReply(Kind.TENSORS, {"logprobs": out}, int(mask.sum()), {})

    def tuned(self, party: str) -> Any:
        """The LM with ``party``'s split LoRA on its top blocks (the bottom as shipped)."""
        session = self.sessions.get(party)
        if session is None:
            raise MessageError(f"{party} has no split session here: ask for a bundle "
                               "(op split_bundle) first")
        return WithAdapters(self.lm.model, session.lora)

    # ------------------------------------------------------------ pieces

    def _clip_norms(self, meta: dict[str, Any], cut: int,
                    u_shape: bool) -> tuple[float | None, float | None]:
        """The clip norms a session holds its tensors to: as given, or measured at the asked
        quantile on public text (:data:`CALIBRATION_CORPUS`), or none."""
        clip = _number(meta, "clip_norm", None)
        grad_clip = _number(meta, "grad_clip_norm", None)
        quantile = _number(meta, "clip_quantile", None)
        grad_quantile = _number(meta, "grad_clip_quantile", None)
        for name, value in (("clip_quantile", quantile), ("grad_clip_quantile", grad_quantile)):
            if value is not None and not 0 < value <= 1:
                raise MessageError(f"meta.{name} must be in (0, 1], got {value!r}")
        if (clip is not None and quantile is not None) or \
                (grad_clip is not None and grad_quantile is not None):
            raise MessageError("give a clip norm or a quantile to measure it at, not both")
        if grad_quantile is not None and not u_shape:
            raise MessageError("grad_clip_quantile: only the U-shape sends gradients")
        if quantile is None and grad_quantile is None:
            return clip, grad_clip
        acts, grads = self._public_norms(cut, u_shape and grad_quantile is not None)
        if quantile is not None:
            clip = float(torch.quantile(acts, quantile))
        if grad_quantile is not None:
            grad_clip = float(torch.quantile(grads, grad_quantile))
        return clip, grad_clip

    def _public_norms(self, cut: int, with_grads: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token norms (N,) of the hidden state at the cut on public text, and (with
        ``with_grads``) of the summed next-token loss's gradient on the top's raw output."""
        tokenizer = self.lm.tokenizer
        texts = load_corpus(CALIBRATION_CORPUS, CALIBRATION_TEXTS)
        bottom = decoder_view(self.lm.model, 0, cut, final_norm=False)
        top = decoder_view(self.lm.model, cut, self.total, final_norm=False)
        norm = self.lm.model.get_decoder().norm
        acts: list[torch.Tensor] = []
        grads: list[torch.Tensor] = []
        for text in texts:  # one text at a time: the vocabulary's logits stay small
            ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]
                                [:CALIBRATION_TOKENS]])
            if ids.shape[1] < 2:
                continue
            with torch.no_grad():
                hidden = bottom(input_ids=ids, use_cache=False).last_hidden_state.float()
            acts.append(hidden[0].norm(dim=-1))
            if not with_grads:
                continue
            with torch.enable_grad():
                leaf = top(inputs_embeds=hidden.to(self.dtype),
                           use_cache=False).last_hidden_state.float().detach().requires_grad_()
                rows = norm(leaf.to(self.dtype))[0, :-1]
                logits = self.lm.model.get_output_embeddings()(rows).float()
                loss = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum")
                (grad,) = torch.autograd.grad(loss, leaf)
            grads.append(grad[0, :-1].norm(dim=-1))
        if not acts:
            raise MessageError("the calibration corpus gave no text")  # pragma: no cover
        return torch.cat(acts), (torch.cat(grads) if grads else torch.zeros(1))

    def _session(self, request: Message, u_shape: bool) -> _Session:
        session = self.sessions.get(request.sender)
        op = request.meta.get("op")
        if session is None:
            raise MessageError(f"{request.sender} has no split session here: ask for a bundle "
                               "(op split_bundle) first")
        if session.u_shape != u_shape:
            where = "the data party" if session.u_shape else "the model party"
            raise MessageError(f"{op} does not belong to this session: its head is at {where}")
        return session

    def _inputs(self, request: Message, session: _Session,
                names: set[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if request.kind != Kind.TENSORS or request.meta.get("artifact") != ACTIVATIONS:
            raise MessageError(f"{request.meta.get('op')} takes a tensors message with "
                               f"meta.artifact = {ACTIVATIONS!r}")
        if set(request.payload) != names:
            raise MessageError(f"{request.meta.get('op')} takes exactly {sorted(names)}, got "
                               f"{sorted(request.payload)}")
        hidden = checked_hidden(request.payload["hidden"], "hidden", session.wire, self.width,
                                session.act_bound)
        mask = checked_mask(request.payload["mask"], int(hidden.shape[0]), int(hidden.shape[1]))
        return hidden, mask

    def _top(self, session: _Session, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Blocks cut..N-1 with the session's LoRA: (B, T, d) in, (B, T, d) fp32 out."""
        with session.lora.active():
            out = session.top(inputs_embeds=hidden.to(self.dtype), attention_mask=mask,
                              use_cache=False)
        return out.last_hidden_state.float()

    def _head(self, session: _Session, top: torch.Tensor,
              targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (N, V) fp32 at the N positions that have a target, and where those are."""
        keep = targets != -100
        head = self.lm.model.get_output_embeddings()
        logits = head(top[keep].to(self.dtype)).float()
        cap = getattr(self.lm.model.config, "final_logit_softcapping", None)
        return (torch.tanh(logits / cap) * cap if cap else logits), keep

    def _backward(self, session: _Session, output: torch.Tensor,
                  grad_output: torch.Tensor | None, leaf: torch.Tensor) -> torch.Tensor:
        """Gradients of ``output`` for the session's LoRA (then one step) and for the cut's
        hidden state (returned). Asked for by name: the shared LM's own weights, which may
        require gradients for other families, get none, and hold none afterwards."""
        params = session.lora.parameters()
        with torch.enable_grad():
            grads = torch.autograd.grad(output, [leaf, *params], grad_outputs=grad_output,
                                        allow_unused=True)
        for param, grad in zip(params, grads[1:], strict=True):
            param.grad = torch.zeros_like(param) if grad is None else grad
        self._step(session)
        assert grads[0] is not None
        return grads[0]

    def _step(self, session: _Session) -> None:
        params = session.lora.parameters()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        session.optimizer.step()
        session.optimizer.zero_grad(set_to_none=True)
        session.steps += 1

    def _after_step(self, request: Message, session: _Session, leaf_grad: torch.Tensor,
                    tokens: int, loss: torch.Tensor | None) -> OwnerReply:
        payload: dict[str, torch.Tensor] = {} if loss is None else {"loss": loss}
        if _flag(request.meta, "return_grad", False):
            payload["grad"] = leaf_grad.to(session.wire).contiguous()
        if not payload:
            return OwnerReply(Kind.METRICS, {"steps": session.steps}, tokens, {})
        return OwnerReply(Kind.TENSORS, payload, tokens, {"artifact": GRADIENTS})


# The model party's registrations: per model party one SplitOwner (``party.split``), made on
# first use, serves these operations and, as ``meta.model = "split-tuned"``, the LM with the
# requester's own LoRA.
owner_family("split", lambda party: SplitOwner(party.lm), SPLIT_MODEL, SplitOwner.tuned,
             {"split_bundle": SplitOwner.bundle, "split_forward": SplitOwner.forward,
              "split_backward": SplitOwner.backward, "split_step": SplitOwner.step,
              "split_score": SplitOwner.score})
