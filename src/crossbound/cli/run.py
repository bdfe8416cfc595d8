"""``crossbound run STRATEGY``: one strategy end to end, and its result as a table.

Lazy imports: the runner (torch, every strategy) loads when the command runs, so ``crossbound
--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from crossbound.cli.console import bar_factory, fail, out, parse_settings, plain, progress_display
from crossbound.defaults import DEFAULT_LARGE, DEFAULT_SMALL, SAME_TOKENIZER_SMALL

# The default pair (models/registry.py): Qwen2.5-Coder-1.5B as the LM, SmolLM2-135M as the
# SM (Qwen2.5-Coder-0.5B for strategies that want the LM's tokenizer).
SMALL_HELP = (f"The data party's SM [default: {DEFAULT_SMALL}; {SAME_TOKENIZER_SMALL} for "
              "proxy-tuning and speculative with the default LM].")


def run(
    strategy: Annotated[str, typer.Argument(help="A name from `crossbound strategies list`.")],
    task: Annotated[str, typer.Option(help="Task name with options, or a file.")] =
    "clinic-triage",
    large: Annotated[str, typer.Option(help="The model party's LM.")] = DEFAULT_LARGE,
    small: Annotated[str | None, typer.Option(help=SMALL_HELP, show_default=False)] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="Strategy setting key=value (repeatable), e.g. precision=fp32.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("runs/latest"),
    overwrite: Annotated[bool, typer.Option(help="Replace a previous run in --out.")] = False,
    payloads: Annotated[bool, typer.Option(
        help="Keep message payloads in the transcript (for audits and attacks).")] = True,
    remote: Annotated[str | None, typer.Option(
        help="URL of a `crossbound serve` model party (API key from $CROSSBOUND_API_KEY).")]
    = None,
    openai_url: Annotated[str | None, typer.Option(
        help="URL (…/v1) of any OpenAI-compatible server as a text-only model party "
        "(API key from $OPENAI_API_KEY).")] = None,
    openai_model: Annotated[str | None, typer.Option(
        help="Model name to ask the OpenAI-compatible server for.")] = None,
    openai_batch: Annotated[int | None, typer.Option(
        min=1, help="At most this many prompts per request to the OpenAI-compatible server "
        "(1: one at a time, for servers that refuse lists; detected otherwise).")] = None,
) -> None:
    """Run one strategy end to end; write OUT/result.json and OUT/transcript.jsonl.

    The model party runs in this process unless --remote or --openai-url names one elsewhere.
    """
    import os

    from crossbound.catalog import default_small
    from crossbound.runner import run_strategy

    if small is None:
        try:
            small = default_small(strategy, large)
        except ValueError as exc:
            raise fail(str(exc)) from exc
    overrides = parse_settings(settings)
    transport: Any = None
    party: Any = None
    if remote and openai_url:
        raise fail("give --remote or --openai-url, not both")
    if openai_batch is not None and not openai_url:
        raise fail("--openai-batch goes with --openai-url")
    if remote:
        from crossbound.boundary.http import HttpTransport

        key = os.environ.get("CROSSBOUND_API_KEY", "")
        if not key:
            raise fail("--remote needs the data party's API key in $CROSSBOUND_API_KEY")
        transport = HttpTransport(remote, key)
    if openai_url:
        from crossbound.parties.openai_compatible import OpenAICompatibleParty

        party = OpenAICompatibleParty(openai_url, os.environ.get("OPENAI_API_KEY", "none"),
                                      openai_model or large, lm=large,
                                      prompts_per_request=openai_batch)
    with progress_display() as progress:
        try:
            result = run_strategy(strategy, task=task, large=large, small=small,
                                  out_dir=out_dir, config=overrides, overwrite=overwrite,
                                  keep_payloads=payloads, progress=bar_factory(progress),
                                  remote=transport,
                                  model_party=party)
        except (ValueError, PermissionError, FileExistsError, FileNotFoundError,
                RuntimeError) as exc:
            # notes: what the runner left behind (a failed run's transcript) and how to rerun
            raise fail("\n".join([str(exc), *getattr(exc, "__notes__", ())])) from exc
    _print_result(result.to_dict(), out_dir)


def _print_result(data: dict[str, Any], out_dir: Path) -> None:
    metrics = data["metrics"]
    table = Table(title=f"{plain(data['strategy'])} on {plain(data['task']['name'])}")
    table.add_column("group")
    table.add_column("metric")
    table.add_column("value")
    for group in ("utility", "privacy", "efficiency"):
        for key, value in metrics.get(group, {}).items():
            if isinstance(value, dict):
                value = json.dumps(value, sort_keys=True)
            elif isinstance(value, float):
                value = f"{value:.4g}"
            table.add_row(group, plain(key), plain(value))
    out.print(table)
    out.print(f"wrote {out_dir / 'result.json'} and {out_dir / data['transcript']['path']} "
              f"({data['transcript']['entries']} crossings, {data['transcript']['bytes']} bytes)",
              markup=False)


def register(app: typer.Typer) -> None:
    """Add ``run`` to ``app``."""
    app.command("run")(run)
