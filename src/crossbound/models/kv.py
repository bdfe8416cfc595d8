"""A causal LM's decoding state over a batch: its KV cache, and where every cached slot sits.

Speculative decoding needs what Hugging Face's ``generate`` does not give a batch: each row
advances by its own number of accepted tokens per step, and rejected drafts are taken back.
:class:`DecodeState` keeps the cache as a grid of *slots* (``B`` rows × ``S`` slots) and, for
every slot, whether it holds a real token of that row and the token's logical position.
Rows feed ragged blocks (shorter rows are padded on the left with *holes*), rewinding a row
marks its last real slots as holes, and the attention mask is built here, explicitly, from
the slots' positions — so holes anywhere, left padding, repeated rows and sliding-window
layers (Gemma-3) are all handled by one rule:

    query (b, q) may attend to slot (b, k)  iff  k is real  and  pos[b, k] <= pos[b, q]
                                             (and pos[b, q] - pos[b, k] < window, sliding layers)

RoPE sees each row's logical positions, so a row's hidden states are what the model computes
on that row alone (up to float rounding). Trailing slots that no row uses are cropped from the
cache; holes are squeezed out by :meth:`DecodeState.compact` once they fill half the cache.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import torch

Reply = Literal["logits", "argmax"]


class DecodeState:
    """One model's KV-cached decoding state for a batch of sequences (see the module notes)."""

    def __init__(self, model: Any, pad_id: int, compact_share: float = 0.5) -> None:
        from transformers import DynamicCache

        self.model = model
        self.pad_id = int(pad_id)
        self.compact_share = compact_share
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") \
            else model.config
        layer_types = list(getattr(config, "layer_types", None) or [])
        # Models with sliding-window layers take one mask per layer type (a dict), as their
        # forward does; others take a single 4-D mask.
        self.window: int | None = (int(config.sliding_window)
                                   if "sliding_attention" in layer_types else None)
        self.vocab = int(config.vocab_size)
        # No config: every layer is a plain DynamicLayer that keeps all slots, so rewinding
        # never runs into a sliding layer that has already dropped what it would need.
        self.cache = DynamicCache()
        self.real = torch.zeros((0, 0), dtype=torch.bool, device=self.device)  # (B, S)
        self.pos = torch.zeros((0, 0), dtype=torch.long, device=self.device)  # (B, S)
        self.next_pos = torch.zeros((0,), dtype=torch.long, device=self.device)  # (B,)
        self.started = False
        self.forwards = 0  # forward passes run
        self.tokens = 0  # real tokens fed
        self.seconds = 0.0  # time spent in forward passes

    @property
    def batch_size(self) -> int:
        return int(self.next_pos.shape[0])

    @property
    def slots(self) -> int:
        return int(self.real.shape[1])

    @torch.no_grad()
    def feed(self, rows: Sequence[Sequence[int]], keep: int = 1,
             reply: Reply = "logits") -> torch.Tensor:
        """Append each row's tokens and run the model once over the block.

        ``rows[b]`` may be empty (the row only waits). Returns the outputs of the last ``keep``
        block columns: logits ``(B, keep, V)`` (float32), or their argmax ``(B, keep)``. Row
        ``b``'s tokens occupy the *last* ``len(rows[b])`` columns, so column ``-1`` is always a
        row's newest token (when it fed one).
        """
        if not self.started:
            self._start(len(rows))
        if len(rows) != self.batch_size:
            raise ValueError(f"feed got {len(rows)} rows for a batch of {self.batch_size}")
        width = max((len(r) for r in rows), default=0)
        if width == 0:
            raise ValueError("feed needs at least one token in some row")
        if not 1 <= keep <= width:
            raise ValueError(f"keep must be in 1..{width}, got {keep}")
        batch = self.batch_size
        ids = torch.full((batch, width), self.pad_id, dtype=torch.long)
        real = torch.zeros((batch, width), dtype=torch.bool)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        for b, row in enumerate(rows):
            if row:
                ids[b, width - len(row):] = torch.as_tensor(list(row), dtype=torch.long)
                real[b, width - len(row):] = True
        ids, real = ids.to(self.device), real.to(self.device)
        lengths = lengths.to(self.device)
        # (B, W) positions: a row's real tokens continue from its next position; its holes
        # sit at that position too (they are never attended to, so any value would do).
        offsets = (real.long().cumsum(-1) - 1).clamp(min=0)
        block_pos = self.next_pos[:, None] + offsets
        self.real = torch.cat([self.real, real], dim=1)
        self.pos = torch.cat([self.pos, block_pos], dim=1)
        mask = self._mask(block_pos, real)
        started = time.perf_counter()
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=block_pos,
                         past_key_values=self.cache, use_cache=True, logits_to_keep=keep)
        logits = out.logits[:, -keep:, : self.vocab].float()
        self.seconds += time.perf_counter() - started
        self.forwards += 1
        self.tokens += int(lengths.sum())
        self.next_pos = self.next_pos + lengths
        return logits.argmax(-1) if reply == "argmax" else logits

    def rewind(self, drop: torch.Tensor | Sequence[int]) -> None:
        """Forget each row's last ``drop[b]`` real tokens (rejected drafts)."""
        drop_t = torch.as_tensor(drop, dtype=torch.long, device=self.device)
        if drop_t.shape != (self.batch_size,) or bool((drop_t < 0).any()):
            raise ValueError(f"drop must hold {self.batch_size} counts >= 0")
        if not bool(drop_t.any()):
            return
        counts = self.real.long().sum(-1)
        if bool((drop_t > counts).any()):
            raise ValueError("cannot rewind a row past its first token")
        # Real slots at or after each slot, counted from the right: (B, S)
        from_right = self.real.long().flip(-1).cumsum(-1).flip(-1)
        self.real = self.real & ~(from_right <= drop_t[:, None])
        self.next_pos = self.next_pos - drop_t
        self._trim()

    def select(self, index: torch.Tensor | Sequence[int]) -> None:
        """Keep rows ``index`` in that order (repeats allowed: a row's cache is copied)."""
        index_t = torch.as_tensor(index, dtype=torch.long, device=self.device)
        if index_t.dim() != 1 or (index_t.numel() and (int(index_t.min()) < 0
                                                      or int(index_t.max()) >= self.batch_size)):
            raise ValueError(f"index must be a 1-D list of rows in 0..{self.batch_size - 1}")
        if index_t.numel() == 0:
            raise ValueError("select needs at least one row (close the state instead)")
        if self.slots:
            self.cache.batch_select_indices(index_t)
        self.real, self.pos = self.real[index_t], self.pos[index_t]
        self.next_pos = self.next_pos[index_t]
        self._trim()

    # ------------------------------------------------------------------ internals

    def _start(self, batch: int) -> None:
        if batch < 1:
            raise ValueError("a batch needs at least one row")
        self.real = torch.zeros((batch, 0), dtype=torch.bool, device=self.device)
        self.pos = torch.zeros((batch, 0), dtype=torch.long, device=self.device)
        self.next_pos = torch.zeros((batch,), dtype=torch.long, device=self.device)
        self.started = True

    def _mask(self, block_pos: torch.Tensor,
              block_real: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Additive masks ``(B, 1, W, S)`` for the block about to run (slots include it)."""
        key_pos = self.pos[:, None, :]  # (B, 1, S)
        query_pos = block_pos[:, :, None]  # (B, W, 1)
        allowed = self.real[:, None, :] & (key_pos <= query_pos)  # (B, W, S)
        width, slots = block_pos.shape[1], self.slots
        # A hole's query looks at its own slot only, so that no row of the mask is empty.
        own = torch.zeros((1, width, slots), dtype=torch.bool, device=self.device)
        own[0, torch.arange(width), slots - width + torch.arange(width)] = True
        hole_rows = ~block_real[:, :, None]
        full = torch.where(hole_rows, own, allowed)
        if self.window is None:
            return self._additive(full)
        sliding = torch.where(hole_rows, own, allowed & (query_pos - key_pos < self.window))
        return {"full_attention": self._additive(full),
                "sliding_attention": self._additive(sliding)}

    def _additive(self, allowed: torch.Tensor) -> torch.Tensor:
        # Float (not bool) so that eager attention, which adds the mask, reads it right too.
        zero = torch.zeros((), dtype=self.dtype, device=self.device)
        low = torch.tensor(torch.finfo(self.dtype).min, dtype=self.dtype, device=self.device)
        return torch.where(allowed, zero, low)[:, None]

    def _trim(self) -> None:
        """Crop trailing slots no row uses; squeeze holes out when they fill the cache."""
        used = self.real.any(0).nonzero()
        keep = int(used.max()) + 1 if used.numel() else 0
        extra = self.slots - keep
        if extra > 0:
            self.cache.crop(-extra)
            self.real, self.pos = self.real[:, :keep], self.pos[:, :keep]
        holes = self.real.numel() - int(self.real.sum())
        if self.slots >= 16 and holes > self.compact_share * self.real.numel():
            self.compact()

    def compact(self) -> None:
        """Move every row's real slots to the right end of a shorter grid (holes on the left).

        Positions travel with their keys, so attention is unchanged; only the grid shrinks.
        """
        counts = self.real.long().sum(-1)
        width = int(counts.max()) if counts.numel() else 0
        if width == self.slots:
            return
        # Stable sort puts each row's holes first and keeps its real slots in order; the last
        # `width` columns then hold all of its real slots: (B, width) slot indices.
        order = torch.sort(self.real.long(), dim=-1, stable=True).indices[:, self.slots - width:]
        layers: list[Any] = list(self.cache.layers)
        for layer in layers:
            if not hasattr(layer, "keys") or layer.keys is None or layer.keys.dim() != 4:
                raise TypeError(f"cannot compact a {type(layer).__name__} cache layer")
            layer.keys = _gather_slots(layer.keys, order)
            layer.values = _gather_slots(layer.values, order)
        self.real, self.pos = self.real.gather(1, order), self.pos.gather(1, order)


def _gather_slots(states: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``states[b, :, order[b, j], :]`` for cached states ``(B, heads, S, dim)``."""
    index = order[:, None, :, None].expand(-1, states.shape[1], -1, states.shape[3])
    return states.gather(2, index)
