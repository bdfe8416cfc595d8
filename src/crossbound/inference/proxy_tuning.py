"""Proxy-tuning (Liu et al., arXiv:2401.08565; emulated fine-tuning, arXiv:2310.12962).

The LM is steered at decoding time by the difference a fine-tuning made to a small model:

    logits = LM + α · (SM_tuned − SM_base)          (per position, over the shared vocabulary)

The LM's weights are never touched and the data party's tuned SM never leaves it: only token
ids go to the LM and its logits come back. The three models must share one tokenizer (the
arithmetic is per token id); :func:`check_same_tokenizer` refuses other pairs.

Two uses: :func:`proxy_generate` decodes (greedy or sampled, batched, each model keeping its
KV cache), and :func:`proxy_choice_scores` scores a classification task's labels the way
:func:`crossbound.evaluate.utility.choice_logprobs` does, returning the LM's, the two SMs' and
the proxy's label scores from one pass — so α can be swept without running the models again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from crossbound.inference.generation import (
    DecodeClock,
    DecodeStats,
    Generation,
    GenerationSettings,
    Target,
    advance_rows,
    check_prompts,
)
from crossbound.inference.sampling import choose
from crossbound.models.kv import DecodeState

PROBE = "Route the patient message: chest pain since Monday, call 555-0142. Ünïcode ✓ 3.14"


def same_tokenizer(a: Any, b: Any) -> bool:
    """Whether tokenizers ``a`` and ``b`` have one vocabulary and map a probe to the same ids."""
    if a is b:
        return True
    same = len(a) == len(b) and (
        a(PROBE, add_special_tokens=False)["input_ids"]
        == b(PROBE, add_special_tokens=False)["input_ids"])
    if same and hasattr(a, "get_vocab") and hasattr(b, "get_vocab"):
        same = a.get_vocab() == b.get_vocab()
    return bool(same)


def check_same_tokenizer(a: Any, b: Any, what: str) -> None:
    """Raise ``ValueError`` unless tokenizers ``a`` and ``b`` map text to the same ids."""
    if not same_tokenizer(a, b):
        raise ValueError(
            f"{what} need one shared tokenizer (the logit arithmetic is per token id), but "
            f"they differ ({len(a)} vs {len(b)} tokens). Use a small model of the LM's family "
            "(e.g. smollm2-135m:layers=6 or smollm2-135m-draft for smollm2-135m).")


def proxy_logits(lm: torch.Tensor, tuned: torch.Tensor, base: torch.Tensor,
                 alpha: float) -> torch.Tensor:
    """``lm + α·(tuned − base)`` over the vocabulary all three share (``(..., V)`` each).

    Checkpoints may pad their output layer past the tokenizer's size; the padded ids are
    never real tokens, so the shortest vocabulary is kept.
    """
    vocab = min(lm.shape[-1], tuned.shape[-1], base.shape[-1])
    return lm[..., :vocab].float() + alpha * (tuned[..., :vocab].float()
                                              - base[..., :vocab].float())


@torch.no_grad()
def proxy_generate(target: Target, tuned: Any, base: Any, tokenizer: Any,
                   prompts: Sequence[Sequence[int]], settings: GenerationSettings,
                   alpha: float = 1.0, *, lm_model: Any = None) -> Generation:
    """Decode from the proxy-tuned distribution; ``tuned``/``base`` are local HF causal LMs."""
    check_prompts(prompts)
    outputs = settings.outputs(tokenizer, lm_model, len(prompts))  # EOS: the LM's side
    sampling, generator = settings.sampling, settings.generator()
    pad = tokenizer.pad_token_id or 0
    small = [DecodeState(tuned, pad), DecodeState(base, pad)]
    clock = DecodeClock(target)
    live = list(range(len(prompts)))
    rows: list[list[int]] = [list(p) for p in prompts]
    while live:
        lm_logits = target.feed(rows, 1, "logits")[:, -1]
        tuned_logits, base_logits = (s.feed(rows, 1)[:, -1] for s in small)
        tokens = choose(proxy_logits(lm_logits, tuned_logits, base_logits, alpha), sampling,
                        generator)
        live, tokens = advance_rows(outputs, live, tokens, (target, *small))
        rows = [[int(t)] for t in tokens]
    stats = DecodeStats(engine="proxy-tuning", rows=len(prompts), extra={"proxy_alpha": alpha})
    return clock.finish(stats, outputs, small)


def label_token_ids(tokenizer: Any, choices: Sequence[str]) -> list[list[int]]:
    """Each label's tokens after the prompt, as label scoring tokenises them (leading space)."""
    ids = [list(tokenizer(" " + c, add_special_tokens=False)["input_ids"]) for c in choices]
    if any(not i for i in ids):
        raise ValueError(f"a label tokenises to nothing: {list(choices)}")
    return ids


def label_position_logits(target: Target, prompts: Sequence[Sequence[int]],
                          labels: Sequence[Sequence[int]]) -> torch.Tensor:
    """Logits before every label token: ``(B, C, L, V)`` for B prompts, C labels of ≤ L tokens.

    ``[b, c, j]`` is the distribution of label c's token j after prompt b and the label's first
    j tokens (unused entries, past a label's end, are zero). Two passes: the prompts, then the
    labels for every (prompt, label) pair, reusing each prompt's cache copied C times.
    """
    batch, n_labels, longest = len(prompts), len(labels), max(len(lab) for lab in labels)
    first = target.feed([list(p) for p in prompts], 1, "logits")[:, -1]  # (B, V)
    out = torch.zeros((batch, n_labels, longest, first.shape[-1]))
    out[:, :, 0] = first[:, None, :]
    if longest > 1:
        target.select(torch.arange(batch).repeat_interleave(n_labels))
        rest_rows = [list(labels[c][:-1]) for _ in range(batch) for c in range(n_labels)]
        rest = target.feed(rest_rows, longest - 1, "logits")  # (B·C, L-1, V), right-aligned
        rest = rest.view(batch, n_labels, longest - 1, -1)
        for c, lab in enumerate(labels):
            if len(lab) > 1:
                # label c's L_c - 1 fed tokens sit in the last L_c - 1 columns
                out[:, c, 1: len(lab)] = rest[:, c, longest - len(lab):]
    return out


def mean_label_logprob(logits: torch.Tensor, labels: Sequence[Sequence[int]]) -> torch.Tensor:
    """Mean log-probability per label token: ``(B, C)`` from ``(B, C, L, V)`` logits."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    scores = torch.zeros(logits.shape[:2])
    for c, lab in enumerate(labels):
        index = torch.tensor(lab)[None, :, None].expand(logits.shape[0], -1, 1)
        scores[:, c] = logp[:, c, : len(lab)].gather(-1, index)[..., 0].mean(-1)
    return scores


TargetFactory = Callable[[], Target]


@torch.no_grad()
def proxy_choice_scores(
    make_lm: TargetFactory, tuned: Any, base: Any, tokenizer: Any,
    prompts: Sequence[str], choices: Sequence[str], alphas: Sequence[float],
    batch_size: int = 8, progress: Callable[[int], None] | None = None,
    close: Callable[[Target], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Label scores ``(P, C)`` of the LM, both SMs and the proxy at each α, from one pass.

    Keys: ``lm``, ``tuned``, ``base`` and ``proxy@{α}``. ``make_lm`` gives a fresh LM target
    per batch (a local state, or a session at the model party that ``close`` then frees).
    """
    labels = label_token_ids(tokenizer, choices)
    pad = tokenizer.pad_token_id or 0
    keys = ["lm", "tuned", "base", *(f"proxy@{a:g}" for a in alphas)]
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    for start in range(0, len(prompts), batch_size):
        chunk = [list(tokenizer(p)["input_ids"]) for p in prompts[start: start + batch_size]]
        lm_target = make_lm()
        lm = label_position_logits(lm_target, chunk, labels)
        if close is not None:
            close(lm_target)
        sm_tuned = label_position_logits(DecodeState(tuned, pad), chunk, labels)
        sm_base = label_position_logits(DecodeState(base, pad), chunk, labels)
        for key, logits in (("lm", lm), ("tuned", sm_tuned), ("base", sm_base)):
            parts[key].append(mean_label_logprob(logits, labels))
        for alpha in alphas:
            combined = proxy_logits(lm, sm_tuned, sm_base, alpha)
            parts[f"proxy@{alpha:g}"].append(mean_label_logprob(combined, labels))
        if progress is not None:
            progress(len(chunk))
    return {k: torch.cat(v) for k, v in parts.items()}
