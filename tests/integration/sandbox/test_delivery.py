"""Webhook delivery: retries with a stable event id, the DLQ and its replay, logs, metrics, timeouts."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.integration.sandbox.helpers import records, subscribe
from tests.integration.sandbox.receiver import Delivery, Receiver

pytestmark = pytest.mark.integration

WEBHOOKS = "/v2/notifications/webhooks"
RECORD = {"id": "019d0000-0000-7000-8000-0000000000b1", "fleet_id": "019d0000-0000-7000-8000-0000000000f1"}


def emit(sandbox, event_name: str = "vehicle.added", count: int = 1, data: list | None = None) -> dict:
    response = sandbox.admin(
        "POST", "/events", json={"event_name": event_name, "count": count, "data": data or [RECORD]}
    )
    assert response.status_code == 200, response.text
    return response.json()


def fail_first(times: int):
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def respond(delivery: Delivery) -> int:
        with lock:
            seen[delivery.envelope["id"]] += 1
            return 503 if seen[delivery.envelope["id"]] <= times else 202

    return respond


def test_retries_keep_the_event_id_and_count_attempts(sandbox, receiver: Receiver) -> None:
    [subscription] = subscribe(sandbox, receiver, "vehicle.added")
    receiver.respond = fail_first(2)
    event_id = emit(sandbox)["first_event_id"]
    sandbox.wait_idle()

    deliveries = receiver.deliveries
    assert [d.answered for d in deliveries] == [503, 503, 202]
    assert {d.envelope["id"] for d in deliveries} == {event_id}
    assert [d.envelope["delivery_attempt"] for d in deliveries] == [1, 2, 3]
    assert [d.headers["x-delivery-attempt"] for d in deliveries] == ["1", "2", "3"]
    assert len({d.headers["x-request-id"] for d in deliveries}) == 3
    assert all(d.signature_valid for d in deliveries)
    assert all(d.headers["content-encoding"] == "gzip" for d in deliveries)

    webhook = f"/v2/notifications/webhooks/{subscription['id']}"
    logs = sandbox.api("GET", webhook + "/logs").json()["items"]
    assert [(log["status"], log["status_code"]) for log in logs] == [("failed", 503), ("failed", 503), ("success", 202)]
    assert all(log["message_id"] == event_id for log in logs)
    assert [
        log["status_code"] for log in sandbox.api("GET", webhook + "/logs", params={"status": "failed"}).json()["items"]
    ] == [503, 503]
    metrics = sandbox.api("GET", webhook + "/metrics").json()
    assert metrics["http_attempts"]["6h"] == 3
    assert metrics["http_success_attempts"]["24h"] == 1
    assert metrics["http_failure_attempts"]["7d"] == 2
    assert metrics["message_count"]["14d"] == 1 and metrics["message_success_count"]["6h"] == 1
    assert metrics["success_rate"]["6h"] == 100
    assert metrics["dlq_count"] == 0


def test_exhausted_retries_go_to_the_dlq_and_replay_resends(sandbox, receiver: Receiver) -> None:
    [subscription] = subscribe(sandbox, receiver, "vehicle.added")
    receiver.respond = lambda _delivery: 503
    event_id = emit(sandbox)["first_event_id"]
    sandbox.wait_idle()
    assert [d.envelope["delivery_attempt"] for d in receiver.deliveries] == [1, 2, 3, 4]  # 1 try + 3 retries
    webhook = f"/v2/notifications/webhooks/{subscription['id']}"
    metrics = sandbox.api("GET", webhook + "/metrics").json()
    assert metrics["dlq_count"] == 1 and metrics["message_success_count"]["6h"] == 0
    assert metrics["success_rate"]["6h"] == 0

    receiver.respond = lambda _delivery: 202
    replay = sandbox.api("POST", webhook + "/replay")
    assert replay.status_code == 202 and replay.json() == {}
    sandbox.wait_idle()
    last = receiver.deliveries[-1]
    assert last.answered == 202 and last.envelope["id"] == event_id and last.signature_valid
    assert last.envelope["delivery_attempt"] == 5
    assert sandbox.api("GET", webhook + "/metrics").json()["dlq_count"] == 0


def test_any_non_5xx_answer_counts_as_delivered(sandbox, receiver: Receiver) -> None:
    [subscription] = subscribe(sandbox, receiver, "vehicle.added")
    receiver.respond = lambda _delivery: 400
    emit(sandbox)
    sandbox.wait_idle()
    assert [d.answered for d in receiver.deliveries] == [400]
    metrics = sandbox.api("GET", f"/v2/notifications/webhooks/{subscription['id']}/metrics").json()
    assert metrics["dlq_count"] == 0 and metrics["message_success_count"]["6h"] == 1
    assert metrics["http_failure_attempts"]["6h"] == 1  # not a 2xx, so an HTTP failure in the metrics


def test_unreachable_receiver_ends_in_the_dlq(sandbox, receiver: Receiver) -> None:
    [subscription] = subscribe(sandbox, receiver, "vehicle.added")
    receiver.close()  # nothing listens on the port any more
    emit(sandbox)
    sandbox.wait_idle()
    logs = sandbox.api("GET", f"/v2/notifications/webhooks/{subscription['id']}/logs").json()["items"]
    assert len(logs) == 4
    assert all(log["status"] == "failed" and "Connection error" in log["error_message"] for log in logs)
    assert sandbox.stats()["dlq"] == 1


def test_slow_receiver_times_out_and_is_retried(tuned_sandbox, receiver: Receiver) -> None:
    [subscription] = subscribe(tuned_sandbox, receiver, "vehicle.added")  # the tuned sandbox times out at 0.2 s
    receiver.delay_seconds = 0.6
    emit(tuned_sandbox)
    tuned_sandbox.wait_idle()
    logs = tuned_sandbox.api("GET", f"/v2/notifications/webhooks/{subscription['id']}/logs").json()["items"]
    assert len(logs) == 4 and all("Timed out" in log["error_message"] for log in logs)


def test_paused_subscription_keeps_events_for_replay(sandbox, receiver: Receiver) -> None:
    [subscription] = subscribe(sandbox, receiver, "vehicle.added")
    webhook = f"/v2/notifications/webhooks/{subscription['id']}"
    assert sandbox.api("POST", webhook + "/pause").json()["status"] == "paused"
    event_id = emit(sandbox)["first_event_id"]
    sandbox.wait_idle()
    assert receiver.deliveries == []
    assert sandbox.api("POST", webhook + "/replay").status_code == 409  # activate first
    assert sandbox.api("POST", webhook + "/activate").json()["status"] == "active"
    assert sandbox.api("POST", webhook + "/replay").status_code == 202
    receiver.wait_for(lambda r: len(r.deliveries) == 1)
    assert receiver.deliveries[0].envelope["id"] == event_id


def test_deliveries_do_not_block_api_calls(sandbox, receiver: Receiver) -> None:
    subscribe(sandbox, receiver, "vehicle.added")
    receiver.gate = threading.Event()  # the receiver holds every request open until released
    try:
        emit(sandbox, count=5)
        receiver.wait_for(lambda r: len(r.deliveries) == 5)  # all five received and held open
        assert sandbox.api("GET", "/v2/notifications/webhooks").status_code == 200
        assert sandbox.api("POST", "/v2/orgs/invitations", json={"fleet_ref": "manual-busy"}).status_code == 201
        assert sandbox.stats()["pending"] >= 5  # still undelivered while the API answered
    finally:
        receiver.gate.set()
    sandbox.wait_idle()
    assert sum(d.answered == 202 for d in receiver.deliveries) == 5


def test_admin_deliveries_lists_attempts(sandbox, receiver: Receiver) -> None:
    [subscription] = subscribe(sandbox, receiver, "vehicle.added")
    receiver.respond = fail_first(1)
    event_id = emit(sandbox)["first_event_id"]
    sandbox.wait_idle()
    attempts = sandbox.deliveries(event_id=event_id)
    assert [(a["attempt"], a["status_code"], a["delivered"]) for a in attempts] == [(1, 503, False), (2, 202, True)]
    assert attempts[0]["webhook_id"] == subscription["id"] and attempts[0]["url"] == receiver.url


def test_circuit_breaker_stales_a_failing_subscription(sandbox, receiver: Receiver) -> None:
    [subscription] = subscribe(sandbox, receiver, "vehicle.added")
    subscribe(sandbox, receiver, "webhook.staled")
    receiver.respond = lambda d: 503 if d.envelope and d.envelope["event_name"] == "vehicle.added" else 202
    time.sleep(0.3)  # precondition: past the breaker's 15-minute grace period (0.25 s at speed 3600)
    emit(sandbox, count=10)
    receiver.wait_for_events("webhook.staled")
    sandbox.wait_idle()
    webhook = f"/v2/notifications/webhooks/{subscription['id']}"
    assert sandbox.api("GET", webhook).json()["status"] == "stale"
    assert sandbox.api("GET", WEBHOOKS, params={"status": "stale"}).json()["items"][0]["id"] == subscription["id"]
    assert records(receiver, "webhook.staled")[0]["id"] == subscription["id"]
    sent = len(receiver.deliveries)
    emit(sandbox)  # queued, not sent, while stale
    sandbox.wait_idle()
    assert len(receiver.deliveries) == sent
    assert sandbox.api("GET", webhook + "/metrics").json()["dlq_count"] == 11
    receiver.respond = lambda _delivery: 202
    assert sandbox.api("POST", webhook + "/activate").json()["status"] == "active"
    assert sandbox.api("POST", webhook + "/replay").status_code == 202
    sandbox.wait_idle()
    assert sandbox.api("GET", webhook + "/metrics").json()["dlq_count"] == 0
    replayed = {d.envelope["id"] for d in receiver.deliveries[sent:] if d.envelope["event_name"] == "vehicle.added"}
    assert len(replayed) == 11 and all(d.answered == 202 for d in receiver.deliveries[sent:])
