"""The ``crossbound`` command: a thin layer over the library (every command is one call away)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from crossbound.defaults import DEFAULT_LARGE, DEFAULT_SMALL, SAME_TOKENIZER_SMALL

if TYPE_CHECKING:  # importing the strategy layer loads torch: commands import it lazily
    from crossbound.strategy import ProgressFactory

app = typer.Typer(
    help="Large/small model collaboration across a trust boundary, measured.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Models shipped in PyPI packages, tiny test models, derived ones.",
                         no_args_is_help=True)
tasks_app = typer.Typer(help="Built-in tasks, public corpora and your own JSONL/CSV files.",
                        no_args_is_help=True)
strategies_app = typer.Typer(help="The registered strategies of every family.",
                             no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(tasks_app, name="tasks")
app.add_typer(strategies_app, name="strategies")

# A terminal keeps its own width; a log or a pipe gets 140 columns, where rich would squeeze
# the bench's tables into 80 and cut every number short.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    # The message is plain text: user input and exception text in it may hold brackets
    # ("nope[/x]", "[keys]") that rich would otherwise read as markup, drop, or choke on.
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # paths on one line
    return typer.Exit(code)


def _plain(value: Any) -> str:
    """``value`` as text to embed in rich markup (or a table cell), brackets kept literal."""
    return escape(str(value))


class _Bar:
    def __init__(self, progress: Progress, task_id: TaskID, keep: bool = True) -> None:
        self.progress, self.task_id, self.keep = progress, task_id, keep

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task_id, n)

    def close(self) -> None:
        if not self.keep:  # the bench: a finished cell's steps would crowd the display
            self.progress.remove_task(self.task_id)
            return
        self.progress.update(self.task_id, visible=True)
        self.progress.stop_task(self.task_id)


class _LineBar:
    """Progress as plain lines (a log file, CI): start, every tenth of the way, and the end."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = time.perf_counter()
        self._next = 0.1
        err.print(f"{label} …", highlight=False)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.total and self.done / self.total >= self._next and self.done < self.total:
            self._next = (int(self.done * 10 / self.total) + 1) / 10
            elapsed = time.perf_counter() - self.started
            err.print(f"{self.label}: {self.done}/{self.total} ({elapsed:.0f} s)",
                      highlight=False)

    def close(self) -> None:
        count = f"{self.done}/{self.total} " if self.total else ""
        err.print(f"{self.label}: done, {count}in {time.perf_counter() - self.started:.1f} s",
                  highlight=False)


def _bar_factory(progress: Progress, keep: bool = True) -> ProgressFactory:
    """Rich bars on a terminal; plain lines otherwise (a log file, CI). ``keep=False``
    removes a bar when it closes (the bench keeps only its overall bar on screen)."""
    def factory(label: str, total: int | None) -> _Bar | _LineBar:
        if not err.is_terminal:
            return _LineBar(label, total)
        return _Bar(progress, progress.add_task(label, total=total), keep=keep)

    return factory


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


# ---------------------------------------------------------------- models


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Name, parameters, architecture, tokenizer, vocabulary size and cache state of each model."""
    from crossbound.models import is_cached, model_specs
    from crossbound.models.tiny import build_tiny

    rows: list[dict[str, Any]] = []
    for spec in model_specs():
        params, vocab = spec.parameters, spec.vocab_size
        if spec.origin == "tiny":
            model, tok = build_tiny(spec.name)
            params, vocab = sum(p.numel() for p in model.parameters()), len(tok)
        convert = "assembles and converts" if spec.split is not None else "converts"
        cached = {"gguf": "yes" if is_cached(spec) else f"no (prepare {convert} it)",
                  "distilled": "yes" if is_cached(spec) else "no (prepare distils it)",
                  "tiny": "built in code", "package-folder": "safetensors in package"}
        rows.append({
            "name": spec.name, "kind": spec.kind, "parameters": params,
            "architecture": spec.architecture, "tokenizer": spec.tokenizer,
            "vocab_size": vocab, "cached": cached.get(spec.origin, "-"),
            "package": spec.package or "-",
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="models (derive small ones with NAME:layers=N; any HF folder by path)")
    for column in ("name", "kind", "parameters", "architecture", "tokenizer", "vocab", "cached"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r["kind"], f"{r['parameters']:,}", r["architecture"],
                      r["tokenizer"], f"{r['vocab_size']:,}", r["cached"])
    out.print(table)


@models_app.command("prepare")
def models_prepare(
    name: Annotated[str, typer.Argument(help="Model name, e.g. smollm2-135m or gemma3-270m.")],
    verify: Annotated[bool, typer.Option(help="Hash every cached file.")] = False,
    force: Annotated[bool, typer.Option(help="Rebuild the cache entry.")] = False,
) -> None:
    """Convert a GGUF model to cached safetensors, or distil a draft model (done lazily on
    first use too), and load it."""
    from crossbound.models import load_model, prepare_model
    from crossbound.models.precision import precision_scope

    try:
        started = time.perf_counter()
        with err.status(f"preparing {name}"):
            folder = prepare_model(name, force=force, verify=verify, status=err.print)
        prepared = time.perf_counter() - started
        loaded = load_model(name)
        with precision_scope("auto") as precision:
            if precision == "bf16":  # runs load frozen models in bf16: write that copy now
                load_model(name, frozen=True, status=err.print)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    where = str(folder) if folder else "no conversion needed"
    out.print(f"{name}: {loaded.parameters:,} parameters; cache: {where}")
    out.print(f"prepare {prepared:.2f} s; load {loaded.load_seconds:.2f} s (after "
              f"{loaded.import_seconds:.2f} s importing transformers modules, once per process)")


# ---------------------------------------------------------------- tasks


@tasks_app.command("list")
def tasks_list() -> None:
    """The built-in tasks and the public proxy corpora."""
    from crossbound.tasks.corpora import corpus_description, corpus_names
    from crossbound.tasks.registry import task_specs

    table = Table(title="tasks (options: NAME:seed=1,parties=3,partition=dirichlet,...)")
    table.add_column("name")
    table.add_column("source")
    table.add_column("description")
    for spec in task_specs():
        table.add_row(spec.name, spec.source, spec.description)
    out.print(table)
    corpora = Table(title="public proxy corpora (may cross the boundary)")
    corpora.add_column("name")
    corpora.add_column("description")
    for name in corpus_names():
        corpora.add_row(name, corpus_description(name))
    out.print(corpora)
    out.print("Your own data: crossbound tasks show path/to/data.jsonl (or .csv)")


@tasks_app.command("show")
def tasks_show(
    name: Annotated[str, typer.Argument(help="Task name with options, or a .jsonl/.csv path.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sizes, label distribution and an example of a task."""
    from crossbound.tasks.registry import load_task

    try:
        task = load_task(name)
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    info = task.summary()
    example = task.parties[0][0]
    info["example"] = {"prompt": task.prompt(example), "answer": task.answer(example),
                       "pii": [[s.kind, s.value] for s in example.pii]}
    info["fingerprint"] = task.fingerprint()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    out.print(f"[bold]{_plain(task.name)}[/] — {_plain(task.description)}")
    out.print(f"metric: {task.metric}; data parties: {info['parties']}; "
              f"validation {info['validation']}, test {info['test']}, public {info['public']}")
    if not info["public"]:
        from crossbound.tasks.public_text import FALLBACK_CORPUS

        out.print(f"no public split: strategies that need public text use the built-in corpus "
                  f"{FALLBACK_CORPUS}", markup=False)
    if "labels" in info:
        out.print("labels (train): " + ", ".join(f"{k} {v}" for k, v in info["labels"].items()))
    if "pii_spans" in info:
        out.print("PII spans (train): " + ", ".join(f"{k} {v}" for k, v in
                                                  info["pii_spans"].items()))
    if "canaries" in info:
        out.print(f"canaries planted: {info['canaries']}")
    out.print(f"fingerprint: {info['fingerprint']}")
    out.print("[bold]example prompt[/]")
    out.print(info["example"]["prompt"] + info["example"]["answer"], markup=False)


# ---------------------------------------------------------------- strategies


@strategies_app.command("list")
def strategies_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every registered strategy: direction, what each party needs, and what crosses."""
    from crossbound.strategy import all_strategies

    rows = [{"name": n, "direction": c.direction, "summary": c.summary,
             "model_party_needs": c.needs_model_party, "data_party_needs": c.needs_data_party,
             "crosses": c.crosses, "paper": c.paper} for n, c in all_strategies().items()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="strategies")
    for column in ("name", "direction", "model party needs", "data party needs", "crosses"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r["direction"], r["model_party_needs"], r["data_party_needs"],
                      r["crosses"])
    out.print(table)


# ---------------------------------------------------------------- run


# The default pair (models/registry.py): Qwen2.5-Coder-1.5B as the LM, SmolLM2-135M as the
# SM (Qwen2.5-Coder-0.5B for strategies that want the LM's tokenizer).
SMALL_HELP = (f"The data party's SM [default: {DEFAULT_SMALL}; {SAME_TOKENIZER_SMALL} for "
              "proxy-tuning and speculative with the default LM].")


@app.command("run")
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
) -> None:
    """Run one strategy end to end; write OUT/result.json and OUT/transcript.jsonl.

    The model party runs in this process unless --remote or --openai-url names one elsewhere.
    """
    import os

    from crossbound.runner import run_strategy
    from crossbound.strategy import default_small

    if small is None:
        try:
            small = default_small(strategy, large)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
    overrides: dict[str, str] = {}
    for item in settings or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise _fail(f"--set {item!r}: expected key=value")
        overrides[key.strip()] = value.strip()
    transport: Any = None
    party: Any = None
    if remote and openai_url:
        raise _fail("give --remote or --openai-url, not both")
    if remote:
        from crossbound.boundary.http import HttpTransport

        key = os.environ.get("CROSSBOUND_API_KEY", "")
        if not key:
            raise _fail("--remote needs the data party's API key in $CROSSBOUND_API_KEY")
        transport = HttpTransport(remote, key)
    if openai_url:
        from crossbound.external_party import OpenAICompatibleParty

        party = OpenAICompatibleParty(openai_url, os.environ.get("OPENAI_API_KEY", "none"),
                                      openai_model or large)
    with _progress() as progress:
        try:
            result = run_strategy(strategy, task=task, large=large, small=small,
                                  out_dir=out_dir, config=overrides, overwrite=overwrite,
                                  keep_payloads=payloads, progress=_bar_factory(progress),
                                  remote=transport,
                                  model_party=party)
        except (ValueError, PermissionError, FileExistsError, FileNotFoundError,
                RuntimeError) as exc:
            # notes: what the runner left behind (a failed run's transcript) and how to rerun
            raise _fail("\n".join([str(exc), *getattr(exc, "__notes__", ())])) from exc
    _print_result(result.to_dict(), out_dir)


def _print_result(data: dict[str, Any], out_dir: Path) -> None:
    metrics = data["metrics"]
    table = Table(title=f"{_plain(data['strategy'])} on {_plain(data['task']['name'])}")
    table.add_column("group")
    table.add_column("metric")
    table.add_column("value")
    for group in ("utility", "privacy", "efficiency"):
        for key, value in metrics.get(group, {}).items():
            if isinstance(value, dict):
                value = json.dumps(value, sort_keys=True)
            elif isinstance(value, float):
                value = f"{value:.4g}"
            table.add_row(group, _plain(key), _plain(value))
    out.print(table)
    out.print(f"wrote {out_dir / 'result.json'} and {out_dir / data['transcript']['path']} "
              f"({data['transcript']['entries']} crossings, {data['transcript']['bytes']} bytes)",
              markup=False)


# ---------------------------------------------------------------- audit


@app.command("audit")
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
        raise _fail(f"{path}: no such transcript")
    if result is None and path.name == "transcript.jsonl":  # a run's: its result is beside it
        result = path.parent / "result.json" if (path.parent / "result.json").exists() else None
    for option, given in (("--key", key), ("--result", result), ("--against", against),
                          ("--against-key", against_key)):
        if given is not None and not given.is_file():
            raise _fail(f"{option} {given}: no such file")
    report = verify_transcript(path, key=key, expected=result, against=against,
                               against_key=against_key)
    scan: dict[str, Any] | None = None
    if pii is not None and report.ok:  # a broken chain's content is not evidence of anything
        from crossbound.evaluate.pii_crossed import scan_transcript
        from crossbound.tasks.registry import load_task

        try:
            task = load_task(pii)
        except (ValueError, FileNotFoundError) as exc:
            raise _fail(f"--pii {pii}: {exc}") from exc
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
    out.print(f"PII of {_plain(task)} that crossed: [{colour}]{found} occurrences[/] of "
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
            table.add_row(*(_plain(cell) for cell in (
                f["seq"], f"{f['kind']} ({f['where']})", f["direction"], f["pii_kind"],
                f["value"], f"{f['example_id']} ({f['split']})")))
        out.print(table)
    for note in scan["notes"]:
        out.print(f"  note: {note}", markup=False)


# ---------------------------------------------------------------- sanitize


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); give a "
                         "text file") from exc


@app.command("sanitize")
def sanitize(
    file: Annotated[Path | None, typer.Argument(
        help="Text file to sanitise as one document (none or '-': read stdin).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the text and its entities (kinds, spans, placeholders).")] = False,
    show_map: Annotated[bool, typer.Option(
        "--show-map", help="Also print placeholder → original (private: keep it local).")]
    = False,
    evaluate: Annotated[str | None, typer.Option(
        "--evaluate", metavar="TASK",
        help="Instead: score detection on every record of TASK, e.g. clinic-triage:seed=7.")]
    = None,
    regex_only: Annotated[bool, typer.Option(
        help="Only crossbound's own recognisers: no Presidio/spaCy (fast, weaker on names).")]
    = False,
) -> None:
    """Replace PII with consistent placeholders ([PERSON_1], [PHONE_1], ...), or evaluate that."""
    from crossbound.privacy.sanitizer import Sanitizer

    if evaluate is None and file is not None and str(file) != "-" and not file.is_file():
        raise _fail(f"{file}: no such file")
    sanitizer = Sanitizer(presidio=not regex_only)
    try:
        if evaluate is not None:
            from crossbound.evaluate.pii_detection import evaluate_pii_detection
            from crossbound.tasks.registry import load_task

            task = load_task(evaluate)
            records = [*task.train, *task.validation, *task.test, *task.public]
            report = evaluate_pii_detection(records, sanitizer)
        else:
            text = sys.stdin.read() if file is None or str(file) == "-" else _read_text(file)
            result = sanitizer.sanitize(text)
    except (ImportError, RuntimeError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    if evaluate is None:
        if as_json:
            print(json.dumps(result.to_dict(show_map=show_map), indent=2, ensure_ascii=False))
            return
        sys.stdout.write(result.text if result.text.endswith("\n") else result.text + "\n")
        if show_map:  # on stderr, so stdout stays safe to pass on
            for placeholder, value in result.mapping.items():
                print(f"{placeholder}\t{value}", file=sys.stderr)
        return
    if as_json:
        print(json.dumps({"task": evaluate, **report.to_dict()}, indent=2))
        return
    table = Table(title=f"PII detection on {evaluate} ({report.records} records; a hit covers "
                        f"≥ {report.min_overlap:.0%} of a gold span of the same kind)")
    for column in ("kind", "gold", "predicted", "precision", "recall", "F2", "leaks",
                   "token leaks"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for row in report.rows():
        table.add_row(row["kind"], str(row["gold"]), str(row["predicted"]),
                      f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f2']:.3f}",
                      str(row["leaks"]), f"{row['token_leaks']}/{row['gold_tokens']}")
    out.print(table)
    build = ("" if report.build_seconds is None
             else f"analyzer built in {report.build_seconds:.1f} s (once per process); ")
    out.print(f"{build}sanitised {report.records} records in {report.seconds:.1f} s "
              f"({1000 * report.seconds / max(report.records, 1):.1f} ms/record)")


# ---------------------------------------------------------------- serve


@app.command("serve")
def serve(
    keys: Annotated[Path, typer.Option(
        help="TOML file with a [keys] table: data party name = API key (16+ characters).")],
    model: Annotated[str, typer.Option(help="The model party's LM.")] = DEFAULT_LARGE,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    contract: Annotated[str, typer.Option(
        help="What may cross: raw-text-to-lm, nothing-crosses, or a strategy name (its "
        "contract).")] = "raw-text-to-lm",
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

    try:
        limits = Limits(max_body_bytes=max_body_bytes, max_tokens=max_tokens)
        run_service(model, keys_path=keys, host=host, port=port, contract=contract,
                    transcript_path=transcript, limits=limits, artifact_dir=artifacts,
                    status=err.print, precision=precision)
    except (ValueError, FileNotFoundError) as exc:  # KeyFileError and ServeError included
        raise _fail(str(exc), code=2) from exc


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


# Commands kept in their own modules register themselves on ``app`` when imported.
from crossbound import cli_bench, cli_federate, cli_generate  # noqa: E402,F401
