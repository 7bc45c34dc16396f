"""Retry, backoff and token-refresh behaviour of the transport, through the public client."""

from __future__ import annotations

import logging
import random

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from catena_airflow.client import (
    CatenaAPIError,
    CatenaAuthError,
    CatenaError,
    CatenaRateLimitError,
    CatenaRetryBudgetExceeded,
    CatenaServerError,
)
from catena_airflow.client.http import HttpTransport, RetryPolicy
from tests.unit.client import payloads
from tests.unit.client.conftest import ACCESS_TOKEN, API, AUTH, CLIENT_SECRET, SECOND_TOKEN, FakeTime, api_calls

FLEET_URL = f"{API}/v2/orgs/fleets/f1"
FLEET = {"id": "f1", "name": "Fleet"}
RATE_LIMITED = {
    "status_code": 429,
    "json": {"code": 429, "message": "Too Many Requests", "detail": {"retry_after_seconds": 7, "message": "slow down"}},
}
UNAVAILABLE = {"status_code": 503, "json": {"code": 503, "message": "Service Unavailable", "detail": None}}


def logged(caplog) -> list[str]:
    """What ``catena_airflow.client.http`` logged (other loggers, e.g. the inbox's migrations, left out)."""
    return [r.getMessage() for r in caplog.records if r.name == "catena_airflow.client.http"]


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


# --------------------------------------------------------------------------- the transport on its own


def transport(fake_time: FakeTime, **kwargs) -> HttpTransport:
    """An HttpTransport without a token provider, on the fake clock; requests_mock stands in for Catena."""
    return HttpTransport(
        session=requests.Session(),
        timeout=12.5,
        retry=kwargs.pop("retry", RetryPolicy(max_retries=2, budget_seconds=30.0)),
        sleep=fake_time.sleep,
        clock=fake_time.monotonic,
        rng=random.Random(7),
        **kwargs,
    )


def test_every_request_asks_for_json_within_the_timeout(requests_mock, fake_time):
    requests_mock.get(FLEET_URL, json=FLEET)
    transport(fake_time).send("get", FLEET_URL, authenticated=False)
    [sent] = requests_mock.request_history
    assert (sent.method, sent.headers["Accept"], sent.timeout) == ("GET", "application/json", 12.5)
    assert "Authorization" not in sent.headers


@pytest.mark.parametrize(("method", "retried"), [("GET", True), ("HEAD", True), ("PUT", True), ("DELETE", True),
                                                 ("POST", False), ("PATCH", False)])  # fmt: skip
def test_which_methods_are_retried_after_an_ambiguous_failure_by_default(requests_mock, fake_time, method, retried):
    mock = requests_mock.register_uri(method, FLEET_URL, [UNAVAILABLE, {"json": FLEET}])
    sender = transport(fake_time)
    if retried:
        assert sender.send(method.lower(), FLEET_URL, authenticated=False).status_code == 200
    else:
        with pytest.raises(CatenaServerError):
            sender.send(method.lower(), FLEET_URL, authenticated=False)
    assert mock.call_count == (2 if retried else 1)


def test_the_transport_sends_its_token_providers_token(client, requests_mock, fake_time):
    requests_mock.get(FLEET_URL, json=FLEET)
    transport(fake_time, token_provider=client.tokens).send("GET", FLEET_URL)
    assert api_calls(requests_mock)[0].headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_an_unauthenticated_request_rejected_is_not_retried_with_a_new_token(
    client, requests_mock, token_endpoint, fake_time
):
    """A 401 to a call that sent no token says nothing of the token: nothing is refreshed, nothing repeated."""
    route = requests_mock.get(FLEET_URL, status_code=401, json={"code": 401, "message": "no"})
    with pytest.raises(CatenaAuthError, match="401"):
        transport(fake_time, token_provider=client.tokens).send("GET", FLEET_URL, authenticated=False)
    assert route.call_count == 1
    assert token_endpoint.call_count == 0


def test_the_given_random_source_draws_the_waits(requests_mock, fake_time):
    requests_mock.get(FLEET_URL, status_code=503, json=UNAVAILABLE["json"])
    with pytest.raises(CatenaRetryBudgetExceeded):
        transport(fake_time).send("GET", FLEET_URL, authenticated=False)
    policy, rng = RetryPolicy(), random.Random(7)
    assert fake_time.sleeps == [policy.backoff(1, rng), policy.backoff(2, rng)]


def test_an_error_without_reason_or_body_still_says_error(requests_mock, fake_time):
    requests_mock.get(FLEET_URL, status_code=404, reason="", text="")
    with pytest.raises(CatenaAPIError, match=r"^GET /v2/orgs/fleets/f1 -> HTTP 404: error$"):
        transport(fake_time).send("GET", FLEET_URL, authenticated=False)


def test_errors_name_the_request_and_the_reason(requests_mock, fake_time):
    requests_mock.get(FLEET_URL, status_code=404, reason="Not Found", text="")
    with pytest.raises(CatenaAPIError) as caught:
        transport(fake_time).send("GET", FLEET_URL, authenticated=False)
    assert str(caught.value) == "GET /v2/orgs/fleets/f1 -> HTTP 404: Not Found"
    assert (caught.value.detail, caught.value.method, caught.value.path) == (None, "GET", "/v2/orgs/fleets/f1")


def test_a_body_that_is_not_json_is_kept_as_its_first_300_characters(requests_mock, fake_time):
    page_text = "<html>" + "x" * 400
    requests_mock.get(FLEET_URL, status_code=502, reason="Bad Gateway", text=page_text)
    with pytest.raises(CatenaRetryBudgetExceeded) as caught:
        transport(fake_time).send("GET", FLEET_URL, authenticated=False)
    error = caught.value.last_error
    assert isinstance(error, CatenaServerError)
    assert (error.message, error.detail) == ("Bad Gateway", page_text[:300])


@pytest.mark.parametrize(
    ("failure", "problem"),
    [
        (requests.ConnectTimeout, "connect timeout"),
        (requests.ReadTimeout, "read timeout"),
        (requests.ConnectionError("reset by peer"), "connection error (ConnectionError)"),
    ],
)
def test_connection_failures_say_what_happened(requests_mock, fake_time, failure, problem):
    requests_mock.post(WEBHOOKS_URL, exc=failure)
    with pytest.raises(CatenaError) as caught:
        transport(fake_time, retry=RetryPolicy(max_retries=1)).send("POST", WEBHOOKS_URL, authenticated=False)
    error = caught.value.last_error if isinstance(caught.value, CatenaRetryBudgetExceeded) else caught.value
    assert type(error) is CatenaError
    assert str(error) == f"POST /v2/notifications/webhooks: {problem}"


def test_a_wait_that_ends_exactly_at_the_budget_is_still_taken(requests_mock, fake_time):
    body = {"code": 429, "message": "Too Many Requests", "detail": {"retry_after_seconds": 30}}
    requests_mock.get(FLEET_URL, [{"status_code": 429, "json": body}, {"json": FLEET}])
    assert transport(fake_time).send("GET", FLEET_URL, authenticated=False).json() == FLEET
    assert fake_time.sleeps == [30]


def test_retry_after_in_the_body_wins_over_the_header(requests_mock, fake_time):
    requests_mock.get(FLEET_URL, [{**RATE_LIMITED, "headers": {"Retry-After": "3"}}, {"json": FLEET}])
    transport(fake_time).send("GET", FLEET_URL, authenticated=False)
    assert fake_time.sleeps == [7]


@pytest.mark.parametrize(
    ("body", "message", "detail"),
    [
        ({"text": "slow down"}, "Too Many Requests", {"retry_after_seconds": 4}),
        ({"json": {"message": "Too Many", "detail": "busy"}}, "Too Many", {"retry_after_seconds": 4}),
        ({"json": {"detail": {"message": "busy"}}}, "Too Many Requests", {"message": "busy", "retry_after_seconds": 4}),
    ],
    ids=["text-body", "detail-not-a-dict", "detail-dict"],
)
def test_retry_after_header_with_any_body(requests_mock, fake_time, body, message, detail):
    limited = {"status_code": 429, "reason": "Too Many Requests", "headers": {"Retry-After": " 4 "}, **body}
    requests_mock.get(FLEET_URL, [limited, limited])
    with pytest.raises(CatenaRetryBudgetExceeded) as caught:
        transport(fake_time, retry=RetryPolicy(max_retries=1)).send("GET", FLEET_URL, authenticated=False)
    assert fake_time.sleeps == [4]
    error = caught.value.last_error
    assert isinstance(error, CatenaRateLimitError) and error.retry_after_seconds == 4
    assert (error.message, error.detail) == (message, detail)


def test_a_retry_after_header_that_is_not_seconds_falls_back_to_the_backoff(requests_mock, fake_time):
    date = {"status_code": 429, "headers": {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, "json": {}}
    requests_mock.get(FLEET_URL, [date, {"json": FLEET}])
    transport(fake_time).send("GET", FLEET_URL, authenticated=False)
    [wait] = fake_time.sleeps
    assert 0.25 <= wait <= 0.5


def test_retry_after_only_counts_on_a_429(requests_mock, fake_time):
    requests_mock.get(FLEET_URL, status_code=503, headers={"Retry-After": "9"}, json={"message": "busy"})
    with pytest.raises(CatenaRetryBudgetExceeded) as caught:
        transport(fake_time).send("GET", FLEET_URL, authenticated=False)
    assert caught.value.last_error.detail is None
    assert all(wait <= 1.0 for wait in fake_time.sleeps)  # the backoff, not 9 s


def test_backoff_jitter_spans_the_upper_half():
    policy = RetryPolicy(backoff_initial=1.0, backoff_max=8.0)
    waits = [policy.backoff(3, random.Random(seed)) for seed in range(200)]  # ceiling 4 s
    assert 2.0 <= min(waits) < 2.2 and 3.8 < max(waits) <= 4.0


def test_retries_and_token_refreshes_are_logged(client, requests_mock, fake_time, caplog):
    caplog.set_level(logging.INFO, logger="catena_airflow.client.http")
    long_message = "m" * 300
    requests_mock.get(
        FLEET_URL,
        [
            {"status_code": 401, "json": {"code": 401, "message": "expired"}},
            {"status_code": 503, "json": {"code": 503, "message": "busy"}},
            {"status_code": 503, "json": {"code": 503, "message": long_message}},
            {"json": FLEET},
        ],
    )
    client.get_fleet("f1")
    lines = logged(caplog)
    assert lines[0] == "Catena GET /v2/orgs/fleets/f1 -> 401; refreshing the access token and retrying once"
    assert lines[1] == f"Catena: GET /v2/orgs/fleets/f1 -> HTTP 503: busy; retry 1/3 in {fake_time.sleeps[0]:.1f}s"
    shortened = f"GET /v2/orgs/fleets/f1 -> HTTP 503: {long_message}"[:197] + "..."
    assert lines[2] == f"Catena: {shortened}; retry 2/3 in {fake_time.sleeps[1]:.1f}s"


@pytest.mark.parametrize(("length", "shown"), [(200, 200), (201, 197)])
def test_a_message_of_200_characters_is_logged_whole(client, requests_mock, fake_time, caplog, length, shown):
    caplog.set_level(logging.WARNING, logger="catena_airflow.client.http")
    prefix = "GET /v2/orgs/fleets/f1 -> HTTP 503: "
    text = prefix + "m" * (length - len(prefix))
    requests_mock.get(FLEET_URL, [{"status_code": 503, "json": {"message": text[len(prefix) :]}}, {"json": FLEET}])
    client.get_fleet("f1")
    cut = "" if shown == length else "..."
    assert logged(caplog)[0].startswith(f"Catena: {text[:shown]}{cut}; retry")


def test_a_rejection_another_thread_already_refreshed_for_is_not_refreshed_again(client, requests_mock):
    """Two threads saw their token rejected; the first already fetched a new one: the second uses it."""
    tokens = requests_mock.post(
        AUTH,
        [
            {"json": {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}}
            for token in (ACCESS_TOKEN, SECOND_TOKEN, "third-access-token")
        ],
    )

    def rejected_once(request, context):
        if request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}":
            client.tokens.invalidate(ACCESS_TOKEN)  # the other thread's refresh, meanwhile
            client.tokens.get_token()
            context.status_code = 401
            return {"code": 401, "message": "expired"}
        return FLEET

    requests_mock.get(FLEET_URL, json=rejected_once)
    client.get_fleet("f1")
    used = [r.headers["Authorization"] for r in api_calls(requests_mock)]
    assert used == [f"Bearer {ACCESS_TOKEN}", f"Bearer {SECOND_TOKEN}"]
    assert tokens.call_count == 2
