"""``clinic-triage``: generated patient messages full of PII, with planted canaries.

Why generated: a privacy measurement has to know exactly which characters are personal data and
which secrets a model could only have learned from one training record. Real clinical text cannot
be shipped, and redacted corpora have lost precisely the PII we want to measure. So every message
here is synthetic, every PII occurrence carries an exact :class:`PiiSpan`, and chosen training
records carry a unique random secret (a canary) for exposure and extraction studies.

The task itself is learnable: department-specific symptom phrases decide the department, and
urgency cues ("since last month", "getting worse fast") decide the urgency. A fraction ``noise``
(default 5%) of records carries a distractor symptom or a mixed urgency cue.

Headroom: a seeded fraction ``held_out`` of each department's complaint phrases and detail
sentences never occurs in training. Validation and test records use held-out phrasings with
probability 0.7 (``meta["phrasing"]`` is "held_out" or "seen"), so the test split measures
generalisation (where a large model's world knowledge helps: "palpitations" is cardiology)
as well as memorisation. Public records draw from all phrasings alike.

Values are fake by construction: ``example.*`` e-mail domains (reserved), 555-01xx phone numbers
(reserved for fiction) and invented names/addresses, so no real person's data is produced.

Determinism: all randomness flows from one ``random.Random(seed)`` (sub-streams are drawn from it
in a fixed order), never from global state, ``hash()`` or set order, so equal arguments give
byte-identical data (equal :meth:`Task.fingerprint`) in every process.

Size: ``n`` and ``public`` are each at most ``MAX_N`` (200,000 records, about 30 s and 1 GB
to generate), ``canary_repeats`` at most ``MAX_CANARY_REPEATS`` and the repeated
canary records at most ``MAX_N``; larger requests are refused up front rather than growing
until the machine runs out of memory.
"""

from __future__ import annotations

import calendar
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crossbound.tasks import clinic_vocab as V
from crossbound.tasks.base import Example, Metric, PiiSpan, Task

DEPARTMENTS = V.DEPARTMENTS
URGENCY = V.URGENCY
TARGETS = ("department", "urgency", "reply")
PII_KINDS = ("PERSON", "DATE", "PHONE", "EMAIL", "MRN", "ADDRESS")
CANARY_KIND = "ID"
MIN_N = 20
MAX_N = 200_000  # generated records per split group (n, public): see the module notes
MAX_CANARY_REPEATS = 1_000
INSTRUCTIONS = V.INSTRUCTIONS

# Label priors: departments uniform, urgent cases rarer as in a real inbox.
_URGENCY_WEIGHTS = (0.45, 0.35, 0.20)
# Messages per person: most write once, some follow up; all of a person's records share a split.
_GROUP_SIZES = (1, 2, 3)
_GROUP_WEIGHTS = (0.80, 0.15, 0.05)
# Of the noisy records, this share gets a distractor symptom; the rest a mixed urgency cue.
_DISTRACTOR_SHARE = 0.6
# Validation/test: mostly generalisation (held-out phrasings), some memorisation (seen ones).
_EVAL_HELD_OUT_RATE = 0.7
# Canary secret layouts per sentence kind: digit-group lengths joined by "-".
_CANARY_LAYOUTS: dict[str, tuple[int, ...]] = {"pin": (4, 4), "door": (5,), "passcode": (6,)}

_SLOT = re.compile(r"\{(\w+)\}")
_DIGIT_RUN = re.compile(r"[0-9][0-9-]*")

Seg = tuple[str, str | None]  # a piece of text and its PII kind (None: not personal data)


@dataclass(frozen=True)
class _Person:
    pid: str
    first: str
    last: str
    dob: tuple[int, int, int]  # year, month, day
    phone: tuple[int, int]  # area code, line number (after the fictional 555 exchange)
    email: str
    mrn: str  # seven digits
    address: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True)
class _Plan:
    """Per-build choices: the phrasing pools, keyed by (phrasing, department), and noise rate."""

    complaints: Mapping[tuple[str, str], Sequence[tuple[str, str]]]
    details: Mapping[tuple[str, str], Sequence[str]]
    noise: float

    def phrasing(self, rng: random.Random, dept: str, split: str) -> str:
        held = len(self.complaints["held_out", dept])
        if split == "train" or not held:
            return "seen"
        # Public records draw from all phrases alike; validation/test mostly from held-out ones.
        rate = held / len(V.COMPLAINTS[dept]) if split == "public" else _EVAL_HELD_OUT_RATE
        return "held_out" if rng.random() < rate else "seen"


def _plan(rng: random.Random, held_out: float, noise: float) -> _Plan:
    """Hold out ``held_out`` of each department's phrases and details (>= 1 of each, never all);
    one seeded shuffle per list, taking its head, so a smaller ``held_out`` holds out a subset."""
    tables: tuple[dict[tuple[str, str], list[Any]], ...] = ({}, {})
    for dept in DEPARTMENTS:
        for table, pool in zip(tables, (V.COMPLAINTS[dept], V.DETAILS[dept]), strict=True):
            order = list(range(len(pool)))
            rng.shuffle(order)
            k = min(len(pool) - 1, max(1, round(held_out * len(pool)))) if held_out else 0
            table["seen", dept] = [p for i, p in enumerate(pool) if i not in order[:k]]
            table["held_out", dept] = [p for i, p in enumerate(pool) if i in order[:k]]
    return _Plan(tables[0], tables[1], noise)


@dataclass
class _Draft:
    """A message before ids are assigned; ``head`` + [canary] + ``tail`` is the text."""

    person_id: str
    department: str
    urgency: str
    summary: str
    noise: str
    phrasing: str
    head: list[Seg]
    tail: list[Seg] = field(default_factory=list)
    canary: str | None = None
    canary_kind: str | None = None
    canary_segs: list[Seg] = field(default_factory=list)

    def render(self) -> tuple[str, tuple[PiiSpan, ...]]:
        segs = [*self.head, *([(" ", None), *self.canary_segs] if self.canary else []), *self.tail]
        parts: list[str] = []
        spans: list[PiiSpan] = []
        pos = 0
        for text, kind in segs:
            if kind is not None:
                spans.append(PiiSpan(pos, pos + len(text), kind, text))
            parts.append(text)
            pos += len(text)
        return "".join(parts), tuple(spans)


def _fill(template: str, slots: Mapping[str, Sequence[Seg]]) -> list[Seg]:
    """Expand ``{slot}`` placeholders into segments, keeping PII kinds of the slot values."""
    out: list[Seg] = []
    pos = 0
    for match in _SLOT.finditer(template):
        if match.start() > pos:
            out.append((template[pos : match.start()], None))
        out.extend(slots[match.group(1)])
        pos = match.end()
    if pos < len(template):
        out.append((template[pos:], None))
    return out


def _capitalised(segs: list[Seg]) -> list[Seg]:
    text, kind = segs[0]
    return [(text[:1].upper() + text[1:], kind), *segs[1:]]


def _join(sentences: Sequence[list[Seg]]) -> list[Seg]:
    out: list[Seg] = []
    for i, sentence in enumerate(sentences):
        out += [(" ", None), *sentence] if i else sentence
    return out


def _area_code(rng: random.Random) -> int:
    # North American area codes: the middle digit is never 9 and N11 codes are service numbers.
    while True:
        area = rng.randint(201, 989)
        if area // 10 % 10 != 9 and area % 100 != 11:
            return area


def _new_person(rng: random.Random, index: int, used: set[str]) -> _Person:
    """Draw a person; phone, e-mail and MRN are kept unique so each identifies one person.

    ``used`` is only tested for membership (never iterated), so it cannot break determinism.
    """
    first, last = rng.choice(V.FIRST_NAMES), rng.choice(V.SURNAMES)
    year = rng.randint(1938, 2006)
    month = rng.randint(1, 12)
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    area, line = _area_code(rng), rng.randint(100, 199)
    for _ in range(50):  # best effort: ~70k numbers exist, so a clash is rare and harmless
        if f"tel:{area}{line}" not in used:
            break
        area, line = _area_code(rng), rng.randint(100, 199)
    used.add(f"tel:{area}{line}")
    while True:
        mrn = str(rng.randint(1_000_000, 9_999_999))
        if f"mrn:{mrn}" not in used:
            break
    used.add(f"mrn:{mrn}")
    parts = {"first": re.sub(r"[^a-z]", "", first.lower()),
             "last": re.sub(r"[^a-z]", "", last.lower()), "yy": f"{year % 100:02d}"}
    parts["f"], parts["l"] = parts["first"][0], parts["last"][0]
    local = rng.choice(V.EMAIL_STYLES).format(**parts)
    domain = rng.choice(V.EMAIL_DOMAINS)
    email = f"{local}@{domain}"
    while f"mail:{email}" in used:
        email = f"{local}{rng.randint(2, 99)}@{domain}"
    used.add(f"mail:{email}")
    street = f"{rng.randint(1, 9999)} {rng.choice(V.STREET_NAMES)} {rng.choice(V.STREET_TYPES)}"
    if rng.random() < 0.3:
        unit = f"{rng.randint(1, 40)}{rng.choice(('', '', 'A', 'B', 'C'))}"
        street += ", " + rng.choice(V.UNIT_FORMATS).format(unit=unit)
    address = f"{street}, {rng.choice(V.CITIES)}"
    return _Person(f"p-{index:06d}", first, last, (year, month, day), (area, line), email, mrn,
                   address)


def _dob(rng: random.Random, p: _Person) -> str:
    (y, m, d), month = p.dob, V.MONTHS[p.dob[1] - 1]
    return rng.choice(V.DOB_FORMS).format(y=y, m=m, d=d, month=month)


def _phone(rng: random.Random, p: _Person) -> str:
    return rng.choice(V.PHONE_FORMS).format(area=p.phone[0], line=f"{p.phone[1]:04d}")


def _mrn_label(rng: random.Random, p: _Person) -> list[Seg]:
    mrn = p.mrn if rng.random() < 0.6 else f"{p.mrn[:4]}-{p.mrn[4:]}"
    return _fill(rng.choice(V.MRN_LABELS), {"mrn": [(mrn, "MRN")]})


def _complaint(
    rng: random.Random, plan: _Plan, dept: str, urgency: str, phrasing: str
) -> tuple[list[str], str, str]:
    """The PII-free core; complaint, detail and distractor come from the ``phrasing`` pools."""
    phrase, summary = rng.choice(plan.complaints[phrasing, dept])
    sentences = [rng.choice(V.COMPLAINT_FRAMES).format(
        complaint=phrase, onset=rng.choice(V.ONSETS[urgency]))]
    extras: list[str] = []
    if rng.random() < 0.6:
        extras.append(rng.choice(plan.details[phrasing, dept]))
    if rng.random() < 0.6:
        extras.append(rng.choice(V.TRENDS[urgency]))
    rng.shuffle(extras)
    sentences += extras
    request_level = urgency
    noise = "none"
    roll = rng.random()
    if roll < plan.noise * _DISTRACTOR_SHARE:
        other = rng.choice([d for d in DEPARTMENTS if d != dept])
        past = rng.choice(plan.complaints[phrasing, other])[0]
        sentences.insert(1, rng.choice(V.DISTRACTORS).format(complaint=past))
        noise = "distractor"
    elif roll < plan.noise:
        # A request worded for a neighbouring urgency level: realistic, mildly ambiguous.
        level = URGENCY.index(urgency)
        request_level = URGENCY[level + 1 if level == 0 else level - 1]
        noise = "mixed_urgency"
    if noise == "mixed_urgency" or rng.random() < 0.7:
        sentences.append(rng.choice(V.REQUESTS[request_level]))
    return sentences, summary, noise


def _compose(
    rng: random.Random, plan: _Plan, split: str, dept: str, urgency: str, person: _Person | None,
    follow_up: bool,
) -> _Draft:
    """Assemble one message; ``person=None`` gives a PII-free (public) message."""
    phrasing = plan.phrasing(rng, dept, split)
    core, summary, noise = _complaint(rng, plan, dept, urgency, phrasing)
    body: list[list[Seg]] = [[(s, None)] for s in core]
    if follow_up and rng.random() < 0.5:
        body.insert(0, [(rng.choice(V.FOLLOW_UPS), None)])
    greeting = rng.choice(V.GREETINGS) if rng.random() < 0.7 else None
    head: list[Seg] = []
    tail: list[Seg] = []
    pid = "" if person is None else person.pid

    if person is None:
        if greeting:
            head += [(greeting, None), ("\n" if rng.random() < 0.5 else " ", None)]
        head += _join(body)
        if rng.random() < 0.5:
            tail = [(" ", None), (rng.choice(V.SIGNOFFS_ANON), None)]
        return _Draft(pid, dept, urgency, summary, noise, phrasing, head, tail)

    name: list[Seg] = [(person.name, "PERSON")]
    has_intro = rng.random() < 0.75
    has_dob, has_mrn = rng.random() < 0.7, rng.random() < 0.55
    dob: list[Seg] = [(_dob(rng, person), "DATE")] if has_dob else []
    label = _mrn_label(rng, person) if has_mrn else []
    slots: dict[str, Sequence[Seg]] = {
        "dob": dob, "mrn_label": label, "mrn_label_cap": _capitalised(label) if label else []
    }
    ident_pool = (V.PAREN_BOTH if has_dob and has_mrn else V.PAREN_DOB if has_dob
                  else V.PAREN_MRN if has_mrn else ("",))
    paren = has_intro and (has_dob or has_mrn) and rng.random() < 0.5
    ident: list[list[Seg]] = []
    if (has_dob or has_mrn) and not paren:
        pool = V.IDENT_BOTH if has_dob and has_mrn else V.IDENT_DOB if has_dob else V.IDENT_MRN
        ident.append(_fill(rng.choice(pool), slots))
    intro: list[list[Seg]] = []
    if has_intro:
        paren_segs = _fill(rng.choice(ident_pool), slots) if paren else []
        intro.append(_fill(rng.choice(V.INTROS), {"name": name, "paren": paren_segs}))

    contact: list[list[Seg]] = []
    has_phone, has_email = rng.random() < 0.7, rng.random() < 0.55
    phone: list[Seg] = [(_phone(rng, person), "PHONE")]
    email: list[Seg] = [(person.email, "EMAIL")]
    if has_phone or has_email:
        pool = (V.CONTACT_BOTH if has_phone and has_email
                else V.CONTACT_PHONE if has_phone else V.CONTACT_EMAIL)
        contact.append(_fill(rng.choice(pool), {"phone": phone, "email": email}))
    if rng.random() < 0.4:
        sentence = rng.choice(V.ADDRESS_SENTENCES)
        contact.append(_fill(sentence, {"address": [(person.address, "ADDRESS")]}))
        rng.shuffle(contact)

    # Layout: who-I-am first (letter style) or complaint first with details after.
    if rng.random() < 0.7:
        sentences = [*intro, *ident, *body, *contact]
    else:
        sentences = [*body, *intro, *ident, *contact]
    inline = bool(greeting and intro and sentences[0] is intro[0])  # "Hi, this is ..."
    sentences = [s if inline and s is intro[0] else _capitalised(s) for s in sentences]
    if greeting:
        head += [(greeting, None), (" " if inline else "\n", None)]
    head += _join(sentences)

    style = rng.random()
    first: list[Seg] = [(person.first, "PERSON")]
    if style < 0.4:
        signoff = _fill(rng.choice(V.SIGNOFFS_FIRST), {"first": first})
    elif style < (0.6 if not has_intro else 0.5):
        signoff = _fill(rng.choice(V.SIGNOFFS_FULL), {"name": name})
    elif style < 0.8:
        signoff = [(rng.choice(V.SIGNOFFS_ANON), None)]
    else:
        signoff = []
    if signoff:
        tail = [("\n" if rng.random() < 0.5 else " ", None), *signoff]
    return _Draft(pid, dept, urgency, summary, noise, phrasing, head, tail)


def _draw_labels(rng: random.Random) -> tuple[str, str]:
    return rng.choice(DEPARTMENTS), rng.choices(URGENCY, weights=_URGENCY_WEIGHTS)[0]


def _generate_split(
    rng: random.Random, plan: _Plan, split: str, size: int, people: list[_Person], used: set[str]
) -> list[_Draft]:
    """``size`` messages from fresh people; a person's follow-ups stay in this ``split`` (known
    before rendering, as it decides the phrasing: training messages use seen phrasings only)."""
    drafts: list[_Draft] = []
    while len(drafts) < size:
        group = min(rng.choices(_GROUP_SIZES, weights=_GROUP_WEIGHTS)[0], size - len(drafts))
        person = _new_person(rng, len(people) + 1, used)
        people.append(person)
        dept, urgency = _draw_labels(rng)
        for k in range(group):
            if k and rng.random() >= 0.5:
                dept, urgency = _draw_labels(rng)  # a new problem; otherwise a follow-up
            drafts.append(_compose(rng, plan, split, dept, urgency, person, follow_up=k > 0))
    return drafts


def _windows(run: str, lengths: Sequence[int]) -> set[str]:
    return {run[i : i + n] for n in lengths for i in range(len(run) - n + 1)}


def _plant_canaries(
    rng: random.Random, train: list[_Draft], others: Sequence[_Draft], count: int
) -> None:
    """Give ``count`` distinct training drafts a unique secret that occurs nowhere else.

    A secret must not be a substring of any other text, or exposure would be over-counted. A
    secret starts and ends with a digit, so any occurrence lies inside a run of digits and dashes;
    collecting the secret-length windows of those (short) runs makes the check exact and cheap.
    """
    lengths = sorted({sum(g) + len(g) - 1 for g in _CANARY_LAYOUTS.values()})
    taken: set[str] = set()
    for draft in (*train, *others):
        for text, kind in draft.head + draft.tail:
            if kind is not None:  # only PII values carry digits (the vocabulary has none)
                for run in _DIGIT_RUN.findall(text):
                    taken |= _windows(run, lengths)
    chosen: set[str] = set()  # membership tests only
    for index in sorted(rng.sample(range(len(train)), count)):
        kind = rng.choice(sorted(_CANARY_LAYOUTS))
        while True:
            secret = "-".join(f"{rng.randrange(10**g):0{g}d}" for g in _CANARY_LAYOUTS[kind])
            if secret not in taken and not _windows(secret, lengths) & chosen:
                break
        chosen.add(secret)
        taken |= _windows(secret, lengths)
        draft = train[index]
        draft.canary, draft.canary_kind = secret, kind
        sentence = rng.choice(V.CANARY_SENTENCES[kind])
        draft.canary_segs = _fill(sentence, {"secret": [(secret, CANARY_KIND)]})


def _target(draft: _Draft, target: str) -> str:
    if target == "department":
        return draft.department
    if target == "urgency":
        return draft.urgency
    return V.REPLY_TEMPLATE.format(
        department=draft.department, urgency=draft.urgency, summary=draft.summary,
        action=V.REPLY_ACTIONS[draft.urgency],
    )


def _example(
    draft: _Draft, ex_id: str, target: str, extra: Mapping[str, str] | None = None
) -> Example:
    text, spans = draft.render()
    meta = {
        "department": draft.department,
        "group": draft.department,  # what non-IID partitions skew by, whatever the target
        "urgency": draft.urgency,
        "person_id": draft.person_id,
        "noise": draft.noise,
        "phrasing": draft.phrasing,
        **({"canary_kind": draft.canary_kind} if draft.canary_kind else {}),
        **(extra or {}),
    }
    return Example(ex_id, text, _target(draft, target), spans, draft.canary, meta)


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum:,} (the generator's limit, so a typo cannot "
                         f"exhaust memory), got {value:,}; generate several tasks with "
                         "different seeds if you need more records")
    return value


def _check_fraction(name: str, value: Any, top: float = 1.0, closed: bool = False) -> float:
    bounds = f"[0, {top:g}{']' if closed else ')'}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a fraction in {bounds}, got {value!r}")
    if not (0.0 <= float(value) <= top if closed else 0.0 <= float(value) < top):
        raise ValueError(f"{name} must be a fraction in {bounds}, got {value}")
    return float(value)


def _streams(seed: int) -> list[random.Random]:
    """Sub-streams for generation, ids, canaries, train order, public and the phrase split."""
    master = random.Random(seed)
    return [random.Random(master.getrandbits(64)) for _ in range(6)]


def held_out_phrases(seed: int = 0, held_out: float = 0.4) -> dict[str, tuple[str, ...]]:
    """Per department, the complaint phrases and detail sentences no training record uses, as
    :func:`build_clinic_triage` holds them out for this ``seed`` and ``held_out`` (any ``n``)."""
    seed = _check_int("seed", seed, 0)
    plan = _plan(_streams(seed)[5], _check_fraction("held_out", held_out), 0.0)
    return {
        d: (*(p for p, _ in plan.complaints["held_out", d]), *plan.details["held_out", d])
        for d in DEPARTMENTS
    }


def build_clinic_triage(
    n: int = 600,
    seed: int = 0,
    target: str = "department",
    canaries: int = 10,
    canary_repeats: int = 1,
    public: int = 200,
    validation: float = 0.1,
    test: float = 0.2,
    held_out: float = 0.4,
    noise: float = 0.05,
) -> Task:
    """Build the task: ``n`` private messages split train/validation/test, plus ``public``.

    Splits are drawn per person (all messages of one person land in one split), so held-out
    records are non-members at the person level too. ``canaries`` training records get a unique
    secret; with ``canary_repeats > 1`` each appears that many times in training (ids ``-r1``...).
    ``held_out`` of each department's phrasings is kept out of training (see the module doc);
    ``noise`` is the share of records with a distractor symptom or a mixed urgency cue.
    The returned task has a single party; the registry deals it over parties.
    """
    n = _check_int("n", n, MIN_N, MAX_N)
    seed = _check_int("seed", seed, 0)  # Random(-s) == Random(s), so negatives would alias
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {target!r}")
    val_frac, test_frac = _check_fraction("validation", validation), _check_fraction("test", test)
    if not 0.0 < val_frac + test_frac < 0.8:
        total = val_frac + test_frac
        raise ValueError(f"validation + test must be in (0, 0.8), got {total:g}")
    public = _check_int("public", public, 0, MAX_N)
    canary_repeats = _check_int("canary_repeats", canary_repeats, 1, MAX_CANARY_REPEATS)
    n_val, n_test = round(n * val_frac), round(n * test_frac)
    n_train = n - n_val - n_test
    canaries = _check_int("canaries", canaries, 0)
    if canaries > n_train:
        raise ValueError(f"canaries must be <= the training size ({n_train}), got {canaries}")
    if canaries * (canary_repeats - 1) > MAX_N:
        repeats = canaries * (canary_repeats - 1)
        raise ValueError(f"canaries × (canary_repeats - 1) adds {repeats:,} repeated records, "
                         f"more than the limit of {MAX_N:,}; plant fewer canaries or repeat "
                         "each fewer times")
    held_frac = _check_fraction("held_out", held_out)
    noise_rate = _check_fraction("noise", noise, top=0.5, closed=True)

    # The private records do not change when only the canary count, the public size or the
    # target changes; the phrase split depends on the seed and ``held_out`` only.
    gen_rng, id_rng, canary_rng, order_rng, public_rng, phrase_rng = _streams(seed)
    plan = _plan(phrase_rng, held_frac, noise_rate)
    people: list[_Person] = []
    used: set[str] = set()
    sizes = {"train": n_train, "validation": n_val, "test": n_test}
    splits = {name: _generate_split(gen_rng, plan, name, size, people, used)
              for name, size in sizes.items()}
    _plant_canaries(
        canary_rng, splits["train"], [*splits["validation"], *splits["test"]], canaries
    )

    # Ids are a seeded permutation over all records, so an id does not reveal its split.
    numbers = list(range(1, n + 1))
    id_rng.shuffle(numbers)
    ids = iter(numbers)
    built: dict[str, list[Example]] = {}
    for name in ("train", "validation", "test"):
        built[name] = []
        for draft in splits[name]:
            ex_id = f"ct-{next(ids):06d}"
            built[name].append(_example(draft, ex_id, target))
            if draft.canary is not None:
                built[name] += [
                    _example(draft, f"{ex_id}-r{k}", target, {"repeat_of": ex_id})
                    for k in range(1, canary_repeats)
                ]
        built[name].sort(key=lambda ex: ex.id)
    train = built["train"]
    order_rng.shuffle(train)  # spread canary repeats out instead of leaving them adjacent

    public_examples = []
    for i in range(1, public + 1):
        dept, urgency = _draw_labels(public_rng)
        draft = _compose(public_rng, plan, "public", dept, urgency, None, follow_up=False)
        draft.person_id = f"pub-{i:06d}"
        public_examples.append(_example(draft, f"ct-pub-{i:06d}", target))

    choices = None if target == "reply" else DEPARTMENTS if target == "department" else URGENCY
    metric: Metric = "rouge_l" if target == "reply" else "accuracy"
    return Task(
        name="clinic-triage",
        description=V.DESCRIPTION.format(target=target if target != "reply" else "triage reply"),
        instruction=INSTRUCTIONS[target],
        parties=(tuple(train),),
        validation=tuple(built["validation"]),
        test=tuple(built["test"]),
        public=tuple(public_examples),
        choices=choices,
        metric=metric,
        params={
            "n": n, "seed": seed, "target": target, "canaries": canaries,
            "canary_repeats": canary_repeats, "public": public,
            "validation": validation, "test": test, "held_out": held_out, "noise": noise,
        },
    )
