from __future__ import annotations

import logging
import threading
from urllib.parse import parse_qs

import pytest
import requests

from catena_airflow.client import CatenaAuthError, CatenaClient
from tests.unit.client.conftest import ACCESS_TOKEN, API, AUTH, CLIENT_ID, CLIENT_SECRET, SECOND_TOKEN


def test_token_request_is_client_credentials_with_organization_scope(client, token_endpoint):
    token = client.fetch_token()
    assert token.access_token.get_secret_value() == ACCESS_TOKEN
    assert token.expires_in == 3600
    request = token_endpoint.last_request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in request.headers
    assert parse_qs(request.text) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "scope": ["organization"],
    }


def test_token_is_cached_across_calls(client, requests_mock, token_endpoint):
    requests_mock.get(f"{API}/v2/orgs/fleets/f1", json={"id": "f1", "name": "Fleet"})
    client.get_fleet("f1")
    client.get_fleet("f1")
    assert token_endpoint.call_count == 1
    assert [r.headers["Authorization"] for r in requests_mock.request_history[1:]] == [f"Bearer {ACCESS_TOKEN}"] * 2


def test_token_refreshed_refresh_margin_before_expiry(client, token_endpoint, fake_time):
    assert client.tokens.get_token() == ACCESS_TOKEN
    fake_time.now += 3600 - 31
    assert client.tokens.get_token() == ACCESS_TOKEN
    fake_time.now += 1  # now within the 30 s margin
    assert client.tokens.get_token() == SECOND_TOKEN
    assert token_endpoint.call_count == 2


def test_short_lived_token_not_refetched_on_every_call(client, requests_mock, fake_time):
    requests_mock.post(AUTH, json={"access_token": ACCESS_TOKEN, "expires_in": 20, "token_type": "Bearer"})
    client.tokens.get_token()
    client.tokens.get_token()
    assert requests_mock.call_count == 1
    fake_time.now += 10  # half the lifetime
    client.tokens.get_token()
    assert requests_mock.call_count == 2


def test_invalidate_only_drops_the_rejected_token(client, token_endpoint):
    client.tokens.get_token()
    client.tokens.invalidate("some-older-token")
    assert client.tokens.get_token() == ACCESS_TOKEN
    client.tokens.invalidate(ACCESS_TOKEN)
    assert client.tokens.get_token() == SECOND_TOKEN


def test_concurrent_callers_share_one_token_fetch(client, token_endpoint):
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def call() -> None:
        barrier.wait()
        seen.append(client.tokens.get_token())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [ACCESS_TOKEN] * 8
    assert token_endpoint.call_count == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}),
        (400, {"error": "invalid_request", "error_description": "Missing form parameter: grant_type"}),
    ],
)
def test_refused_credentials_raise_auth_error_without_the_secret(client, requests_mock, caplog, status, body):
    requests_mock.post(AUTH, status_code=status, json=body)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CatenaAuthError) as caught:
        client.fetch_token()
    assert caught.value.status_code == status
    assert body["error_description"] in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value) and CLIENT_SECRET not in caplog.text


def test_token_endpoint_echoing_the_secret_is_redacted(client, requests_mock):
    requests_mock.post(
        AUTH, status_code=401, json={"error": "invalid_client", "error_description": f"bad {CLIENT_SECRET}"}
    )
    with pytest.raises(CatenaAuthError) as caught:
        client.fetch_token()
    assert CLIENT_SECRET not in str(caught.value) and CLIENT_SECRET not in repr(caught.value.detail)


def test_malformed_token_response_is_an_auth_error_without_the_token(client, requests_mock):
    requests_mock.post(AUTH, json={"access_token": ACCESS_TOKEN, "token_type": "Bearer"})  # no expires_in
    with pytest.raises(CatenaAuthError, match="expires_in") as caught:
        client.fetch_token()
    assert ACCESS_TOKEN not in str(caught.value)


def test_token_endpoint_5xx_is_retried(client, requests_mock, fake_time):
    requests_mock.post(
        AUTH,
        [{"status_code": 503, "json": {"message": "down"}}, {"json": {"access_token": ACCESS_TOKEN, "expires_in": 60}}],
    )
    assert client.tokens.get_token() == ACCESS_TOKEN
    assert len(fake_time.sleeps) == 1


def test_client_repr_and_provider_repr_hide_the_secret(client):
    assert CLIENT_SECRET not in repr(client) and CLIENT_SECRET not in repr(client.tokens)
    assert CLIENT_SECRET not in repr(vars(client.tokens))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"client_id": ""},
        {"client_secret": ""},
        {"api_url": "api.catena.test"},
        {"auth_url": "ftp://x"},
        {"share_agreements_path": "shares"},
    ],
)
def test_bad_configuration_is_refused(kwargs):
    options = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "api_url": API, "auth_url": AUTH, **kwargs}
    with pytest.raises(ValueError):
        CatenaClient(**options)


def test_client_is_a_context_manager_closing_its_session():
    class RecordingSession(requests.Session):
        closed = False

        def close(self) -> None:
            self.closed = True
            super().close()

    session = RecordingSession()
    with CatenaClient(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=API, auth_url=AUTH, session=session):
        assert not session.closed
    assert session.closed
