"""What crosses in ``fed-mutual-kt``: top-k knowledge on public text, and nothing else.

Both directions carry *knowledge rows*: public transfer texts in the LM's tokens (``ids``,
``mask``), a mark on the positions that carry a target, and the top-k next-token log-probs
there, compressed (:func:`~crossbound.training.topk_transfer.transfer_payload`). Down, the
LM's top-k at every position; up, a data party's SM top-k moved onto the LM's tokens
(at the answer positions by default). The contract lets a knowledge row cross only if its
token ids are one of the public texts as the LM tokenises them (guard ``fed-public-rows``):
a party cannot slip a private record into the ids, and the model party cannot ask about
anything but the public split. Numbers (record counts, losses, test utility) cross as
metrics, as in ``fed-adapter``.

The model party combines the parties' rows (:func:`combine_knowledge`): ``min-ce`` keeps,
per public text, the row of the party whose top-k gives the text's own next tokens the
lowest cross-entropy (FedMKT's selection, arXiv:2406.02224 §3.3); ``all`` keeps every
party's row (the LM then minimises the mean of the KL divergences to the parties).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.boundary.contracts import AccessContract, GuardContext, allow, register_guard
from crossbound.boundary.messages import Kind, Message
from crossbound.federation.contract import numbers_only  # noqa: F401  (registers its guard)
from crossbound.training.distill import TransferRow

LM_KNOWLEDGE = "fed-lm-knowledge"  # meta.artifact: the LM's top-k on the public texts
SM_KNOWLEDGE = "fed-sm-knowledge"  # meta.artifact: a data party's SM top-k on them
ROWS_KEY = "fed_public_rows"  # GuardContext.extra: the public texts' LM token ids
TRAIN_METRICS = ("num-examples", "train-loss-first", "train-loss-last", "train-steps",
                 "train-seconds", "knowledge-rows", "sm-rounds")
EVAL_METRICS = ("num-examples", "utility", "eval-seconds")
CODEC_KEY = "codec"  # ConfigRecord key of a knowledge message: the codec's meta as JSON
MiB = 1 << 20


@dataclass(frozen=True)
class PublicRows:
    """The public transfer texts as the LM tokenises them: what knowledge rows may hold."""

    rows: tuple[tuple[int, ...], ...]

    def problem(self, ids: torch.Tensor, mask: torch.Tensor) -> str | None:
        allowed = set(self.rows)
        for i in range(ids.shape[0]):
            row = tuple(int(t) for t in ids[i][mask[i].bool()].tolist())
            if row not in allowed:
                return (f"row {i} of the token ids is not one of the {len(allowed)} public "
                        "transfer texts")
        return None


def public_rows_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a knowledge message's token ids are public transfer texts (in the LM's tokens)."""
    public = context.extra.get(ROWS_KEY)
    if not isinstance(public, PublicRows):
        return "no public transfer rows are registered for this party (GuardContext.extra)"
    ids, mask = message.payload.get("ids"), message.payload.get("mask")
    if not isinstance(ids, torch.Tensor) or not isinstance(mask, torch.Tensor) \
            or ids.dim() != 2 or mask.shape != ids.shape:
        return "a knowledge message needs 2-D tensors ids and mask of one shape"
    return public.problem(ids, mask)


register_guard("fed-public-rows", public_rows_only)


def fed_mutual_kt_contract(max_bytes: int) -> AccessContract:
    """What may cross in ``fed-mutual-kt``: knowledge rows on the public texts both ways
    (at most ``max_bytes`` each), and numbers."""
    return AccessContract(
        "fed-mutual-kt",
        (
            allow("model", Kind.TENSORS, max_bytes=max_bytes, artifacts={LM_KNOWLEDGE},
                  guards=("fed-public-rows",)),
            allow("data", Kind.TENSORS, max_bytes=max_bytes, artifacts={SM_KNOWLEDGE},
                  guards=("fed-public-rows",)),
            allow("model", Kind.METRICS, max_bytes=64 << 10, guards=("fed-numbers-only",)),
            allow("data", Kind.METRICS, max_bytes=64 << 10, guards=("fed-numbers-only",)),
        ),
        "The model party sends its LM's top-k log-probs on the task's public texts and round "
        "settings; each data party returns its SM's top-k on the same public texts (in the "
        "LM's tokens) and numbers (record count, losses, test utility). No private record, "
        "adapter or weight crosses.")


def knowledge_guard(public: PublicRows) -> GuardContext:
    return GuardContext(extra={ROWS_KEY: public})


def knowledge_limit(rows: int, tokens: int, k: int) -> int:
    """A generous size bound for one knowledge message: int32 ids, masks, and up to 4 bytes
    of value and index per top-k entry at every position, plus headers."""
    return rows * tokens * (6 + 8 * k) + MiB


# ---------------------------------------------------------------- codec meta in Flower


def codec_json(meta: Mapping[str, Any]) -> str:
    return json.dumps(dict(meta), sort_keys=True)


def codec_meta(raw: object) -> dict[str, Any]:
    if not isinstance(raw, str) or len(raw) > 4096:
        raise ValueError(f"{CODEC_KEY} must be the codec's settings as a short JSON string")
    meta = json.loads(raw)
    if not isinstance(meta, dict):
        raise ValueError(f"{CODEC_KEY} must be a JSON object")
    return meta


# ---------------------------------------------------------------- combining


def row_cross_entropy(row: TransferRow) -> float:
    """Mean cross-entropy of ``row``'s top-k against the text's own next tokens: the actual
    next token's log-prob where it is in the top-k, else the smallest top-k log-prob (an
    upper bound on it, so a miss is never cheaper than a hit)."""
    assert row.indices is not None
    nxt = row.ids[row.positions + 1].long().unsqueeze(-1)  # (N, 1)
    hit = row.indices == nxt
    logp = torch.where(hit.any(-1), (row.values * hit).sum(-1), row.values.min(-1).values)
    return float(-logp.mean())


def combine_knowledge(by_party: Mapping[str, Sequence[TransferRow]], mode: str
                      ) -> tuple[list[TransferRow], dict[str, int]]:
    """The rows the LM distils this round, and how many each party contributed."""
    if mode == "all":
        rows = [row for party in sorted(by_party) for row in by_party[party]]
        return rows, {party: len(by_party[party]) for party in sorted(by_party)}
    if mode != "min-ce":
        raise ValueError(f"unknown combine mode {mode!r}")
    best: dict[tuple[int, ...], tuple[float, str, TransferRow]] = {}
    for party in sorted(by_party):  # sorted: ties go to the same party every run
        for row in by_party[party]:
            key = tuple(row.ids.tolist())
            ce = row_cross_entropy(row)
            if key not in best or ce < best[key][0]:
                best[key] = (ce, party, row)
    chosen = Counter(party for _, party, _ in best.values())
    return [row for _, _, row in best.values()], {p: chosen.get(p, 0) for p in sorted(by_party)}
