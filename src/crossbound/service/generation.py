"""Token-by-token generation for the service, written as Python generators.

Why not ``model.generate``: the service streams, reports per-token log-probs from the
*unmodified* distribution (what the model believes, before temperature or top-p reshape it),
cuts stop strings out of the text as they appear, and seeds sampling per request. One loop does
all of that, and streaming and non-streaming responses consume the same generator, so they
cannot drift apart. Greedy decoding (temperature 0) is token for token what
``model.generate(do_sample=False)`` returns; the tests check it.

Two layers:

- :func:`token_steps` yields one :class:`TokenStep` per sampled token (KV cache through
  ``past_key_values``, so each step feeds one token).
- :func:`generate_text` turns token steps into :class:`TextDelta` s: new text that is safe to
  show (no half of a multi-byte character, no prefix of a stop string that might still
  complete), the tokens behind it, and at the end why generation finished.
"""

from __future__ import annotations

import functools
import math
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

MAX_TOP_LOGPROBS = 20
GREEDY_BELOW = 1e-5  # temperatures this small are greedy (dividing by them overflows)


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens. ``temperature`` 0 is greedy; ``top_logprobs`` None means none."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_logprobs: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must be ≥ 0 (0 is greedy)")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_logprobs is not None and not 0 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
            raise ValueError(f"top_logprobs must be in 0..{MAX_TOP_LOGPROBS}")
        if any(not s for s in self.stop):
            raise ValueError("stop strings must not be empty")


@dataclass(frozen=True)
class TokenStep:
    """One sampled token; ``logprob`` and ``top`` come from the log-softmax of the raw logits."""

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()  # (token id, logprob), most likely first
    eos: bool = False


@dataclass
class TextDelta:
    """New text since the previous delta and the tokens that produced it."""

    text: str
    tokens: list[TokenStep] = field(default_factory=list)
    finish_reason: str | None = None  # "stop" | "length" on the last delta, else None
    completion_tokens: int = 0  # tokens sampled so far (EOS included)


@dataclass
class Completion:
    """A prompt's generation so far: the deltas added up."""

    text: str = ""
    tokens: list[TokenStep] = field(default_factory=list)
    finish_reason: str | None = None
    completion_tokens: int = 0

    def add(self, delta: TextDelta) -> None:
        self.text += delta.text
        self.tokens.extend(delta.tokens)
        self.finish_reason = delta.finish_reason or self.finish_reason
        self.completion_tokens = delta.completion_tokens


def eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Token ids that end a generation: the generation config's and the tokenizer's EOS."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif isinstance(configured, Sequence):
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


def _pick(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator) -> int:
    """Choose the next token from ``logits`` (V,): argmax, or temperature + top-p sampling."""
    if params.temperature < GREEDY_BELOW:
        return int(torch.argmax(logits))  # first maximum, as model.generate does
    probs = torch.softmax(logits / params.temperature, dim=-1)  # (V,)
    if params.top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        # keep the smallest set of most likely tokens whose mass reaches top_p (at least one)
        keep = sorted_probs.cumsum(0) - sorted_probs < params.top_p
        keep[0] = True  # also when top_p underflows in float32
        sorted_probs = torch.where(keep, sorted_probs, 0.0)
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        probs = probs / probs.sum()
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.inference_mode()
def token_steps(model: Any, prompt_ids: Sequence[int], params: SamplingParams,
                stop_ids: frozenset[int] = frozenset()) -> Iterator[TokenStep]:
    """Sample up to ``params.max_tokens`` tokens after ``prompt_ids``; stop after an EOS token.

    The first forward pass reads the whole prompt and fills the KV cache; each later one feeds
    the single token just sampled. Only the last position's logits are computed
    (``logits_to_keep=1``), as ``model.generate`` does, so greedy results match it exactly.
    """
    if not prompt_ids:
        raise ValueError("the prompt is empty: give at least one token")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    seed = params.seed if params.seed is not None else secrets.randbits(63)
    generator.manual_seed(seed % (1 << 64))  # any integer seed; torch takes 64 bits
    input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)  # (1, T)
    attention = torch.ones_like(input_ids)
    past: Any = None
    for _ in range(params.max_tokens):
        out = model(input_ids=input_ids, attention_mask=attention, past_key_values=past,
                    use_cache=True, logits_to_keep=1)
        past = out.past_key_values
        logits = out.logits[0, -1].float()  # (V,)
        token = _pick(logits, params, generator)
        logprobs = torch.log_softmax(logits, dim=-1)  # (V,), unmodified distribution
        top: tuple[tuple[int, float], ...] = ()
        if params.top_logprobs:
            values, indices = logprobs.topk(params.top_logprobs)
            top = tuple(zip(indices.tolist(), values.tolist(), strict=True))
        step = TokenStep(token, float(logprobs[token]), top, eos=token in stop_ids)
        yield step
        if step.eos:
            return
        input_ids = torch.tensor([[token]], dtype=torch.long, device=device)  # (1, 1)
        attention = torch.cat([attention, attention.new_ones((1, 1))], dim=1)


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could still grow into a stop string."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


def generate_text(model: Any, tokenizer: Any, prompt_ids: Sequence[int],
                  params: SamplingParams) -> Iterator[TextDelta]:
    """Yield text as it becomes final; the last delta carries ``finish_reason``.

    Text is the tokenizer's decoding of all generated tokens (special tokens skipped), so it is
    exactly what a non-streaming caller gets; deltas concatenate to it. A stop string ends
    generation and is cut out together with anything after it; its finish reason is "stop", as
    is an EOS token's; running out of ``max_tokens`` is "length".
    """
    stops = params.stop
    ids: list[int] = []
    pending: list[TokenStep] = []
    emitted, sampled = 0, 0
    text = ""
    for step in token_steps(model, prompt_ids, params, eos_ids(model, tokenizer)):
        sampled += 1
        if step.eos:
            yield TextDelta(text[emitted:], pending, "stop", sampled)
            return
        ids.append(step.token_id)
        pending.append(step)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if stops:
            # a stop may start just before the emitted text if decoding re-joined characters
            start = max(0, emitted - max(len(s) for s in stops))
            hits = [i for s in stops if (i := text.find(s, start)) >= 0]
            if hits:
                cut = max(min(hits), emitted)
                yield TextDelta(text[emitted:cut], pending, "stop", sampled)
                return
        safe = len(text.rstrip("\ufffd"))  # an incomplete UTF-8 sequence decodes to U+FFFD
        safe -= _held_back(text[:safe], stops)
        if safe > emitted:
            yield TextDelta(text[emitted:safe], pending, None, sampled)
            emitted, pending = safe, []
    yield TextDelta(text[emitted:], pending, "length", sampled)


# ---------------------------------------------------------------- token text and bytes


@functools.cache
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's byte → printable character map used by byte-level BPE vocabularies."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _is_byte_level(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return type(decoder).__name__ == "ByteLevel"


class TokenText:
    """The exact bytes of each token and a printable name for it, cached per token id.

    Byte-level vocabularies store a token's bytes as printable stand-in characters; those map
    back exactly. Other vocabularies fall back to ``<0xNN>`` byte tokens or decoding the token.
    Bytes that are not valid UTF-8 on their own (half a character) are named the way the OpenAI
    API names them: ``bytes:\\xe2\\x80``.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.byte_level = _is_byte_level(tokenizer)
        self._cache: dict[int, tuple[str, bytes]] = {}

    def _bytes(self, token_id: int) -> bytes:
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        if isinstance(piece, str):
            if self.byte_level:
                table = _byte_decoder()
                if all(ch in table for ch in piece):
                    return bytes(table[ch] for ch in piece)
            if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                try:
                    return bytes([int(piece[3:5], 16)])
                except ValueError:
                    pass
        decoded: str = self.tokenizer.decode([token_id])
        return decoded.encode("utf-8", "replace")

    def __call__(self, token_id: int) -> tuple[str, bytes]:
        """``(name, bytes)`` of a token."""
        cached = self._cache.get(token_id)
        if cached is None:
            raw = self._bytes(token_id)
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                name = "bytes:" + "".join(f"\\x{b:02x}" for b in raw)
            cached = self._cache[token_id] = (name, raw)
        return cached


# ---------------------------------------------------------------- log-probs in OpenAI's formats


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -9999.0  # OpenAI's stand-in for "very unlikely"


def legacy_logprobs(tokenizer: Any, tt: TokenText, steps: Sequence[TokenStep],
                    before: Sequence[int] = ()) -> dict[str, list[Any]]:
    """The ``/v1/completions`` logprobs object for ``steps``.

    ``text_offset`` is each token's character offset in the completion text (0 for the first
    token; ``before`` holds the ids already streamed, so later chunks continue the count).
    ``top_logprobs`` always lists the chosen token too, so a dict may hold N + 1 entries.
    """
    ids = list(before)
    out: dict[str, list[Any]] = {"tokens": [], "token_logprobs": [], "top_logprobs": [],
                                 "text_offset": []}
    for step in steps:
        name = tt(step.token_id)[0]
        out["text_offset"].append(len(tokenizer.decode(ids, skip_special_tokens=True)))
        ids.append(step.token_id)
        out["tokens"].append(name)
        out["token_logprobs"].append(_finite(step.logprob))
        top = {tt(i)[0]: _finite(lp) for i, lp in step.top}
        top.setdefault(name, _finite(step.logprob))
        out["top_logprobs"].append(top)
    return out


def chat_logprobs(tt: TokenText, steps: Sequence[TokenStep]) -> list[dict[str, Any]]:
    """``choices[i].logprobs.content`` of a chat completion: token, logprob, bytes, top."""

    def entry(token_id: int, logprob: float) -> dict[str, Any]:
        name, raw = tt(token_id)
        return {"token": name, "logprob": _finite(logprob), "bytes": list(raw)}

    return [entry(s.token_id, s.logprob)
            | {"top_logprobs": [entry(i, lp) for i, lp in s.top]} for s in steps]
