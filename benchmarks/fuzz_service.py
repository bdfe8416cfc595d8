"""Fuzz the model party's service over real HTTP: thousands of generated requests, no 5xx.

A uvicorn server on 127.0.0.1 serves ``tiny-large`` (randomly initialised, so generation is
cheap) under a contract that admits text, token ids and tensor uploads (``FUZZ_CONTRACT``), so
requests reach every plain LM operation. Requests come from ``tests/fuzz_requests.py``: built
from the server's own ``/openapi.json`` (every operation it lists; bodies from the declared
schemas, mostly valid and sometimes bent; wire messages well-formed, mutated or random; odd
paths, methods, content types and keys). Completions are capped at a few tokens so the run
measures input handling, not generation speed.

    python benchmarks/fuzz_service.py [--requests 5000] [--max-tokens 8] [--out FILE]

Writes counts by status, by operation and status, and any 5xx (with the request) to
``benchmarks/results/fuzz_service.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ holds the request strategies and the test server

import httpx  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from tests.fuzz_requests import FUZZ_CONTRACT, KEYS, FuzzRequest, requests  # noqa: E402
from tests.servers import running_server  # noqa: E402

from crossbound.models.loading import load_model  # noqa: E402
from crossbound.result import machine, versions  # noqa: E402
from crossbound.service.app import Limits, create_app  # noqa: E402
from crossbound.service.keys import KeyStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fuzz_service.json")
    args = parser.parse_args()

    limits = Limits(max_tokens=args.max_tokens)
    app = create_app(load_model("tiny-large"), KeyStore.from_keys(KEYS), FUZZ_CONTRACT, None,
                     limits)
    by_status: Counter[int] = Counter()
    by_operation: Counter[str] = Counter()
    server_errors: list[dict[str, Any]] = []
    transport_errors: Counter[str] = Counter()
    started = time.perf_counter()
    with running_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        schema = client.get("/openapi.json").json()

        @settings(max_examples=args.requests, deadline=None, database=None,
                  phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(request=requests(schema))
        def send(request: FuzzRequest) -> None:
            try:
                response = client.request(request.method, request.path,
                                          headers=request.headers, content=request.body)
            except httpx.HTTPError as exc:  # e.g. a header or path the client will not send
                transport_errors[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
                return
            by_status[response.status_code] += 1
            by_operation[f"{request.operation} -> {response.status_code}"] += 1
            if response.status_code >= 500 and len(server_errors) < 20:
                server_errors.append({"request": repr(request), "status": response.status_code,
                                      "body": response.text[:500]})

        while sum(by_status.values()) < args.requests:  # requests the server answered
            send()
    seconds = time.perf_counter() - started
    total = sum(by_status.values())
    report = {
        "benchmark": "fuzz_service",
        "config": {"model": "tiny-large", "contract": FUZZ_CONTRACT.name,
                   "limits": {k: getattr(limits, k) for k in limits.__dataclass_fields__},
                   "requests_target": args.requests, "source": "tests/fuzz_requests.py "
                   "(hypothesis, from the served /openapi.json)",
                   "operations": sorted({f"{m.upper()} {p}" for p, ops in schema["paths"].items()
                                         for m in ops})},
        "results": {
            "requests": total, "seconds": round(seconds, 1),
            "requests_per_s": round(total / seconds, 1),
            "server_errors_5xx": sum(n for s, n in by_status.items() if s >= 500),
            "by_status": {str(s): n for s, n in sorted(by_status.items())},
            "by_operation_and_status": dict(sorted(by_operation.items())),
            # generated but never sent: the HTTP client refused them (not counted above)
            "not_sent_client_refused": dict(transport_errors),
            "server_error_examples": server_errors,
        },
        "versions": versions(), "machine": machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    shown = ("requests", "seconds", "server_errors_5xx", "by_status", "not_sent_client_refused")
    print(json.dumps({k: report["results"][k] for k in shown}, indent=2))


if __name__ == "__main__":
    main()
