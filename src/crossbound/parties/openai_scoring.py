"""Log-probs from an OpenAI-compatible server, checked, and what the model party computes from
them: exact label scores, the first-token approximation, top-k at every position.

Two answers carry the log-prob of every prompt token (the first has none: nothing precedes it):

- ``echo: true`` with ``logprobs: k`` (OpenAI's legacy completions, vLLM): the choice's
  ``logprobs`` lists the prompt's tokens, then the generated ones: ``tokens`` (their text, or
  ``token_id:N`` with vLLM's ``return_tokens_as_token_ids``), ``token_logprobs`` and
  ``top_logprobs`` (up to k + 1 entries a position: the top k and the token itself);
- vLLM's ``prompt_logprobs: 0``: ``choice.prompt_logprobs``, one ``{id: {logprob, rank,
  decoded_token}}`` per prompt token, holding the prompt token alone.

Both become a :class:`TokenRow`. Everything a server sends is checked before use: list
lengths, types, token text lengths, log-probs finite and at most 0 (vLLM writes -inf as
-9999), top-k dictionaries no larger than asked.

Exact label scoring sends prompt + " " + label, as one text: the label's tokens are the
prompt's last tokens whose text spells " " + label (aligned on text from the end, so a BOS
string at the start changes nothing); its score is their mean log-prob, what
:func:`~crossbound.evaluate.utility.choice_logprobs` computes in process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from crossbound.boundary.errors import MessageError
from crossbound.parties.openai_wire import is_number

MAX_POSITIONS = 1 << 16  # tokens one choice may list
MAX_TOKEN_CHARS = 1024  # text of one token (special tokens included)
LOGPROB_SLACK = 1e-3  # a log-prob this far above 0 is rounding; further is not a log-prob
MAX_TOKEN_ID = (1 << 31) - 1  # token ids cross as int32
_TOKEN_ID = re.compile(r"token_id:(\d{1,10})")


@dataclass(frozen=True)
class TokenRow:
    """One choice's tokens: the prompt's (``n_prompt`` of them), then the generated ones."""

    tokens: list[str]  # each token's text
    logprobs: list[float | None]  # of each token given those before it (None: not given)
    top: list[dict[str, float] | None]  # top log-probs at each position, by token text
    n_prompt: int


def logprob(value: Any, what: str) -> float:
    """``value`` as a log-prob (finite, at most 0 up to rounding)."""
    if not is_number(value) or value > LOGPROB_SLACK:
        raise MessageError(f"the OpenAI-compatible endpoint sent {what} that is not a "
                           f"log-prob: {str(value)[:40]}")
    return min(float(value), 0.0)


def _token_text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TOKEN_CHARS:
        raise MessageError("the OpenAI-compatible endpoint sent a token that is not a string "
                           f"of at most {MAX_TOKEN_CHARS} characters")
    return value


def _top(value: Any, max_entries: int) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > max_entries:
        raise MessageError(f"the OpenAI-compatible endpoint sent top log-probs that are not "
                           f"an object of at most {max_entries} entries")
    return {_token_text(key): logprob(lp, "a top log-prob") for key, lp in value.items()}


def _legacy(choice: dict[str, Any], max_top: int) -> tuple[list[str], list[float | None],
                                                            list[dict[str, float] | None]]:
    """The legacy ``logprobs`` object of a completions choice, checked."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        raise MessageError("the OpenAI-compatible endpoint sent no logprobs object")
    tokens, values, tops = lp.get("tokens"), lp.get("token_logprobs"), lp.get("top_logprobs")
    if (not isinstance(tokens, list) or not isinstance(values, list)
            or not 0 < len(tokens) <= MAX_POSITIONS or len(values) != len(tokens)
            or not (tops is None or (isinstance(tops, list) and len(tops) == len(tokens)))):
        raise MessageError(f"the OpenAI-compatible endpoint's logprobs must hold tokens, "
                           f"token_logprobs and top_logprobs of one length (1..{MAX_POSITIONS})")
    return ([_token_text(t) for t in tokens],
            [None if v is None else logprob(v, "a token log-prob") for v in values],
            [_top(t, max_top) for t in tops] if tops is not None else [None] * len(tokens))


def echoed(choice: dict[str, Any], max_top: int) -> TokenRow:
    """The row of an ``echo`` answer that generated one token (``max_tokens: 1``)."""
    tokens, values, tops = _legacy(choice, max_top)
    if len(tokens) < 2:
        raise MessageError("an echo answer must list the prompt's tokens and the generated one")
    return TokenRow(tokens, values, tops, len(tokens) - 1)


def generated(choice: dict[str, Any], max_top: int) -> TokenRow:
    """The row of a plain answer: generated tokens only."""
    tokens, values, tops = _legacy(choice, max_top)
    return TokenRow(tokens, values, tops, 0)


def prompt_logprobs_row(choice: dict[str, Any], max_top: int) -> TokenRow:
    """The row of a ``prompt_logprobs: 0`` answer (vLLM), with its generated token(s)."""
    entries = choice.get("prompt_logprobs")
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_POSITIONS:
        raise MessageError("the OpenAI-compatible endpoint sent no prompt_logprobs list")
    tokens: list[str] = []
    values: list[float | None] = []
    for i, entry in enumerate(entries):
        if entry is None and i == 0:
            tokens.append("")  # the first token: no log-prob, and its text is not given
            values.append(None)
            continue
        if not isinstance(entry, dict) or len(entry) != 1:
            raise MessageError("prompt_logprobs must hold one entry per prompt token, the "
                               "token alone (prompt_logprobs: 0)")
        ((key, info),) = entry.items()
        if (not isinstance(key, str) or not key.isdigit() or not isinstance(info, dict)
                or info.get("decoded_token") is None):
            raise MessageError("a prompt_logprobs entry must map a token id to its logprob "
                               "and decoded_token")
        tokens.append(_token_text(info["decoded_token"]))
        values.append(logprob(info.get("logprob"), "a prompt log-prob"))
    after = generated(choice, max_top)
    tops: list[dict[str, float] | None] = [None] * len(tokens)
    return TokenRow(tokens + after.tokens, values + after.logprobs, tops + after.top,
                    len(tokens))


def label_logprob(row: TokenRow, suffix: str) -> tuple[float, bool]:
    """Mean log-prob of the prompt's last tokens, those that spell ``suffix``; and whether
    the first of them also holds text before ``suffix`` (the server's tokenizer merged the
    label's first token with the prompt's last, so that token is not the label's alone)."""
    end = start = row.n_prompt
    length = 0
    while length < len(suffix) and start > 1:  # token 0 has no log-prob: never a label's
        start -= 1
        length += len(row.tokens[start])
    spelled = "".join(row.tokens[start:end])
    if length < len(suffix) or not spelled.endswith(suffix):
        raise MessageError(f"the OpenAI-compatible endpoint's tokens of a scored text end in "
                           f"{spelled[-40:]!r}, not in the label {suffix!r}: its echoed "
                           "tokens do not spell the text sent")
    values = row.logprobs[start:end]
    if any(v is None for v in values):
        raise MessageError("the OpenAI-compatible endpoint gave no log-prob for a label token")
    return sum(v for v in values if v is not None) / len(values), length > len(suffix)


def first_token_scores(top: dict[str, float], labels: list[str]) -> torch.Tensor:
    """The approximation: each label scored by the best top token that starts it; a label
    whose start is not among them gets the lowest listed log-prob minus one."""
    floor = min(top.values(), default=0.0) - 1.0
    scores = []
    for label in labels:
        target = label.strip().lower()
        matching = [lp for tok, lp in top.items()
                    if tok.strip() and target.startswith(tok.strip().lower())]
        scores.append(max(matching, default=floor))
    return torch.tensor(scores)


def token_id(key: str) -> int:
    """The id in a ``token_id:N`` token name (vLLM's ``return_tokens_as_token_ids``)."""
    match = _TOKEN_ID.fullmatch(key)
    if match is None or int(match.group(1)) > MAX_TOKEN_ID:
        raise MessageError(f"the OpenAI-compatible endpoint named a token {key[:40]!r}, not "
                           "token_id:N: top-k needs token ids (vLLM gives them with "
                           "return_tokens_as_token_ids)")
    return int(match.group(1))


def topk_at_positions(row: TokenRow, ids: list[int], k: int) -> tuple[torch.Tensor,
                                                                       torch.Tensor]:
    """Top-k next-token log-probs after every prefix of ``ids``, from the echo of ``ids``
    with one generated token: values float32 and indices int32, ``(T, k)`` each.

    Position t is the distribution over token t + 1: the echo's top log-probs at prompt
    position t + 1, and after the last token, the generated token's.
    """
    n = len(ids)
    if row.n_prompt != n or len(row.tokens) != n + 1:
        raise MessageError(f"the OpenAI-compatible endpoint echoed {len(row.tokens)} tokens "
                           f"for {n} prompt tokens and one generated")
    if [token_id(t) for t in row.tokens[:n]] != ids:
        raise MessageError("the OpenAI-compatible endpoint echoed other token ids than it "
                           "was sent")
    values = torch.empty((n, k), dtype=torch.float32)
    indices = torch.empty((n, k), dtype=torch.int32)
    for t in range(n):
        top = row.top[t + 1] or {}
        if len(top) < k:
            raise MessageError(f"the OpenAI-compatible endpoint gave {len(top)} top log-probs "
                               f"at position {t + 1}, fewer than k = {k}")
        best = sorted(((lp, token_id(key)) for key, lp in top.items()),
                      key=lambda pair: (-pair[0], pair[1]))[:k]
        values[t] = torch.tensor([lp for lp, _ in best])
        indices[t] = torch.tensor([i for _, i in best], dtype=torch.int32)
    return values, indices
