from __future__ import annotations

from datetime import UTC, datetime

from catena_airflow.client import WebhookCreate, WebhookSubscription
from catena_airflow.client.models import WebhookLogStatus, WebhookStatus
from tests.unit.client import payloads
from tests.unit.client.conftest import API, api_calls, query_of

URL = f"{API}/v2/notifications/webhooks"
ONE = f"{URL}/{payloads.WEBHOOK_ID}"


def test_create_single_subscription(client, requests_mock):
    created = payloads.webhook(secret="wX9kLmP2nQrT4vYz", partner_id=payloads.PARTNER_ID, deleted_at=None)
    mock = requests_mock.post(URL, json=created)
    result = client.create_webhook_subscription(
        url="https://partner.example/catena/webhooks",
        event_name="fleet_connection.created",
        filters={"fleet_refs": ["FLEET-42"]},
        secret="wX9kLmP2nQrT4vYz",
    )
    assert mock.last_request.json() == {
        "url": "https://partner.example/catena/webhooks",
        "event_name": "fleet_connection.created",
        "filters": {"fleet_refs": ["FLEET-42"]},
        "secret": "wX9kLmP2nQrT4vYz",
    }
    (subscription,) = result
    assert subscription.secret.get_secret_value() == "wX9kLmP2nQrT4vYz"
    assert not subscription.secret_is_masked
    assert "wX9kLmP2nQrT4vYz" not in repr(result)


def test_create_wildcard_returns_one_subscription_per_action(client, requests_mock):
    actions = ["created", "viewed", "accepted", "declined", "expired", "deleted", "sent"]
    body = [payloads.webhook(id=f"w-{a}", event_name=f"invitation.{a}", secret="generatedSecret1") for a in actions]
    mock = requests_mock.post(URL, json=body)
    result = client.create_webhook_subscription(WebhookCreate(url="https://p.example/hook", event_name="invitation.*"))
    assert mock.last_request.json() == {"url": "https://p.example/hook", "event_name": "invitation.*"}
    assert [s.event_name for s in result] == [f"invitation.{a}" for a in actions]
    assert all(isinstance(s, WebhookSubscription) for s in result)


def test_list_subscriptions(client, requests_mock):
    requests_mock.get(URL, json=payloads.page([payloads.webhook(status="stale")]))
    (subscription,) = client.list_webhook_subscriptions(event_name="invitation.accepted", status="stale", size=10)
    assert subscription.status is WebhookStatus.STALE and subscription.secret_is_masked
    assert query_of(api_calls(requests_mock)[0]) == {
        "event_name": ["invitation.accepted"],
        "status": ["stale"],
        "size": ["10"],
    }


def test_get_subscription(client, requests_mock):
    requests_mock.get(ONE, json=payloads.webhook())
    assert client.get_webhook_subscription(payloads.WEBHOOK_ID).event_name == "fleet_connection.created"


def test_update_subscription_rotates_secret(client, requests_mock):
    mock = requests_mock.patch(ONE, json=payloads.webhook())
    client.update_webhook_subscription(payloads.WEBHOOK_ID, secret="a-new-secret-0001", url="https://p.example/v2")
    assert mock.last_request.method == "PATCH"
    assert mock.last_request.json() == {"secret": "a-new-secret-0001", "url": "https://p.example/v2"}


def test_delete_subscription(client, requests_mock):
    mock = requests_mock.delete(ONE, status_code=204)
    assert client.delete_webhook_subscription(payloads.WEBHOOK_ID) is None
    assert mock.call_count == 1


def test_activate_and_pause(client, requests_mock):
    activate = requests_mock.post(f"{ONE}/activate", json=payloads.webhook(status="active"))
    pause = requests_mock.post(f"{ONE}/pause", json=payloads.webhook(status="paused"))
    assert client.activate_webhook_subscription(payloads.WEBHOOK_ID).status is WebhookStatus.ACTIVE
    assert client.pause_webhook_subscription(payloads.WEBHOOK_ID).status is WebhookStatus.PAUSED
    assert activate.last_request.body is None and pause.call_count == 1


def test_logs_with_filters(client, requests_mock):
    requests_mock.get(f"{ONE}/logs", json=payloads.page([payloads.webhook_log()]))
    logs = client.list_webhook_logs(
        payloads.WEBHOOK_ID,
        start_date=datetime(2026, 3, 1, tzinfo=UTC),
        end_date=datetime(2026, 3, 2, 12, 30, tzinfo=UTC),
        status="failed",
    ).all()
    assert logs[0].status is WebhookLogStatus.FAILED and logs[0].status_code == 503
    assert query_of(api_calls(requests_mock)[0]) == {
        "start_date": ["2026-03-01T00:00:00+00:00"],
        "end_date": ["2026-03-02T12:30:00+00:00"],
        "status": ["failed"],
    }


def test_metrics(client, requests_mock):
    requests_mock.get(f"{ONE}/metrics", json=payloads.webhook_metrics())
    metrics = client.get_webhook_metrics(payloads.WEBHOOK_ID)
    assert metrics.dlq_count == 5 and metrics.ewma_success_rate == 0.98
    assert metrics.http_failure_attempts.last_24h == 20


def test_replay(client, requests_mock):
    mock = requests_mock.post(f"{ONE}/replay", status_code=202, json={})
    assert client.replay_webhook_subscription(payloads.WEBHOOK_ID) is None
    assert mock.call_count == 1
