from __future__ import annotations

import json
import logging
import socket

import pytest
import requests

from catena_airflow.client import CatenaClient
from catena_airflow.client.client import DEFAULT_API_URL, DEFAULT_AUTH_URL
from catena_airflow.hooks.catena import TEST_CONNECTION_TIMEOUT_SECONDS, CatenaHook

CLIENT_SECRET = "hook-client-secret-987"
WEBHOOK_SECRETS = "current-signing-secret,previous-signing-secret"
AUTH_URL = "http://127.0.0.1:8090/realms/catena/protocol/openid-connect/token"


@pytest.fixture
def catena_conn(monkeypatch):
    """Defines ``catena_default`` the way a deployment would, through AIRFLOW_CONN_* (JSON form)."""

    def define(conn_id: str = "catena_default", **fields):
        conn = {"conn_type": "catena", "login": "partner-client", "password": CLIENT_SECRET, **fields}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

    return define


def test_client_is_configured_from_the_connection(catena_conn):
    catena_conn(
        host="http://127.0.0.1:8090",
        extra={"auth_url": AUTH_URL, "webhook_secrets": WEBHOOK_SECRETS, "share_agreements_path": "share_agreements"},
    )
    hook = CatenaHook(timeout=5.0, max_retries=2, retry_budget_seconds=9.0)
    client = hook.get_conn()
    assert isinstance(client, CatenaClient)
    assert client.api_url == "http://127.0.0.1:8090"
    assert client.auth_url == AUTH_URL
    assert client.share_agreements_path == "share_agreements"
    assert client.tokens.client_id == "partner-client"
    assert client.tokens.client_secret.get_secret_value() == CLIENT_SECRET
    assert (client.transport.timeout, client.transport.retry.max_retries, client.transport.retry.budget_seconds) == (
        5.0,
        2,
        9.0,
    )
    assert hook.webhook_secrets == ["current-signing-secret", "previous-signing-secret"]
    assert hook.get_conn() is client  # cached


@pytest.mark.parametrize(
    ("fields", "api_url"),
    [
        ({}, DEFAULT_API_URL),
        ({"host": "api.catenatelematics.com"}, "https://api.catenatelematics.com"),
        ({"host": "https://api.catenatelematics.com/"}, "https://api.catenatelematics.com"),
        ({"host": "sandbox.local", "port": 8090, "schema": "http"}, "http://sandbox.local:8090"),
    ],
)
def test_host_with_or_without_scheme(catena_conn, fields, api_url):
    catena_conn(**fields)
    hook = CatenaHook()
    assert hook.get_conn().api_url == api_url
    assert hook.get_conn().auth_url == DEFAULT_AUTH_URL
    assert hook.webhook_secrets == []


def test_named_connection_and_json_list_of_secrets(catena_conn):
    catena_conn(
        "catena_sandbox", host="http://127.0.0.1:8090", extra={"webhook_secrets": ["a-secret", " ", "b-secret"]}
    )
    assert CatenaHook(catena_conn_id="catena_sandbox").webhook_secrets == ["a-secret", "b-secret"]


def test_missing_credentials_are_a_clear_error(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CATENA_DEFAULT", json.dumps({"conn_type": "catena", "login": "partner-client"}))
    with pytest.raises(ValueError, match="client secret in password"):
        CatenaHook().get_conn()


def test_connection_success(catena_conn, requests_mock, caplog):
    caplog.set_level(logging.DEBUG)
    catena_conn(host="http://127.0.0.1:8090", extra={"auth_url": AUTH_URL})
    # Catena's token endpoint is outside the system: mocked at the HTTP layer.
    token = requests_mock.post(
        AUTH_URL, json={"access_token": "eyJ.hook-token", "expires_in": 3600, "token_type": "Bearer"}
    )
    ok, message = CatenaHook().test_connection()
    assert ok is True
    assert message == "Connected: token issued for client 'partner-client' (expires in 3600s)"
    assert "client_secret=hook-client-secret-987" in token.last_request.text
    assert CLIENT_SECRET not in caplog.text and "eyJ.hook-token" not in caplog.text


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            {
                "status_code": 401,
                "json": {"error": "invalid_client", "error_description": "Invalid client credentials"},
            },
            "Invalid client credentials",
        ),
        (
            {
                "status_code": 401,
                "json": {"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"},
            },
            "bad secret ***",
        ),
        ({"exc": requests.ConnectionError("refused")}, "CatenaRetryBudgetExceeded: POST /realms/catena"),
    ],
)
def test_connection_failure_never_leaks_secrets(catena_conn, requests_mock, caplog, response, expected):
    caplog.set_level(logging.DEBUG)
    catena_conn(extra={"auth_url": AUTH_URL, "webhook_secrets": WEBHOOK_SECRETS})
    requests_mock.post(AUTH_URL, **response)
    ok, message = CatenaHook(max_retries=0).test_connection()  # no retry waits in a unit test
    assert ok is False
    assert expected in message
    for secret in (CLIENT_SECRET, "current-signing-secret", "previous-signing-secret"):
        assert secret not in message and secret not in caplog.text


def test_hook_metadata_matches_provider_info():
    from catena_airflow.get_provider_info import get_provider_info

    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == CatenaHook.conn_type
    assert conn_type["hook-class-name"] == f"{CatenaHook.__module__}.{CatenaHook.__qualname__}"
    assert conn_type["hook-name"] == CatenaHook.hook_name
    assert set(conn_type["conn-fields"]) == {"auth_url", "webhook_secrets", "share_agreements_path"}


def test_the_test_button_tries_once_with_a_short_timeout(catena_conn, requests_mock):
    """A task's client retries for a minute; the UI's Test button must answer within seconds."""
    catena_conn(extra={"auth_url": AUTH_URL})
    token = requests_mock.post(AUTH_URL, exc=requests.ConnectionError("refused"))
    ok, message = CatenaHook().test_connection()  # the hook's own defaults: 5 retries, 60 s budget
    assert ok is False and "CatenaRetryBudgetExceeded" in message
    assert token.call_count == 1
    assert token.last_request.timeout == TEST_CONNECTION_TIMEOUT_SECONDS <= 5


def test_the_test_button_gives_up_on_a_catena_that_never_answers(catena_conn):
    """A real socket that takes the connection and never answers: the read timeout ends the test."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        catena_conn(extra={"auth_url": f"http://127.0.0.1:{port}/realms/catena/protocol/openid-connect/token"})
        ok, message = CatenaHook().test_connection()
    assert ok is False and "read timeout" in message and "after 1 attempt(s)" in message


def test_webhook_secrets_is_a_password_field_of_the_connection_form():
    from airflow.providers_manager import ProvidersManager

    widget = ProvidersManager().connection_form_widgets["extra__catena__webhook_secrets"]
    assert widget.is_sensitive
    assert widget.field["schema"]["format"] == "password"
