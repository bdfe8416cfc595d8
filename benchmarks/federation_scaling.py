"""Federation scaling: seconds per round and bytes per round as the data parties grow.

The same federation (``fed-adapter`` unless ``--strategy`` says otherwise) runs on Flower's
simulation runtime once per N in ``--parties``, with the task's training records dealt over N
data parties (``--task`` base plus ``parties=N,partition=...``): the records are fixed, so each
party holds about 1/N of them. Per N it records the seconds of every round (round 0, which
includes starting Ray and loading the models, apart from the training rounds), the bytes each
party sent and received per round, the global adapter's utility after every round, the run's
wall seconds, the peak memory of this process (the model party and Flower's driver; the data
parties run in Ray workers and are not counted) and the data parties' training seconds per
round (sum and max over the parties). With ``workers = 1`` (the default) the parties train one
at a time, so the sum is the round's training time on this machine; the max is what the round
would take if every party had its own machine.

The JSON (``--out``) is rewritten after every N; an N already there with the same settings is
skipped (``--force`` runs it again), so a killed run loses at most the N it was on.

    python benchmarks/federation_scaling.py [--parties 2 4 8] [--rounds 2] [--secure]
        [--partition iid|dirichlet] [--strategy fed-adapter] [--set key=value ...]
        [--out FILE] [--work DIR] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from crossbound.naming import parse_spec
from crossbound.result import machine, versions

BENCHMARK = "federation_scaling"
# FederationConfig settings this script sets itself, and the option that sets each.
RESERVED = {"strategy": "--strategy", "task": "--task, --parties and --partition",
            "small": "--small", "rounds": "--rounds", "secure_aggregation": "--secure",
            "out": "--work", "runtime": "nothing (this benchmark runs the simulation runtime)"}
PARTITION_OPTIONS = ("parties", "partition", "alpha")


class BadInput(ValueError):
    """A setting or N that cannot run: reported in one line, exit code 2."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--parties", type=int, nargs="+", default=[2, 4, 8],
                        help="numbers of data parties to run (each >= 2)")
    parser.add_argument("--rounds", type=int, default=2, help="training rounds per run")
    parser.add_argument("--small", default="smollm2-135m:layers=6", help="the parties' SM")
    parser.add_argument("--task", default="clinic-triage",
                        help="task with options, without parties/partition/alpha")
    parser.add_argument("--partition", choices=("iid", "dirichlet"), default="iid")
    parser.add_argument("--alpha", type=float, default=0.5,
                        help="Dirichlet concentration (with --partition dirichlet)")
    parser.add_argument("--secure", action="store_true", help="secure aggregation (SecAgg+)")
    parser.add_argument("--strategy", default="fed-adapter")
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="KEY=VALUE", help="a FederationConfig setting (repeatable)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file (default: benchmarks/results/federation/"
                             "scaling-<strategy>.json)")
    parser.add_argument("--work", type=Path, default=Path("runs/bench-federation"),
                        help="folder for the runs' outputs (one subfolder per N)")
    parser.add_argument("--force", action="store_true",
                        help="run every N again, even one already in --out")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = Path(f"benchmarks/results/federation/scaling-{args.strategy}.json")
    return args


# ---------------------------------------------------------------- configs


def task_spec(base: str, parties: int, partition: str, alpha: float) -> str:
    name, options = parse_spec(base)
    given = [k for k in PARTITION_OPTIONS if k in options]
    if given:
        raise BadInput(f"--task {base!r}: leave out {', '.join(given)} (set by --parties, "
                       "--partition and --alpha)")
    options["parties"] = str(parties)
    options["partition"] = partition
    if partition == "dirichlet":
        options["alpha"] = str(alpha)
    return f"{name}:" + ",".join(f"{k}={v}" for k, v in options.items())


def overrides(items: list[str]) -> dict[str, str]:
    """``--set key=value`` strings, as ``crossbound run --set`` reads them."""
    found: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise BadInput(f"--set {item!r}: expected key=value")
        if key in RESERVED:
            raise BadInput(f"--set {key}=...: {key} is set by {RESERVED[key]}")
        found[key] = value.strip()
    return found


def build_config(args: argparse.Namespace, parties: int, out: Path) -> Any:
    """The FederationConfig for N = ``parties``; values converted by the fields' types."""
    from crossbound.federation.strategies import config_from_overrides

    fixed = {"strategy": args.strategy, "small": args.small, "rounds": str(args.rounds),
             "secure_aggregation": str(args.secure), "runtime": "simulation",
             "task": task_spec(args.task, parties, args.partition, args.alpha),
             "out": str(out)}
    try:
        return config_from_overrides({**overrides(args.settings), **fixed})
    except (ValueError, TypeError) as exc:
        raise BadInput(str(exc)) from exc


def settings_of(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """What a row must share with this run to be kept: everything but N and the folders."""
    data = {k: v for k, v in config.to_dict().items() if k not in ("task", "out")}
    return {"task": args.task, "partition": args.partition,
            "alpha": args.alpha if args.partition == "dirichlet" else None, "config": data}


def preflight(args: argparse.Namespace) -> dict[int, Any]:
    """Build and check every N's config and task before any run starts (a bad N fails in
    seconds, not after the smaller Ns have run)."""
    from crossbound.federation.run import check_parties
    from crossbound.tasks.registry import load_task

    try:
        import flwr  # noqa: F401
        import ray  # noqa: F401
    except ImportError as exc:
        raise BadInput(f"federation needs Flower's simulation runtime ({exc.name} is "
                       "missing): pip install 'crossbound[federation]'") from exc
    configs: dict[int, Any] = {}
    for n in dict.fromkeys(args.parties):
        if n < 2:
            raise BadInput(f"--parties {n}: a federation needs at least 2 data parties")
        config = build_config(args, n, run_folder(args, n))
        try:
            check_parties(config, load_task(config.task))
        except ValueError as exc:
            raise BadInput(f"--parties {n}: {exc}") from exc
        configs[n] = config
    return configs


def run_folder(args: argparse.Namespace, parties: int) -> Path:
    secure = "-secagg" if args.secure else ""
    return args.work / f"{args.strategy}-{args.partition}{secure}-n{parties}"


# ---------------------------------------------------------------- one N


def measure(config: Any, out: Path, parties: int) -> dict[str, Any]:
    from crossbound.federation.run import run_federation

    def on_status(line: str) -> None:
        print(f"[N={parties}] {line}", file=sys.stderr, flush=True)

    def on_round(report: Any) -> None:
        utility = "-" if report.utility is None else f"{report.utility:.3f}"
        total = sum(b["down"] + b["up"] for b in report.bytes.values())
        print(f"[N={parties}] round {report.round}/{config.rounds}: utility {utility}, "
              f"{total:,} B, {report.seconds:.1f} s", file=sys.stderr, flush=True)

    started = time.perf_counter()
    result = run_federation(config, out, overwrite=True, on_round=on_round,
                            on_status=on_status).to_dict()
    return summarise(result, parties, time.perf_counter() - started, out)


def summarise(result: dict[str, Any], parties: int, call_seconds: float,
              out: Path) -> dict[str, Any]:
    """One row of the table from a run's ``result.json`` dictionary."""
    metrics = result["metrics"]
    rounds = metrics["federation"]["rounds"]
    efficiency = metrics["efficiency"]
    training = [r for r in rounds if r["round"] >= 1]
    seconds = [float(r["seconds"]) for r in training]
    totals = [int(r["bytes_total"]) for r in training]
    up = [b["up"] for r in training for b in r["bytes"].values()]
    down = [b["down"] for r in training for b in r["bytes"].values()]
    records = [int(n) for n in result["task"]["parties"]]
    train = [_spread(r["train"], "train-seconds") for r in training]
    evaluate = [_spread(r.get("evaluate", {}), "eval-seconds") for r in training]
    return {
        "parties": parties,
        "task": result["config"]["task"],
        "records_per_party": records,
        "records_per_party_mean": round(statistics.fmean(records), 1),
        "rounds": len(training),
        "round0_seconds": float(rounds[0]["seconds"]),
        "round0_bytes": int(rounds[0]["bytes_total"]),
        "seconds_per_round": seconds,
        "mean_seconds_per_round": round(statistics.fmean(seconds), 3),
        "bytes_per_round": totals,
        "mean_bytes_per_round": round(statistics.fmean(totals)),
        # Mean over the parties and the training rounds, bytes per party per round.
        "bytes_per_party_per_round": {"up": round(statistics.fmean(up)),
                                      "down": round(statistics.fmean(down))},
        "utility_per_round": [r["utility"] for r in rounds],  # [0]: the initial adapter
        "final_utility": rounds[-1]["utility"],
        "aggregated_updates": [int(r["aggregated_updates"]) for r in training],
        "dropped": len(metrics["federation"].get("dropped", [])),
        "wall_seconds": float(efficiency["wall_seconds"]),
        "call_seconds": round(call_seconds, 3),  # + the model party's SM load and the files
        "peak_memory_mb": float(efficiency["peak_memory_mb"]),
        # The data parties' own seconds per training round: sum and max over the parties.
        "train_seconds_per_round": train,
        "mean_train_seconds_sum": round(statistics.fmean(t["sum"] for t in train), 3),
        "mean_train_seconds_max": round(statistics.fmean(t["max"] for t in train), 3),
        "eval_seconds_per_round": evaluate,
        "adapter_parameters": efficiency.get("adapter_parameters"),
        "adapter_bytes": efficiency.get("adapter_bytes"),
        "workers": result["config"].get("workers"),
        "threads": result["config"].get("threads"),
        "run_folder": str(out),
        "versions": {k: v for k, v in versions().items() if k in ("torch", "flwr")},
        "cpus": os.cpu_count(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _spread(numbers: dict[str, dict[str, Any]], key: str) -> dict[str, float]:
    values = [float(n[key]) for n in numbers.values() if key in n]
    return {"sum": round(sum(values), 3), "max": round(max(values, default=0.0), 3)}


# ---------------------------------------------------------------- the JSON and the table


def load_report(path: Path, settings: dict[str, Any], force: bool) -> dict[str, Any]:
    """The report to add to: ``path``'s when its settings are these, else a new one."""
    if path.exists():
        try:
            report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}: not valid JSON ({exc}); move it away or pass another "
                           "--out") from exc
        if report.get("benchmark") != BENCHMARK:
            raise BadInput(f"{path} is not a {BENCHMARK} result; pass another --out")
        if report.get("settings") == settings:
            return report
        if not force:
            differ = _differences(report.get("settings") or {}, settings)
            raise BadInput(f"{path} holds results for other settings ({differ}); pass "
                           "another --out, or --force to replace them")
    return {"benchmark": BENCHMARK, "settings": settings, "rows": []}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    flat_old = {**old.get("config", {}), **{k: v for k, v in old.items() if k != "config"}}
    flat_new = {**new.get("config", {}), **{k: v for k, v in new.items() if k != "config"}}
    keys = sorted(k for k in flat_old.keys() | flat_new.keys()
                  if flat_old.get(k) != flat_new.get(k))
    return "differ in " + ", ".join(keys) if keys else "differ"


def write_report(path: Path, report: dict[str, Any]) -> None:
    report["rows"] = sorted(report["rows"], key=lambda row: row["parties"])
    report["versions"] = versions()
    report["machine"] = machine()
    report["notes"] = notes(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a killed run leaves the previous file whole


def notes(report: dict[str, Any]) -> list[str]:
    config = report["settings"]["config"]
    workers = config.get("workers", 1)
    at_once = ("one at a time" if workers == 1 else f"{workers} at a time")
    return [
        "Round 0 is registration and the initial adapter's score; its seconds include "
        "starting Ray and loading the SM in the Ray worker, so seconds per round are over "
        "rounds >= 1 only.",
        f"workers = {workers}: the data parties train {at_once} on this machine "
        f"({os.cpu_count()} CPUs); train_seconds_per_round.sum is their total training "
        "time in a round, .max the longest party's (a round's time with one machine per "
        "party).",
        "The task's training records are fixed: each of N parties holds about 1/N of them.",
        "bytes_per_party_per_round: mean over parties and rounds >= 1; down carries the "
        "global adapter twice (to train, then to score), up the update and the numbers.",
        "peak_memory_mb: this process (the model party and Flower's driver), not the Ray "
        "workers the data parties run in.",
    ]


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| N | records/party | s/round (rounds ≥ 1) | bytes/round total | "
             "bytes/round per party (up / down) | utility after last round | wall s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        records = row["records_per_party"]
        spread = (f"{min(records)}" if min(records) == max(records)
                  else f"{min(records)}–{max(records)}")
        per_party = row["bytes_per_party_per_round"]
        utility = "–" if row["final_utility"] is None else f"{row['final_utility']:.3f}"
        lines.append(f"| {row['parties']} | {spread} | {row['mean_seconds_per_round']:.1f} | "
                     f"{row['mean_bytes_per_round']:,} | {per_party['up']:,} / "
                     f"{per_party['down']:,} | {utility} | {row['wall_seconds']:.1f} |")
    return "\n".join(lines)


def scaling_line(rows: list[dict[str, Any]]) -> str:
    if len(rows) < 2:
        return "Scaling: one N only, nothing to compare."
    low, high = rows[0], rows[-1]

    def ratio(key: str) -> str:
        return f"×{high[key] / low[key]:.2f}" if low[key] else "n/a"

    return (f"Scaling N {low['parties']} → {high['parties']} "
            f"(×{high['parties'] / low['parties']:.2f} parties): s/round "
            f"{ratio('mean_seconds_per_round')}, bytes/round {ratio('mean_bytes_per_round')}, "
            f"parties' training s/round (sum) {ratio('mean_train_seconds_sum')}, "
            f"records/party {ratio('records_per_party_mean')}.")


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        configs = preflight(args)
        settings = settings_of(args, next(iter(configs.values())))
        report = load_report(args.out, settings, args.force)
    except BadInput as exc:
        print(f"{Path(__file__).name}: error: {exc}", file=sys.stderr)
        return 2
    done = {row["parties"] for row in report["rows"]}
    for n, config in configs.items():
        if n in done and not args.force:
            print(f"[N={n}] already in {args.out}: skipped (--force runs it again)",
                  file=sys.stderr, flush=True)
            continue
        try:
            row = measure(config, run_folder(args, n), n)
        except (RuntimeError, ValueError, FileExistsError) as exc:
            # The Ns before this one are already in the JSON.
            print(f"{Path(__file__).name}: error: N={n}: {exc}", file=sys.stderr)
            return 1
        report["rows"] = [r for r in report["rows"] if r["parties"] != n] + [row]
        write_report(args.out, report)
        print(f"[N={n}] {row['mean_seconds_per_round']:.1f} s/round, "
              f"{row['mean_bytes_per_round']:,} B/round; wrote {args.out}",
              file=sys.stderr, flush=True)
    rows = sorted(report["rows"], key=lambda row: row["parties"])
    if rows:
        print(table(rows))
        print()
        print(scaling_line(rows))
        print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
