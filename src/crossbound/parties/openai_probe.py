"""What an OpenAI-compatible server's log-probs can be used for, found out once per server.

Exact label scoring needs the log-prob of every prompt token (``echo``, or vLLM's
``prompt_logprobs``), and it needs them aligned: the log-prob a server reports for a prompt
token must be the one it gives that token when it generates it after the same text.
:func:`probe` checks both on a fixed public text (nothing private is sent):

1. the prompt log-probs of the probe text, with one generated token and its top 5;
2. the probe text followed by one of those tokens: the log-prob reported for that last prompt
   token must equal the log-prob it had when generated (within :data:`TOLERANCE`).

A server whose prompt log-probs disagree (llama-cpp-python 0.3.36's reports them shifted by one
position) is refused for exact scoring with that reason, never used; a server without prompt
log-probs is too. Either way the party falls back to the first-token approximation and the
run's result says so, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from crossbound.boundary.errors import MessageError
from crossbound.parties.openai_scoring import (
    TokenRow,
    echoed,
    prompt_logprobs_row,
)
from crossbound.parties.openai_wire import CompletionsClient, ServerError, Unreachable

PROBE_TEXT = "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the"
SPELLED_FROM = 12  # the probe's first characters may share a token with a BOS string
PROBE_TOP = 5
MAX_CANDIDATES = 4  # generated tokens tried as the last prompt token
# |prompt log-prob − generated log-prob| allowed: a serving engine's prefill and decode
# kernels round differently (fp32: ~1e-5; bf16 on a GPU: a few 1e-2). A shift by one position
# puts another token's log-prob there instead.
TOLERANCE = 0.05
# Answers that say "this server does not do that" (the feature is refused, not the request's
# credentials or the server's health): the probe records them as the reason and goes on.
FEATURE_REFUSALS = frozenset({400, 404, 405, 413, 422, 500, 501})
APPROXIMATE = "first-token top-20"

Method = Literal["echo", "prompt_logprobs"]
METHODS: tuple[Method, ...] = ("echo", "prompt_logprobs")


@dataclass(frozen=True)
class Scoring:
    """How a server's label scores are computed, and why."""

    mode: Literal["exact", "approximate"]
    method: str  # "echo", "prompt_logprobs" or APPROXIMATE
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"mode": self.mode, "method": self.method, "reason": self.reason}


class ProbeFailed(MessageError):
    """The server's prompt log-probs are absent, malformed or misaligned."""


def prompt_params(method: Method, top: int) -> dict[str, Any]:
    """Request parameters that return prompt log-probs (and one generated token's top)."""
    if method == "echo":
        return {"echo": True, "logprobs": max(top, 1), "max_tokens": 1}
    return {"prompt_logprobs": 0, "logprobs": max(top, 1), "max_tokens": 1}


def prompt_rows(client: CompletionsClient, texts: list[str], method: Method,
                top: int) -> tuple[list[TokenRow], int]:
    """Each text's :class:`TokenRow` (prompt tokens, then one generated), and usage tokens."""
    done = client.complete(texts, **prompt_params(method, top))
    read = echoed if method == "echo" else prompt_logprobs_row
    return [read(choice, max(top, 1) + 1) for choice in done.choices], done.tokens


def probe(client: CompletionsClient) -> Scoring:
    """Find how ``client``'s server can score labels: exactly (the first method that passes
    the checks above), else approximately, with every method's reason."""
    problems = []
    for method in METHODS:
        try:
            check_alignment(client, method)
        except ServerError as exc:
            if exc.status not in FEATURE_REFUSALS:
                raise  # a wrong key, an overloaded server: not an answer about log-probs
            problems.append(f"{method} refused ({exc.status}: {exc.detail[:160]})")
        except ProbeFailed as exc:
            problems.append(f"{method}: {exc}")
        else:
            return Scoring("exact", method, f"the server returns prompt log-probs ({method}) "
                           "and they agree with the log-probs of generated tokens")
    return Scoring("approximate", APPROXIMATE,
                   "exact scoring needs the server's prompt log-probs; " + "; ".join(problems))


def check_alignment(client: CompletionsClient, method: Method) -> None:
    """Raise :class:`ProbeFailed` unless ``method`` gives aligned prompt log-probs."""
    row = _probe_row(client, PROBE_TEXT, method, PROBE_TOP)
    n = row.n_prompt
    if not "".join(row.tokens[:n]).endswith(PROBE_TEXT[SPELLED_FROM:]):
        raise ProbeFailed("its prompt tokens do not spell the prompt sent")
    for text, generated_lp in candidates(row):
        again = _probe_row(client, PROBE_TEXT + text, method, 0)
        m = again.n_prompt
        if (m < 2 or again.tokens[m - 1] != text
                or not "".join(again.tokens[:m]).endswith(PROBE_TEXT[SPELLED_FROM:] + text)):
            continue  # the text + token was tokenised another way: try another token
        reported = again.logprobs[m - 1]
        if reported is None:
            raise ProbeFailed("it gives no log-prob for the last prompt token")
        if abs(reported - generated_lp) > TOLERANCE:
            raise ProbeFailed(
                f"its prompt log-probs are misaligned: it gives {text!r} a log-prob of "
                f"{reported:.4f} as the last prompt token and {generated_lp:.4f} when it "
                "generates it after the same text (llama.cpp's server shifts prompt "
                "log-probs by one position); refused rather than used")
        return
    raise ProbeFailed("no generated token came back as one prompt token after the probe "
                      "text, so its prompt log-probs could not be checked")


def _probe_row(client: CompletionsClient, text: str, method: Method, top: int) -> TokenRow:
    try:
        (row,), _ = prompt_rows(client, [text], method, top)
    except (ServerError, Unreachable):
        raise
    except MessageError as exc:  # answered, but not in the shape asked for
        raise ProbeFailed(str(exc)) from None
    return row


def candidates(row: TokenRow) -> list[tuple[str, float]]:
    """Tokens generated after the probe text, with their log-probs, best first: words before
    punctuation and spaces; none empty, unprintable or a broken UTF-8 piece."""
    n = row.n_prompt
    found: dict[str, float] = dict(row.top[n] or {}) if n < len(row.top) else {}
    if n < len(row.tokens) and row.logprobs[n] is not None:
        found.setdefault(row.tokens[n], row.logprobs[n])  # type: ignore[arg-type]
    usable = [(text, lp) for text, lp in found.items()
              if text and text.isprintable() and "\ufffd" not in text]
    usable.sort(key=lambda pair: (not any(c.isalnum() for c in pair[0]), -pair[1]))
    return usable[:MAX_CANDIDATES]
