"""The HTTP client transport: a data party talks to a remote model party (``crossbound serve``).

Requests carry the exact wire bytes of :mod:`crossbound.boundary.messages`, so a run over HTTP
crosses, counts and records the same bytes as an in-process run.
"""

from __future__ import annotations

import time
from typing import Any

CONTENT_TYPE = "application/x-crossbound-message"


class RemoteError(RuntimeError):
    """The remote model party refused or failed a request; the message says why."""


class HttpTransport:
    """Send wire messages to a crossbound service; one keep-alive connection.

    ``added_latency_ms`` is a benchmark knob, off by default: every request waits that long
    more, as over a network with that much more round-trip time (benchmarks/speculative.py
    measures token-level collaboration at 0, 20 and 50 ms). Nothing sets it unless asked to.
    """

    def __init__(self, base_url: str, api_key: str, timeout: float = 600.0,
                 client: Any = None, *, added_latency_ms: float = 0.0) -> None:
        import httpx

        if not api_key:
            raise ValueError("an API key is required to talk to a model party")
        if not 0.0 <= added_latency_ms <= 60_000.0:
            raise ValueError(f"added_latency_ms must be in 0..60000, got {added_latency_ms}")
        self.added_latency_s = added_latency_ms / 1000.0
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": CONTENT_TYPE}

    def send(self, wire: bytes) -> bytes:
        if self.added_latency_s:
            time.sleep(self.added_latency_s)  # the benchmark knob (see the class notes)
        response = self._client.post(f"{self.base_url}/v1/crossbound/message", content=wire,
                                     headers=self._headers)
        if response.status_code != 200:
            raise RemoteError(f"model party answered {response.status_code}: "
                              f"{_error_message(response)}")
        body: bytes = response.content
        return body

    def countersign(self, head: dict[str, Any]) -> dict[str, Any]:
        """Have the model party countersign (and keep) this transcript head; return it signed.

        See :meth:`crossbound.boundary.transcript.Transcript.final_checkpoint`.
        """
        response = self._client.post(f"{self.base_url}/v1/crossbound/checkpoint", json=head,
                                     headers={"Authorization": self._headers["Authorization"]})
        if response.status_code != 200:
            raise RemoteError(f"model party answered {response.status_code}: "
                              f"{_error_message(response)}")
        signed: dict[str, Any] = response.json()
        return signed

    def close(self) -> None:
        self._client.close()


def _error_message(response: Any) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return str(response.text[:500])
