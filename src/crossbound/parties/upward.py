"""The model party's side of upward transfer (SM → LM).

:class:`UpwardOwner` answers two requests for :class:`~crossbound.parties.ModelParty`
(registered here, with the tuned model and the owner each model party keeps), each training
this party's own LoRA copy of the LM (created on the first request; the LM itself is
never changed, so other parties and other strategies see the LM as it was):

- ``lm_finetune`` — a ``records`` message of ``{"prompt": str, "answer": str}`` objects (e.g.
  DP synthetic data, ``dp-synthetic-data``): cross-entropy on the answers.
- ``lm_distill`` — a ``tensors`` message: transfer rows in the LM's tokens (``ids``/``mask``
  ``(B, T)``, ``targets`` ``(B, T)`` marking the positions that carry a target) and the data
  party's top-k next-token log-probs at those positions, compressed with
  :class:`~crossbound.boundary.logit_codec.TopkCodec` (``meta.codec``; ids in the LM's
  vocabulary): the LM distils the SM's knowledge (``mutual-kt``).

Both reply with a ``metrics`` message (steps, losses; no timings, so the reply's bytes are the
same from run to run). Requests that ask for ``meta.model = "upward-tuned"`` are then answered
by that party's tuned copy. Everything that arrives is checked before it trains anything:
record fields and sizes, tensor shapes and dtypes, ids within the vocabulary, finite values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.boundary.operations import FLAG, CheckedBy, Integer, Number, Operation, operation
from crossbound.models.loading import LoadedModel
from crossbound.parties.model_party import OwnerReply, int_meta, owner_family
from crossbound.training.causal_lm import finetune
from crossbound.training.distill import KDSettings, distill_finetune
from crossbound.training.lora import add_lora
from crossbound.training.topk_transfer import transfer_rows_from

UPWARD_MODEL = "upward-tuned"  # meta.model of a request this party's tuned LM should answer
MAX_RECORDS = 4096
MAX_RECORD_CHARS = 8000
MAX_EPOCHS = 20.0
MAX_STEPS = 5000

# The training settings both requests take, with the ranges _train_settings accepts; as
# access contracts name them (crossbound.boundary.operations).
_TRAINING = {
    "epochs": Number(1e-3, MAX_EPOCHS), "lr": Number(1e-7, 1e-2),
    "batch_size": Integer(1, 64), "max_length": Integer(16, 2048),
    "lora_rank": Integer(1, 128), "seed": Integer(0, 2**31 - 1), "reset": FLAG,
}
LM_FINETUNE: Operation = operation("lm_finetune", **_TRAINING)
LM_DISTILL: Operation = operation(
    "lm_distill", **_TRAINING, steps=Integer(0, MAX_STEPS), temperature=Number(0.05, 20.0),
    codec=CheckedBy("a top-k codec description, checked by the model party"))


@dataclass
class _Tuned:
    model: Any  # a PEFT-wrapped copy of the LM
    lora_rank: int
    requests: int = 0
    records: int = 0
    steps: int = 0


class UpwardOwner:
    """Per requesting data party, a LoRA copy of the LM that learns from what the party sends."""

    def __init__(self, lm: LoadedModel) -> None:
        self.lm = lm
        self.sessions: dict[str, _Tuned] = {}

    def model(self, party: str) -> Any:
        """``party``'s tuned copy of the LM."""
        session = self.sessions.get(party)
        if session is None:
            raise MessageError(f"{party} has no upward-tuned model here: send records "
                               "(op lm_finetune) or transfer targets (op lm_distill) first")
        return session.model

    # ------------------------------------------------------------ requests

    def finetune(self, request: Message) -> OwnerReply:
        if request.kind != Kind.RECORDS:
            raise MessageError(f"lm_finetune takes a records message, got {request.kind.value}")
        pairs = _checked_pairs(request.payload)
        settings = _train_settings(request.meta)
        session = self._session(request.sender, settings)
        tokenizer = self.lm.tokenizer
        stats = finetune(session.model, tokenizer, pairs, epochs=settings["epochs"],
                         lr=settings["lr"], batch_size=settings["batch_size"],
                         max_length=settings["max_length"], seed=settings["seed"])
        return self._trained(session, stats, len(pairs))

    def distill(self, request: Message) -> OwnerReply:
        if request.kind != Kind.TENSORS:
            raise MessageError(f"lm_distill takes a tensors message, got {request.kind.value}")
        return self.distill_rows(request.sender, self._transfer_rows(request), request.meta)

    def distill_rows(self, party: str, rows: list[Any], meta: dict[str, Any]) -> OwnerReply:
        """Distil checked transfer rows into ``party``'s copy; ``meta`` holds the settings
        (epochs, lr, batch_size, max_length, lora_rank, seed, reset, temperature, steps)."""
        settings = _train_settings(meta)
        steps = int_meta(meta, "steps", 0, 0, MAX_STEPS)
        if steps == 0:
            steps = max(1, round(settings["epochs"] * -(-len(rows) // settings["batch_size"])))
        kd = KDSettings(divergence="forward_kl", kd_weight=1.0,
                        temperature=_float(meta, "temperature", 1.0, 0.05, 20.0))
        session = self._session(party, settings)
        stats = distill_finetune(session.model, self.lm.tokenizer, [], rows, kd, steps=steps,
                                 lr=settings["lr"], batch_size=settings["batch_size"],
                                 transfer_batch_size=settings["batch_size"],
                                 max_length=settings["max_length"], seed=settings["seed"])
        return self._trained(session, stats, len(rows))

    # ------------------------------------------------------------ pieces

    def _session(self, party: str, settings: dict[str, Any]) -> _Tuned:
        session = self.sessions.get(party)
        if session is not None and not settings["reset"]:
            if session.lora_rank != settings["lora_rank"]:
                raise MessageError(f"{party}'s tuned LM has LoRA rank {session.lora_rank}; "
                                   f"ask with that rank, or set meta.reset to start afresh")
            return session
        # A copy: the LM that answers everyone else (meta.model = "lm") stays as it was.
        with torch.random.fork_rng():  # seeded LoRA init, without touching the caller's RNG
            torch.manual_seed(settings["seed"])
            model = add_lora(copy.deepcopy(self.lm.model), rank=settings["lora_rank"],
                             alpha=2 * settings["lora_rank"])
        session = _Tuned(model, settings["lora_rank"])
        self.sessions[party] = session
        return session

    def _transfer_rows(self, request: Message) -> list[Any]:
        """The request's tensors, checked, as :class:`TransferRow` objects in the LM's tokens."""
        return transfer_rows_from(request.payload, request.meta.get("codec"),
                                  int(self.lm.model.config.vocab_size))

    @staticmethod
    def _trained(session: _Tuned, stats: Any, received: int) -> OwnerReply:
        """Book a finished training request and say what it did (no timings: the reply's
        bytes stay the same from run to run)."""
        session.model.eval()
        session.requests += 1
        session.records += received
        session.steps += stats.steps
        report = {"received": received, "steps": stats.steps, "train_tokens": stats.tokens,
                  "loss_first": round(stats.first_loss, 4),
                  "loss_last": round(stats.last_loss, 4), "lora_rank": session.lora_rank,
                  "requests_so_far": session.requests, "steps_so_far": session.steps}
        return OwnerReply(Kind.METRICS, report, stats.tokens, {})


def _checked_pairs(payload: list[dict[str, Any]]) -> list[tuple[str, str]]:
    if not payload or len(payload) > MAX_RECORDS:
        raise MessageError(f"send 1..{MAX_RECORDS} records per request, got {len(payload)}")
    pairs: list[tuple[str, str]] = []
    for index, record in enumerate(payload):
        if set(record) != {"prompt", "answer"}:
            raise MessageError(f"record {index} must have exactly the fields prompt and answer, "
                               f"has {sorted(record)}")
        prompt, answer = record["prompt"], record["answer"]
        if not isinstance(prompt, str) or not isinstance(answer, str) or not answer.strip():
            raise MessageError(f"record {index}: prompt and answer must be strings, the answer "
                               "non-empty")
        if len(prompt) + len(answer) > MAX_RECORD_CHARS:
            raise MessageError(f"record {index} has {len(prompt) + len(answer)} characters; "
                               f"at most {MAX_RECORD_CHARS}")
        pairs.append((prompt, answer))
    return pairs


def _train_settings(meta: dict[str, Any]) -> dict[str, Any]:
    reset = meta.get("reset", False)
    if not isinstance(reset, bool):
        raise MessageError(f"meta.reset must be true or false, got {reset!r}")
    return {
        "epochs": _float(meta, "epochs", 2.0, 1e-3, MAX_EPOCHS),
        "lr": _float(meta, "lr", 2e-4, 1e-7, 1e-2),
        "batch_size": int_meta(meta, "batch_size", 8, 1, 64),
        "max_length": int_meta(meta, "max_length", 256, 16, 2048),
        "lora_rank": int_meta(meta, "lora_rank", 8, 1, 128),
        "seed": int_meta(meta, "seed", 0, 0, 2**31 - 1),
        "reset": reset,
    }


def _float(meta: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MessageError(f"meta.{key} must be a number, got {value!r}")
    if not low <= float(value) <= high:  # NaN fails this too
        raise MessageError(f"meta.{key} must be in [{low:g}, {high:g}], got {value!r}")
    return float(value)


# The model party's registrations: per model party one UpwardOwner (``party.upward``), made
# on first use, serves these operations and the model it made for each requester.
owner_family("upward", lambda party: UpwardOwner(party.lm),
             UPWARD_MODEL, UpwardOwner.model,
             {"lm_finetune": UpwardOwner.finetune, "lm_distill": UpwardOwner.distill})
