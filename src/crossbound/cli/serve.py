"""``crossbound serve``: the model party over HTTP.

Lazy imports: the service (FastAPI, torch, every strategy) loads when the command runs, so
``crossbound --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossbound.cli.console import err, fail, parse_settings
from crossbound.defaults import DEFAULT_LARGE


def serve(
    keys: Annotated[Path, typer.Option(
        help="TOML file with a [keys] table: data party name = API key (16+ characters).")],
    model: Annotated[str, typer.Option(help="The model party's LM.")] = DEFAULT_LARGE,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    contract: Annotated[str, typer.Option(
        help="What may cross: raw-text-to-lm, nothing-crosses, or a strategy name (its "
        "contract).")] = "raw-text-to-lm",
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="With a strategy's --contract: its setting key=value (repeatable), for "
        "the contract a run with those settings holds to (e.g. --contract cascade --set "
        "protect=none --set allow_raw=true).")] = None,
    transcript: Annotated[Path | None, typer.Option(
        help="Append every crossing to this transcript (JSONL).")] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body.")] = 8 << 20,
    max_tokens: Annotated[int, typer.Option(help="Most tokens one completion may generate.")]
    = 512,
    artifacts: Annotated[Path | None, typer.Option(
        help="Keep uploaded and published artifacts in this folder.")] = None,
    precision: Annotated[str, typer.Option(
        help="The LM's weights: auto (bf16 where the CPU has bf16 instructions), fp32 or "
        "bf16.")] = "auto",
) -> None:
    """Serve the model party over HTTP (OpenAI-compatible and collaboration endpoints)."""
    from crossbound.service.app import Limits
    from crossbound.service.serve import serve as run_service

    overrides = parse_settings(settings)
    try:
        limits = Limits(max_body_bytes=max_body_bytes, max_tokens=max_tokens)
        run_service(model, keys_path=keys, host=host, port=port, contract=contract,
                    settings=overrides, transcript_path=transcript, limits=limits,
                    artifact_dir=artifacts, status=err.print, precision=precision)
    except (ValueError, FileNotFoundError) as exc:  # KeyFileError and ServeError included
        raise fail(str(exc), code=2) from exc


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)
