"""The model party's side of offsite-tuning (arXiv:2302.04870).

:class:`OffsiteOwner` answers two requests for :class:`~crossbound.parties.ModelParty`
(registered here, with the plug-in model and the owner each model party keeps):

- ``offsite_bundle`` (a ``text`` message: settings in ``meta``, public distillation texts, if
  any, as the payload) → a ``tensors`` message holding the emulated model's weights (adapter
  blocks, layer-dropped emulator of the middle, embeddings, final norm, LM head — tied weights
  once) and, in ``meta``, its config and which blocks are the adapter;
- ``offsite_adapter`` (a ``tensors`` message: the tuned adapter blocks, named as in the
  emulated model) → a ``metrics`` message saying it was accepted. The adapter is checked
  against what was sent to *that* party (names, shapes, dtypes, finite values, relative change)
  before it is plugged into a copy of the LM, which then serves that party's requests that ask
  for ``meta.model = "offsite-plugin"``.

The LM's own weights never leave: only the blocks in the bundle do, and what comes back can
only replace adapter blocks. How many blocks a bundle holds is the model party's decision
(:class:`OffsitePolicy`), not the requester's: a request may ask for less, never for more.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.boundary.contracts import OperationRefused
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.boundary.operations import (
    POSITIVE,
    Integer,
    Name,
    Number,
    Operation,
    one_of,
    operation,
)
from crossbound.models.derived import decoder_layers
from crossbound.models.emulator import (
    BUNDLE_DTYPES,
    OffsiteSplit,
    adapter_state,
    block_prefix,
    build_emulator,
    parameter_count,
    plan_split,
    plug_in,
    unique_state,
    validate_adapter,
)
from crossbound.models.loading import LoadedModel
from crossbound.parties.model_party import OwnerReply, ProgressHook, int_meta, owner_family
from crossbound.tasks.corpora import corpus_names, load_corpus
from crossbound.training.emulator_distill import distill_emulator

BUNDLE_ARTIFACT = "offsite-bundle"
ADAPTER_ARTIFACT = "offsite-adapter"
PLUGIN_MODEL = "offsite-plugin"  # meta.model of a request the plug-in model should answer
MAX_DISTILL_STEPS = 20_000
MAX_DISTILL_TEXTS = 4096
# A ceiling a contract can state without knowing the LM: blocks at one adapter end. The
# model party's OffsitePolicy bounds each end against its LM's depth (a quarter of it).
MAX_ADAPTER_END = 8
MAX_EMULATOR_LAYERS = 256  # likewise; the policy keeps the emulator to half the middle

# The requests offsite-tuning's data party makes, every setting they may carry, as access
# contracts name them (crossbound.boundary.operations).
OFFSITE_BUNDLE: Operation = operation(
    "offsite_bundle",
    adapter_bottom=Integer(1, MAX_ADAPTER_END),
    adapter_top=Integer(1, MAX_ADAPTER_END),
    emulator_layers=Integer(0, MAX_EMULATOR_LAYERS, optional=True),
    dtype=one_of(*BUNDLE_DTYPES),
    max_relative_change=POSITIVE,  # the model party applies min(this, its own bound)
    distill_steps=Integer(0, MAX_DISTILL_STEPS),
    distill_corpus=Name(r"[A-Za-z0-9_.-]{1,64}"),
    distill_limit=Integer(1, 1 << 20),
    distill_lr=Number(0.0, 1.0, open_low=True),
    distill_batch_size=Integer(1, 64),
    distill_max_length=Integer(8, 4096),
    distill_lm_weight=Number(0.0),
    seed=Integer(0, 2**31 - 1),
)
OFFSITE_ADAPTER: Operation = operation("offsite_adapter", artifact=one_of(ADAPTER_ARTIFACT))


@dataclass(frozen=True)
class OffsitePolicy:
    """How much of its LM the model party ships in an emulator bundle, whatever is asked.

    The emulator gap (the emulator with a tuned adapter doing clearly worse than the plug-in
    LM) is the owner's IP protection (arXiv:2302.04870), so the split is bounded here
    against the LM's own depth; a request may ask for a smaller adapter or emulator, never a
    larger one:

    - each adapter end holds at most ``adapter_end_share`` of the blocks (at least one).
      Adapter blocks cross exactly, so with the default a quarter per end, at most half the LM
      is adapter and at least half lies behind the emulator;
    - the emulator keeps at most ``emulator_share`` of the middle blocks, rounded down: the
      paper's 50 % layer-drop as a ceiling rather than a default, so at least half of the middle
      never leaves — always at least one block, since a one-block middle is dropped whole.
      A request that leaves ``emulator_layers`` unset gets the ceiling.

    Together: no bundle ever holds every block (a 4-block LM with one adapter block per end
    ships 3 of its 4 blocks), and from 4 blocks up at least a quarter of the LM stays with its
    owner.
    """

    adapter_end_share: float = 0.25
    emulator_share: float = 0.5

    def __post_init__(self) -> None:
        # Shares below these bounds keep at least one block of every LM at the owner.
        if not 0 < self.adapter_end_share < 0.5:
            raise ValueError(f"adapter_end_share must be in (0, 0.5), got "
                             f"{self.adapter_end_share}: two ends of half the LM each would "
                             "leave nothing to emulate")
        if not 0 <= self.emulator_share < 1:
            raise ValueError(f"emulator_share must be in [0, 1), got {self.emulator_share}: "
                             "an emulator that keeps the whole middle is the LM itself")

    def max_adapter_end(self, total: int) -> int:
        return max(1, math.floor(total * self.adapter_end_share))

    def max_emulator_layers(self, middle: int) -> int:
        return math.floor(middle * self.emulator_share)

    def plan(self, total: int, bottom: int, top: int, emulator_layers: int | None) -> OffsiteSplit:
        """The split to ship; :class:`OperationRefused` where the request asks for more than
        this policy gives, ``MessageError`` where it cannot be split at all."""
        end = self.max_adapter_end(total)
        if bottom > end or top > end:
            raise OperationRefused(
                f"the model party ships at most {end} adapter block(s) at each end of its "
                f"{total}-block LM; asked for {bottom} bottom + {top} top: ask for fewer")
        middle = total - bottom - top
        if middle < 1:
            raise MessageError(f"the LM has {total} blocks: {bottom} bottom + {top} top "
                               "adapter blocks leave no middle to emulate; use fewer")
        most = self.max_emulator_layers(middle)
        if emulator_layers is not None and emulator_layers > most:
            raise OperationRefused(
                f"the model party's emulator keeps at most {most} of the {middle} middle "
                f"blocks (at least half are dropped); asked for {emulator_layers}: ask for "
                f"0..{most}, or leave emulator_layers unset for {most}")
        try:
            return plan_split(total, bottom, top,
                              most if emulator_layers is None else emulator_layers)
        except ValueError as exc:
            raise MessageError(str(exc)) from None


@dataclass
class _Session:
    """What the model party sent one data party, and what it plugged in for it."""

    split: OffsiteSplit
    prefix: str  # block list of the emulated model (adapter names start with it)
    sent: dict[str, torch.Tensor]  # adapter weights as sent (bundle dtype): the reference
    bound: float
    plugin: Any = None


class OffsiteOwner:
    """Builds emulator bundles and accepts tuned adapters, per requesting data party.

    ``max_relative_change`` is the model party's own acceptance policy: a request may ask for
    a tighter bound, never a looser one. ``policy`` bounds what a bundle holds likewise.
    """

    def __init__(self, lm: LoadedModel, max_relative_change: float = 1.0,
                 policy: OffsitePolicy | None = None,
                 progress: ProgressHook | None = None) -> None:
        if max_relative_change <= 0:
            raise ValueError("max_relative_change must be > 0")
        self.lm = lm
        self.max_relative_change = max_relative_change
        self.policy = policy or OffsitePolicy()
        self.progress = progress
        self.sessions: dict[str, _Session] = {}
        # The last bundle built, by request settings: a second party (or a retry) asking for
        # the same emulator does not pay for distillation again.
        self._cache: tuple[str, OffsiteSplit, Any, dict[str, Any] | None] | None = None

    # ------------------------------------------------------------ requests

    def bundle(self, request: Message) -> OwnerReply:
        if request.kind != Kind.TEXT:
            raise MessageError(f"offsite_bundle takes a text request (public distillation "
                               f"texts, possibly none), got {request.kind.value}")
        meta = request.meta
        dtype_name = meta.get("dtype", "float32")
        if dtype_name not in BUNDLE_DTYPES:
            raise MessageError(f"meta.dtype must be one of {sorted(BUNDLE_DTYPES)}")
        bound = _float_meta(meta, "max_relative_change", self.max_relative_change)
        total = len(decoder_layers(self.lm.model))
        bottom = int_meta(meta, "adapter_bottom", 2, 1, total)
        top = int_meta(meta, "adapter_top", 2, 1, total)
        kept = (None if meta.get("emulator_layers") is None
                else int_meta(meta, "emulator_layers", 0, 0, total))
        steps = int_meta(meta, "distill_steps", 0, 0, MAX_DISTILL_STEPS)
        split = self.policy.plan(total, bottom, top, kept)  # the model party's decision
        settings = {"adapter_bottom": bottom, "adapter_top": top,
                    "emulator_layers": len(split.middle_kept), "distill_steps": steps}
        distill = self._distill_settings(request) if steps else None
        key = hashlib.sha256(json.dumps([settings, distill], sort_keys=True,
                                        default=str).encode()).hexdigest()
        if self._cache is not None and self._cache[0] == key:
            _, split, emulator, stats = self._cache
            tokens = 0
        else:
            emulator = build_emulator(self.lm.model, split)
            stats = self._distil(emulator, split, distill) if distill else None
            tokens = int(stats["tokens"]) if stats else 0
            self._cache = (key, split, emulator, stats)
        dtype = BUNDLE_DTYPES[dtype_name]
        tensors = {n: t.detach().to(dtype).contiguous() for n, t in unique_state(emulator).items()}
        prefix = block_prefix(emulator)
        sent = {n: t.to(dtype) for n, t in adapter_state(emulator, split.adapter_positions).items()}
        self.sessions[request.sender] = _Session(split, prefix, sent,
                                                 min(bound, self.max_relative_change))
        config = json.loads(emulator.config.to_json_string(use_diff=False))
        lm_params = sum(p.numel() for p in self.lm.model.parameters())
        return OwnerReply(Kind.TENSORS, tensors, tokens, {
            "artifact": BUNDLE_ARTIFACT,
            "config": config,
            "split": split.to_meta(),
            "block_prefix": prefix,
            "dtype": dtype_name,
            "distill": stats,
            "parameters": {"bundle": parameter_count(tensors), "adapter": parameter_count(sent),
                           "lm": lm_params},
        })

    def accept(self, request: Message) -> OwnerReply:
        if request.kind != Kind.TENSORS or request.meta.get("artifact") != ADAPTER_ARTIFACT:
            raise MessageError(f"offsite_adapter takes a tensors message with "
                               f"meta.artifact = {ADAPTER_ARTIFACT!r}")
        session = self.sessions.get(request.sender)
        if session is None:
            raise MessageError(f"{request.sender} has no offsite bundle from this model party; "
                               "ask for one (op offsite_bundle) before returning an adapter")
        report = validate_adapter(request.payload, session.sent, session.bound)
        session.plugin = plug_in(self.lm.model, request.payload, session.split, session.prefix)
        session.plugin.eval()
        replaced = [session.split.lm_index(p) for p in session.split.adapter_positions]
        return OwnerReply(Kind.METRICS, {"accepted": True, "lm_blocks_replaced": replaced,
                                         **report}, 0, {})

    def plugin(self, party: str) -> Any:
        """The LM with ``party``'s accepted adapter plugged in."""
        session = self.sessions.get(party)
        if session is None or session.plugin is None:
            raise MessageError(f"{party} has no plug-in model here: return a tuned adapter "
                               "(op offsite_adapter) first")
        return session.plugin

    # ------------------------------------------------------------ distillation

    def _distill_settings(self, request: Message) -> dict[str, Any]:
        meta = request.meta
        texts: list[str] = request.payload
        corpus = meta.get("distill_corpus")
        if texts and corpus is not None:
            raise MessageError("send distillation texts or name a corpus, not both")
        if not texts and corpus not in corpus_names():
            raise MessageError(f"meta.distill_corpus must be one of {corpus_names()} "
                               "when no distillation texts are sent")
        if len(texts) > MAX_DISTILL_TEXTS:
            raise MessageError(f"at most {MAX_DISTILL_TEXTS} distillation texts per request")
        return {
            "steps": int_meta(meta, "distill_steps", 0, 1, MAX_DISTILL_STEPS),
            "corpus": corpus,
            "texts_sha256": hashlib.sha256(json.dumps(texts).encode()).hexdigest(),
            "texts": texts,
            "limit": int_meta(meta, "distill_limit", 2000, 1, 1 << 20),
            "lr": _float_meta(meta, "distill_lr", 1e-4),
            "batch_size": int_meta(meta, "distill_batch_size", 4, 1, 64),
            "max_length": int_meta(meta, "distill_max_length", 128, 8, 4096),
            "lm_weight": _float_meta(meta, "distill_lm_weight", 1.0, allow_zero=True),
            "seed": int_meta(meta, "seed", 0, 0, 2**31 - 1),
        }

    def _distil(self, emulator: Any, split: OffsiteSplit,
                settings: dict[str, Any]) -> dict[str, Any]:
        texts = settings["texts"] or load_corpus(settings["corpus"], settings["limit"])
        try:
            stats = distill_emulator(
                emulator, self.lm.model, self.lm.tokenizer, texts[: settings["limit"]], split,
                steps=settings["steps"], lr=settings["lr"], batch_size=settings["batch_size"],
                max_length=settings["max_length"], lm_weight=settings["lm_weight"],
                seed=settings["seed"], on_step=self._on_distill_step(settings["steps"]))
        except ValueError as exc:
            raise MessageError(f"cannot distil the emulator: {exc}") from None
        # No timings on the wire: the reply's bytes stay the same from run to run.
        report = {k: v for k, v in stats.to_dict().items() if k != "seconds"}
        return {**report, "corpus": settings["corpus"] or "sent by the data party"}


    def _on_distill_step(self, steps: int) -> Callable[[int, float], None] | None:
        progress = self.progress
        if progress is None:
            return None
        return lambda step, _loss: progress("model party distilling the emulator", step + 1, steps)


def _float_meta(meta: dict[str, Any], key: str, default: float, *,
                allow_zero: bool = False) -> float:
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MessageError(f"meta.{key} must be a number, got {value!r}")
    value = float(value)
    if not (value >= 0 if allow_zero else value > 0) or value != value or value == float("inf"):
        raise MessageError(f"meta.{key} must be a finite number "
                           f"{'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


# The model party's registrations: per model party one OffsiteOwner (``party.offsite``), made
# on first use, serves these operations and the model it made for each requester.
owner_family("offsite", lambda party: OffsiteOwner(party.lm, policy=party.offsite_policy,
                                                  progress=party.report_progress),
             PLUGIN_MODEL, OffsiteOwner.plugin,
             {"offsite_bundle": OffsiteOwner.bundle, "offsite_adapter": OffsiteOwner.accept})
