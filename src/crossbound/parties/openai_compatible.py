"""A model party behind any OpenAI-compatible endpoint (vLLM, llama.cpp's server, OpenAI's
legacy completions, ``crossbound serve``).

It serves the operations of :class:`~crossbound.parties.ModelParty` that a text-and-log-probs
API can, over ``/v1/completions`` with greedy decoding:

- ``generate``: the generated text, cut at the first newline.
- ``score_choices``: each label's mean log-prob after the prompt. *Exact* where the server
  returns prompt log-probs that pass :func:`~crossbound.parties.openai_probe.probe` (vLLM:
  ``echo`` or ``prompt_logprobs``): prompt + " " + label is sent as one text and the label's
  tokens read back (:mod:`~crossbound.parties.openai_scoring`). Otherwise *approximate*: a
  label's score is the log-prob of the best top-20 first token that begins it. Which of the
  two, and why, goes into the run's result: ``metrics.scoring`` and a note
  (:meth:`OpenAICompatibleParty.describe_run`), never only the transcript.
- ``topk_logprobs``: the top-k at every position of token-id rows, from the echo of those rows
  (``logprobs: k`` with vLLM's ``return_tokens_as_token_ids``). Servers cap k (vLLM at its
  ``--max-logprobs``, 20 by default). The reply is the one crossbound's own model party sends
  (plain float32, or compressed as asked), so its bytes are counted alike.

A server that takes one prompt per request is detected (or told: ``prompts_per_request=1``,
``--openai-batch 1``; :mod:`~crossbound.parties.openai_wire`). Everything a server answers is
untrusted input: bounded, strictly parsed and checked before use; the API key stays in the
request header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.logit_codec import VALUE_BITS, TopkCodec
from crossbound.boundary.messages import Kind, Message, MessageError
from crossbound.boundary.operations import LM
from crossbound.models.loading import load_tokenizer
from crossbound.parties.model_party import (
    DEFAULT_NEW_TOKENS,
    MAX_NEW_TOKENS,
    MAX_PROMPTS_PER_REQUEST,
    MAX_TOPK,
    checked_ids,
    int_meta,
)
from crossbound.parties.openai_probe import APPROXIMATE, Method, Scoring, probe, prompt_rows
from crossbound.parties.openai_scoring import (
    MAX_TOKEN_ID,
    echoed,
    first_token_scores,
    generated,
    label_logprob,
    topk_at_positions,
)
from crossbound.parties.openai_wire import (
    MAX_RESPONSE_BYTES,
    Completions,
    CompletionsClient,
    Prompt,
    ServerError,
)

TOP_LOGPROBS = 20  # the approximation's first-token top-k (vLLM's default --max-logprobs)
MAX_GENERATED_CHARS = 1 << 16  # of one generated answer
LOGPROBS_FLAG = "--max-logprobs"

label_scores = first_token_scores  # the approximation, by the name it had here


class OpenAICompatibleParty:
    """The model party as an OpenAI-compatible server at ``base_url`` (…/v1) serving ``model``.

    ``prompts_per_request``: at most this many prompts per HTTP request (1: one at a time).
    ``max_logprobs``: the server's cap on top-k log-probs, where known (vLLM's
    ``--max-logprobs``): a larger k is refused before anything is sent. ``lm``: the
    crossbound name of the served LM (default ``model``), whose tokenizer gives the vocabulary
    size a compressed top-k reply declares, where ``vocab_size`` is not given.
    """

    name = MODEL_PARTY

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float = 600.0,
                 client: Any = None, *, prompts_per_request: int | None = None,
                 max_logprobs: int | None = None, lm: str | None = None,
                 vocab_size: int | None = None,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.http = CompletionsClient(base_url, api_key, model, timeout=timeout, client=client,
                                      prompts_per_request=prompts_per_request,
                                      max_response_bytes=max_response_bytes)
        self.model = model
        self.lm = lm or model
        self.max_logprobs = max_logprobs
        self.vocab_size = vocab_size
        self._scoring: Scoring | None = None
        # What this party served since it was made (describe_run reports it).
        self.score_requests = 0
        self.texts_scored = 0  # prompt + label texts scored exactly
        self.label_merges = 0  # of those, labels whose first token the server merged

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatibleParty({self.http.where!r}, model={self.model!r})"

    @property
    def scoring(self) -> Scoring:
        """How this server's labels are scored: probed on first use, then kept."""
        if self._scoring is None:
            self._scoring = probe(self.http)
        return self._scoring

    def handle(self, request: Message) -> Message:
        op = request.meta.get("op")
        which = request.meta.get("model", LM)
        if which != LM:  # e.g. mutual-kt's upward-tuned copy: the server holds no such model
            raise MessageError(f"an OpenAI-compatible server answers with its LM only "
                               f"(meta.model {LM!r}), not {which!r}")
        if op == "generate":
            return self._generate(request)
        if op == "score_choices":
            return self._score_choices(request)
        if op == "topk_logprobs":
            return self._topk(request)
        raise MessageError(f"unknown operation {op!r}; an OpenAI-compatible model party "
                           "serves generate, score_choices, topk_logprobs")

    # ------------------------------------------------------------ operations

    def _generate(self, request: Message) -> Message:
        prompts = _prompts(request)
        max_new = int_meta(request.meta, "max_new_tokens", DEFAULT_NEW_TOKENS, 1,
                           MAX_NEW_TOKENS)
        done = self.http.complete(prompts, max_tokens=max_new)
        texts = []
        for choice in done.choices:
            text = choice.get("text")
            if not isinstance(text, str) or len(text) > MAX_GENERATED_CHARS:
                raise MessageError("the OpenAI-compatible endpoint's choice text is not a "
                                   f"string of at most {MAX_GENERATED_CHARS} characters")
            texts.append(text.strip().split("\n")[0].strip())
        return self._reply(request, Kind.TEXT, texts, done.tokens)

    def _score_choices(self, request: Message) -> Message:
        prompts = _prompts(request)
        labels = request.meta.get("choices")
        if (not isinstance(labels, list) or not labels
                or not all(isinstance(c, str) and c.strip() for c in labels)):
            raise MessageError("score_choices needs meta.choices, a non-empty list of labels")
        scoring = self.scoring
        scores = torch.empty(len(prompts), len(labels))
        if scoring.mode == "exact":
            method: Method = "echo" if scoring.method == "echo" else "prompt_logprobs"
            # (B·C) texts, prompt-major: prompt + " " + label, as choice_logprobs scores them
            suffixes = [" " + label for label in labels]
            rows, tokens = prompt_rows(self.http, [p + s for p in prompts for s in suffixes],
                                       method, 0)
            for i, row in enumerate(rows):
                score, merged = label_logprob(row, suffixes[i % len(labels)])
                scores[i // len(labels), i % len(labels)] = score
                self.label_merges += merged
            self.texts_scored += len(rows)
        else:
            done = self._with_logprobs(TOP_LOGPROBS, prompts, max_tokens=1,
                                       logprobs=TOP_LOGPROBS)
            tokens = done.tokens
            for i, choice in enumerate(done.choices):
                top = generated(choice, TOP_LOGPROBS + 1).top[0] or {}
                scores[i] = first_token_scores(top, labels)
        self.score_requests += 1
        return self._reply(request, Kind.TENSORS, {"choice_logprobs": scores}, tokens,
                           {"scoring": scoring.mode})

    def _topk(self, request: Message) -> Message:
        """``topk_logprobs`` as :func:`crossbound.parties.basic_ops.topk_logprobs` answers it:
        values (B, T, k) float32 and indices (B, T, k) int32, zero where masked."""
        if request.kind != Kind.TOKEN_IDS:
            raise MessageError(f"topk_logprobs takes token_ids, got {request.kind.value}")
        k = int_meta(request.meta, "k", 1, 1, MAX_TOPK)
        bits = request.meta.get("value_bits", 32)
        if not isinstance(bits, int) or isinstance(bits, bool) or bits not in VALUE_BITS:
            raise MessageError(f"meta.value_bits must be one of "
                               f"{', '.join(map(str, VALUE_BITS))}, got {bits!r}")
        if self.max_logprobs is not None and k > self.max_logprobs:
            raise MessageError(_too_many(k, f"its cap is {self.max_logprobs}"))
        ids, mask = checked_ids(request.payload, self.vocab_size or MAX_TOKEN_ID + 1)
        rows = []
        for b in range(ids.shape[0]):  # (T,) each: the row's tokens, without its padding
            length = int(mask[b].sum())
            if not bool(mask[b, :length].all()):
                raise MessageError("topk_logprobs over an OpenAI-compatible server takes "
                                   "right-padded rows (mask 1…1 0…0)")
            rows.append(ids[b, :length].tolist())
        scoring = self.scoring
        if scoring.method != "echo":
            raise MessageError(f"topk_logprobs needs the echoed prompt log-probs of the "
                               f"OpenAI-compatible server at {self.http.where}, and they "
                               f"cannot be used: {scoring.reason}")
        done = self._with_logprobs(k, rows, echo=True, logprobs=k, max_tokens=1,
                                   return_tokens_as_token_ids=True)
        values = torch.zeros((*ids.shape, k), dtype=torch.float32)  # (B, T, k)
        indices = torch.zeros((*ids.shape, k), dtype=torch.int32)
        for b, (row, choice) in enumerate(zip(rows, done.choices, strict=True)):
            v, i = topk_at_positions(echoed(choice, k + 1), row, k)  # (T_b, k) each
            values[b, : len(row)] = v
            indices[b, : len(row)] = i
        positions = int(mask.sum())  # what the in-process party reports: positions scored
        if bits == 32:
            return self._reply(request, Kind.TOPK_LOGPROBS,
                               {"values": values, "indices": indices}, positions)
        codec = TopkCodec(k=k, value_bits=bits, vocab_size=self._vocab())
        try:
            payload = codec.encode(values, indices)
        except ValueError as exc:
            raise MessageError(f"the OpenAI-compatible endpoint's top-k does not fit the LM's "
                               f"vocabulary: {exc}") from None
        return self._reply(request, Kind.TOPK_LOGPROBS, payload, positions,
                           {"codec": codec.to_meta()})

    def _with_logprobs(self, k: int, prompts: Sequence[Prompt], **params: Any) -> Completions:
        """``complete``, where a refusal of top-``k`` log-probs names the server's flag."""
        try:
            return self.http.complete(prompts, **params)
        except ServerError as exc:
            if exc.status in (400, 422) and "logprob" in exc.detail.lower():
                raise MessageError(_too_many(k, f"it answered {exc.status}: {exc.detail}")
                                   ) from None
            raise

    def _vocab(self) -> int:
        if self.vocab_size is None:
            self.vocab_size = len(load_tokenizer(self.lm))
        return self.vocab_size

    def _reply(self, request: Message, kind: Kind, payload: Any, tokens: int,
               meta: dict[str, Any] | None = None) -> Message:
        return Message(kind, self.name, request.sender, payload,
                       {"op": request.meta.get("op"), "lm_tokens": tokens, **(meta or {})})

    # ------------------------------------------------------------ the run's record

    def describe_run(self, metrics: dict[str, Any], notes: list[str]) -> None:
        """Say in a run's result how this server served it: ``metrics["openai_server"]``
        (where, how many requests, prompts per request), ``metrics["scoring"]`` where labels
        were scored (``exact`` or ``approximate``, the method and the reason), and notes."""
        where = self.http.where
        metrics["openai_server"] = {
            "url": where, "model": self.model, "requests": self.http.requests,
            "prompts_per_request": 1 if self.http.one_prompt else self.http.prompts_per_request}
        if self.http.one_prompt:
            notes.append(f"the OpenAI-compatible server at {where} was sent one prompt per "
                         f"request: {self.http.one_prompt}")
        if not self.score_requests or self._scoring is None:
            return
        scoring = self._scoring
        metrics["scoring"] = {**scoring.to_dict(), "requests": self.score_requests,
                              "texts_scored": self.texts_scored,
                              "label_merges": self.label_merges}
        if scoring.mode == "exact":
            notes.append(f"label scores from the OpenAI-compatible server are exact "
                         f"({scoring.method}): {scoring.reason}")
        else:
            notes.append(f"label scores from the OpenAI-compatible server are APPROXIMATE "
                         f"({APPROXIMATE} log-probs of a label's first token, not the label's "
                         f"mean log-prob): {scoring.reason}")
        if self.label_merges:
            notes.append(f"in {self.label_merges} of {self.texts_scored} scored texts the "
                         "server's tokenizer merged the label's first token with the prompt's "
                         "last; those scores include that token")


def _prompts(request: Message) -> list[str]:
    if request.kind != Kind.TEXT:
        raise MessageError(f"{request.meta.get('op')} takes a text request, "
                           f"got {request.kind.value}")
    prompts = request.payload
    if (not isinstance(prompts, list) or not 0 < len(prompts) <= MAX_PROMPTS_PER_REQUEST
            or not all(isinstance(p, str) and p.strip() for p in prompts)):
        raise MessageError(f"a request carries 1..{MAX_PROMPTS_PER_REQUEST} prompts, each "
                           "with some text")
    return prompts


def _too_many(k: int, why: str) -> str:
    return (f"the OpenAI-compatible server cannot return top-{k} log-probs ({why}): servers "
            f"cap them, vLLM at its {LOGPROBS_FLAG} (20 by default). Restart the server with "
            f"{LOGPROBS_FLAG} {k} or more, or ask for fewer (top_k ≤ the cap)")
