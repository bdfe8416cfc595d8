"""PII that crossed the boundary: the task's ground-truth personal data found in a transcript.

The data party audits its own transcript against its own records, so the measurement is exact
rather than a detector's guess: every PII span and planted canary of the task (all splits) is
searched for, verbatim and as a whole word, in every string a message carried — text
payloads, records, metrics, and message metadata (headers). Values are reported in clear
because the audit runs where the data already lives.

What it cannot see: entries stored without payloads (``keep_payloads=False``) are counted as
``unscanned``; tensor payloads (logits, hidden states, weights) carry no text, and token ids are
scanned only when a ``tokenizer`` is given to decode them. Paraphrased or re-formatted values
(a phone number with different separators) are not counted; a leak found here is certain, the
absence of findings is a lower bound. :func:`pii_crossed_summary` is what a result reports (the
runner's ``privacy.pii_crossed``, the federation's per link): counts, never values.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossbound.boundary.messages import TENSOR_KINDS, Kind, MessageError, decode
from crossbound.tasks.base import Task

CANARY = "CANARY"  # the kind given to canary secrets that carry no PII span of their own


@dataclass(frozen=True)
class Owner:
    """Where a PII value comes from: its kind, the first example holding it, and how many do."""

    kind: str
    example_id: str
    split: str
    examples: int
    canary: bool


class PiiIndex:
    """Every PII value and canary secret of a task, searchable in one regex pass per string."""

    def __init__(self, task: Task) -> None:
        owners: dict[str, list[tuple[str, str, str]]] = {}
        secrets = {ex.canary for ex in task.train if ex.canary is not None}
        splits = [(f"party{i}", p) for i, p in enumerate(task.parties)]
        splits += [("validation", task.validation), ("test", task.test), ("public", task.public)]
        for split, examples in splits:
            for ex in examples:
                for span in ex.pii:
                    owners.setdefault(span.value, []).append((span.kind, ex.id, split))
                if ex.canary is not None and ex.canary not in owners:
                    owners[ex.canary] = [(CANARY, ex.id, split)]
        self.owners: dict[str, Owner] = {}
        for value, found in owners.items():
            kind, ex_id, split = found[0]
            self.owners[value] = Owner(kind, ex_id, split, len({f[1] for f in found}),
                                       value in secrets)
        self.pattern = _word_pattern(self.owners)

    def __len__(self) -> int:
        return len(self.owners)

    def find(self, text: str) -> list[str]:
        """The PII values in ``text``, leftmost-longest and non-overlapping, in order."""
        if self.pattern is None:
            return []
        return [m.group(0) for m in self.pattern.finditer(text)]


def _trie(values: Iterable[str]) -> str:
    """A regex matching exactly ``values``, as a character trie: Python's ``re`` tries
    alternatives one by one, so a flat ``a|b|c`` over thousands of values would be slow."""
    root: dict[str, Any] = {}
    for value in values:
        node = root
        for ch in value:
            node = node.setdefault(ch, {})
        node[""] = True  # a value ends here

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy '?': the longer value is tried first, the shorter one on backtracking.
        return f"(?:{body})?" if "" in node else body

    return build(root)


def _word_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    values = [v for v in values if v]
    if not values:
        return None
    # Whole words only: the first name "Sam" is not found inside "Sample".
    return re.compile(rf"(?<!\w){_trie(values)}(?!\w)")


def json_strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from json_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from json_strings(item)


def _token_texts(payload: Mapping[str, Any], tokenizer: Any) -> Iterator[str]:
    ids = payload["ids"]
    rows = ids.reshape(-1, ids.shape[-1]) if ids.dim() > 1 else ids.reshape(1, -1)
    for row in rows.tolist():
        yield str(tokenizer.decode(row, skip_special_tokens=True))


def scan_transcript(
    path: str | Path,
    task: Task | PiiIndex,
    *,
    max_findings: int = 50,
    tokenizer: Any = None,
) -> dict[str, Any]:
    """Count the task's PII values and canaries in a transcript's payloads and metadata.

    Counts are occurrences (a value sent twice counts twice), by PII kind, by message kind and
    by direction; ``distinct_values`` counts each value once. The first ``max_findings``
    occurrences are listed with their sequence number and the example they come from.
    """
    index = task if isinstance(task, PiiIndex) else PiiIndex(task)
    counts = Counter[str]()  # entries: total, scanned, unscanned, undecodable, ...
    by_pii, by_kind, by_dir = Counter[str](), Counter[str](), Counter[str]()
    distinct: dict[str, str] = {}  # value -> kind
    canaries: set[str] = set()
    findings: list[dict[str, Any]] = []
    occurrences = 0
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            counts["entries"] += 1
            try:
                entry = json.loads(line)
                seq, kind = entry["seq"], str(entry["kind"])
                direction = f"{entry['sender']}->{entry['receiver']}"
            except (ValueError, KeyError, TypeError):
                counts["undecodable"] += 1
                continue
            if "payload" not in entry:
                counts["unscanned"] += 1
                continue
            try:
                message = decode(base64.b64decode(entry["payload"]))
            except (MessageError, ValueError):
                counts["undecodable"] += 1
                continue
            counts["scanned"] += 1
            places: list[tuple[str, Iterable[str]]] = [("meta", json_strings(message.meta))]
            if message.kind not in TENSOR_KINDS:
                places.append(("payload", json_strings(message.payload)))
            elif message.kind == Kind.TOKEN_IDS and tokenizer is not None:
                places.append(("payload", _token_texts(message.payload, tokenizer)))
            else:
                counts["payload_not_text"] += 1  # tensors: only the metadata was scanned
            for where, texts in places:
                for text in texts:
                    for value in index.find(text):
                        owner = index.owners[value]
                        occurrences += 1
                        by_pii[owner.kind] += 1
                        by_kind[kind] += 1
                        by_dir[direction] += 1
                        distinct[value] = owner.kind
                        if owner.canary:
                            canaries.add(value)
                        if len(findings) < max_findings:
                            findings.append({
                                "seq": seq, "kind": kind, "direction": direction, "where": where,
                                "pii_kind": owner.kind, "value": value,
                                "example_id": owner.example_id, "split": owner.split,
                                "examples_with_value": owner.examples,
                            })
    notes: list[str] = []
    if counts["unscanned"]:
        notes.append(f"{counts['unscanned']} entries were stored without payloads "
                     "(keep_payloads=False) and could not be scanned: findings are a lower bound")
    if counts["payload_not_text"]:
        notes.append(f"{counts['payload_not_text']} tensor payloads carry no text (or token ids "
                     "without a tokenizer to decode them): only their metadata was scanned")
    if counts["undecodable"]:
        notes.append(f"{counts['undecodable']} entries could not be decoded")
    return {
        "transcript": str(path),
        "pii_values_searched": len(index),
        "entries": counts["entries"],
        "scanned": counts["scanned"],
        "unscanned": counts["unscanned"],
        "undecodable": counts["undecodable"],
        "payload_not_text": counts["payload_not_text"],
        "occurrences": occurrences,
        "distinct_values": len(distinct),
        "by_pii_kind": dict(sorted(by_pii.items())),
        "distinct_by_pii_kind": dict(sorted(Counter(distinct.values()).items())),
        "by_message_kind": dict(sorted(by_kind.items())),
        "by_direction": dict(sorted(by_dir.items())),
        "canaries_crossed": sorted(canaries),
        "findings": findings,
        "findings_truncated": occurrences > len(findings),
        "notes": notes,
    }


def pii_crossed_summary(transcript_path: Path, task: Task,
                        tokenizer: Any = None) -> dict[str, Any]:
    """The task's ground-truth PII and canaries found in what crossed: counts, never values.

    ``tokenizer`` decodes token-id messages so they are scanned too (token ids sent to the
    model party are in the LM's tokenizer). ``crossbound audit --pii`` lists the values
    themselves, for the data party's eyes only.
    """
    scan = scan_transcript(transcript_path, task, max_findings=0, tokenizer=tokenizer)
    return {
        "occurrences": scan["occurrences"],
        "distinct_values": scan["distinct_values"],
        "by_pii_kind": scan["by_pii_kind"],
        "distinct_by_pii_kind": scan["distinct_by_pii_kind"],
        "by_direction": scan["by_direction"],
        "canaries_crossed": len(scan["canaries_crossed"]),
        "entries_scanned": scan["scanned"],
        "entries_unscanned": scan["unscanned"],
        "notes": scan["notes"],
    }
