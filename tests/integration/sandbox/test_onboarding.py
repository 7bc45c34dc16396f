"""The seed's own calls against the sandbox process, and the happy path end to end through a real receiver."""

from __future__ import annotations

import pytest

from tests.integration.sandbox.helpers import ONBOARDING_FAMILIES, learn_readable_secrets, subscribe
from tests.integration.sandbox.receiver import Receiver

pytestmark = pytest.mark.integration

HAPPY_EVENTS = (
    "invitation.created",
    "invitation.viewed",
    "invitation.accepted",
    "share_agreement.created",
    "connection.created",
    "fleet_connection.created",
)


def test_seed_calls_onboard_a_fleet_end_to_end(sandbox, receiver: Receiver) -> None:
    subscriptions = subscribe(sandbox, receiver, *ONBOARDING_FAMILIES)
    assert {s["event_name"] for s in subscriptions} >= set(HAPPY_EVENTS)
    # The callback_url subscriptions have secrets of their own; in this variation reads show them.
    sandbox.admin("PUT", "/variations", json={"callback_secret_read": "clear"}).raise_for_status()

    response = sandbox.api(
        "POST",
        "/v2/orgs/invitations",
        json={
            "fleet_ref": "ACME-42",
            "fleet_name": "Acme Trucking",
            "callback_url": receiver.url.replace("/hooks", "/callback"),
            "success_redirect_url": "https://partner.example.com/onboarded",
            "failure_redirect_url": "https://partner.example.com/failed",
        },
    )
    assert response.status_code == 201, response.text
    invitation = response.json()
    assert invitation["status"] == "active"
    assert invitation["magic_link"].endswith(invitation["id"])

    receiver.wait_for_events(*HAPPY_EVENTS)
    sandbox.wait_idle()
    callback_subscriptions = learn_readable_secrets(sandbox, receiver)
    assert {s["event_name"] for s in callback_subscriptions} >= set(HAPPY_EVENTS)

    hooks = [d for d in receiver.deliveries if d.path == "/hooks"]
    callbacks = [d for d in receiver.deliveries if d.path == "/callback"]
    assert [d.envelope["event_name"] for d in hooks if d.envelope] and callbacks
    assert all(d.signature_valid for d in receiver.deliveries)
    # The callback subscriptions see the same events, connection ones too (matched by the fleet they concern).
    assert {d.envelope["event_name"] for d in callbacks} == set(HAPPY_EVENTS)
    for delivery in receiver.deliveries:
        envelope = delivery.envelope
        assert envelope["delivery_attempt"] == 1
        assert delivery.headers["x-event-type"] == envelope["event_name"]
        assert delivery.headers["x-webhook-id"] == envelope["webhook_id"]
        assert delivery.headers["x-delivery-attempt"] == "1"
        assert delivery.headers["user-agent"] == "Catena-Webhook"
        assert delivery.headers["x-source"] == "catena-notifications"
        assert delivery.headers["x-schema-version"] == envelope["version"]
        assert delivery.headers["content-type"] == "application/json"
        assert len(envelope["data"]) == 1

    accepted = receiver.events("invitation.accepted")[0]["data"][0]
    fleet_connection = receiver.events("fleet_connection.created")[0]["data"][0]
    assert accepted["id"] == invitation["id"] and accepted["status"] == "accepted"

    # Correlation through documented fields only (records may show fleet_id/fleet_ref null: variations).
    final = sandbox.api("GET", f"/v2/orgs/invitations/{invitation['id']}", headers={}).json()
    assert final["status"] == "accepted" and final["fleet_ref"] == "ACME-42"
    assert final["fleet_id"] == fleet_connection["fleet_id"]
    assert final["pre_registration_access_token"]
    agreements = sandbox.api("GET", "/v2/orgs/share-agreements", params={"fleet_id": final["fleet_id"]}).json()
    assert agreements["total"] == 1 and agreements["items"][0]["status"] == "active"
    connections = sandbox.api("GET", "/v2/integrations/connections", params={"fleet_refs": "ACME-42"}).json()
    assert [c["id"] for c in connections["items"]] == [fleet_connection["connection_id"]]
