"""Where each sequence of a batch ends: EOS, stop strings, or the token budget.

Every engine (LM alone, speculative, proxy-tuned) hands its new tokens to one
:class:`Outputs`, so they all end sequences by the same rule — which is what makes their
outputs comparable token for token. A speculative step can emit several tokens at once; the
ones after the end are dropped here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Finish = Literal["eos", "stop", "length"]


def eos_ids(tokenizer: Any, model: Any = None) -> set[int]:
    """The ids that end a sequence: the tokenizer's EOS and the model's generation config's."""
    found: set[int] = set()
    if tokenizer.eos_token_id is not None:
        found.add(int(tokenizer.eos_token_id))
    config = getattr(model, "generation_config", None)
    extra = getattr(config, "eos_token_id", None) if config is not None else None
    if isinstance(extra, int):
        found.add(extra)
    elif isinstance(extra, Iterable):
        found.update(int(i) for i in extra)
    return found


@dataclass
class Outputs:
    """The generated tokens of a batch, row by row, and why each row ended."""

    tokenizer: Any
    rows: int
    max_new_tokens: int
    eos: set[int] = field(default_factory=set)
    stop: tuple[str, ...] = ()
    ids: list[list[int]] = field(init=False)
    finish: list[Finish | None] = field(init=False)
    _cut: list[int | None] = field(init=False)  # character offset of a stop string

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if any(not s for s in self.stop):
            raise ValueError("stop strings must be non-empty")
        self.ids = [[] for _ in range(self.rows)]
        self.finish = [None] * self.rows
        self._cut = [None] * self.rows

    def done(self, row: int) -> bool:
        return self.finish[row] is not None

    def active(self) -> list[int]:
        return [r for r in range(self.rows) if self.finish[r] is None]

    def extend(self, row: int, tokens: Sequence[int]) -> int:
        """Append ``tokens`` to ``row`` until it ends; return how many were taken."""
        if self.finish[row] is not None:
            raise ValueError(f"row {row} has already ended ({self.finish[row]})")
        out = self.ids[row]
        start = len(out)
        taken = 0
        for token in tokens:
            out.append(int(token))
            taken += 1
            if int(token) in self.eos:
                self.finish[row] = "eos"
                break
            if len(out) >= self.max_new_tokens:
                self.finish[row] = "length"
                break
        if self.stop and self.finish[row] != "eos":
            self._check_stop(row, start)
        return taken

    def _check_stop(self, row: int, start: int) -> None:
        """End ``row`` at the first token that completes a stop string (tokens after it go)."""
        out = self.ids[row]
        if self._first_stop(self._decode(out)) is None:
            return
        # The stop string appeared among this call's tokens: find the first one that shows it.
        for end in range(start + 1, len(out) + 1):
            cut = self._first_stop(self._decode(out[:end]))
            if cut is not None:
                del out[end:]
                self.finish[row] = "stop"
                self._cut[row] = cut
                return

    def _first_stop(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self.stop) if i >= 0]
        return min(hits) if hits else None

    def _decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def texts(self) -> list[str]:
        """Each row's text: special tokens left out, cut before a stop string."""
        texts = []
        for row, ids in enumerate(self.ids):
            text = self._decode(ids)
            cut = self._cut[row]
            texts.append(text if cut is None else text[:cut])
        return texts

    def reasons(self) -> list[Finish]:
        return [f if f is not None else "length" for f in self.finish]
