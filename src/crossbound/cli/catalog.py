"""``crossbound models``, ``tasks`` and ``strategies``: what there is to run, and with what.

Lazy imports: models, tasks and strategies (torch) load when a command runs, so ``crossbound
--help`` stays fast.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from crossbound.cli.console import err, fail, out, plain

# ---------------------------------------------------------------- models


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


def models_prepare(
    name: Annotated[str, typer.Argument(help="Model name, e.g. smollm2-135m or gemma3-270m.")],
    verify: Annotated[bool, typer.Option(help="Hash every cached file.")] = False,
    force: Annotated[bool, typer.Option(help="Rebuild the cache entry.")] = False,
) -> None:
    """Convert a GGUF model to cached safetensors (done lazily on first use too), or distil a
    draft model (done only here), and load it."""
    from crossbound.models import load_model, prepare_model
    from crossbound.models.precision import precision_scope
    from crossbound.training.distilled_model import distill_into

    try:
        started = time.perf_counter()
        with err.status(f"preparing {name}"):
            folder = prepare_model(name, force=force, verify=verify, status=err.print,
                                   distil=distill_into)
        prepared = time.perf_counter() - started
        loaded = load_model(name)
        with precision_scope("auto") as precision:
            if precision == "bf16":  # runs load frozen models in bf16: write that copy now
                load_model(name, frozen=True, status=err.print)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    where = str(folder) if folder else "no conversion needed"
    out.print(f"{name}: {loaded.parameters:,} parameters; cache: {where}")
    out.print(f"prepare {prepared:.2f} s; load {loaded.load_seconds:.2f} s (after "
              f"{loaded.import_seconds:.2f} s importing transformers modules, once per process)")


# ---------------------------------------------------------------- tasks


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


def tasks_show(
    name: Annotated[str, typer.Argument(help="Task name with options, or a .jsonl/.csv path.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sizes, label distribution and an example of a task."""
    from crossbound.tasks.registry import load_task

    try:
        task = load_task(name)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    info = task.summary()
    example = task.parties[0][0]
    info["example"] = {"prompt": task.prompt(example), "answer": task.answer(example),
                       "pii": [[s.kind, s.value] for s in example.pii]}
    info["fingerprint"] = task.fingerprint()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    out.print(f"[bold]{plain(task.name)}[/] — {plain(task.description)}")
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


def strategies_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every registered strategy: direction, what each party needs, and what crosses."""
    from crossbound.catalog import all_strategies

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


def register(app: typer.Typer) -> None:
    """Add the ``models``, ``tasks`` and ``strategies`` command groups to ``app``."""
    models = typer.Typer(help="Models shipped in PyPI packages, tiny test models, derived ones.",
                         no_args_is_help=True)
    models.command("list")(models_list)
    models.command("prepare")(models_prepare)
    tasks = typer.Typer(help="Built-in tasks, public corpora and your own JSONL/CSV files.",
                        no_args_is_help=True)
    tasks.command("list")(tasks_list)
    tasks.command("show")(tasks_show)
    strategies = typer.Typer(help="The registered strategies of every family.",
                             no_args_is_help=True)
    strategies.command("list")(strategies_list)
    app.add_typer(models, name="models")
    app.add_typer(tasks, name="tasks")
    app.add_typer(strategies, name="strategies")
