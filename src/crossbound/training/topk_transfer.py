"""Top-k logit transfer between the parties: a teacher's top-k next-token log-probs over
transfer text — asked of the model party (:func:`query_topk`, downward) or computed locally by
the data party's SM (:func:`local_topk`, upward) — lined up with the student's tokens.

Same tokenizer: teacher position t is student position t. Different tokenizers (e.g.
``gemma3-270m`` → ``smollm2-135m``): both tokenise the same text, and a position is kept where
both tokenizers start their next token at the same character (the contexts before it are then
the same string). Each teacher token id is mapped to the student token that starts its text —
the student's first piece of the teacher's token — which is the student token that best plays
its part in next-token prediction; teacher ids that map to the same student id merge
(log-sum-exp). FedMKT (arXiv:2406.02224) maps by minimum edit distance between token strings;
the first-piece map agrees with it wherever a token exists in both vocabularies and, unlike an
edit-distance match, never maps to a token the teacher's text does not start with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from crossbound.boundary.channel import Boundary
from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.logit_codec import TopkCodec
from crossbound.boundary.messages import Kind, Message, MessageError, encode, topk_from_message
from crossbound.training.distill import TransferRow


@dataclass
class TopkReply:
    """The teacher's top-k at every position of one row: values/indices ``(T, k)``."""

    ids: list[int]
    values: torch.Tensor
    indices: torch.Tensor


def query_topk(
    boundary: Boundary,
    sender: str,
    rows: Sequence[Sequence[int]],
    *,
    k: int,
    value_bits: int = 32,
    rows_per_request: int = 16,
    on_request: Callable[[int], None] | None = None,
    wire: dict[str, int] | None = None,
    model: str | None = None,
) -> list[TopkReply]:
    """Ask the model party for the top-k at every position of ``rows`` (its token ids).

    ``model``: which of its models answers (``meta.model``; None: the LM itself).

    ``value_bits`` < 32 asks for the compressed reply. ``on_request(n_rows)`` is called after
    each request (progress). ``wire`` collects ``reply_bytes`` (encoded replies, headers
    included) and ``tokens`` (positions scored).
    """
    if not rows or any(len(r) < 2 for r in rows):
        raise ValueError("every transfer row needs at least 2 tokens")
    out: list[TopkReply] = []
    for start in range(0, len(rows), rows_per_request):
        chunk = [list(r) for r in rows[start : start + rows_per_request]]
        width = max(len(r) for r in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.int32)  # (B, T)
        mask = torch.zeros((len(chunk), width), dtype=torch.uint8)
        for i, r in enumerate(chunk):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.int32)
            mask[i, : len(r)] = 1
        meta: dict[str, Any] = {"op": "topk_logprobs", "k": k}
        if value_bits != 32:
            meta["value_bits"] = value_bits
        if model is not None:
            meta["model"] = model
        reply = boundary.request(Message(Kind.TOKEN_IDS, sender, MODEL_PARTY,
                                         {"ids": ids, "mask": mask}, meta))
        if wire is not None:
            wire["reply_bytes"] = wire.get("reply_bytes", 0) + len(encode(reply))
            wire["tokens"] = wire.get("tokens", 0) + int(mask.sum())
        values, indices = topk_from_message(reply)  # (B, T, k) each
        if values.shape[:2] != ids.shape or values.shape[-1] != k:
            raise ValueError(f"the model party answered {tuple(values.shape)} for a "
                             f"{tuple(ids.shape)} request with k = {k}")
        for i, r in enumerate(chunk):
            out.append(TopkReply(r, values[i, : len(r)], indices[i, : len(r)]))
        if on_request:
            on_request(len(chunk))
    return out


@torch.no_grad()
def topk_every_position(model: Any, ids: torch.Tensor, mask: torch.Tensor, k: int,
                        batch_size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k next-token log-probs of ``model`` at every position of right-padded ``ids``
    ``(B, T)``: values float32 and indices int32, ``(B, T, k)``; padded positions are zero."""
    values = torch.zeros((*ids.shape, k), dtype=torch.float32)
    indices = torch.zeros((*ids.shape, k), dtype=torch.int32)
    device = next(model.parameters()).device
    for start in range(0, ids.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        batch_ids, batch_mask = ids[rows].to(device), mask[rows].to(device)
        positions = (batch_mask.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=batch_ids, attention_mask=batch_mask,
                       position_ids=positions).logits
        top = torch.log_softmax(logits.float(), dim=-1).topk(k, dim=-1)  # (b, T, k)
        keep = batch_mask.unsqueeze(-1).bool()
        values[rows] = (top.values * keep).cpu()
        indices[rows] = (top.indices * keep).to(torch.int32).cpu()
    return values, indices


def local_topk(model: Any, rows: Sequence[Sequence[int]], k: int,
               batch_size: int = 8) -> list[TopkReply]:
    """What :func:`query_topk` returns, computed by a model the caller holds (the SM)."""
    if not rows or any(len(r) < 2 for r in rows):
        raise ValueError("every transfer row needs at least 2 tokens")
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(list(r))
        mask[i, : len(r)] = 1
    was_training = model.training
    model.eval()
    try:
        values, indices = topk_every_position(model, ids, mask, k, batch_size)
    finally:
        model.train(was_training)
    return [TopkReply(list(r), values[i, : len(r)], indices[i, : len(r)])
            for i, r in enumerate(rows)]


def same_vocabulary(a: object, b: object) -> bool:
    """Two tokenizers that map the same strings to the same ids (checked on a probe)."""
    probe = "Route the patient message: chest pain since Monday, call 555-0142. Ünïcode ✓"
    return (len(a) == len(b)  # type: ignore[arg-type]
            and a(probe, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
            == b(probe, add_special_tokens=False)["input_ids"])  # type: ignore[operator]


def same_tokenizer_rows(replies: Sequence[TopkReply]) -> list[TransferRow]:
    """Targets at every position but the last (which predicts past the row's end)."""
    return [TransferRow(ids=torch.tensor(r.ids), positions=torch.arange(len(r.ids) - 1),
                        values=r.values[:-1].float(), indices=r.indices[:-1].long())
            for r in replies]


@dataclass
class VocabMap:
    """Teacher token id → student token id (the student's first piece of its text); -1 when
    the teacher token's text is empty for the student (e.g. special tokens)."""

    teacher_tokenizer: Any
    student_tokenizer: Any
    _cache: dict[int, int] = field(default_factory=dict)

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1).tolist()
        missing = sorted({i for i in flat if i not in self._cache})
        if missing:
            texts = self.teacher_tokenizer.batch_decode([[i] for i in missing])
            pieces = self.student_tokenizer(texts, add_special_tokens=False)["input_ids"]
            for i, text, piece in zip(missing, texts, pieces, strict=True):
                self._cache[i] = piece[0] if text and piece else -1
        return torch.tensor([self._cache[i] for i in flat], dtype=torch.long).reshape(ids.shape)

    @property
    def size(self) -> int:
        return len(self._cache)


def _starts(offsets: Sequence[tuple[int, int]]) -> list[int]:
    return [a for a, _ in offsets]


def align_rows(
    texts: Sequence[str],
    replies: Sequence[TopkReply],
    teacher_offsets: Sequence[Sequence[tuple[int, int]]],
    student_tokenizer: Any,
    vocab_map: VocabMap,
    max_length: int,
) -> tuple[list[TransferRow], dict[str, float]]:
    """Move teacher targets onto the student's tokens (see the module docstring).

    Returns the rows and alignment statistics: the share of student positions that got a
    target, and the share of teacher probability mass that found a student token.
    """
    rows: list[TransferRow] = []
    kept_positions = 0
    student_positions = 0
    mass_kept = 0.0
    mass_total = 0.0
    for text, reply, t_offsets in zip(texts, replies, teacher_offsets, strict=True):
        enc = student_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        s_ids = list(enc["input_ids"])[:max_length]
        s_starts = _starts(enc["offset_mapping"])[: len(s_ids)]
        t_starts = _starts(t_offsets)[: len(reply.ids)]
        # position → the char where the *next* token starts
        teacher_at = {t_starts[j + 1]: j for j in range(len(t_starts) - 1)}
        pairs = [(i, teacher_at[s_starts[i + 1]]) for i in range(len(s_ids) - 1)
                 if s_starts[i + 1] in teacher_at]
        student_positions += max(0, len(s_ids) - 1)
        if not pairs:
            continue
        s_pos = torch.tensor([i for i, _ in pairs])
        t_pos = torch.tensor([j for _, j in pairs])
        values = reply.values[t_pos].float()  # (N, k) teacher log-probs
        mapped = vocab_map(reply.indices[t_pos].long())  # (N, k) student ids or -1
        values, mapped, kept_mass = _merge_duplicates(values, mapped)
        ok = torch.isfinite(values).any(-1)
        if not bool(ok.any()):
            continue
        mass_total += float(values.shape[0])
        mass_kept += float(kept_mass[ok].sum())
        kept_positions += int(ok.sum())
        rows.append(TransferRow(ids=torch.tensor(s_ids), positions=s_pos[ok],
                                values=values[ok], indices=mapped[ok]))
    stats = {
        "aligned_positions": kept_positions,
        "aligned_share": kept_positions / max(1, student_positions),
        "mapped_topk_mass": mass_kept / max(1.0, mass_total),
        "vocab_map_entries": vocab_map.size,
    }
    return rows, stats


def _merge_duplicates(values: torch.Tensor, mapped: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per position, merge entries that map to the same student id (log-sum-exp of their
    probabilities); unmapped (-1) and merged-away entries become −inf (outside the support).
    Also returns the share of the top-k probability mass that mapped, per position."""
    n, k = values.shape
    out_v = torch.full_like(values, -torch.inf)
    out_i = torch.zeros_like(mapped)
    probs = values.exp()
    kept = torch.zeros(n)
    for row in range(n):
        slot = 0
        seen: dict[int, int] = {}
        for col in range(k):
            sid = int(mapped[row, col])
            if sid < 0:
                continue
            if sid in seen:
                at = seen[sid]
                out_v[row, at] = torch.logaddexp(out_v[row, at], values[row, col])
            else:
                seen[sid] = slot
                out_v[row, slot] = values[row, col]
                out_i[row, slot] = sid
                slot += 1
        total = float(probs[row].sum())
        mapped_mass = float(probs[row][mapped[row] >= 0].sum())
        kept[row] = mapped_mass / total if total > 0 else 0.0
    return out_v, out_i, kept


# ---------------------------------------------------------------- rows on the wire

MAX_TRANSFER_TOKENS = 1 << 18  # B·T of one message of transfer rows


def transfer_payload(rows: Sequence[TransferRow], value_bits: int, vocab: int
                     ) -> tuple[dict[str, torch.Tensor], TopkCodec]:
    """Transfer rows as one tensors payload: ``ids``/``mask`` ``(B, T)`` right-padded,
    ``targets`` ``(B, T)`` marking the positions with a target, and the targets' top-k in
    row-major order of the marks, compressed (the codec's meta goes with the message)."""
    if not rows:
        raise ValueError("no transfer rows to send")
    width = max(int(r.ids.shape[0]) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.int32)
    mask = torch.zeros((len(rows), width), dtype=torch.uint8)
    targets = torch.zeros((len(rows), width), dtype=torch.uint8)
    for i, row in enumerate(rows):
        ids[i, : row.ids.shape[0]] = row.ids.to(torch.int32)
        mask[i, : row.ids.shape[0]] = 1
        targets[i, row.positions] = 1
    order = [torch.argsort(r.positions) for r in rows]
    values = torch.cat([r.values[o] for r, o in zip(rows, order, strict=True)])
    indices = torch.cat([r.indices[o] for r, o in zip(rows, order, strict=True)
                         if r.indices is not None])
    codec = TopkCodec(k=int(values.shape[-1]), value_bits=value_bits,
                      vocab_size=max(vocab, 2))
    return {"ids": ids, "mask": mask, "targets": targets, **codec.encode(values, indices)}, codec


def transfer_rows_from(payload: dict[str, torch.Tensor], codec_meta: Any, vocab: int,
                       ) -> list[TransferRow]:
    """Read back :func:`transfer_payload`, checking everything (shapes, dtypes, right
    padding, ids below ``vocab``, no target on a row's last token, finite values); a
    :class:`MessageError` says what is wrong."""
    ids, mask, targets = (payload.get(k) for k in ("ids", "mask", "targets"))
    if ids is None or mask is None or targets is None:
        raise MessageError("transfer rows need tensors ids, mask and targets (B, T)")
    if (ids.dim() != 2 or ids.numel() == 0 or ids.dtype.is_floating_point
            or ids.is_complex()):
        raise MessageError("ids must be a non-empty 2-D integer tensor (rows, tokens)")
    if ids.numel() > MAX_TRANSFER_TOKENS:
        raise MessageError(f"{ids.numel()} tokens exceed the limit of {MAX_TRANSFER_TOKENS}")
    if mask.shape != ids.shape or targets.shape != ids.shape:
        raise MessageError("mask and targets must have the shape of ids")
    ids, mask, targets = ids.long(), mask.long(), targets.long()
    for name, t in (("mask", mask), ("targets", targets)):
        if not bool(((t == 0) | (t == 1)).all()):
            raise MessageError(f"{name} must hold only 0 and 1")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab:
        raise MessageError(f"token ids must lie in 0..{vocab - 1}")
    lengths = mask.sum(-1)
    if not bool((mask == (torch.arange(ids.shape[1]) < lengths.unsqueeze(-1)).long()).all()):
        raise MessageError("mask must be right-padded: ones, then zeros, in every row")
    if bool((targets > mask).any()) or int(lengths.min()) < 1:
        raise MessageError("targets may mark only unpadded positions; no row may be empty")
    last = targets.gather(1, (lengths - 1).unsqueeze(-1))
    if bool(last.any()):
        raise MessageError("targets may not mark a row's last token: the top-k there would "
                           "predict past the row's end")
    try:
        codec = TopkCodec.from_meta(codec_meta)
    except (ValueError, TypeError) as exc:
        raise MessageError(f"meta.codec: {exc}") from None
    if codec.vocab_size > vocab:
        raise MessageError(f"the top-k ids must be in the receiver's vocabulary ({vocab} "
                           f"tokens), the codec allows {codec.vocab_size}")
    topk = {k: v for k, v in payload.items() if k not in ("ids", "mask", "targets")}
    values, indices = codec.decode(topk)  # checks shapes, padding bits, ids < vocab
    n = int(targets.sum())
    if values.dim() != 2 or values.shape[0] != n:
        raise MessageError(f"{n} target positions, but the top-k has shape "
                           f"{tuple(values.shape)}; expected ({n}, k)")
    if not bool(torch.isfinite(values).all()):
        raise MessageError("top-k log-probs must be finite")
    rows: list[TransferRow] = []
    start = 0
    for i in range(ids.shape[0]):
        length = int(lengths[i])
        positions = targets[i].nonzero().flatten()
        count = int(positions.shape[0])
        if count == 0:
            continue
        rows.append(TransferRow(ids=ids[i, :length], positions=positions,
                                values=values[start : start + count].float(),
                                indices=indices[start : start + count].long()))
        start += count
    if not rows:
        raise MessageError("no row carries a target position")
    return rows
