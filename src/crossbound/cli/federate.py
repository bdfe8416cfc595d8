"""``crossbound federate CONFIG``: many data parties, federated rounds on Flower.

Lazy imports: the federation (torch; Flower once a run starts) loads when the command runs,
so ``crossbound --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from crossbound.cli.console import err, fail, out, plain


def _list_strategies(value: bool) -> None:
    """``--list-strategies``: every registered federated strategy and its own settings."""
    if not value:
        return
    from crossbound.federation.config import FederationConfig
    from crossbound.federation.strategies import FEDERATED_STRATEGIES

    shared = FederationConfig.settings()
    table = Table(title="federated strategies (strategy = ...)")
    for column in ("strategy", "what it does", "its settings (beside the shared ones)"):
        table.add_column(column)
    for name, spec in sorted(FEDERATED_STRATEGIES.items()):
        own = [key for key in spec.config_class.settings() if key not in shared]
        table.add_row(name, spec.summary, ", ".join(own))
    out.print(table)
    out.print(f"shared settings: {', '.join(shared)}", highlight=False, soft_wrap=True)
    raise typer.Exit()


def federate(
    config_path: Annotated[Path, typer.Argument(
        metavar="CONFIG", help="A .toml or .json federation config (see crossbound.federation"
        ".config: strategy, task with parties=N, small, rounds, ...; --list-strategies "
        "shows each strategy's settings).")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default: the config's `out`).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a previous run in the folder.")]
    = False,
    verbose: Annotated[bool, typer.Option(help="Show Flower's and Ray's own logs.")] = False,
    deployment: Annotated[bool, typer.Option(
        "--deployment", help="Use Flower's deployment runtime: a SuperLink and one SuperNode "
        "process per data party on this machine (same as runtime = \"deployment\").")]
    = False,
    external_supernodes: Annotated[bool, typer.Option(
        "--external-supernodes", help="With --deployment: start only the SuperLink and wait "
        "for the data parties' SuperNodes (started elsewhere; the commands are printed).")]
    = False,
    host: Annotated[str, typer.Option(help="With --deployment: the SuperLink's address.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --deployment: the SuperLink's port (0: any "
                                           "free one).")] = 0,
    tls: Annotated[bool, typer.Option(
        "--tls", help="With --deployment: TLS between the SuperNodes and the SuperLink, with "
        "a throwaway CA made for this run (OUT/deployment/certs/ca.pem).")] = False,
    list_strategies: Annotated[bool, typer.Option(
        "--list-strategies", is_eager=True, callback=_list_strategies,
        help="List the registered federated strategies and their settings, and exit.")]
    = False,
) -> None:
    """Run a federation on Flower (its simulation runtime, or with --deployment a SuperLink
    and SuperNode processes).

    fed-adapter: the data parties fine-tune LoRA adapters of their SM on their own records
    and the model party aggregates them every round; writes the final global adapter
    (OUT/global-adapter*). fed-mutual-kt: the LM and every party's SM exchange top-k
    log-probs on the public texts every round and each side distils the other's; writes the
    LM's LoRA adapter (OUT/lm-adapter). Everything that crosses is checked against the
    strategy's contract and recorded in one hash-chained transcript per data party
    (OUT/transcripts/data-party-N.jsonl); the result is OUT/result.json.
    """
    from crossbound.federation.strategies import load_config

    try:
        config = load_config(config_path)
        if deployment or external_supernodes or tls:
            config = dataclasses.replace(config, runtime="deployment")
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    try:
        import flwr  # noqa: F401
        import ray  # noqa: F401
    except ImportError as exc:
        raise fail(f"federation needs Flower's simulation runtime ({exc.name} is missing): "
                    "pip install 'crossbound[federation]'") from exc
    from crossbound.federation.run import run_federation

    def on_status(line: str) -> None:
        err.print(line, highlight=False, soft_wrap=True, markup=False)

    try:
        result = run_federation(config, out_dir, overwrite=overwrite, verbose=verbose,
                                on_round=lambda report: _print_round(report, config.rounds),
                                on_status=on_status,
                                deployment={"external": external_supernodes, "host": host,
                                            "port": port, "tls": tls})
    except (ValueError, PermissionError, FileExistsError, FileNotFoundError,
            RuntimeError) as exc:
        raise fail(str(exc)) from exc
    _print_summary(result.to_dict(), Path(out_dir if out_dir is not None else config.out))


def _print_round(report: Any, rounds: int) -> None:
    """One line per round: utility, bytes each way, seconds, dropped updates."""
    down = sum(b["down"] for b in report.bytes.values())
    up = sum(b["up"] for b in report.bytes.values())
    knowledge = getattr(report, "knowledge", None)  # fed-mutual-kt: the LM and each SM
    label = f"round {report.round}/{rounds}" + (
        "" if report.round else " (initial models)" if knowledge is not None
        else " (initial adapter)")
    utility = "—" if report.utility is None else f"{report.utility:.3f}"
    if knowledge is not None:
        sms = " ".join(f"{party.removeprefix('data-party-')}:{value:.3f}"
                       for party, value in knowledge.get("sm", {}).items())
        utility = f"LM {utility}, SMs {sms or '—'}"
    lm = getattr(report, "lm", None)  # OT+: the emulator (parties) and the plugged-in LM
    if lm is not None:
        utility = f"emulator {utility}, plugged-in LM {lm['plugin_utility']:.3f}"
    line = (f"{label}: utility {utility} on {report.eval_examples} test records; "
            f"{_size(down)} down, {_size(up)} up over {len(report.bytes)} parties; "
            f"{report.seconds:.1f} s")
    if report.round > 0:
        line += (f"; knowledge of {report.aggregated} part(ies) distilled into the LM"
                 if knowledge is not None else f"; {report.aggregated} update(s) aggregated")
    if getattr(report, "dp", None):  # clipped: only where the model party clipped
        clipped = report.dp["clipped_updates"]
        line += (f"; DP noise std {report.dp['noise_std']:.3g}"
                 + ("" if clipped is None else f", {clipped} clipped"))
    if report.dropped_out:
        line += "; dropped out: " + ", ".join(f"{party} ({why})" for party, why
                                              in report.dropped_out.items())
    err.print(line, highlight=False, soft_wrap=True, markup=False)
    for drop in report.dropped:  # a reason is exception text: plain, never markup
        err.print("  [yellow]dropped[/] " + plain(f"{drop['party']} ({drop['op']}): "
                                                   f"{_last_line(drop['reason'])}"),
                  highlight=False, soft_wrap=True)


def _last_line(reason: str) -> str:
    """A failed party's reason can be a whole traceback (Ray's): its last line says why."""
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    if len(lines) <= 1:
        return reason
    return f"{lines[0][:80]} … {lines[-1][:300]}"


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _print_summary(data: dict[str, Any], folder: Path) -> None:
    utility = data["metrics"]["utility"]
    federation = data["metrics"]["federation"]
    secure = " + SecAgg+" if federation.get("secure_aggregation") else ""
    dp = data["metrics"]["privacy"].get("dp")
    if dp:  # ε per data party over all rounds
        secure += f" + {dp['mode']} DP, ε = {dp['epsilon']:.2f}"
    mutual = "lm_per_round" in utility  # fed-mutual-kt: the LM's column, then each SM's
    table = Table(title=plain(f"{data['strategy']} ({federation['aggregation']}{secure}) on "
                               f"{data['task']['name']}"))
    table.add_column("round", justify="right")
    table.add_column(("LM " if mutual else "") + utility["metric"], justify="right")
    sms = sorted(utility.get("sm_per_round", {}))
    for party in sms:
        table.add_column(f"SM {party.removeprefix('data-party-')}", justify="right")
    offsite = data["metrics"].get("offsite")  # OT+: the column above is the emulator's
    if offsite:
        table.columns[1].header = f"emulator {utility['metric']}"
        table.add_column(f"plugged-in LM {utility['metric']}", justify="right")
    table.add_column("bytes", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("dropped", justify="right")
    for i, entry in enumerate(federation["rounds"]):
        cells = [_score(entry["utility"] if not mutual else utility["lm_per_round"][i])]
        cells += [_score(utility["sm_per_round"][party][i]) for party in sms]
        if offsite:
            cells.append(_score(offsite["plugin_utility_per_round"][i]))
        table.add_row(str(entry["round"]), *cells, _size(entry["bytes_total"]),
                      f"{entry['seconds']:.1f}", str(len(entry["dropped"])))
    out.print(table)
    if offsite and offsite["emulator_gap"] is not None:
        out.print(f"OT+: each party received the emulator of {offsite['lm']} once "
                  f"({_size(offsite['bundle']['bytes'])}, "
                  f"{offsite['bundle']['share_of_lm_parameters']:.0%} of its parameters); "
                  f"plugged-in LM minus the emulator the parties hold: "
                  f"{offsite['emulator_gap']:+.3f} (the owner's IP protection where positive; "
                  "where negative the parties' emulator serves the task better)", highlight=False,
                  soft_wrap=True)
    if dp:
        out.print(f"DP ({dp['mode']}, unit: a whole data party): ε = {dp['epsilon']:.2f} (PRV; "
                  f"RDP {dp['epsilon_rdp']:.2f}) at δ = {dp['delta']:g} over {dp['rounds']} "
                  f"round(s); σ = {dp['noise_multiplier']:.3g}, clip {dp['clip']:g}, "
                  f"clipped by the {dp['clipped_by']}", highlight=False, soft_wrap=True)
    transcripts = data["transcript"]
    artifact = data["artifacts"].get("global_adapter") or data["artifacts"]["lm_adapter_peft"]
    out.print(f"wrote {folder / 'result.json'}, {len(transcripts['parties'])} transcripts in "
              f"{folder / 'transcripts'} ({transcripts['entries']} crossings, "
              f"{_size(transcripts['bytes'])}) and {folder / artifact}", markup=False)


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    """Add ``federate`` to ``app``."""
    app.command("federate")(federate)
