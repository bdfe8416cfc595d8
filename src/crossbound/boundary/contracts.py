"""Access contracts: what may cross the boundary, in which direction, within which limits.

A contract is default-deny: a message crosses only if some :class:`Allow` rule of the contract
matches its direction and kind and every limit of that rule holds. Violations raise
:class:`ContractViolation` *before* the message is serialised or sent.

Rules can name **guards**, checks registered by name that look at the content (e.g.
``"no-raw-private-text"``). A guard gets the message and the :class:`GuardContext` of the
sending party (its private texts, for example) and returns a reason to refuse, or None. One
boundary may hold a stronger check under a registered name (the privacy toolkit's sanitiser
guard, for one run): its overrides are passed to :meth:`AccessContract.check` and consulted
before the registry, so the override never reaches another boundary in the process.

A contract also names the **operations** a data party may ask of the model party
(:mod:`crossbound.boundary.operations`): a ``text`` message asking for label scores and one
asking for an emulator bundle are the same kind, so kinds alone cannot keep the model with its
owner. :meth:`AccessContract.enforce` (what a boundary and the service call) checks both; a
request outside either is refused with :class:`OperationRefused` / :class:`ContractViolation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crossbound.boundary.messages import Kind, Message, MessageError, topk_k
from crossbound.boundary.operations import Operation, generate, score_choices, shown

Role = Literal["model", "data"]
MODEL_PARTY = "model-party"


def role_of(party: str) -> Role:
    """Party names: ``model-party`` holds the LM; every other name is a data party."""
    return "model" if party == MODEL_PARTY else "data"


class ContractViolation(PermissionError):
    """A message the strategy's access contract does not allow; nothing was sent."""


class OperationRefused(ContractViolation):
    """A request for an operation, or a setting, that the contract does not allow — or that the
    model party's own policy will not serve (it raises this after the request crossed)."""


@dataclass
class GuardContext:
    """What a guard may consult on the sending side (never sent anywhere)."""

    private_texts: list[str] = field(default_factory=list)
    # Text the sender may share anyway (e.g. a public transfer set): word runs found here are
    # not private even when a private record repeats them (templated records do).
    public_texts: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # The sender's tokenizer decode, so content guards can read token-id messages too.
    decode: Callable[[list[int]], str] | None = None


Guard = Callable[[Message, GuardContext], str | None]
# The guards every boundary in the process resolves names to. Registered once, at import, by
# the module that defines a name; a boundary that needs a stronger check under a name (a run's
# sanitiser) overrides it on itself (``Boundary.override_guard``), never here, so concurrent
# runs in one process (the service, a bench) never see each other's checks.
_GUARDS: dict[str, Guard] = {}


def register_guard(name: str, guard: Guard) -> None:
    """Register a content check by name (once: the registry rejects a second one)."""
    if name in _GUARDS:
        raise ValueError(f"a guard named {name!r} is already registered; to use a stronger "
                         "check on one boundary, override it there (Boundary.override_guard)")
    _GUARDS[name] = guard


def get_guard(name: str, overrides: Mapping[str, Guard] | None = None) -> Guard:
    """The guard ``name`` stands for: ``overrides``'s (one boundary's), else the registered one.

    A name must be registered even where it is overridden, so a typo cannot slip a check past
    the registry."""
    if name not in _GUARDS:
        raise ValueError(f"no guard named {name!r}; registered: {sorted(_GUARDS)}")
    if overrides is not None and name in overrides:
        return overrides[name]
    return _GUARDS[name]


@dataclass(frozen=True)
class Allow:
    """Let ``kinds`` cross from ``sender`` role to the other role, within limits."""

    sender: Role
    kinds: frozenset[Kind]
    max_bytes: int | None = None  # per message, on the wire
    max_topk: int | None = None  # top-k log-probs: k at most this (plain or compressed)
    max_items: int | None = None  # texts / records per message
    artifacts: frozenset[str] | None = None  # tensor bundles: allowed meta["artifact"] values
    guards: tuple[str, ...] = ()  # content checks by name

    def describe(self) -> str:
        other = "data" if self.sender == "model" else "model"
        kinds = ", ".join(sorted(k.value for k in self.kinds))
        limits = [f"{name} ≤ {value}" for name, value in (
            ("bytes", self.max_bytes), ("k", self.max_topk), ("items", self.max_items))
            if value is not None]
        if self.artifacts is not None:
            limits.append("artifacts: " + ", ".join(sorted(self.artifacts)))
        limits.extend(f"guard {g}" for g in self.guards)
        suffix = f" ({'; '.join(limits)})" if limits else ""
        return f"{self.sender} party → {other} party: {kinds}{suffix}"


def allow(sender: Role, *kinds: Kind | str, **limits: Any) -> Allow:
    """Shorthand: ``allow("model", Kind.TOPK_LOGPROBS, max_topk=128)``."""
    if "artifacts" in limits and limits["artifacts"] is not None:
        limits["artifacts"] = frozenset(limits["artifacts"])
    return Allow(sender=sender, kinds=frozenset(Kind(k) for k in kinds), **limits)


@dataclass(frozen=True)
class AccessContract:
    """The set of crossings a strategy needs; everything else is refused."""

    name: str
    rules: tuple[Allow, ...] = ()
    description: str = ""
    # The operations a data party may request, with their settings. None: this contract does
    # not govern a model party's operations (a protocol whose messages name no model-party
    # operation, e.g. the Flower rounds of crossbound.federation, or an ad-hoc test contract).
    # Every contract a model party serves under by name declares them (a test checks).
    operations: tuple[Operation, ...] | None = None

    def __post_init__(self) -> None:
        names = [o.name for o in self.operations or ()]
        if len(names) != len(set(names)):
            raise ValueError(f"contract {self.name!r} names an operation twice: {names}; "
                             "declare each once, with every setting it may carry")

    def describe(self) -> list[str]:
        return [rule.describe() for rule in self.rules] or ["nothing may cross"]

    def describe_operations(self) -> list[str]:
        if self.operations is None:
            return ["operations not governed by this contract"]
        return [op.describe() for op in self.operations] or ["no operation may be requested"]

    def operation_names(self) -> frozenset[str] | None:
        """The operations a data party may request (None: not governed here)."""
        return None if self.operations is None else frozenset(o.name for o in self.operations)

    def enforce(self, message: Message, context: GuardContext | None = None,
                wire_bytes: int | None = None, *,
                guards: Mapping[str, Guard] | None = None) -> None:
        """Everything a boundary enforces: the message rules (:meth:`check`) and, for a data
        party's request, the operation rules (:meth:`check_operation`)."""
        self.check(message, context, wire_bytes, guards=guards)
        self.check_operation(message)

    def check_operation(self, message: Message) -> None:
        """Raise :class:`OperationRefused` unless ``message`` — when a data party sends it —
        names an operation this contract lets it request, with settings in range.

        A request that names no operation is refused too (default-deny): nothing a data party
        sends to a model party under a governed contract is exempt.
        """
        if self.operations is None or role_of(message.sender) != "data":
            return
        op = message.meta.get("op")
        allowed = {o.name: o for o in self.operations}
        if not isinstance(op, str) or op not in allowed:
            may = ", ".join(sorted(allowed)) or "none"
            what = (f"operation {shown(op)}" if op is not None
                    else "a message that names no operation")
            raise OperationRefused(
                f"contract {self.name!r} does not let {message.sender} request {what} "
                f"(meta.op); operations it allows: {may}")
        problem = allowed[op].problem(message.meta)
        if problem is not None:
            raise OperationRefused(f"contract {self.name!r} refuses {op} from "
                                   f"{message.sender}: {problem}")

    def check(self, message: Message, context: GuardContext | None = None,
              wire_bytes: int | None = None, *,
              guards: Mapping[str, Guard] | None = None) -> None:
        """Raise :class:`ContractViolation` unless some rule allows ``message``.

        The message rules only (kinds, limits, guards): what a pre-flight asks ("would this
        text cross?"). A boundary calls :meth:`enforce`, which adds the operation rules.
        ``guards``: the boundary's overrides of registered guard names (:func:`get_guard`).
        """
        sender_role, receiver_role = role_of(message.sender), role_of(message.receiver)
        if sender_role == receiver_role:
            raise ContractViolation(
                f"{message.sender} → {message.receiver}: parties of the same role do not talk "
                "through this boundary")
        candidates = [r for r in self.rules
                      if r.sender == sender_role and message.kind in r.kinds]
        if not candidates:
            allowed = "; ".join(self.describe())
            raise ContractViolation(
                f"contract {self.name!r} does not let the {sender_role} party send "
                f"{message.kind.value} (allowed: {allowed})")
        problems = [(rule, _rule_problem(rule, message, context, wire_bytes, guards))
                    for rule in candidates]
        if all(reason is not None for _, reason in problems):
            # Report the rule meant for this artifact, if one is (not another rule's
            # "artifact not allowed").
            artifact = message.meta.get("artifact")
            meant = [reason for rule, reason in problems
                     if rule.artifacts is not None and artifact in rule.artifacts]
            raise ContractViolation(f"contract {self.name!r} refuses {message.kind.value} from "
                                    f"{message.sender}: {(meant or [problems[0][1]])[0]}")


def _rule_problem(rule: Allow, message: Message, context: GuardContext | None,
                  wire_bytes: int | None, guards: Mapping[str, Guard] | None) -> str | None:
    if rule.max_bytes is not None and wire_bytes is not None and wire_bytes > rule.max_bytes:
        return f"{wire_bytes} bytes exceed the limit of {rule.max_bytes}"
    payload = message.payload
    if rule.max_topk is not None and message.kind == Kind.TOPK_LOGPROBS:
        try:  # a compressed reply's k is its codec's, not a tensor dimension
            k = topk_k(message)
        except MessageError as exc:
            return f"unreadable top-k: {exc}"
        if k > rule.max_topk:
            return f"k = {k} exceeds the limit of {rule.max_topk}"
    if rule.max_items is not None and isinstance(payload, list) and len(payload) > rule.max_items:
        return f"{len(payload)} items exceed the limit of {rule.max_items}"
    if rule.artifacts is not None:
        artifact = message.meta.get("artifact")
        if artifact not in rule.artifacts:
            return (f"artifact {artifact!r} is not one that may cross "
                    f"(allowed: {sorted(rule.artifacts)})")
    for name in rule.guards:
        reason = get_guard(name, guards)(message, context or GuardContext())
        if reason is not None:
            return f"guard {name}: {reason}"
    return None


# ---------------------------------------------------------------- built-in guards


class Uninspectable(ValueError):
    """A message whose content a guard cannot read (token ids without a decoder)."""


def message_texts(message: Message,
                  decode: Callable[[list[int]], str] | None = None) -> Iterable[str]:
    """The strings a text, records or (given the sender's ``decode``) token-ids message — or
    tensors message with ``ids`` — carries:
    what content guards inspect. Token ids without ``decode`` raise :class:`Uninspectable`."""
    if message.kind == Kind.TEXT:
        yield from message.payload
    elif message.kind == Kind.RECORDS:
        for record in message.payload:
            yield from (v for v in record.values() if isinstance(v, str))
    elif message.kind == Kind.TOKEN_IDS or (message.kind == Kind.TENSORS
                                            and "ids" in message.payload):
        # Token ids, or tensors that carry them (transfer rows with top-k targets)
        if decode is None:
            raise Uninspectable("token ids cannot be checked: the sender registered no "
                                "tokenizer (GuardContext.decode)")
        ids = message.payload["ids"]  # (B, T)
        mask = message.payload.get("mask")
        for row in range(ids.shape[0]):
            kept = ids[row] if mask is None else ids[row][mask[row].bool()]
            yield decode(kept.tolist())


def _shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def verbatim_private_text(message: Message, context: GuardContext, n: int = 8) -> str | None:
    """Refuse text that repeats any run of ``n`` words of the sender's private records.

    The plain check behind "no raw private text": it stops a private record (or a long piece of
    one) from leaving verbatim. The privacy toolkit registers a sanitising check on top.
    """
    if not context.private_texts:
        return None
    key = f"verbatim-shingles:{n}:{len(context.private_texts)}:{len(context.public_texts)}"
    private = context.extra.get(key)
    if private is None:  # built once per context (and n), not once per message
        private = set()
        for text in context.private_texts:
            private |= _shingles(text, n)
        for text in context.public_texts:
            private -= _shingles(text, n)
        context.extra[key] = private
    try:
        texts = list(message_texts(message, context.decode))
    except Uninspectable as err:
        return str(err)
    for index, text in enumerate(texts):
        if _shingles(text, n) & private:
            return f"item {index} repeats {n}+ consecutive words of a private record"
    return None


def label_scores_only(message: Message, context: GuardContext) -> str | None:
    """Guard: a tensors reply carries label scores (``score_choices``) and nothing else."""
    if set(message.payload) != {"choice_logprobs"}:
        return f"only label scores may come back here, not {sorted(message.payload)[:3]}"
    return None


register_guard("no-raw-private-text", verbatim_private_text)
register_guard("label-scores-only", label_scores_only)


# ---------------------------------------------------------------- common contracts

NOTHING = AccessContract("nothing-crosses", (), "Nothing may cross the boundary.",
                         operations=())

OPEN_TEXT = AccessContract(
    "raw-text-to-lm",
    (
        allow("data", Kind.TEXT),
        allow("model", Kind.TEXT, Kind.TENSORS, Kind.TOPK_LOGPROBS, Kind.METRICS),
    ),
    "The data party sends raw text (private records included); the LM answers with text, "
    "label scores or top-k log-probs.",
    # The LM's answers only: no weights, no training of the model party's models.
    operations=(*generate(), score_choices()),
)
