"""Retry, backoff and token-refresh behaviour of the transport, through the public client."""

from __future__ import annotations

import logging

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from catena_airflow.client import (
    CatenaAuthError,
    CatenaError,
    CatenaRateLimitError,
    CatenaRetryBudgetExceeded,
    CatenaServerError,
)
from catena_airflow.client.http import RetryPolicy
from tests.unit.client import payloads
from tests.unit.client.conftest import ACCESS_TOKEN, API, CLIENT_SECRET, SECOND_TOKEN, api_calls

FLEET_URL = f"{API}/v2/orgs/fleets/f1"
FLEET = {"id": "f1", "name": "Fleet"}
RATE_LIMITED = {
    "status_code": 429,
    "json": {"code": 429, "message": "Too Many Requests", "detail": {"retry_after_seconds": 7, "message": "slow down"}},
}
UNAVAILABLE = {"status_code": 503, "json": {"code": 503, "message": "Service Unavailable", "detail": None}}


def _refused_connection() -> requests.ConnectionError:
    """What requests raises when nothing listens: the request never left this machine."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/", reason))


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token_is_refreshed_once_and_the_call_retried(
    client, requests_mock, token_endpoint, fake_time, status
):
    requests_mock.get(FLEET_URL, [{"status_code": status, "json": {"code": status, "message": "no"}}, {"json": FLEET}])
    assert client.get_fleet("f1").id == "f1"
    first, second = api_calls(requests_mock)
    assert first.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert second.headers["Authorization"] == f"Bearer {SECOND_TOKEN}"
    assert token_endpoint.call_count == 2
    assert fake_time.sleeps == []  # a refresh is not a backoff


def test_second_rejection_raises_auth_error(client, requests_mock, token_endpoint):
    requests_mock.get(FLEET_URL, status_code=401, json={"code": 401, "message": "Unauthorized", "detail": None})
    with pytest.raises(CatenaAuthError, match="401") as caught:
        client.get_fleet("f1")
    assert caught.value.status_code == 401
    assert len(api_calls(requests_mock)) == 2
    assert token_endpoint.call_count == 2


def test_429_waits_retry_after_seconds(client, requests_mock, fake_time):
    requests_mock.get(FLEET_URL, [RATE_LIMITED, {"json": FLEET}])
    assert client.get_fleet("f1").name == "Fleet"
    assert fake_time.sleeps == [7]


def test_429_falls_back_to_retry_after_header(client, requests_mock, fake_time):
    requests_mock.get(
        FLEET_URL,
        [
            {"status_code": 429, "headers": {"Retry-After": "3"}, "json": {"code": 429, "message": "Too Many"}},
            {"json": FLEET},
        ],
    )
    client.get_fleet("f1")
    assert fake_time.sleeps == [3]


def test_429_is_retried_even_for_a_webhook_create(client, requests_mock, fake_time):
    requests_mock.post(f"{API}/v2/notifications/webhooks", [RATE_LIMITED, {"json": payloads.webhook()}])
    (created,) = client.create_webhook_subscription(url="https://p.example/hook", event_name="invitation.accepted")
    assert created.id == payloads.WEBHOOK_ID
    assert fake_time.sleeps == [7]


def test_429_wait_beyond_the_budget_gives_up_at_once(client, requests_mock, fake_time):
    body = {"code": 429, "message": "Too Many Requests", "detail": {"retry_after_seconds": 3600, "message": "later"}}
    requests_mock.get(FLEET_URL, status_code=429, json=body)
    with pytest.raises(CatenaRetryBudgetExceeded) as caught:
        client.get_fleet("f1")
    assert fake_time.sleeps == []
    assert isinstance(caught.value.last_error, CatenaRateLimitError)
    assert caught.value.last_error.retry_after_seconds == 3600


def test_5xx_backs_off_exponentially_with_jitter(client, requests_mock, fake_time):
    requests_mock.get(FLEET_URL, [UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, {"json": FLEET}])
    client.get_fleet("f1")
    assert len(fake_time.sleeps) == 3
    for retry, wait in enumerate(fake_time.sleeps, start=1):
        ceiling = 0.5 * 2 ** (retry - 1)
        assert ceiling / 2 <= wait <= ceiling


def test_backoff_is_capped():
    import random

    policy = RetryPolicy(backoff_initial=1.0, backoff_max=8.0)
    assert all(4.0 <= policy.backoff(n, random.Random(n)) <= 8.0 for n in range(4, 30))


def test_exhausted_retries_raise_budget_exceeded_with_the_last_error(client, requests_mock, fake_time):
    requests_mock.get(FLEET_URL, status_code=500, json={"message": "Internal Server Error"})
    with pytest.raises(CatenaRetryBudgetExceeded, match=r"GET /v2/orgs/fleets/f1 gave up after 4 attempt") as caught:
        client.get_fleet("f1")
    assert len(api_calls(requests_mock)) == 4  # 1 + max_retries(3)
    assert isinstance(caught.value.last_error, CatenaServerError)
    assert caught.value.last_error.code is None
    assert "Internal Server Error" in str(caught.value)


def test_time_budget_bounds_the_retries(client, requests_mock, fake_time):
    client.transport.retry = RetryPolicy(max_retries=100, budget_seconds=10.0, backoff_initial=2.0, backoff_max=4.0)
    requests_mock.get(FLEET_URL, status_code=503, json=UNAVAILABLE["json"])
    with pytest.raises(CatenaRetryBudgetExceeded) as caught:
        client.get_fleet("f1")
    assert sum(fake_time.sleeps) <= 10.0
    assert caught.value.elapsed <= 10.0 and caught.value.attempts < 100


def test_connection_errors_are_retried_for_reads(client, requests_mock, fake_time):
    requests_mock.get(
        FLEET_URL, [{"exc": requests.ConnectionError("reset")}, {"exc": requests.ReadTimeout}, {"json": FLEET}]
    )
    assert client.get_fleet("f1").id == "f1"
    assert len(fake_time.sleeps) == 2


def test_501_is_not_retried(client, requests_mock, fake_time):
    requests_mock.get(FLEET_URL, status_code=501, json={"code": 501, "message": "Not Implemented"})
    with pytest.raises(CatenaServerError):
        client.get_fleet("f1")
    assert fake_time.sleeps == []


# --------------------------------------------------------------------------- POST safety


WEBHOOKS_URL = f"{API}/v2/notifications/webhooks"
INVITATIONS_URL = f"{API}/v2/orgs/invitations"


@pytest.mark.parametrize(
    "failure",
    [
        UNAVAILABLE,
        {"status_code": 500, "json": {"message": "Internal Server Error"}},
        {"exc": requests.ReadTimeout},
        {"exc": requests.ConnectionError("reset by peer")},
    ],
    ids=["503", "500", "read-timeout", "reset"],
)
def test_webhook_create_is_not_retried_after_an_ambiguous_failure(client, requests_mock, fake_time, failure):
    mock = requests_mock.post(WEBHOOKS_URL, [failure, {"json": payloads.webhook()}])
    with pytest.raises(CatenaError):
        client.create_webhook_subscription(
            url="https://p.example/hook", event_name="invitation.*", secret="s3cret-value-123"
        )
    assert mock.call_count == 1
    assert fake_time.sleeps == []


def test_webhook_create_is_retried_when_the_request_never_left(client, requests_mock, fake_time):
    mock = requests_mock.post(
        WEBHOOKS_URL, [{"exc": _refused_connection()}, {"exc": requests.ConnectTimeout}, {"json": payloads.webhook()}]
    )
    client.create_webhook_subscription(url="https://p.example/hook", event_name="invitation.accepted")
    assert mock.call_count == 3


def test_invitation_create_is_retried_because_same_fleet_ref_refreshes(client, requests_mock, fake_time):
    mock = requests_mock.post(
        INVITATIONS_URL,
        [UNAVAILABLE, {"exc": requests.ReadTimeout}, {"status_code": 200, "json": payloads.invitation()}],
    )
    invitation = client.create_invitation(fleet_ref="FLEET-42")
    assert invitation.refreshed
    assert mock.call_count == 3
    assert {r.json()["fleet_ref"] for r in mock.request_history} == {"FLEET-42"}


# --------------------------------------------------------------------------- secrets


def test_secrets_never_reach_logs_or_errors(client, requests_mock, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "webhook-signing-secret-42"
    echo = {
        "code": 422,
        "message": "Invalid Request Body",
        "detail": [{"path": "secret", "input": secret, "message": f"bad secret {secret}", "error_type": "value_error"}],
    }
    requests_mock.post(WEBHOOKS_URL, status_code=422, json=echo)
    requests_mock.get(
        FLEET_URL,
        [UNAVAILABLE, {"status_code": 404, "json": {"code": 404, "message": f"token {ACCESS_TOKEN} unknown"}}],
    )
    with pytest.raises(CatenaError) as webhook_error:
        client.create_webhook_subscription(url="https://p.example/hook", event_name="invitation.*", secret=secret)
    with pytest.raises(CatenaError) as fleet_error:
        client.get_fleet("f1")
    for text in (str(webhook_error.value), repr(webhook_error.value.detail), str(fleet_error.value), caplog.text):
        for value in (secret, ACCESS_TOKEN, CLIENT_SECRET):
            assert value not in text
    assert "secret: bad secret ***" in str(webhook_error.value)
