"""``crossbound audit``: verify a transcript, summarise what crossed, count the PII in it.

Lazy imports: transcripts and the PII scan (torch) load when the command runs, so ``crossbound
--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crossbound.cli.console import fail, out, plain


def audit(
    path: Annotated[Path, typer.Argument(help="A transcript.jsonl, or a run folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    pii: Annotated[str | None, typer.Option(
        "--pii", help="Also scan payloads for this task's PII and canaries, e.g. "
        "clinic-triage:seed=0 (the task the run used; its values are printed).")] = None,
    pii_findings: Annotated[int, typer.Option(
        help="How many PII findings to list with --pii.")] = 20,
    key: Annotated[Path | None, typer.Option(
        help="The transcript's key file (default: .TRANSCRIPT.key beside it).")] = None,
    result: Annotated[Path | None, typer.Option(
        help="The result.json holding the run's signed head (default: the run folder's).")
    ] = None,
    against: Annotated[Path | None, typer.Option(
        help="The other party's record: its copy of the transcript, or the head it "
        "countersigned (a head file, its .checkpoints.jsonl, or a result.json).")] = None,
    against_key: Annotated[Path | None, typer.Option(
        help="The other party's key file: checks its copy's MACs or its countersignature.")
    ] = None,
) -> None:
    """Verify a transcript (bytes, hash chain, MACs, the head recorded in result.json and,
    with --against, the other party's record) and summarise what crossed; --pii counts PII."""
    from crossbound.boundary.transcript import verify_transcript

    if path.is_dir():
        path = path / "transcript.jsonl"
    if not path.is_file():
        raise fail(f"{path}: no such transcript")
    if result is None and path.name == "transcript.jsonl":  # a run's: its result is beside it
        result = path.parent / "result.json" if (path.parent / "result.json").exists() else None
    for option, given in (("--key", key), ("--result", result), ("--against", against),
                          ("--against-key", against_key)):
        if given is not None and not given.is_file():
            raise fail(f"{option} {given}: no such file")
    report = verify_transcript(path, key=key, expected=result, against=against,
                               against_key=against_key)
    scan: dict[str, Any] | None = None
    if pii is not None and report.ok:  # a broken chain's content is not evidence of anything
        from crossbound.evaluate.pii_crossed import scan_transcript
        from crossbound.tasks.registry import load_task

        try:
            task = load_task(pii)
        except (ValueError, FileNotFoundError) as exc:
            raise fail(f"--pii {pii}: {exc}") from exc
        scan = scan_transcript(path, task, max_findings=max(0, pii_findings))
    if as_json:
        data: dict[str, Any] = {"status": report.status, **report.__dict__}
        if pii is not None:
            data["pii"] = scan if scan is not None else {"skipped": "the chain is broken"}
        print(json.dumps(data, indent=2))
    else:
        colour = {"intact": "green", "TAMPERED": "red"}.get(report.status, "yellow")
        status = f"[{colour}]{escape(report.status)}[/]"
        if report.error:
            status += f": {escape(report.error)}"
        out.print(f"{escape(str(path))}: {report.entries} entries verified; {status}",
                  soft_wrap=True)
        for checked in report.checked:
            out.print(f"  checked: {escape(checked)}", soft_wrap=True)
        for warning in report.warnings:
            out.print(f"  [yellow]not checked[/]: {escape(warning)}", soft_wrap=True)
        for kind, size in sorted(report.bytes_by_kind.items()):
            out.print(f"  {kind}: {report.count_by_kind[kind]} messages, {size:,} bytes")
        for direction, size in sorted(report.bytes_by_direction.items()):
            out.print(f"  {direction}: {size:,} bytes")
        for party, size in sorted(report.bytes_by_party.items()):
            out.print(f"  sent by {party}: {size:,} bytes")
        if pii is not None and scan is None:
            out.print("PII scan skipped: the transcript failed verification")
        elif scan is not None and pii is not None:
            _print_pii(scan, pii)
    if not report.ok:
        raise typer.Exit(3)


def _print_pii(scan: dict[str, Any], task: str) -> None:
    found = scan["occurrences"]
    colour = "red" if found else "green"
    out.print(f"PII of {plain(task)} that crossed: [{colour}]{found} occurrences[/] of "
              f"{scan['distinct_values']} distinct values ({scan['scanned']} of "
              f"{scan['entries']} entries scanned, {scan['unscanned']} unscanned)")
    for label, key in (("by PII kind", "by_pii_kind"), ("by message kind", "by_message_kind"),
                       ("by direction", "by_direction")):
        if scan[key]:
            out.print(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in scan[key].items()),
                      markup=False)
    if scan["canaries_crossed"]:
        out.print(f"  canaries crossed: {', '.join(scan['canaries_crossed'])}", markup=False)
    if scan["findings"]:
        table = Table(title="first findings" + (" (more not shown)"
                                                 if scan["findings_truncated"] else ""))
        for column in ("seq", "message", "direction", "PII kind", "value", "example"):
            table.add_column(column)
        for f in scan["findings"]:
            table.add_row(*(plain(cell) for cell in (
                f["seq"], f"{f['kind']} ({f['where']})", f["direction"], f["pii_kind"],
                f["value"], f"{f['example_id']} ({f['split']})")))
        out.print(table)
    for note in scan["notes"]:
        out.print(f"  note: {note}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``audit`` to ``app``."""
    app.command("audit")(audit)
