"""``crossbound generate``: text from the LM alone, speculatively, or proxy-tuned.

Speculative decoding drafts with a small model (``--small``/``--draft model:NAME``) or with a
lookup that loads none (``--draft ngram``, ``--draft suffix``).

:func:`run_generate` is what the command calls. The LM runs in this process, or behind the
boundary (``boundary=True``: an in-process model party, every step a recorded crossing; or
``remote``: a transport to a ``crossbound serve`` model party), in which case the result also
says what crossed per generated token. The SMs always run here (they are the data party's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from crossbound.boundary.channel import Boundary, Transport
from crossbound.inference.cross_tokenizer import cross_speculative_generate
from crossbound.inference.drafts import DraftSpec, parse_draft
from crossbound.inference.gamma import SpeculativeSettings
from crossbound.inference.generation import (
    Generation,
    GenerationSettings,
    Target,
    direct_generate,
    encode_prompts,
    merge_stats,
    prompt_texts,
)
from crossbound.inference.proposers import Proposer
from crossbound.inference.proxy_tuning import (
    check_same_tokenizer,
    proxy_generate,
    same_tokenizer,
)
from crossbound.inference.remote import RemoteTarget
from crossbound.inference.speculative import model_draft, speculate
from crossbound.models.kv import DecodeState
from crossbound.models.loading import LoadedModel, load_model, load_tokenizer
from crossbound.models.precision import Precision, precision_scope
from crossbound.naming import DATA_PARTY
from crossbound.parties import ModelParty
from crossbound.parties.lm_sessions import TOKEN_STEPS

Engine = Literal["direct", "speculative", "proxy-tuning"]
ENGINES: tuple[Engine, ...] = ("direct", "speculative", "proxy-tuning")


def read_prompts(prompt: str | None = None, batch_file: str | Path | None = None) -> list[str]:
    """``prompt`` and/or the prompts of ``batch_file``: one per line (blank lines skipped), or
    a ``.jsonl`` file of ``{"prompt": ...}`` objects (multi-line prompts)."""
    prompts = [prompt] if prompt else []
    if batch_file is not None:
        path = Path(batch_file)
        lines = path.read_text(encoding="utf-8").splitlines()
        if path.suffix == ".jsonl":
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
                    raise ValueError(f"{path}:{number}: expected an object with a "
                                     "\"prompt\" string")
                prompts.append(record["prompt"])
        else:
            prompts.extend(line for line in lines if line.strip())
    if not prompts:
        raise ValueError("give a prompt (--prompt) or a file of prompts (--batch-file)")
    return prompts


def run_generate(
    strategy: str,
    *,
    large: str,
    prompts: Sequence[str],
    small: str | None = None,
    small_base: str | None = None,
    draft: str = "model",
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    stop: Sequence[str] = (),
    chat: bool = False,
    gamma: int = 4,
    adaptive: bool = True,
    gamma_max: int = 10,
    draft_vocab: int = 0,
    draft_confidence: float = 0.7,
    alpha: float = 1.0,
    batch_size: int = 8,
    seed: int = 0,
    boundary: bool = False,
    remote: Transport | None = None,
    precision: Precision = "auto",
) -> dict[str, Any]:
    """Generate for ``prompts`` with ``strategy`` (``direct``, ``speculative``,
    ``proxy-tuning``) and return texts, finish reasons and statistics as a JSON-ready dict.

    ``small``: the draft model (speculative; with another tokenizer than the LM's, its drafts
    are re-tokenised: :mod:`crossbound.inference.cross_tokenizer`) or the tuned SM
    (proxy-tuning, with ``small_base`` the SM before tuning). ``draft`` (speculative): what
    proposes — ``model`` (``small``), ``model:NAME``, or a lookup that loads no model:
    ``ngram`` (prompt lookup) or ``suffix`` (:mod:`crossbound.inference.drafts`).
    ``chat`` wraps each prompt in the LM's chat template. ``precision``: every model here
    only runs, so all are held in it (bf16 where the CPU has it, under ``auto``); greedy
    speculative output equals the LM alone's in the same precision.
    """
    if strategy not in ENGINES:
        raise ValueError(f"unknown generation strategy {strategy!r}; choose from "
                         f"{', '.join(ENGINES)}")
    drafting = parse_draft(draft)
    if strategy == "speculative":
        small = _draft_model(drafting, small)
    elif strategy != "direct" and small is None:
        raise ValueError(f"{strategy} needs a small model (--small)")
    if strategy == "proxy-tuning" and small_base is None:
        raise ValueError("proxy-tuning needs the tuned SM (--small) and the SM before tuning "
                         "(--small-base)")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature,
                                  top_k=top_k, top_p=top_p, stop=tuple(stop), seed=seed)
    spec = SpeculativeSettings(gamma=gamma, adaptive=adaptive,
                               gamma_max=max(gamma, gamma_max), draft_vocab=draft_vocab,
                               draft_confidence=draft_confidence)
    with precision_scope(precision) as resolved:
        result = _generate(strategy, large, prompts, small, small_base, drafting, settings,
                           spec, chat, alpha, batch_size, boundary, remote)
    result["settings"].update({"max_new_tokens": max_new_tokens, "temperature": temperature,
                               "top_k": top_k, "top_p": top_p, "stop": list(stop),
                               "chat": chat, "batch_size": batch_size, "seed": seed})
    if strategy == "speculative":
        result["settings"].update({"draft": drafting.label(small), "gamma": gamma,
                                   "adaptive": adaptive, "gamma_max": spec.gamma_max,
                                   "draft_vocab": draft_vocab,
                                   "draft_confidence": draft_confidence})
    if strategy == "proxy-tuning":
        result["settings"]["alpha"] = alpha
    result["stats"]["precision"] = resolved
    return result


def _draft_model(drafting: DraftSpec, small: str | None) -> str | None:
    """The draft model speculative decoding loads (None: a lookup drafts)."""
    if drafting.draft_free:
        if small is not None:
            raise ValueError(f"--draft {drafting.kind} drafts without a model: drop --small "
                             f"{small}")
        return None
    if drafting.model and small and drafting.model != small:
        raise ValueError(f"two draft models: --small {small} and --draft model:"
                         f"{drafting.model}; give one")
    name = drafting.model or small
    if name is None:
        raise ValueError("speculative needs a drafter: --small NAME (or --draft model:NAME), "
                         "or a lookup that needs no model: --draft ngram or --draft suffix")
    return name


def _generate(strategy: str, large: str, prompts: Sequence[str], small: str | None,
              small_base: str | None, drafting: DraftSpec, settings: GenerationSettings,
              spec: SpeculativeSettings, chat: bool, alpha: float, batch_size: int,
              boundary: bool, remote: Transport | None) -> dict[str, Any]:
    channel: Boundary | None = None
    lm: LoadedModel | None = None
    if remote is not None or boundary:
        channel = Boundary(contract=TOKEN_STEPS, remote=remote)
        tokenizer = load_tokenizer(large)  # the tokenizer is public; the weights stay there
        if remote is None:
            channel.attach(ModelParty(load_model(large, frozen=True)))
    else:
        lm = load_model(large, frozen=True)
        tokenizer = lm.tokenizer
    smalls = [load_model(name, frozen=True) for name in (small, small_base) if name is not None]
    # Speculative decoding works across tokenizers (drafts are re-tokenised); proxy-tuning's
    # arithmetic is per token id and needs one tokenizer.
    cross = (strategy == "speculative" and bool(smalls)
             and not same_tokenizer(tokenizer, smalls[0].tokenizer))
    if cross and drafting.lookup is not None:
        raise ValueError(f"--draft {drafting.label(small)}: a lookup drafts the LM's token ids, "
                         f"and {small}'s tokenizer is not the LM's; use --draft model")
    if strategy == "proxy-tuning":
        for sm in smalls:
            check_same_tokenizer(tokenizer, sm.tokenizer, f"proxy-tuning's LM and {sm.name}")
    texts = prompt_texts(tokenizer, prompts, chat)
    ids = [] if cross else encode_prompts(tokenizer, texts)
    lm_model = lm.model if lm is not None else None
    # One proposer for every batch: a suffix proposer's corpus grows batch by batch, and
    # adaptive γ starts each batch from what the last one learnt.
    proposer: Proposer | None = None
    if strategy == "speculative" and not cross:
        proposer = (model_draft(smalls[0].model, tokenizer, spec, drafting.first())
                    if smalls else drafting.proposer())

    def target() -> Target:
        if channel is not None:
            return RemoteTarget(channel, DATA_PARTY)
        assert lm is not None
        return DecodeState(lm.model, tokenizer.pad_token_id or 0)

    outs: list[Generation] = []
    requests = 0
    for start in range(0, len(texts), batch_size):
        chunk = ids[start: start + batch_size]
        lm_target = target()
        if cross:
            out = cross_speculative_generate(
                lm_target, tokenizer, smalls[0].model, smalls[0].tokenizer,
                texts[start: start + batch_size], settings, spec, lm_model=lm_model)
        elif strategy == "direct":
            out = direct_generate(lm_target, tokenizer, chunk, settings, lm_model)
        elif proposer is not None:
            out = speculate(lm_target, proposer, tokenizer, chunk, settings, spec,
                            lm_model=lm_model)
        else:
            out = proxy_generate(lm_target, smalls[0].model, smalls[1].model, tokenizer, chunk,
                                 settings, alpha, lm_model=lm_model)
        if isinstance(lm_target, RemoteTarget):
            lm_target.close()
            requests += lm_target.requests
        outs.append(out)
    stats = merge_stats([o.stats for o in outs])
    result: dict[str, Any] = {
        "strategy": strategy,
        "models": {"large": large, "small": small, "small_base": small_base},
        "settings": ({"tokenizers": "different (drafts re-tokenised)" if cross else "same"}
                     if strategy == "speculative" and smalls else {}),
        "outputs": [{"prompt": p, "text": t, "finish": f, "new_tokens": len(i)}
                    for p, t, f, i in zip(prompts, (t for o in outs for t in o.texts),
                                          (f for o in outs for f in o.finish),
                                          (i for o in outs for i in o.ids), strict=True)],
        "stats": stats.to_dict(),
    }
    if channel is not None:
        crossed = channel.summary()
        result["boundary"] = {
            **crossed, "round_trips": requests,
            "round_trips_per_token": round(requests / max(1, stats.new_tokens), 4),
            "bytes_per_token": round(crossed["bytes"] / max(1, stats.new_tokens), 1),
            "transport": "http" if remote is not None else "in-process"}
    return result
