"""Start the service: read the keys, pick the contract, load the model, run uvicorn.

The checks that need no model (key file, contract name, limits) run first, so a bad
configuration fails in milliseconds rather than after a model load. One uvicorn worker serves
the app: the model lives in that process, and generation is serialised anyway.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from crossbound.boundary.contracts import NOTHING, OPEN_TEXT, AccessContract
from crossbound.boundary.transcript import Transcript
from crossbound.catalog import all_strategies
from crossbound.models.loading import load_model
from crossbound.models.precision import check_precision, resolve_precision, torch_dtype
from crossbound.service.app import Limits, create_app
from crossbound.service.keys import KeyStore

log = logging.getLogger("crossbound.service")

CONTRACTS: dict[str, AccessContract] = {c.name: c for c in (OPEN_TEXT, NOTHING)}


class ServeError(ValueError):
    """The service cannot start with this configuration; the message says what to change."""


def contract_named(name: str, settings: Mapping[str, str] | None = None) -> AccessContract:
    """A named contract, or the contract a run of the strategy ``name`` holds to with
    ``settings`` (``--set``-style overrides of its config; none: its defaults), as
    ``Strategy.contract_for`` says: what the data party's run of it will be held to."""
    if name in CONTRACTS:
        if settings:
            raise ServeError(f"contract {name!r} takes no settings ({', '.join(settings)}); "
                             "settings configure a strategy's contract: name the strategy")
        return CONTRACTS[name]
    strategies = all_strategies()
    if name not in strategies:
        raise ServeError(f"unknown contract {name!r}; choose one of {sorted(CONTRACTS)} or a "
                         f"strategy name ({', '.join(strategies)})")
    cls = strategies[name]
    try:
        config = cls.config_class.from_overrides(dict(settings or {}))
    except ValueError as exc:
        raise ServeError(f"settings for {name}'s contract: {exc}") from exc
    return cls.contract_for(config)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    model: str,
    *,
    keys_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    contract: str = OPEN_TEXT.name,
    settings: Mapping[str, str] | None = None,
    transcript_path: str | Path | None = None,
    limits: Limits | None = None,
    artifact_dir: str | Path | None = None,
    log_level: str = "info",
    status: Callable[[str], None] | None = None,
    precision: str = "auto",
) -> None:
    """Serve ``model`` as the model party until interrupted (blocks).

    ``contract``: a contract's name, or a strategy's; ``settings`` (that strategy's config
    overrides) pick the contract its run holds to (``contract_named``).
    ``precision``: the LM's weights (bf16 where the CPU has it, under ``auto``); LoRA copies
    the model party trains for upward strategies keep fp32 adapter weights over them.
    """
    import uvicorn

    dtype = torch_dtype(resolve_precision(check_precision(precision)))

    keys = KeyStore.from_file(keys_path)  # KeyFileError (a ValueError) names the problem
    chosen = contract_named(contract, settings)
    if not 0 <= port <= 65535:
        raise ServeError(f"port {port} is out of range (0..65535)")
    if not _is_loopback(host):
        log.warning("serving on %s: API keys travel in clear text over HTTP; put a TLS "
                    "proxy in front of this service", host)
    say = status or log.info
    say(f"loading {model}")
    lm = load_model(model, status=status, dtype=dtype)
    transcript = Transcript(transcript_path) if transcript_path is not None else None
    try:
        app = create_app(lm, keys, chosen, transcript, limits, artifact_dir=artifact_dir)
        say(f"serving {lm.name} on http://{host}:{port}/v1 to {len(keys.parties)} "
            f"part{'y' if len(keys.parties) == 1 else 'ies'} under contract {chosen.name!r}")
        uvicorn.run(app, host=host, port=port, workers=1, log_level=log_level)
    finally:
        if transcript is not None:
            transcript.close()
