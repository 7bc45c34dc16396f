"""A small, known set of onboardings for the dashboard tests, written through the inbox's own writes.

Invitations are registered as the onboarding DAG does (``register_invitation`` with its run), and
everything after that arrives as Catena webhook envelopes: recorded with ``record_event`` exactly as
the receiver records them once their signature checks out, or (end to end) POSTed, signed, to a
running receiver.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from catena_airflow.client.events import WebhookEnvelope
from catena_airflow.client.models import Invitation
from catena_airflow.client.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WEBHOOK_ID_HEADER,
    compute_signature,
    format_timestamp,
)
from catena_airflow.inbox import InboxStore

ONBOARDING_DAG_ID = "catena_fleet_onboarding"
WEBHOOK_ID = "wh-dashboard-test"
# Values that must never reach the dashboard's API or page.
SUBSCRIPTION_SECRET = "whsec-dashboard-test-DO-NOT-LEAK"
PRE_REGISTRATION_TOKEN = "prereg-access-DO-NOT-LEAK"
PRE_REGISTRATION_REFRESH = "prereg-refresh-DO-NOT-LEAK"
SECRETS = (SUBSCRIPTION_SECRET, PRE_REGISTRATION_TOKEN, PRE_REGISTRATION_REFRESH)

#: Every route of the dashboard's JSON API.
API_PATHS = (
    "/catena/api/config",
    "/catena/api/funnel",
    "/catena/api/fleets",
    "/catena/api/fleets/stuck",
    "/catena/api/alerts",
    "/catena/api/webhooks/health",
)


class DirectDelivery:
    """Records envelopes with the inbox's ``record_event``, as the receiver does once a signature verified."""

    def __init__(self, store: InboxStore) -> None:
        self.store = store

    def deliver(self, body: str, *, received_at: datetime) -> None:
        self.store.record_event(WebhookEnvelope.model_validate_json(body), body.encode(), received_at=received_at)

    def signature_failures(self, count: int, *, at: datetime) -> None:
        # What the receiver counts when a delivery's signature does not verify.
        self.store.add_counters({"signature_failures": count}, at=at)


class SignedHttpDelivery:
    """POSTs envelopes to a running receiver, signed with the subscription's secret, as Catena does."""

    def __init__(self, receiver_url: str, secret: str) -> None:
        self.receiver_url = receiver_url
        self.secret = secret

    def _post(self, body: str, secret: str) -> requests.Response:
        timestamp = format_timestamp()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: compute_signature(secret, timestamp, body),
            TIMESTAMP_HEADER: timestamp,
            WEBHOOK_ID_HEADER: WEBHOOK_ID,
        }
        return requests.post(self.receiver_url, data=body.encode(), headers=headers, timeout=30)

    def deliver(self, body: str, *, received_at: datetime) -> None:
        response = self._post(body, self.secret)
        assert response.status_code == 202, f"{response.status_code}: {response.text[:200]}"

    def signature_failures(self, count: int, *, at: datetime) -> None:
        body = json.dumps({"version": "1.0", "event_name": "invitation.viewed", "data": [], "webhook_id": WEBHOOK_ID})
        for _ in range(count):
            assert self._post(body, "not-the-secret").status_code == 401


@dataclass(frozen=True)
class SeededFleet:
    fleet_ref: str
    invitation_id: str
    fleet_id: str
    run_id: str


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class InboxSeeder:
    """Writes invitations and webhook events for one inbox, with timestamps relative to ``now``."""

    def __init__(
        self,
        store: InboxStore,
        *,
        now: datetime,
        dag_id: str = ONBOARDING_DAG_ID,
        delivery: DirectDelivery | SignedHttpDelivery | None = None,
    ) -> None:
        self.store = store
        self.now = now
        self.dag_id = dag_id
        self.delivery = delivery or DirectDelivery(store)

    def invite(self, fleet_ref: str, *, age: timedelta, expires_in: timedelta) -> SeededFleet:
        created = self.now - age
        invitation_id = str(uuid.uuid4())
        fleet = SeededFleet(
            fleet_ref=fleet_ref,
            invitation_id=invitation_id,
            fleet_id=f"fleet-{fleet_ref}",
            run_id=f"manual__{fleet_ref}__{invitation_id[:8]}",
        )
        invitation = Invitation(
            id=invitation_id,
            created_at=created,
            magic_link=f"https://connect.catenatelematics.com/?invite={invitation_id}",
            expires_at=self.now + expires_in,
            expires_in_hours=max(1, int((self.now + expires_in - created).total_seconds() // 3600)),
            status="active",
            fleet_ref=fleet_ref,
        )
        self.store.register_invitation(invitation, dag_id=self.dag_id, run_id=fleet.run_id)
        return fleet

    def event(self, event_name: str, record: dict[str, Any], *, age: timedelta, event_id: str | None = None) -> str:
        """Record one delivery; returns its event id (send the same id again for a duplicate)."""
        event_id = event_id or str(uuid.uuid4())
        body = json.dumps(
            {
                "version": "1.0",
                "event_name": event_name,
                "data": [record],
                "webhook_id": WEBHOOK_ID,
                "timestamp": _iso(self.now - age),
                "id": event_id,
                "delivery_attempt": 1,
            }
        )
        self.delivery.deliver(body, received_at=self.now - age)
        return event_id

    def invitation_event(self, fleet: SeededFleet, action: str, status: str, *, age: timedelta, **extra: Any) -> str:
        record = {"id": fleet.invitation_id, "status": status, "fleet_ref": fleet.fleet_ref, **extra}
        return self.event(f"invitation.{action}", record, age=age)

    def connect(self, fleet: SeededFleet, *, age: timedelta) -> str:
        """viewed → accepted → share agreement → connection → connected; returns the connection id."""
        connection_id = f"conn-{fleet.fleet_ref}"
        self.invitation_event(fleet, "viewed", "active", age=age + timedelta(minutes=50))
        self.invitation_event(
            fleet,
            "accepted",
            "accepted",
            age=age + timedelta(minutes=40),
            fleet_id=fleet.fleet_id,
            pre_registration_access_token=PRE_REGISTRATION_TOKEN,
            pre_registration_refresh_token=PRE_REGISTRATION_REFRESH,
        )
        self.event(
            "share_agreement.created",
            {
                "id": f"sa-{fleet.fleet_ref}",
                "status": "active",
                "fleet_id": fleet.fleet_id,
                "fleet_ref": fleet.fleet_ref,
            },
            age=age + timedelta(minutes=30),
        )
        self.event(
            "connection.created",
            {"id": connection_id, "status": "active", "fleet_id": fleet.fleet_id},
            age=age + timedelta(minutes=20),
        )
        self.event(
            "fleet_connection.created",
            {"id": f"fc-{fleet.fleet_ref}", "fleet_id": fleet.fleet_id, "connection_id": connection_id},
            age=age,
        )
        return connection_id


@dataclass(frozen=True)
class SeededInbox:
    """What ``seed_dashboard_inbox`` wrote, for assertions."""

    connected: SeededFleet  # connected, then its connection staled and a schedule was deactivated
    healthy: SeededFleet  # connected, all fine
    declined: SeededFleet
    stuck_viewed: SeededFleet  # viewed two days ago, nothing since
    expiring: SeededFleet  # invited an hour ago (sent 30 minutes ago), expires in two hours
    fresh: SeededFleet  # invited ten minutes ago
    stale_connection_id: str
    deactivated_schedule_id: str
    duplicate_event_id: str
    stale_event_id: str
    deactivation_event_id: str

    @property
    def all(self) -> tuple[SeededFleet, ...]:
        return (self.connected, self.healthy, self.declined, self.stuck_viewed, self.expiring, self.fresh)


def seed_dashboard_inbox(
    store: InboxStore,
    *,
    now: datetime | None = None,
    dag_id: str = ONBOARDING_DAG_ID,
    receiver_url: str | None = None,
) -> SeededInbox:
    """Seed ``store``; with ``receiver_url``, every webhook goes through that receiver, signed, over HTTP."""
    now = now or datetime.now(UTC)
    delivery = SignedHttpDelivery(receiver_url, SUBSCRIPTION_SECRET) if receiver_url else DirectDelivery(store)
    seed = InboxSeeder(store, now=now, dag_id=dag_id, delivery=delivery)
    store.save_subscription_secret(WEBHOOK_ID, SUBSCRIPTION_SECRET, event_name="invitation.*")
    week = timedelta(days=7)

    connected = seed.invite("acme-freight", age=timedelta(days=3), expires_in=week)
    stale_connection = seed.connect(connected, age=timedelta(days=2))
    seed.event(
        "execution.failed",
        {
            "id": "exec-acme-1",
            "status": "failed",
            "schedule_id": "sched-acme-locations",
            "connection_id": stale_connection,
            "fleet_id": connected.fleet_id,
            "resource": "vehicle_locations",
        },
        age=timedelta(hours=5),
    )
    deactivation_event_id = seed.event(
        "schedule.deactivated",
        {
            "id": "sched-acme-locations",
            "status": "inactive",
            "connection_id": stale_connection,
            "resource": "vehicle_locations",
        },
        age=timedelta(hours=4),
    )
    stale_event_id = seed.event(
        "connection.staled",
        {"id": stale_connection, "status": "stale", "fleet_id": connected.fleet_id},
        age=timedelta(hours=3),
    )

    healthy = seed.invite("bravo-logistics", age=timedelta(days=2), expires_in=week)
    seed.connect(healthy, age=timedelta(days=1))

    declined = seed.invite("charlie-haulage", age=timedelta(days=2), expires_in=week)
    seed.invitation_event(declined, "viewed", "active", age=timedelta(days=1, hours=2))
    seed.invitation_event(
        declined, "declined", "declined", age=timedelta(days=1), decline_reason="Already using another provider"
    )

    stuck_viewed = seed.invite("delta-transport", age=timedelta(days=3), expires_in=week)
    viewed_id = seed.invitation_event(stuck_viewed, "viewed", "active", age=timedelta(days=2))
    # Catena delivers at least once: the same event again is dropped as a duplicate.
    seed.event(
        "invitation.viewed",
        {"id": stuck_viewed.invitation_id, "status": "active", "fleet_ref": stuck_viewed.fleet_ref},
        age=timedelta(days=2),
        event_id=viewed_id,
    )

    expiring = seed.invite("echo-carriers", age=timedelta(hours=1), expires_in=timedelta(hours=2))
    fresh = seed.invite("foxtrot-fleet", age=timedelta(minutes=10), expires_in=week)
    # The most recent webhook, recorded last: the receiver's "last event".
    seed.invitation_event(expiring, "sent", "active", age=timedelta(minutes=30))
    delivery.signature_failures(2, at=now)
    return SeededInbox(
        connected=connected,
        healthy=healthy,
        declined=declined,
        stuck_viewed=stuck_viewed,
        expiring=expiring,
        fresh=fresh,
        stale_connection_id=stale_connection,
        deactivated_schedule_id="sched-acme-locations",
        duplicate_event_id=viewed_id,
        stale_event_id=stale_event_id,
        deactivation_event_id=deactivation_event_id,
    )
