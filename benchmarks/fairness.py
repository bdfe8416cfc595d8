"""Fairness at the model party: party B's small chat while party A floods with max-size requests.

The server (``tiny-large``, default limits: 16 prompts × 512 new tokens per request) runs in a
subprocess, so the clients' threads do not share its interpreter. B sends a 4-token chat
completion, one at a time: first with the server idle, then while A keeps several
max-size requests in flight (``/v1/crossbound/message`` ``generate`` and ``/v1/completions``,
16 prompts × 512 new tokens each). Two arms, side by side in one run:

- ``fair``: the service's default turns (round-robin between parties, preempted between
  forward passes: ``Limits.turn_quantum_s = 0``);
- ``request-turns``: round-robin between parties, but a request keeps the model until it
  ends (``turn_quantum_s = None``) — close to the old single lock, which did not even rotate.

    python benchmarks/fairness.py [--samples 15] [--flooders 2] [--out FILE]

Writes ``benchmarks/results/fairness.json``: B's latencies (median, p90) unloaded and loaded
per arm, their ratios, and A's tokens served during the flood.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"party-a": "fairness-key-of-party-a-0123456789",
        "party-b": "fairness-key-of-party-b-9876543210"}
WIRE = "application/x-crossbound-message"
B_CHAT = {"messages": [{"role": "user", "content": "Hello, how are you today?"}],
          "max_tokens": 4, "temperature": 0}


def serve(port: int, quantum: str) -> None:
    """The server process: tiny-large under the open text contract with default limits."""
    import uvicorn

    from crossbound.boundary.contracts import OPEN_TEXT
    from crossbound.models.loading import load_model
    from crossbound.service.app import Limits, create_app
    from crossbound.service.keys import KeyStore

    limits = Limits(turn_quantum_s=None if quantum == "none" else float(quantum))
    app = create_app(load_model("tiny-large"), KeyStore.from_keys(KEYS), OPEN_TEXT, None,
                     limits)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _flood_request(i: int) -> tuple[str, dict[str, Any], bytes | None]:
    prompts = [f"Patient {i}-{j} reports chest pain and fever since" for j in range(16)]
    if i % 2:
        return "/v1/completions", {"prompt": prompts, "max_tokens": 512, "temperature": 0}, None
    from crossbound.boundary.messages import Kind, Message, encode

    message = Message(Kind.TEXT, "party-a", "model-party", prompts,
                      meta={"op": "generate", "max_new_tokens": 512})
    return "/v1/crossbound/message", {}, encode(message)


def _b_latency(client: httpx.Client) -> float:
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", json=B_CHAT)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_s": round(statistics.median(ordered), 4),
            "p90_s": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 4),
            "max_s": round(ordered[-1], 4), "n": len(ordered)}


def run_arm(quantum: str, samples: int, flooders: int) -> dict[str, Any]:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), quantum],
                              env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/openapi.json", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        b = httpx.Client(base_url=url, timeout=600,
                         headers={"Authorization": f"Bearer {KEYS['party-b']}"})
        for _ in range(3):
            _b_latency(b)  # warm up
        unloaded = [_b_latency(b) for _ in range(samples)]

        stop = threading.Event()
        served = {"requests": 0, "tokens": 0}
        lock = threading.Lock()

        def flood(worker: int) -> None:
            a = httpx.Client(base_url=url, timeout=600,
                             headers={"Authorization": f"Bearer {KEYS['party-a']}"})
            i = worker
            while not stop.is_set():
                path, body, wire = _flood_request(i)
                try:
                    if wire is None:
                        response = a.post(path, json=body)
                        tokens = response.json()["usage"]["completion_tokens"]
                    else:
                        response = a.post(path, content=wire, headers={"Content-Type": WIRE})
                        tokens = 16 * 512  # at most; the reply counts the LM's tokens
                except httpx.HTTPError:  # the server stopped under it: the arm is over
                    return
                response.raise_for_status()
                with lock:
                    served["requests"] += 1
                    served["tokens"] += tokens
                i += flooders

        threads = [threading.Thread(target=flood, args=(w,)) for w in range(flooders)]
        flood_started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # let A's requests fill the queue
        loaded = []
        for _ in range(samples):
            loaded.append(_b_latency(b))
            print(f"turn_quantum_s={quantum}: B loaded {loaded[-1]:.3f} s", file=sys.stderr)
            time.sleep(0.05)
        stop.set()
        flood_seconds = time.perf_counter() - flood_started
        server.terminate()  # A's requests in flight end with the server, not after minutes
        for thread in threads:
            thread.join(60)
        u, lo = _summary(unloaded), _summary(loaded)
        return {"turn_quantum_s": None if quantum == "none" else float(quantum),
                "b_unloaded": u, "b_loaded": lo,
                "ratio_median": round(lo["median_s"] / u["median_s"], 2),
                "ratio_p90": round(lo["p90_s"] / u["p90_s"], 2),
                "a_requests_completed_while_measured": served["requests"],
                "a_flood_seconds_while_measured": round(flood_seconds, 1)}
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:  # uvicorn waits for requests in flight; don't
            server.kill()
            server.wait(30)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--flooders", type=int, default=2)
    parser.add_argument("--arms", nargs="+", default=["fair", "request-turns"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fairness.json")
    args = parser.parse_args()
    quanta = {"fair": "0", "request-turns": "none"}
    # B waits whole max-size requests in the second arm: fewer samples keep the run short
    samples = {"fair": args.samples, "request-turns": max(3, args.samples // 5)}
    results = {arm: run_arm(quanta[arm], samples[arm], args.flooders) for arm in args.arms}
    from crossbound.result import machine, versions

    report = {
        "benchmark": "fairness",
        "config": {"model": "tiny-large", "limits": "defaults (16 prompts x 512 new tokens)",
                   "b_request": B_CHAT, "a_requests": "16 prompts x 512 new tokens, "
                   "alternating /v1/crossbound/message generate and /v1/completions",
                   "a_concurrent_requests": args.flooders, "samples": args.samples},
        "results": results, "versions": versions(), "machine": machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
