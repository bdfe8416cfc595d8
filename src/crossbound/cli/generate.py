"""``crossbound generate``: text from the LM alone, speculatively, or proxy-tuned.

Lazy imports: the decoding engines and the HTTP transport (torch) load when the command runs,
so ``crossbound --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from crossbound.cli.console import err, fail, plain
from crossbound.defaults import DEFAULT_LARGE


def generate(
    strategy: Annotated[str, typer.Argument(
        help="direct (the LM alone), speculative (the SM drafts, the LM verifies) or "
        "proxy-tuning (LM + α·(SM tuned − SM base)).")],
    large: Annotated[str, typer.Option(help="The model party's LM.")] = DEFAULT_LARGE,
    small: Annotated[str | None, typer.Option(
        help="speculative: the draft model; proxy-tuning: the tuned SM.")] = None,
    draft: Annotated[str, typer.Option(
        help="speculative: what drafts — model (--small), model:NAME, ngram (prompt lookup: "
        "the last n-gram's earlier occurrence; ngram:max=3,min=1) or suffix (the longest "
        "earlier match in the prompt, the text so far or earlier outputs; suffix:min=1,"
        "factor=8). ngram and suffix load no model; suffix+model (or ngram+model:NAME) "
        "drafts by lookup where it finds a match and by the model elsewhere.")] = "model",
    small_base: Annotated[str | None, typer.Option(
        help="proxy-tuning: the SM before tuning.")] = None,
    prompt: Annotated[str | None, typer.Option(help="One prompt.")] = None,
    batch_file: Annotated[Path | None, typer.Option(
        help="Prompts, one per line, or a .jsonl file of {\"prompt\": ...} objects.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Most new tokens per prompt.")] = 64,
    temperature: Annotated[float, typer.Option(help="0: greedy.")] = 0.0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 1.0,
    stop: Annotated[list[str] | None, typer.Option(
        help="Stop string (repeatable); the output ends before it.")] = None,
    chat: Annotated[bool, typer.Option(help="Wrap prompts in the LM's chat template.")] = False,
    gamma: Annotated[int, typer.Option(help="speculative: tokens drafted per step.")] = 4,
    adaptive: Annotated[bool, typer.Option(
        help="speculative: adapt γ to the running acceptance rate and the measured costs.")]
    = True,
    gamma_max: Annotated[int, typer.Option(
        help="speculative: the most tokens drafted per step (adaptive γ's cap).")] = 10,
    draft_vocab: Annotated[int, typer.Option(
        help="speculative: the SM scores only the first N token ids, the prompts' and the "
        "EOS (0: all).")] = 0,
    draft_confidence: Annotated[float, typer.Option(
        help="speculative: the SM's draft ends at a token it gives less than this probability "
        "(0: γ tokens every step).")] = 0.7,
    alpha: Annotated[float, typer.Option(help="proxy-tuning: weight of the SM difference.")]
    = 1.0,
    batch_size: Annotated[int, typer.Option(help="Prompts decoded together.")] = 8,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    boundary: Annotated[bool, typer.Option(
        help="Put the LM behind an in-process boundary and report what crossed.")] = False,
    remote: Annotated[str | None, typer.Option(
        help="URL of a `crossbound serve` model party (API key from $CROSSBOUND_API_KEY).")]
    = None,
    added_latency_ms: Annotated[float, typer.Option(
        help="Benchmarks only: wait this long (ms) on every request to --remote, as a slower "
        "network would (0: off).")] = 0.0,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print texts and statistics as JSON.")] = False,
    precision: Annotated[str, typer.Option(
        help="auto (bf16 where the CPU has bf16 instructions), fp32 or bf16.")] = "auto",
) -> None:
    """Generate text with the LM alone, speculatively with an SM, or proxy-tuned."""
    import os

    from crossbound.inference.generate import read_prompts, run_generate
    from crossbound.models.precision import check_precision

    try:
        prompts = read_prompts(prompt, batch_file)
    except (ValueError, FileNotFoundError, json.JSONDecodeError) as exc:
        raise fail(str(exc)) from exc
    transport: Any = None
    if remote:
        from crossbound.boundary.http import HttpTransport

        key = os.environ.get("CROSSBOUND_API_KEY", "")
        if not key:
            raise fail("--remote needs the data party's API key in $CROSSBOUND_API_KEY")
        transport = HttpTransport(remote, key, added_latency_ms=added_latency_ms)
    elif added_latency_ms:
        raise fail("--added-latency-ms delays requests to a --remote model party; give --remote")
    try:
        result = run_generate(
            strategy, large=large, prompts=prompts, small=small, small_base=small_base,
            draft=draft, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
            stop=tuple(stop or ()), chat=chat, gamma=gamma, adaptive=adaptive,
            gamma_max=gamma_max, draft_vocab=draft_vocab,
            draft_confidence=draft_confidence, alpha=alpha, batch_size=batch_size,
            seed=seed, boundary=boundary, remote=transport, precision=check_precision(precision))
    except (ValueError, PermissionError, FileNotFoundError, RuntimeError) as exc:
        raise fail(str(exc)) from exc
    finally:
        if transport is not None:
            transport.close()
    if as_json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    for output in result["outputs"]:
        if len(result["outputs"]) > 1:
            err.print(f"[bold]» {plain(output['prompt'])}[/]")
        sys.stdout.write(output["text"] + "\n")
    stats = result["stats"]
    line = (f"{stats.get('new_tokens')} new tokens, {stats.get('tokens_per_second')} tokens/s, "
            f"{stats.get('lm_forward_passes')} LM forward passes")
    if stats.get("acceptance_rate") is not None:
        line += f", acceptance {stats['acceptance_rate']}"
    if stats.get("tokens_per_lm_forward") is not None:
        line += f", {stats['tokens_per_lm_forward']} tokens per LM forward"
    if "boundary" in result:
        line += (f"; {result['boundary']['bytes_per_token']} bytes and "
                 f"{result['boundary']['round_trips_per_token']} round trips per token crossed")
    err.print(line, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``generate`` to ``app``."""
    app.command("generate")(generate)
