"""One LM for a whole bench, its deterministic answers and the tuned SMs computed once.

Most cells ask the model party the same things: its label scores on the test prompts (the LM
alone, the cascade's reference, the private prompt's raw reference), its top-k on the same
public transfer texts (logit-kd at every record budget), its greedy generations for the same
seeds. Computing them once per task is what makes a quick profile affordable; charging them to
every cell that asked is what keeps the cells' costs honest.

:class:`BenchShare` loads the LM once (per frozen dtype) and hands each cell a fresh model party
(so per-party state — offsite bundles, upward copies, decoding sessions — never leaks from one
cell into the next) behind a :class:`MemoParty`. The memo answers ``score_choices``,
``generate`` and ``topk_logprobs`` on the LM itself item by item (a prompt, a token row): only
the items not seen before reach the LM, and the reply is built exactly as the party would
build it, so what crosses the boundary — bytes, transcript, ``lm_tokens`` — is the same as
without the memo. Each item remembers the LM seconds it cost; a cell that reuses an item is
charged those seconds (:meth:`BenchShare.reused`, added to its wall time by the runner).

The same holds on the data side: the SM fine-tuned on the first N private records with the
same settings is the SM-alone baseline at that budget and the SM the cascade and the private
prompt route with. :meth:`BenchShare.trained` keeps its weights after the first cell trains it;
a later cell asking for the same training (model, records, every setting) gets a copy and is
charged the training seconds.

Requests for a party's own tuned copy (``meta.model`` other than ``"lm"``) and every other
operation go straight to the cell's model party: their answers depend on that cell's state.
Answers can differ in the last bits from a fresh computation (a prompt scored in another batch
is padded differently); the memo keeps the first.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message
from crossbound.models.loading import LoadedModel, load_model
from crossbound.models.precision import frozen_dtype
from crossbound.parties import ModelParty, scores_from
from crossbound.parties.model_party import ProgressHook

T = TypeVar("T")
MEMO_OPS = ("score_choices", "generate", "topk_logprobs")


@dataclass
class _Item:
    value: Any  # one prompt's scores or answer, or one token row's (values, indices)
    seconds: float  # LM seconds it cost when computed


@dataclass
class Reuse:
    """What one cell got from the memo instead of computing it."""

    items: int = 0  # prompts / token rows answered from the memo
    seconds: float = 0.0  # LM seconds those items cost when first computed
    load_seconds: float = 0.0  # the LM's load, when another cell paid for it
    trainings: int = 0  # SM fine-tunings taken from an earlier cell
    train_seconds: float = 0.0  # what they cost there
    results: int = 0  # other results computed once (the untuned SM's evaluation)
    result_seconds: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {"items": self.items, "lm_seconds": round(self.seconds, 3),
                "load_seconds": round(self.load_seconds, 3), "sm_trainings": self.trainings,
                "sm_train_seconds": round(self.train_seconds, 3), "results": self.results,
                "result_seconds": round(self.result_seconds, 3)}


@dataclass
class _Trained:
    state: dict[str, torch.Tensor]  # the tuned weights (a copy)
    outcome: Any  # what the training returned (its stats)
    seconds: float


class BenchShare:
    """The bench's LM and the memo of its answers (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._models: dict[torch.dtype, tuple[LoadedModel, float]] = {}
        self._memo: dict[Hashable, _Item] = {}
        self._trained: dict[str, _Trained] = {}
        self._results: dict[str, tuple[Any, float]] = {}
        self.reuse = Reuse()

    def begin_cell(self) -> None:
        self.reuse = Reuse()

    def reused(self) -> dict[str, float]:
        return self.reuse.to_dict()

    def party(self, batch_size: int = 8, progress: ProgressHook | None = None) -> MemoParty:
        """A fresh model party over the shared LM, in the current precision scope, drawing
        its long work with ``progress``."""
        dtype = frozen_dtype()
        if dtype in self._models:
            lm, seconds = self._models[dtype]
            self.reuse.load_seconds += seconds
        else:
            started = time.perf_counter()
            lm = load_model(self.name, frozen=True)
            self._models[dtype] = (lm, time.perf_counter() - started)
        party = ModelParty(lm, batch_size=batch_size)
        party.on_progress = progress
        return MemoParty(party, self)

    def once(self, key: dict[str, Any], compute: Callable[[], T]) -> T:
        """``compute()``, or what it returned when a cell already computed ``key``."""
        digest = _digest(key)
        if digest in self._results:
            value, seconds = self._results[digest]
            self.reuse.results += 1
            self.reuse.result_seconds += seconds
            done: T = value
            return done
        started = time.perf_counter()
        value = compute()
        self._results[digest] = (value, time.perf_counter() - started)
        return value

    def trained(self, key: dict[str, Any], model: torch.nn.Module,
                train: Callable[[], T]) -> T:
        """Fine-tune ``model`` with ``train`` — or, when a cell already ran the training that
        ``key`` describes (the model, the records, every setting), load its weights instead
        and return what its training returned."""
        digest = _digest(key)
        done = self._trained.get(digest)
        if done is not None:
            model.load_state_dict(done.state)
            self.reuse.trainings += 1
            self.reuse.train_seconds += done.seconds
            outcome: T = done.outcome
            return outcome
        started = time.perf_counter()
        outcome = train()
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._trained[digest] = _Trained(state, outcome, time.perf_counter() - started)
        return outcome

    def lookup(self, keys: Sequence[Hashable]) -> list[_Item | None]:
        return [self._memo.get(key) for key in keys]

    def store(self, keys: Sequence[Hashable], values: Sequence[Any], seconds: float) -> None:
        each = seconds / max(1, len(keys))
        for key, value in zip(keys, values, strict=True):
            self._memo.setdefault(key, _Item(value, each))

    def charge(self, items: Sequence[_Item | None]) -> None:
        for item in items:
            if item is not None:
                self.reuse.items += 1
                self.reuse.seconds += item.seconds


class MemoParty:
    """A cell's model party, answering what the LM already answered from the shared memo."""

    name = MODEL_PARTY

    def __init__(self, party: ModelParty, shared: BenchShare) -> None:
        self.party = party
        self.shared = shared

    def handle(self, request: Message) -> Message:
        op = request.meta.get("op")
        if op not in MEMO_OPS or request.meta.get("model", "lm") != "lm":
            return self.party.handle(request)
        if op == "topk_logprobs":
            return self._topk(request)
        prompts = self.party.prompts_of(request)
        if op == "score_choices":
            choices = request.meta.get("choices")
            if not isinstance(choices, list):  # the party says what is wrong with it
                return self.party.handle(request)
            tag: tuple[Any, ...] = ("score", self.shared.name, tuple(map(str, choices)))
            scores = self._items(request, [(*tag, p) for p in prompts], prompts,
                                 lambda reply: list(scores_from(reply)))
            return self.party.reply(request, Kind.TENSORS,
                                    {"choice_logprobs": torch.stack(scores)},
                                    self.party.count_tokens(prompts))
        max_new = request.meta.get("max_new_tokens")
        tag = ("generate", self.shared.name, repr(max_new))
        answers = self._items(request, [(*tag, p) for p in prompts], prompts,
                              lambda reply: list(reply.payload))
        return self.party.reply(request, Kind.TEXT, answers,
                                self.party.count_tokens(prompts) + self.party.count_tokens(answers))

    def _items(self, request: Message, keys: list[Hashable], prompts: list[str],
               split: Callable[[Message], list[Any]]) -> list[Any]:
        """Each prompt's answer: from the memo, or from one request to the LM for the rest."""
        found = self.shared.lookup(keys)
        missing = [i for i, item in enumerate(found) if item is None]
        values: list[Any] = [item.value if item is not None else None for item in found]
        if missing:
            sub = Message(kind=request.kind, sender=request.sender, receiver=request.receiver,
                          payload=[prompts[i] for i in missing], meta=dict(request.meta))
            started = time.perf_counter()
            computed = split(self.party.handle(sub))
            self.shared.store([keys[i] for i in missing], computed,
                              time.perf_counter() - started)
            for i, value in zip(missing, computed, strict=True):
                values[i] = value
        self.shared.charge(found)
        return values

    def _topk(self, request: Message) -> Message:
        ask = self.party.topk_request(request)
        keys: list[Hashable] = [("topk", self.shared.name, ask.k, row.numpy().tobytes(),
                                 m.numpy().tobytes())
                                for row, m in zip(ask.ids, ask.mask, strict=True)]
        found = self.shared.lookup(keys)
        missing = [i for i, item in enumerate(found) if item is None]
        rows: list[Any] = [item.value if item is not None else None for item in found]
        if missing:
            sub = Message(kind=Kind.TOKEN_IDS, sender=request.sender,
                          receiver=request.receiver,
                          payload={"ids": ask.ids[missing], "mask": ask.mask[missing]},
                          meta={**request.meta, "value_bits": 32})
            started = time.perf_counter()
            reply = self.party.handle(sub)
            computed = list(zip(reply.payload["values"], reply.payload["indices"], strict=True))
            self.shared.store([keys[i] for i in missing], computed,
                              time.perf_counter() - started)
            for i, value in zip(missing, computed, strict=True):
                rows[i] = value
        self.shared.charge(found)
        return self.party.topk_reply(request, ask, torch.stack([v for v, _ in rows]),
                                     torch.stack([i for _, i in rows]))


def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
