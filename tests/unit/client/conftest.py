"""Fixtures for client tests: a CatenaClient on a mocked network (requests_mock) and a fake clock."""

from __future__ import annotations

import random
from urllib.parse import parse_qs, urlsplit

import pytest

from catena_airflow.client import CatenaClient

API = "https://api.catena.test"
AUTH = "https://auth.catena.test/realms/catena/protocol/openid-connect/token"
CLIENT_ID = "partner-client"
CLIENT_SECRET = "client-secret-value-0123"
ACCESS_TOKEN = "eyJhbGciOi.first-access-token"
SECOND_TOKEN = "eyJhbGciOi.second-access-token"


class FakeTime:
    """A monotonic clock that only moves when someone sleeps, so waits are recorded, not spent."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def query_of(request) -> dict[str, list[str]]:
    """The query string of a recorded request, case preserved (requests_mock's ``qs`` lowercases)."""
    return parse_qs(urlsplit(request.url).query, keep_blank_values=True)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def token_endpoint(requests_mock):
    # Catena's auth server is outside the system: mocked at the HTTP layer.
    return requests_mock.post(
        AUTH,
        [
            {"json": {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}},
            {"json": {"access_token": SECOND_TOKEN, "expires_in": 3600, "token_type": "Bearer"}},
        ],
    )


@pytest.fixture
def client(requests_mock, token_endpoint, fake_time) -> CatenaClient:
    catena = CatenaClient(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        api_url=API,
        auth_url=AUTH,
        max_retries=3,
        retry_budget_seconds=30.0,
    )
    # Retry waits would make the suite slow and timing-dependent; the fake clock records them instead.
    catena.transport.sleep = fake_time.sleep
    catena.transport.clock = fake_time.monotonic
    catena.tokens.clock = fake_time.monotonic
    catena.transport.rng = random.Random(7)
    return catena


def api_calls(requests_mock) -> list:
    """Recorded requests to the API (the token endpoint left out)."""
    return [r for r in requests_mock.request_history if r.url.startswith(API)]
