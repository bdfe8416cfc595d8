"""The ``crossbound`` command: a thin layer over the library (every command is one call away).

One module per command group, each with a ``register(app)`` that adds its commands; the
shared consoles and progress display are in ``console``. Nothing here imports the strategy
layer at import time (it loads torch): commands import what they need when they run, so
``crossbound --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from crossbound.cli import (
    audit,
    bench,
    catalog,
    federate,
    generate,
    run,
    sanitize,
    serve,
)
from crossbound.cli.console import err

__all__ = ["app", "main"]

app = typer.Typer(
    help="Large/small model collaboration across a trust boundary, measured.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# The order `crossbound --help` lists the commands in (command groups come after commands).
for _module in (run, audit, sanitize, serve, bench, federate, generate, catalog):
    _module.register(app)


def main() -> None:
    import warnings

    # transformers 5.2x announces, on every KV-cached forward pass, that `past_key_values`
    # will be renamed; crossbound supports transformers 5.0 onwards, where the new name does
    # not exist yet. The notice says nothing to a CLI user.
    warnings.filterwarnings("ignore", message=r"`past_key_values` is deprecated",
                            category=FutureWarning)
    # Library notices a CLI user can do nothing about: a transformers rename, Opacus's note
    # that a wider range of RDP orders might tighten the bound (the PRV accountant is the one
    # that calibrates by default, and both ε are reported), and PyTorch's note that a backward
    # hook fires on module outputs when the inputs (frozen embeddings) need no gradient.
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated",
                            category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"Optimal order is the largest alpha",
                            category=UserWarning)
    warnings.filterwarnings("ignore", message=r"Full backward hook is firing",
                            category=UserWarning)
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
