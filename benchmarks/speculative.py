"""Speculative decoding: crossbound's proposers against the LM alone and Hugging Face's peers.

One process, one pair (default: ``qwen2.5-coder-1.5b`` verifying, ``qwen2.5-coder-0.5b`` — same
tokenizer — drafting, bf16), greedy, on these prompt sets (``--tasks``):

- ``grounded``: clinic-triage test messages to rewrite, extract from or summarise (in turn), in
  the chat template — input-grounded generation, where the output copies its input;
- ``faq-extract``: ``construction-faq:target=extract`` — quote the opening of a real FAQ answer;
- ``triage-reply``: ``clinic-triage:target=reply`` — a templated one-line triage note (earlier
  outputs predict it; the message does not);
- ``chat``: a short, kind reply to a clinic-triage message (little to copy).

Per task and batch size (``--batch-sizes``), the engines:

- ``hf-generate``: the LM alone, ``model.generate`` (batched with left padding);
- ``hf-assisted``: ``generate(assistant_model=draft)``; ``hf-prompt-lookup``:
  ``generate(prompt_lookup_num_tokens=10)`` (Hugging Face runs both at batch 1 only);
- ``cb-direct``: the LM alone through crossbound's KV decoding state;
- ``cb-model`` / ``cb-ngram`` / ``cb-suffix`` / ``cb-suffix+model``: crossbound's speculative
  decoding with that proposer (``--proposers``, any ``--draft`` spec; adaptive γ up to
  ``--gamma-max`` unless ``--gamma-fixed``); ``suffix+model`` rows count the rows' drafts
  each made (``lookup_drafts``, ``model_drafts``).

Engines that adapt across calls run once untimed on the task's next prompts first, so they
are timed warm, as they run in a service: crossbound's proposers (adaptive γ, kept per batch
size; ``suffix``'s corpus of earlier outputs) and Hugging Face's assisted decoding (its draft
length carries over). The model draft ends a row's draft where its confidence falls below
``--draft-confidence``.

``--repeats N`` times every local engine N times, interleaved (a fresh, warmed proposer each
time), and reports the median tokens/s with the range: single runs of a few prompts differ by
up to 10 % between two runs of the LM alone.

Each row: tokens/s, speed-up over ``hf-generate`` and ``cb-direct`` (same batch), over
``hf-prompt-lookup`` (batch 1), whether the tokens equal ``hf-generate``'s and ``cb-direct``'s,
acceptance, tokens per LM forward per row (a forward hook counts the LM's passes for every
engine, Hugging Face's included), mean γ.

The remote LM (``--latency-ms 0,20,50``; ``--remote-tasks``, ``--remote-prompts``): the LM
served by ``crossbound serve``'s app on loopback HTTP in this process, the data party's client
adding that many ms to every request (``HttpTransport(added_latency_ms=...)``, a benchmark
knob): ``cb-direct`` and every proposer, tokens/s and round trips per generated token.

    python benchmarks/speculative.py                       # the pair, every task (~1 h)
    python benchmarks/speculative.py --prompts 2 --max-new-tokens 32 --tasks grounded \\
        --latency-ms 50                                     # a quick look (a few minutes)

Writes ``benchmarks/results/speculative-<large>-<precision>.json`` (``--out``) and prints
Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ holds the loopback test server

from tests.servers import running_server  # noqa: E402

from crossbound.boundary.channel import Boundary  # noqa: E402
from crossbound.boundary.http import HttpTransport  # noqa: E402
from crossbound.inference.drafts import parse_draft  # noqa: E402
from crossbound.inference.gamma import SpeculativeSettings  # noqa: E402
from crossbound.inference.generation import (  # noqa: E402
    Generation,
    GenerationSettings,
    Target,
    direct_generate,
    encode_prompts,
    merge_stats,
)
from crossbound.inference.lookup_first import LookupFirst  # noqa: E402
from crossbound.inference.proposers import Proposer  # noqa: E402
from crossbound.inference.remote import RemoteTarget  # noqa: E402
from crossbound.inference.speculative import model_draft, speculate  # noqa: E402
from crossbound.inference.stopping import eos_ids  # noqa: E402
from crossbound.models.kv import DecodeState  # noqa: E402
from crossbound.models.loading import LoadedModel, load_model, prepare_model  # noqa: E402
from crossbound.models.precision import precision_scope  # noqa: E402
from crossbound.naming import DATA_PARTY  # noqa: E402
from crossbound.parties.lm_sessions import TOKEN_STEPS  # noqa: E402
from crossbound.result import machine, versions  # noqa: E402
from crossbound.tasks.registry import load_task  # noqa: E402

GROUNDED = (
    "Rewrite this patient message in clear, formal English. Keep every detail: names, dates, "
    "numbers and contact details.\n\n{text}",
    "From this patient message, extract the patient's name, date of birth, contact details and "
    "main complaint, one per line, quoting the message exactly.\n\n{text}",
    "Summarise this patient message in two sentences for the clinician, keeping the patient's "
    "name and every key detail.\n\n{text}",
)
CHAT = "Write a short, kind reply to this patient message:\n\n{text}"
TASKS = ("grounded", "faq-extract", "triage-reply", "chat")
KEY = "benchmark-data-party-key-0123456789"


def task_prompts(name: str, n: int) -> list[str]:
    """The user turns of task ``name`` (its first ``n`` test examples)."""
    if name == "faq-extract":
        task = load_task("construction-faq:target=extract")
        return [task.prompt(ex) for ex in task.test[:n]]
    task = load_task("clinic-triage:target=reply")
    examples = task.test[:n]
    if name == "grounded":
        return [GROUNDED[i % 3].format(text=ex.text) for i, ex in enumerate(examples)]
    if name == "triage-reply":
        return [task.prompt(ex) for ex in examples]
    if name == "chat":
        return [CHAT.format(text=ex.text) for ex in examples]
    raise ValueError(f"unknown task {name!r}: use {', '.join(TASKS)}")


class PassCounter:
    """Counts the LM's forward passes and the rows in them (a hook on the module)."""

    def __init__(self, model: Any) -> None:
        self.calls = self.rows = 0
        model.register_forward_hook(self._hook)

    def _hook(self, module: Any, args: Any, output: Any) -> None:
        self.calls += 1
        self.rows += int(output.logits.shape[0])


def _trim(ids: list[int], eos: set[int]) -> list[int]:
    """Generated ids up to and including the first EOS (HF pads finished rows after it)."""
    for i, token in enumerate(ids):
        if token in eos:
            return ids[: i + 1]
    return ids


@torch.no_grad()
def hf_generate(lm: Any, tok: Any, prompts: list[list[int]], batch: int, new: int,
                eos: set[int], **extra: Any) -> list[list[int]]:
    """Greedy ``generate`` over batches with left padding; ``extra``: assistant_model or
    prompt_lookup_num_tokens. The generation config is explicit: greedy, no repetition
    penalty, the same EOS ids as crossbound's engines (an instruct model's own config may
    sample or penalise repeats)."""
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=new, do_sample=False, eos_token_id=sorted(eos),
                              pad_token_id=tok.pad_token_id)
    out: list[list[int]] = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start: start + batch]
        width = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for b, p in enumerate(chunk):
            ids[b, width - len(p):] = torch.tensor(p)
            mask[b, width - len(p):] = 1
        gen = lm.generate(input_ids=ids, attention_mask=mask, generation_config=config, **extra)
        out.extend(_trim(row.tolist(), eos) for row in gen[:, width:])
    return out


def cb_generate(make_target: Callable[[], Target], lm_model: Any, tok: Any,
                prompts: list[list[int]], batch: int, settings: GenerationSettings,
                spec: SpeculativeSettings,
                proposer: Proposer | None) -> tuple[list[list[int]], dict[str, Any]]:
    """crossbound's engine over batches: the LM alone (``proposer`` None) or speculative."""
    outs: list[Generation] = []
    requests = 0
    turns = (proposer.from_lookup, proposer.from_model) if isinstance(
        proposer, LookupFirst) else None
    for start in range(0, len(prompts), batch):
        chunk = prompts[start: start + batch]
        target = make_target()
        outs.append(direct_generate(target, tok, chunk, settings, lm_model) if proposer is None
                    else speculate(target, proposer, tok, chunk, settings, spec,
                                   lm_model=lm_model))
        if isinstance(target, RemoteTarget):
            target.close()
            requests += target.requests
    stats = merge_stats([o.stats for o in outs]).to_dict()
    if isinstance(proposer, LookupFirst) and turns is not None:  # rows' drafts by each
        stats["lookup_drafts"] = proposer.from_lookup - turns[0]
        stats["model_drafts"] = proposer.from_model - turns[1]
    if requests:
        stats["round_trips"] = requests
        stats["round_trips_per_token"] = round(requests / max(1, stats["new_tokens"]), 4)
    return [i for o in outs for i in o.ids], stats


def _proposer(name: str, draft: LoadedModel | None, tok: Any,
              spec: SpeculativeSettings) -> Proposer:
    drafting = parse_draft(name)
    if drafting.kind == "model":
        assert draft is not None
        return model_draft(draft.model, tok, spec, drafting.first())
    return drafting.proposer()


def main() -> None:
    args = _arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    with precision_scope(args.precision) as precision:
        report = run(args, precision)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\nwrote {args.out}")


def run(args: argparse.Namespace, precision: str) -> dict[str, Any]:
    started = time.perf_counter()
    lm = load_model(args.large, frozen=True)
    draft = None
    if args.draft != "none":
        from crossbound.training.distilled_model import distill_into

        prepare_model(args.draft, distil=distill_into)  # a distilled draft is built once
        draft = load_model(args.draft, frozen=True)
    proposers = [p for p in args.proposers
                 if parse_draft(p).kind != "model" or draft is not None]
    tok = lm.tokenizer
    eos = eos_ids(tok, lm.model)
    counter = PassCounter(lm.model)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    spec = SpeculativeSettings(gamma=min(args.gamma, args.gamma_max),
                               adaptive=not args.gamma_fixed, gamma_max=args.gamma_max,
                               draft_vocab=args.draft_vocab,
                               draft_confidence=args.draft_confidence)
    chat = bool(getattr(tok, "chat_template", None))
    local = lambda: DecodeState(lm.model, tok.pad_token_id or 0)  # noqa: E731
    prompt_sets = {name: encode_prompts(tok, task_prompts(name, args.prompts), chat=chat)
                   for name in dict.fromkeys(args.tasks + args.remote_tasks)}
    # the next prompts of each task, for the untimed call that warms adaptive engines
    most = max(args.batch_sizes + args.remote_batch_sizes)
    held_sets = {name: encode_prompts(tok, task_prompts(name, args.prompts + most)[args.prompts:],
                                      chat=chat) for name in prompt_sets}
    _warm_up(lm, draft, tok, prompt_sets, eos, spec, proposers, local)
    rows: list[dict[str, Any]] = []
    ceilings: dict[str, dict[str, float]] = {}

    def timed(entry: dict[str, Any], work: Callable[..., Any], *how: Any,
              **extra: Any) -> Any:
        """Run ``work(*how, **extra)`` timed; fill ``entry``; return its ids."""
        calls0, rows0 = counter.calls, counter.rows
        begun = time.perf_counter()
        out = work(*how, **extra)
        seconds = time.perf_counter() - begun
        ids = out[0] if isinstance(out, tuple) else out
        tokens = sum(map(len, ids))
        entry.update({"tokens": tokens, "seconds": round(seconds, 3),
                      "tokens_per_second": round(tokens / seconds, 3),
                      "lm_forwards": counter.calls - calls0,
                      "tokens_per_lm_forward": round(tokens / max(1, counter.rows - rows0), 3)})
        if isinstance(out, tuple):
            stats = out[1]
            entry.update({k: stats[k] for k in ("acceptance_rate", "alpha", "mean_gamma",
                                                 "plain_steps", "round_trips_per_token",
                                                 "round_trips", "lookup_drafts",
                                                 "model_drafts") if k in stats})
        latency = f" +{entry['latency_ms']:g} ms" if "latency_ms" in entry else ""
        print(f"{entry['task']} batch {entry['batch']}{latency} {entry['engine']}: "
              f"{entry['tokens_per_second']:.2f} tokens/s", flush=True)
        return ids

    def measure(entry: dict[str, Any], work: Callable[..., Any], *how: Any, **extra: Any) -> Any:
        """:func:`timed`, its row added."""
        ids = timed(entry, work, *how, **extra)
        rows.append(entry)
        return ids

    def rounds(base: dict[str, Any], engines: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Time every engine ``--repeats`` times, interleaved (each round starts one engine
        later); an engine is a thunk that readies it (untimed) and returns ``(work, how,
        extra)``. Each row keeps the first run's counts and the median tokens/s."""
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in engines}
        outputs: dict[str, Any] = {}
        names = list(engines)
        for r in range(args.repeats):
            for name in names[r % len(names):] + names[: r % len(names)]:
                work, how, extra = engines[name]()
                entry = {**base, "engine": name}
                outputs[name] = timed(entry, work, *how, **extra)
                runs[name].append(entry)
        for name in names:
            entry = runs[name][0]
            if args.repeats > 1:
                speeds = sorted(e["tokens_per_second"] for e in runs[name])
                entry["tokens_per_second_runs"] = [e["tokens_per_second"] for e in runs[name]]
                entry["tokens_per_second"] = speeds[len(speeds) // 2]
                entry["seconds"] = sorted(e["seconds"] for e in runs[name])[len(speeds) // 2]
            rows.append(entry)
        return outputs

    for task in args.tasks:
        prompts = prompt_sets[task]
        for batch in args.batch_sizes:
            base = {"task": task, "batch": batch}
            hf = (lm.model, tok, prompts, batch, args.max_new_tokens, eos)
            held = held_sets[task][:batch]
            engines: dict[str, Callable[[], Any]] = {
                "hf-generate": partial(_ready, hf_generate, hf, {})}
            peers = {"hf-prompt-lookup": {"prompt_lookup_num_tokens": 10}}
            if draft is not None:
                peers["hf-assisted"] = {"assistant_model": draft.model}
            if batch == 1:  # Hugging Face refuses assisted decoding of a batch
                for engine, extra in peers.items():
                    engines[engine] = partial(_warm_hf, lm.model, tok, held,
                                              args.max_new_tokens, eos, hf, extra)
            cb = (local, lm.model, tok, prompts, batch, settings, spec)
            engines["cb-direct"] = partial(_ready, cb_generate, (*cb, None), {})
            for name in proposers:
                engines[f"cb-{name}"] = partial(_warm_proposer, name, draft, tok, spec, local,
                                                lm.model, held, batch, settings, cb)
            outputs = rounds(base, engines)
            _compare(rows, base, outputs)
            if batch == min(args.batch_sizes):
                ceilings[task] = lookup_ceiling(prompts, outputs["cb-direct"], args.gamma_max)
    if args.latency_ms:
        _remote(args, lm, draft, tok, prompt_sets, held_sets, settings, spec, proposers,
                measure, rows)
    return {"benchmark": "speculative", "commit": _commit(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "precision": precision, "chat_template": chat, "results": rows,
            "lookup_ceiling": ceilings, "summary": summarise(rows, ceilings),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "note": "timings from one run on the machine described below; compare engines "
                    "within this file, not across machines",
            "versions": versions(), "machine": machine()}


def _ready(work: Callable[..., Any], how: tuple[Any, ...],
           extra: dict[str, Any]) -> tuple[Any, ...]:
    """An engine that needs no readying."""
    return work, how, extra


def _warm_hf(lm: Any, tok: Any, held: list[list[int]], new: int, eos: set[int],
             hf: tuple[Any, ...], extra: dict[str, Any]) -> tuple[Any, ...]:
    """An HF peer, run once untimed first: its assistant's draft length carries across
    calls."""
    hf_generate(lm, tok, held, len(held), new, eos, **extra)
    return hf_generate, hf, extra


def _warm_proposer(name: str, draft: LoadedModel | None, tok: Any, spec: SpeculativeSettings,
                   local: Callable[[], Target], lm: Any, held: list[list[int]], batch: int,
                   settings: GenerationSettings, cb: tuple[Any, ...]) -> tuple[Any, ...]:
    """A fresh proposer, run once untimed on the next prompts: adaptive γ (and suffix's
    corpus) start warm, as in a service — and never from the timed prompts' own outputs."""
    proposer = _proposer(name, draft, tok, spec)
    cb_generate(local, lm, tok, held, batch, settings, spec, proposer)
    return cb_generate, (*cb, proposer), {}


def _remote(args: argparse.Namespace, lm: LoadedModel, draft: LoadedModel | None, tok: Any,
            prompt_sets: dict[str, list[list[int]]],
            held_sets: dict[str, list[list[int]]], settings: GenerationSettings,
            spec: SpeculativeSettings, proposers: list[str], measure: Callable[..., Any],
            rows: list[dict[str, Any]]) -> None:
    """The LM behind crossbound's service on loopback HTTP; the client adds latency."""
    from crossbound.service.app import Limits, create_app
    from crossbound.service.keys import KeyStore

    app = create_app(lm, KeyStore.from_keys({DATA_PARTY: KEY}), TOKEN_STEPS, None, Limits())
    with running_server(app) as url:
        for latency in args.latency_ms:
            transport = HttpTransport(url, KEY, added_latency_ms=latency)
            remote = partial(RemoteTarget, Boundary(contract=TOKEN_STEPS, remote=transport),
                             DATA_PARTY)
            warm = next(iter(prompt_sets.values()))[:1]  # the connection, the session
            cb_generate(remote, None, tok, warm, 1, GenerationSettings(max_new_tokens=2), spec,
                        None)
            for task in args.remote_tasks:
                prompts = prompt_sets[task][: args.remote_prompts]
                for batch in args.remote_batch_sizes:
                    base = {"task": task, "batch": batch, "latency_ms": latency}
                    # the data party knows the LM's tokenizer, not its generation config
                    cb = (remote, None, tok, prompts, batch, settings, spec)
                    outputs = {"cb-direct": measure({**base, "engine": "cb-direct"},
                                                    cb_generate, *cb, None)}
                    for name in proposers:
                        proposer = _proposer(name, draft, tok, spec)
                        cb_generate(remote, None, tok, held_sets[task][:batch], batch,
                                    settings, spec, proposer)  # untimed: warm, as above
                        outputs[f"cb-{name}"] = measure(
                            {**base, "engine": f"cb-{name}"}, cb_generate, *cb, proposer)
                    _compare(rows, base, outputs, remote=True)
            transport.close()


def _compare(rows: list[dict[str, Any]], base: dict[str, Any],
             outputs: dict[str, list[list[int]]], remote: bool = False) -> None:
    """Speed-ups and identity of the rows of one (task, batch[, latency]) against the LM
    alone (Hugging Face's and crossbound's) and HF's prompt lookup."""
    group = [r for r in rows if all(r.get(k) == v for k, v in base.items())
             and ("latency_ms" in r) == remote]
    speed = {r["engine"]: r["tokens_per_second"] for r in group}
    for row in group:
        for peer in ("hf-generate", "cb-direct", "hf-prompt-lookup"):
            if peer in speed and row["engine"] != peer:
                row[f"speedup_vs_{peer}"] = round(row["tokens_per_second"] / speed[peer], 3)
            if peer in outputs and peer != "hf-prompt-lookup" and row["engine"] != peer:
                same = sum(a == b for a, b in zip(outputs[row["engine"]], outputs[peer],
                                                  strict=True))
                row[f"identical_to_{peer}"] = f"{same}/{len(outputs[peer])}"


def _warm_up(lm: LoadedModel, draft: LoadedModel | None, tok: Any,
             prompt_sets: dict[str, list[list[int]]], eos: set[int],
             spec: SpeculativeSettings, proposers: list[str],
             local: Callable[[], Target]) -> None:
    """First calls allocate and dispatch; keep them out of the timings."""
    prompt = next(iter(prompt_sets.values()))[:1]
    hf_generate(lm.model, tok, prompt, 1, 4, eos)
    hf_generate(lm.model, tok, prompt, 1, 4, eos, prompt_lookup_num_tokens=10)
    if draft is not None:
        hf_generate(lm.model, tok, prompt, 1, 4, eos, assistant_model=draft.model)
    for name in proposers:
        cb_generate(local, lm.model, tok, prompt, 1, GenerationSettings(max_new_tokens=4), spec,
                    _proposer(name, draft, tok, spec))


def lookup_ceiling(prompts: list[list[int]], outputs: list[list[int]],
                   gamma_max: int) -> dict[str, float]:
    """Tokens per LM pass that an oracle lookup would reach on the LM's own ``outputs``.

    Every draft-free proposer drafts a span of text seen before; the oracle drafts, at each
    pass, the longest prefix (at most ``gamma_max``) of what the LM will write next that
    occurs anywhere in the prompt and the text so far (``own_text``) — or also in the task's
    earlier outputs (``with_earlier_outputs``, what ``suffix``'s corpus holds) — and the LM
    adds its own token. The prefill pass gives the first token. An upper bound on any lookup
    proposer's tokens per pass at that γ_max, whatever its policy; a speed-up above it needs
    a model draft."""

    def occurs(span: tuple[int, ...], docs: list[list[int]]) -> bool:
        n = len(span)
        return any(tuple(doc[i:i + n]) == span for doc in docs for i in range(len(doc) - n + 1))

    ceiling = {}
    for key, corpus in (("own_text", False), ("with_earlier_outputs", True)):
        passes = tokens = 0
        for i, (prompt, out) in enumerate(zip(prompts, outputs, strict=True)):
            earlier = [list(o) for o in outputs[:i]] if corpus else []
            position, passes, tokens = min(1, len(out)), passes + 1, tokens + len(out)
            while position < len(out):
                docs = [list(prompt) + list(out[:position]), *earlier]
                ahead = out[position:position + gamma_max]
                drafted = next((n for n in range(len(ahead), 0, -1)
                                if occurs(tuple(ahead[:n]), docs)), 0)
                position += drafted + 1
                passes += 1
        ceiling[key] = round(tokens / max(1, passes), 3)
    return ceiling


def summarise(rows: list[dict[str, Any]],
              ceilings: dict[str, dict[str, float]] | None = None) -> list[str]:
    """The issue's questions, answered from the rows: per task at batch 1, the best and the
    slowest crossbound proposer against the LM alone and HF's prompt lookup; per added
    latency, the best proposer against the remote LM alone."""
    lines = []
    for task in dict.fromkeys(r["task"] for r in rows):
        for latency in dict.fromkeys(r.get("latency_ms") for r in rows if r["task"] == task):
            group = [r for r in rows if r["task"] == task and r["batch"] == 1
                     and r.get("latency_ms") == latency and r["engine"].startswith("cb-")
                     and r["engine"] != "cb-direct" and "speedup_vs_cb-direct" in r]
            if not group:
                continue
            best = max(group, key=lambda r: r["speedup_vs_cb-direct"])
            worst = min(group, key=lambda r: r["speedup_vs_cb-direct"])
            where = f"{task}, batch 1" + (f", +{latency:g} ms" if latency is not None else "")
            line = (f"{where}: best {best['engine']} {best['speedup_vs_cb-direct']:.2f}× the LM "
                    f"alone (cb-direct)")
            if "speedup_vs_hf-generate" in best:
                line += f", {best['speedup_vs_hf-generate']:.2f}× hf-generate"
            if "speedup_vs_hf-prompt-lookup" in best:
                line += f", {best['speedup_vs_hf-prompt-lookup']:.2f}× HF prompt lookup"
            line += f"; slowest {worst['engine']} {worst['speedup_vs_cb-direct']:.2f}×"
            lines.append(line)
    for task, ceiling in (ceilings or {}).items():
        lines.append(f"{task}: an oracle lookup would reach {ceiling['own_text']:.2f} tokens "
                     f"per LM pass from the prompt and text so far, "
                     f"{ceiling['with_earlier_outputs']:.2f} with earlier outputs too "
                     "(the ceiling of every draft-free proposer)")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The results as Markdown tables: local engines, then the remote LM."""
    def cell(row: dict[str, Any], key: str, fmt: str = "{:.2f}") -> str:
        return fmt.format(row[key]) if key in row else "—"

    lines = [f"precision {report['precision']}, {report['args']['large']} verifying, "
             f"draft {report['args']['draft']}; greedy, {report['args']['max_new_tokens']} new "
             f"tokens at most, {report['args']['prompts']} prompts per task", "",
             "| task | batch | engine | tokens/s | × hf-generate | × cb-direct | × HF lookup | "
             "identical (HF / cb) | acceptance | tokens per LM forward | mean γ |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    def speed(row: dict[str, Any]) -> str:  # the median of repeated runs, and their range
        runs = row.get("tokens_per_second_runs")
        text = f"{row['tokens_per_second']:.2f}"
        return f"{text} ({min(runs):.2f}–{max(runs):.2f})" if runs else text

    for r in (r for r in report["results"] if "latency_ms" not in r):
        lines.append(
            f"| {r['task']} | {r['batch']} | {r['engine']} | {speed(r)} | "
            f"{cell(r, 'speedup_vs_hf-generate', '{:.2f}×')} | "
            f"{cell(r, 'speedup_vs_cb-direct', '{:.2f}×')} | "
            f"{cell(r, 'speedup_vs_hf-prompt-lookup', '{:.2f}×')} | "
            f"{r.get('identical_to_hf-generate', '—')} / {r.get('identical_to_cb-direct', '—')} | "
            f"{cell(r, 'acceptance_rate')} | {cell(r, 'tokens_per_lm_forward')} | "
            f"{cell(r, 'mean_gamma', '{:.1f}')} |")
    remote = [r for r in report["results"] if "latency_ms" in r]
    if remote:
        lines += ["", "The LM behind crossbound's service (loopback HTTP + added latency):", "",
                  "| task | batch | added latency (ms) | engine | tokens/s | × cb-direct | "
                  "identical to cb-direct | round trips per token | acceptance | mean γ |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in remote:
            lines.append(
                f"| {r['task']} | {r['batch']} | {r['latency_ms']:g} | {r['engine']} | "
                f"{r['tokens_per_second']:.2f} | {cell(r, 'speedup_vs_cb-direct', '{:.2f}×')} | "
                f"{r.get('identical_to_cb-direct', '—')} | "
                f"{cell(r, 'round_trips_per_token', '{:.3f}')} | {cell(r, 'acceptance_rate')} | "
                f"{cell(r, 'mean_gamma', '{:.1f}')} |")
    if report.get("summary"):
        lines += ["", *(f"- {line}" for line in report["summary"])]
    return "\n".join(lines)


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda text: [kind(part) for part in text.split(",") if part.strip()]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", default="qwen2.5-coder-1.5b")
    parser.add_argument("--draft", default="qwen2.5-coder-0.5b",
                        help="draft model of hf-assisted and cb-model ('none': no model rows)")
    parser.add_argument("--precision", default="bf16", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--tasks", type=_csv(str), default=list(TASKS),
                        help=f"comma-separated, of {','.join(TASKS)}")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per task")
    parser.add_argument("--max-new-tokens", "--new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", type=_csv(int), default=[1, 8], help="e.g. 1,8")
    parser.add_argument("--proposers", type=_csv(str),
                        default=["model", "ngram", "suffix", "suffix+model"],
                        help="crossbound's proposers (any --draft spec: ngram:max=4,min=2 ...)")
    parser.add_argument("--gamma", type=int, default=4, help="the first step's γ")
    parser.add_argument("--gamma-max", type=int, default=10)
    parser.add_argument("--gamma-fixed", action="store_true", help="no adaptive γ")
    parser.add_argument("--draft-vocab", type=int, default=0,
                        help="cb-model drafts over the first N token ids only (0: all)")
    parser.add_argument("--draft-confidence", type=float, default=0.7,
                        help="cb-model ends a row's draft at a token it gives less than this "
                             "probability (0: γ drafts)")
    parser.add_argument("--latency-ms", type=_csv(float), default=[0.0, 20.0, 50.0],
                        help="added round-trip latencies for the remote LM ('' : no remote rows)")
    parser.add_argument("--remote-tasks", type=_csv(str), default=["grounded"])
    parser.add_argument("--remote-prompts", type=int, default=4)
    parser.add_argument("--remote-batch-sizes", type=_csv(int), default=[1])
    parser.add_argument("--repeats", type=int, default=1,
                        help="time each local engine this many times, interleaved; report the "
                             "median tokens/s (the upper one for an even count) and every run's")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="default: benchmarks/results/speculative-<large>-<precision>.json")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    for name in args.tasks + args.remote_tasks:
        if name not in TASKS:
            parser.error(f"unknown task {name!r}: use {', '.join(TASKS)}")
    for name in args.proposers:
        if parse_draft(name).model is not None:
            parser.error(f"--proposers {name}: the draft model is --draft; name it 'model'")
    if args.out is None:
        args.out = ROOT / "benchmarks" / "results" / (
            f"speculative-{args.large.replace(':', '_')}-{args.precision}.json")
    return args


def _commit() -> str:
    """The checkout's commit (``+dirty`` with uncommitted changes), for reading results later."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=ROOT).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True,
                               cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    main()
