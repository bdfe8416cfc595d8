"""Fuzz the model party's service from its own OpenAPI document: no request is a 5xx.

Bounded to a few seconds here (in process, a tiny model, a few tokens per completion);
``benchmarks/fuzz_service.py`` sends thousands of such requests to a real server.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from crossbound.models.loading import load_model
from crossbound.service.app import Limits, create_app
from crossbound.service.keys import KeyStore
from tests.fuzz_requests import FUZZ_CONTRACT, KEYS, FuzzRequest, requests

pytestmark = pytest.mark.deployment

LIMITS = Limits(max_body_bytes=64 * 1024, max_tokens=4, max_prompt_tokens=256,
                max_request_tokens=2048)

_app = None


def _client() -> tuple[TestClient, dict[str, Any]]:
    global _app
    if _app is None:
        _app = create_app(load_model("tiny-large"), KeyStore.from_keys(KEYS), FUZZ_CONTRACT,
                          None, LIMITS)
    client = TestClient(_app, raise_server_exceptions=False)
    return client, client.get("/openapi.json").json()


CLIENT, SCHEMA = _client()


@pytest.mark.filterwarnings("ignore::FutureWarning")
@settings(max_examples=120, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=requests(SCHEMA))
def test_no_generated_request_is_a_server_error(request: FuzzRequest) -> None:
    response = CLIENT.request(request.method, request.path, headers=request.headers,
                              content=request.body)
    assert response.status_code < 500, (request, response.text)
