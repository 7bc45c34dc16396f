"""``catena_setup`` on the real sandbox: subscriptions exist once, and a sick one is healed and replayed."""

from __future__ import annotations

import time

import pytest
from airflow.utils.state import DagRunState

from tests.fixtures.net import free_port
from tests.integration.dags.conftest import task_states, xcom

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(300)]


def subscriptions(sandbox, event_name: str | None = None) -> list[dict]:
    params = {"event_name": event_name} if event_name else {}
    return sandbox.api("GET", "/v2/notifications/webhooks", params=params).json()["items"]


def dlq_count(sandbox, webhook_id: str) -> int:
    return sandbox.api("GET", f"/v2/notifications/webhooks/{webhook_id}/metrics").json().get("dlq_count") or 0


def test_setup_is_idempotent(deployment):
    before = {s["id"] for s in subscriptions(deployment.sandbox)}
    run = deployment.run("catena_setup", {"receiver_url": deployment.receiver.url})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    ensured = xcom(run, "ensure_subscriptions")
    assert (ensured["created"], ensured["repaired"]) == ([], [])
    assert {s["id"] for s in subscriptions(deployment.sandbox)} == before
    assert set(deployment.inbox.subscription_secrets()) == before


def test_a_paused_subscription_is_reactivated_and_its_dead_letters_come_back(deployment):
    sandbox = deployment.sandbox
    (sub,) = subscriptions(sandbox, "invitation.created")
    dead = f"http://127.0.0.1:{free_port()}/catena/webhooks"
    sandbox.api("PATCH", f"/v2/notifications/webhooks/{sub['id']}", json={"url": dead}).raise_for_status()
    created = sandbox.api("POST", "/v2/orgs/invitations", json={"fleet_ref": "manual-dlq"})
    created.raise_for_status()
    deadline = time.monotonic() + 60
    while dlq_count(sandbox, sub["id"]) < 1:  # retries exhausted: the delivery is in the DLQ
        assert time.monotonic() < deadline, "the delivery never reached the dead-letter queue"
        time.sleep(0.1)
    sandbox.api("PATCH", f"/v2/notifications/webhooks/{sub['id']}", json={"url": deployment.receiver.url})
    sandbox.api("POST", f"/v2/notifications/webhooks/{sub['id']}/pause").raise_for_status()

    run = deployment.run("catena_setup", {"receiver_url": deployment.receiver.url})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    health = xcom(run, "check_subscription_health")
    assert health["reactivated"] == [sub["id"]]
    assert health["replayed"][sub["id"]] >= 1
    event = deployment.wait_for_event("invitation.created")
    assert event.data[0]["id"] == created.json()["id"]
    assert subscriptions(sandbox, "invitation.created")[0]["status"] == "active"
