"""Fair turns at the model: round-robin between parties, preemptible between forward passes.

One model serves every party, one forward pass at a time. Without a policy, whoever asks first
holds it for as long as its request runs (a 16-prompt × 512-token generation on a CPU: minutes),
so one party can starve the others. :class:`FairTurns` hands the model out in turns:

- every request waits for a turn in its party's FIFO queue; parties with waiting requests take
  turns round-robin, so a party sending many requests at once waits as long as one sending one;
- a turn is preemptible at forward-pass granularity: a forward pre-hook on the LM's input
  embeddings (:func:`install_preemption`) runs before every forward pass, and while another
  party waits, a turn that has run at least one forward pass and for ``quantum_s`` or longer
  hands the model over and waits for its party's next turn, resuming exactly where it stopped
  (the KV cache lives in the request's own generation state, so the output does not change).

The bound this gives (it follows from the order of grants, tested without clocks in
``tests/test_service_fairness.py``): while party A floods, a request of party B waits at most
one of A's slices (``quantum_s`` plus one forward pass) before each of its own slices. With the
default ``quantum_s`` 0 the two alternate forward pass by forward pass, so B's request takes
its unloaded time plus one of A's forward passes per forward pass of its own: about 2× when
A's forward passes cost about what B's do (the size caps keep them comparable);
``benchmarks/fairness.py`` measures it.

Only operations that read the LM without changing any shared state are preempted (generation,
scoring, top-k, decoding steps on the plain LM); training and adapter operations run their turn
to the end, bounded by their own limits. Within a party, requests run in arrival order and a
preempted request resumes before the party's next one starts, so at most one worker thread per
party waits preempted.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

# The turn the current worker thread runs under, if any (set by FairTurns.running).
_local = threading.local()


@dataclass(eq=False)
class Ticket:
    """One request's claim on the model; ``granted`` is set while it holds the turn."""

    party: str
    granted: threading.Event = field(default_factory=threading.Event)
    loop: asyncio.AbstractEventLoop | None = None
    ready: asyncio.Event | None = None  # set on ``loop`` when granted (async waiters)
    started: float = 0.0  # perf_counter at the latest grant
    forwards: int = 0  # forward passes begun in the current turn

    def _grant(self) -> None:
        self.started = time.perf_counter()
        self.forwards = 0
        self.granted.set()
        if self.loop is not None and self.ready is not None:
            # a closed loop (RuntimeError) has nobody waiting asynchronously any more
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.ready.set)


class FairTurns:
    """Per-party FIFO queues served round-robin; one holder at a time.

    ``quantum_s`` is how long a preemptible turn keeps the model while another party waits
    (0: hand over before every forward pass; None: never preempt, turns end with requests).
    ``grants`` counts the turns given per party; ``log`` (when a list) records each grant's
    party in order, for tests.
    """

    def __init__(self, quantum_s: float | None = 0.0) -> None:
        if quantum_s is not None and quantum_s < 0:
            raise ValueError("quantum_s must be ≥ 0 (or None: never preempt)")
        self.quantum_s = quantum_s
        self._lock = threading.Lock()
        self._holder: Ticket | None = None
        self._queues: dict[str, deque[Ticket]] = {}
        self._rotation: deque[str] = deque()  # parties with waiting tickets, next first
        self.log: list[str] | None = None
        self.preemptions = 0

    # ---------------------------------------------------------------- bookkeeping (locked)

    def _enqueue(self, ticket: Ticket, front: bool = False) -> None:
        queue = self._queues.setdefault(ticket.party, deque())
        if front:
            queue.appendleft(ticket)
        else:
            queue.append(ticket)
        if ticket.party not in self._rotation:
            self._rotation.append(ticket.party)

    def _grant_next(self) -> None:
        """Give the turn to the first waiting ticket of the next party in rotation."""
        self._holder = None
        if not self._rotation:
            return
        party = self._rotation.popleft()
        queue = self._queues[party]
        ticket = queue.popleft()
        if queue:
            self._rotation.append(party)  # its next request waits for a full round
        else:
            del self._queues[party]
        self._holder = ticket
        if self.log is not None:
            self.log.append(party)
        ticket._grant()

    def _others_waiting(self, party: str) -> bool:
        return any(p != party for p in self._rotation)

    # ---------------------------------------------------------------- the public side

    def ticket(self, party: str) -> Ticket:
        """Queue a claim for ``party``; granted at once when the model is free."""
        ticket = Ticket(party)
        try:
            ticket.loop = asyncio.get_running_loop()
            ticket.ready = asyncio.Event()
        except RuntimeError:  # no loop: a thread will wait on ``granted``
            pass
        with self._lock:
            self._enqueue(ticket)
            if self._holder is None:
                self._grant_next()
        return ticket

    def release(self, ticket: Ticket) -> None:
        """End ``ticket``'s turn (or withdraw it, if it is still waiting)."""
        with self._lock:
            if self._holder is ticket:
                # The releasing party goes behind every other waiting party.
                if ticket.party in self._rotation:
                    self._rotation.remove(ticket.party)
                    self._rotation.append(ticket.party)
                self._grant_next()
                return
            queue = self._queues.get(ticket.party)
            if queue is not None and ticket in queue:
                queue.remove(ticket)
                if not queue:
                    del self._queues[ticket.party]
                    self._rotation.remove(ticket.party)

    def maybe_yield(self, ticket: Ticket) -> bool:
        """Between forward passes: hand the model over if another party waits and this turn
        has had its quantum; block until this party's next turn. True when it yielded."""
        if self.quantum_s is None:
            return False
        with self._lock:
            ticket.forwards += 1
            if self._holder is not ticket or not self._others_waiting(ticket.party):
                return False
            # every turn runs at least one forward pass, so every turn makes progress
            if ticket.forwards == 1 or time.perf_counter() - ticket.started < self.quantum_s:
                return False
            ticket.granted.clear()
            if ticket.ready is not None:
                ticket.ready = None  # nobody awaits it asynchronously any more
            self._enqueue(ticket, front=True)  # resumes before its party's later requests
            self._rotation.remove(ticket.party)
            self._rotation.append(ticket.party)  # ... after every other waiting party
            self.preemptions += 1
            self._grant_next()
        ticket.granted.wait()
        ticket.forwards = 1  # the forward pass about to run is the new turn's first
        return True

    @property
    def waiting(self) -> dict[str, int]:
        with self._lock:
            return {party: len(q) for party, q in self._queues.items()}

    @property
    def holder(self) -> str | None:
        with self._lock:
            return self._holder.party if self._holder is not None else None

    @contextmanager
    def running(self, ticket: Ticket, preemptible: bool) -> Iterator[None]:
        """Mark the current (worker) thread as running under ``ticket``: forward passes in it
        may yield the model (``preemptible``) between them."""
        previous = getattr(_local, "slot", None)
        _local.slot = (self, ticket) if preemptible else None
        try:
            yield
        finally:
            _local.slot = previous

    def call(self, ticket: Ticket, preemptible: bool, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in this thread under ``ticket`` (for ``run_in_threadpool``)."""
        with self.running(ticket, preemptible):
            return fn(*args)


async def wait_turn(ticket: Ticket) -> None:
    """Wait without occupying a thread until ``ticket`` holds the turn."""
    if ticket.ready is None:  # made outside a loop: poll the thread event
        while not ticket.granted.is_set():
            await asyncio.sleep(0.002)
        return
    await ticket.ready.wait()


def _pre_forward(module: Any, args: Any) -> None:
    slot = getattr(_local, "slot", None)
    if slot is not None:
        turns, ticket = slot
        turns.maybe_yield(ticket)


def install_preemption(model: Any) -> None:
    """Let preemptible turns hand the model over before any forward pass of ``model``.

    The hook sits on the input embeddings (run once at the start of every forward pass, also
    of wrappers sharing them) and does nothing in threads that run no preemptible turn, so the
    model behaves as before for every other caller. Installed once per model.
    """
    embeddings = model.get_input_embeddings()
    if not getattr(embeddings, "_crossbound_turns", False):
        embeddings.register_forward_pre_hook(_pre_forward)
        embeddings._crossbound_turns = True
