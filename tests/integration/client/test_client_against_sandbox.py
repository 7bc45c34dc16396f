"""The real client against the real sandbox process over real HTTP: every endpoint, retries, errors.

The sandbox plays Catena from its own code (it shares nothing with the client), so a mismatch in paths,
field names or pagination shows up here and not only in mocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from catena_airflow.client import (
    CatenaAuthError,
    CatenaClient,
    CatenaNotFoundError,
)
from catena_airflow.client.models import ConnectionStatus, InvitationStatus, ScheduleStatus, WebhookStatus

pytestmark = pytest.mark.integration


def _client(sandbox, **kwargs) -> CatenaClient:
    options = {
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "api_url": sandbox.base_url,
        "auth_url": sandbox.token_url,
        "retry_budget_seconds": 30.0,
        **kwargs,
    }
    return CatenaClient(**options)


def _eventually(check: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.1)


def test_onboarding_reads_through_every_endpoint(sandbox):
    client = _client(sandbox)
    assert client.fetch_token().expires_in > 0

    invitation = client.create_invitation(fleet_ref="CLIENT-1", fleet_name="Client Fleet", expires_in_hours=48)
    assert invitation.status is InvitationStatus.ACTIVE and not invitation.refreshed
    again = client.create_invitation(fleet_ref="CLIENT-1")
    assert again.id == invitation.id and again.refreshed
    assert [i.id for i in client.list_invitations(fleet_ref="CLIENT-1")] == [invitation.id]

    accepted = _eventually(
        lambda: (inv := client.get_invitation(invitation.id)).status is InvitationStatus.ACCEPTED and inv,
        "acceptance",
    )
    (agreement,) = _eventually(lambda: client.list_share_agreements(fleet_ref="CLIENT-1").all(), "share agreement")
    assert agreement.fleet_id == accepted.fleet_id
    assert client.get_share_agreement(agreement.id).id == agreement.id
    (fleet,) = _eventually(lambda: client.list_fleets(fleet_refs=["CLIENT-1"]).all(), "a visible fleet")
    assert client.get_fleet(fleet.id).fleet_ref == "CLIENT-1"

    connections = _eventually(lambda: client.list_connections(fleet_refs=["CLIENT-1"]).all(), "a connection")
    connection = client.get_connection(connections[0].id)
    assert connection.status is ConnectionStatus.ACTIVE
    schedules = client.list_schedules(connection.id).all()
    assert schedules
    schedule = client.get_schedule(connection.id, schedules[0].id)
    assert client.activate_schedule(connection.id, schedule.id).status is ScheduleStatus.ACTIVE
    client.list_executions(connection.id, schedule.id).all()

    vehicles = _eventually(lambda: client.list_vehicles(fleet_refs=["CLIENT-1"]).all(), "vehicles")
    assert client.get_vehicle(vehicles[0].id).id == vehicles[0].id
    now = datetime.now(UTC)
    history = client.list_vehicle_locations(
        only_latest=False, fleet_refs=["CLIENT-1"], from_datetime=now - timedelta(days=2), to_datetime=now, size=50
    )
    pages = list(history.pages())
    assert sum(len(page.items) for page in pages) >= len(vehicles)
    assert pages[-1].next_page in (None, "")


def test_webhook_subscription_lifecycle(sandbox):
    client = _client(sandbox)
    created = client.create_webhook_subscription(
        url="http://127.0.0.1:9/hook", event_name="fleet_connection.*", secret="integration-secret-1"
    )
    assert created and all(s.event_name.startswith("fleet_connection.") for s in created)
    subscription = created[0]
    assert subscription.id in {s.id for s in client.list_webhook_subscriptions()}
    assert client.get_webhook_subscription(subscription.id).secret_is_masked
    assert client.update_webhook_subscription(subscription.id, secret="rotated-secret-22").id == subscription.id
    assert client.pause_webhook_subscription(subscription.id).status is WebhookStatus.PAUSED
    assert client.activate_webhook_subscription(subscription.id).status is WebhookStatus.ACTIVE
    client.list_webhook_logs(subscription.id).all()
    assert client.get_webhook_metrics(subscription.id).webhook_id == subscription.id
    client.replay_webhook_subscription(subscription.id)
    client.delete_webhook_subscription(subscription.id)
    with pytest.raises(CatenaNotFoundError):
        client.get_webhook_subscription(subscription.id)


def test_delete_invitation(sandbox):
    client = _client(sandbox)
    invitation = client.create_invitation(fleet_ref="MANUAL-1")
    client.delete_invitation(invitation.id)
    assert client.get_invitation(invitation.id).status is InvitationStatus.DELETED


def test_wrong_credentials(sandbox):
    client = _client(sandbox, client_secret="not-the-secret")
    with pytest.raises(CatenaAuthError) as caught:
        client.list_invitations().all()
    assert "not-the-secret" not in str(caught.value)


def test_retries_ride_out_injected_faults(sandbox_factory):
    faulty = sandbox_factory(
        "--rate-429", "0.3", "--retry-after-seconds", "0", "--rate-5xx", "0.2", "--burst-5xx-length", "1"
    )
    client = _client(faulty, max_retries=8)
    # Fast backoff so the test spends its time on requests, not on waits.
    client.transport.retry = type(client.transport.retry)(max_retries=8, budget_seconds=60.0, backoff_initial=0.02)
    for number in range(15):
        client.create_invitation(fleet_ref=f"MANUAL-{number}")
    assert len(client.list_invitations(size=4).all()) == 15
