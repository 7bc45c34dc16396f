from __future__ import annotations

import pytest

from catena_airflow.client.errors import (
    CatenaAPIError,
    CatenaAuthError,
    CatenaBadRequestError,
    CatenaConflictError,
    CatenaError,
    CatenaNotFoundError,
    CatenaRateLimitError,
    CatenaRetryBudgetExceeded,
    CatenaServerError,
    CatenaValidationError,
    FieldError,
)
from catena_airflow.client.http import RetryPolicy
from tests.unit.client.conftest import API

URL = f"{API}/v2/orgs/invitations/i1"


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (400, {"code": 400, "message": "Bad Request", "detail": "unknown cursor"}, CatenaBadRequestError),
        (401, {"code": 401, "message": "Unauthorized", "detail": None}, CatenaAuthError),
        (403, {"code": 403, "message": "Forbidden", "detail": "missing invitation:read"}, CatenaAuthError),
        (404, {"code": 404, "message": "Not Found", "detail": None}, CatenaNotFoundError),
        (405, {"code": 405, "message": "Method Not Allowed", "detail": None}, CatenaAPIError),
        (409, {"code": 409, "message": "Conflict", "detail": "duplicate subscription"}, CatenaConflictError),
        (422, {"code": 422, "message": "Invalid Request Body", "detail": None}, CatenaValidationError),
        (
            429,
            {"code": 429, "message": "Too Many Requests", "detail": {"retry_after_seconds": 1, "message": "m"}},
            CatenaRateLimitError,
        ),
        (504, {"code": 504, "message": "Gateway Timeout", "detail": None}, CatenaServerError),
    ],
)
def test_status_maps_to_typed_error_with_catena_body(client, requests_mock, status, body, error_type):
    client.transport.retry = RetryPolicy(max_retries=0)
    requests_mock.get(URL, status_code=status, json=body)
    with pytest.raises(CatenaError) as caught:
        client.get_invitation("i1")
    # Retryable statuses (429, 5xx) end as a budget error that carries the typed error.
    error = caught.value.last_error if isinstance(caught.value, CatenaRetryBudgetExceeded) else caught.value
    assert type(error) is error_type
    assert (error.status_code, error.message, error.detail) == (status, body["message"], body["detail"])


def test_500_without_code(client, requests_mock):
    client.transport.retry = RetryPolicy(max_retries=0)
    requests_mock.get(URL, status_code=500, json={"message": "Internal Server Error"})
    with pytest.raises(CatenaRetryBudgetExceeded) as caught:
        client.get_invitation("i1")
    error = caught.value.last_error
    assert isinstance(error, CatenaServerError)
    assert (error.status_code, error.code, error.message) == (500, None, "Internal Server Error")
    assert str(error) == "GET /v2/orgs/invitations/i1 -> HTTP 500: Internal Server Error"


def test_error_carries_code_message_detail(client, requests_mock):
    requests_mock.get(URL, status_code=409, json={"code": 409, "message": "Conflict", "detail": "already accepted"})
    with pytest.raises(CatenaConflictError) as caught:
        client.get_invitation("i1")
    error = caught.value
    assert (error.status_code, error.code, error.message, error.detail) == (409, 409, "Conflict", "already accepted")
    assert (error.method, error.path) == ("GET", "/v2/orgs/invitations/i1")
    assert str(error) == "GET /v2/orgs/invitations/i1 -> HTTP 409: Conflict (already accepted)"


def test_422_catena_shape(client, requests_mock):
    detail = [
        {"path": "fleet_ref", "input": "FLEET/42", "message": "invalid characters", "error_type": "value_error"},
        {"path": "expires_in_hours", "input": "999", "message": "must be <= 672", "error_type": "less_than_equal"},
    ]
    requests_mock.post(
        f"{API}/v2/orgs/invitations",
        status_code=422,
        json={"code": 422, "message": "Invalid Request Body", "detail": detail},
    )
    with pytest.raises(CatenaValidationError) as caught:
        client.create_invitation(fleet_ref="FLEET 42")
    assert caught.value.errors == [
        FieldError("fleet_ref", "invalid characters", "value_error"),
        FieldError("expires_in_hours", "must be <= 672", "less_than_equal"),
    ]
    assert "fleet_ref: invalid characters; expires_in_hours: must be <= 672" in str(caught.value)
    assert all("input" not in item for item in caught.value.detail)


def test_422_fastapi_shape(client, requests_mock):
    body = {
        "detail": [{"loc": ["body", "fleet_ref"], "msg": "Field required", "type": "missing", "input": {}, "ctx": {}}]
    }
    requests_mock.post(f"{API}/v2/orgs/invitations", status_code=422, json=body)
    with pytest.raises(CatenaValidationError) as caught:
        client.create_invitation(fleet_ref="F")
    assert caught.value.errors == [FieldError("body.fleet_ref", "Field required", "missing")]
    assert caught.value.code is None
    assert "body.fleet_ref: Field required" in str(caught.value)


def test_non_json_error_body(client, requests_mock):
    requests_mock.get(URL, status_code=404, text="<html>nginx</html>", reason="Not Found")
    with pytest.raises(CatenaNotFoundError) as caught:
        client.get_invitation("i1")
    assert caught.value.message == "Not Found"
    assert caught.value.detail == "<html>nginx</html>"


def test_success_without_json_is_a_clear_error(client, requests_mock):
    requests_mock.get(URL, status_code=200, text="<html>captive portal</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(CatenaError, match=r"GET /v2/orgs/invitations/i1 -> HTTP 200: expected JSON, got 'text/html'"):
        client.get_invitation("i1")
