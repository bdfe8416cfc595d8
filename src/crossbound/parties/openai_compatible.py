"""A model party behind any OpenAI-compatible endpoint (vLLM, llama.cpp server, crossbound serve).

Such a server offers text and top log-probs only, so it can play the model party for the
strategies that need nothing more (``remote-lm``, routing, private-prompt inference). It serves
the same operations as :class:`crossbound.parties.ModelParty`:

- ``generate``: ``/v1/completions`` with greedy decoding, cut at the first newline.
- ``score_choices``: ``/v1/completions`` with ``max_tokens=1`` and ``logprobs=20``; a label's
  score is the log-prob of the best top-20 token that begins the label (the usual way to
  classify with an API-only LM). Labels whose start is not among the top 20 get the lowest
  listed log-prob minus one. This is an approximation of full label scoring: the result notes
  it when this party is used.
"""

from __future__ import annotations

from typing import Any

import torch

from crossbound.boundary.contracts import MODEL_PARTY
from crossbound.boundary.messages import Kind, Message, MessageError

TOP_LOGPROBS = 20


class OpenAICompatibleParty:
    name = MODEL_PARTY

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float = 600.0,
                 client: Any = None) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self._client = client or httpx.Client(timeout=timeout)
        self._headers = {"Authorization": f"Bearer {api_key}"}

    def _complete(self, prompts: list[str], **params: Any) -> dict[str, Any]:
        body = {"model": self.model, "prompt": prompts, "temperature": 0.0, **params}
        response = self._client.post(f"{self.base_url}/completions", json=body,
                                     headers=self._headers)
        if response.status_code != 200:
            raise MessageError(f"the OpenAI-compatible endpoint answered "
                               f"{response.status_code}: {response.text[:300]}")
        data: dict[str, Any] = response.json()
        return data

    def handle(self, request: Message) -> Message:
        if request.kind != Kind.TEXT:
            raise MessageError("an OpenAI-compatible model party takes text requests only")
        op, prompts = request.meta.get("op"), list(request.payload)
        if op == "generate":
            data = self._complete(prompts, max_tokens=int(request.meta.get("max_new_tokens", 48)))
            texts = [""] * len(prompts)
            for choice in data["choices"]:
                texts[choice["index"]] = choice["text"].strip().split("\n")[0].strip()
            return self._reply(request, Kind.TEXT, texts, data)
        if op == "score_choices":
            choices = request.meta.get("choices")
            if not isinstance(choices, list) or not choices:
                raise MessageError("score_choices needs meta.choices")
            data = self._complete(prompts, max_tokens=1, logprobs=TOP_LOGPROBS)
            scores = torch.empty(len(prompts), len(choices))
            for choice in data["choices"]:
                top = (choice.get("logprobs") or {}).get("top_logprobs") or [{}]
                scores[choice["index"]] = label_scores(top[0], choices)
            return self._reply(request, Kind.TENSORS, {"choice_logprobs": scores}, data)
        raise MessageError(f"unknown operation {op!r}; this party serves generate, "
                           "score_choices")

    def _reply(self, request: Message, kind: Kind, payload: Any,
               data: dict[str, Any]) -> Message:
        tokens = int((data.get("usage") or {}).get("total_tokens", 0))
        return Message(kind, self.name, request.sender, payload,
                       {"op": request.meta.get("op"), "lm_tokens": tokens,
                        "approximate": request.meta.get("op") == "score_choices"})


def label_scores(top: dict[str, float], labels: list[str]) -> torch.Tensor:
    """Score each label by the best top token that starts it (see the module docstring)."""
    floor = min(top.values(), default=0.0) - 1.0
    scores = []
    for label in labels:
        target = label.strip().lower()
        matching = [lp for tok, lp in top.items()
                    if tok.strip() and target.startswith(tok.strip().lower())]
        scores.append(max(matching, default=floor))
    return torch.tensor(scores)
