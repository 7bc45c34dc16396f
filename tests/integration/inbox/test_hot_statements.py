"""The store's prebuilt statements bind a key list as one parameter; check what they find on both engines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from catena_airflow.inbox import IncomingEvent

pytestmark = pytest.mark.integration

_NOW = datetime.now(UTC).isoformat()


def _event(event_id: str, name: str, record: dict) -> IncomingEvent:
    envelope = {"id": event_id, "event_name": name, "webhook_id": "wh", "timestamp": _NOW, "data": [record]}
    return IncomingEvent.from_envelope(envelope, json.dumps(envelope))


def test_known_events_finds_stored_ids_only(store):
    store.record_events([_event("e1", "vehicle_location.added", {"id": "v1"})])
    hot = store.statements
    with store.engine.connect() as conn:
        found = set(conn.execute(hot.known_events, {"ids": hot.keys(["e1", "nope"])}).scalars())
        none = list(conn.execute(hot.known_events, {"ids": hot.keys([])}).scalars())
    assert found == {"e1"}
    assert none == []


def test_onboardings_reached_by_invitation_or_fleet(store):
    store.record_events(
        [
            _event("a1", "invitation.accepted", {"id": "inv-a", "status": "accepted", "fleet_id": "fleet-a"}),
            _event("b1", "invitation.accepted", {"id": "inv-b", "status": "accepted", "fleet_id": "fleet-b"}),
        ]
    )
    hot = store.statements
    with store.engine.connect() as conn:
        rows = conn.execute(
            hot.onboardings_reached, {"invs": hot.keys(["inv-a"]), "fleets": hot.keys(["fleet-a", "fleet-b"])}
        ).all()
    # inv-a is reached by its id and by its fleet: it comes twice; inv-b once, by its fleet.
    assert sorted(invitation_id for invitation_id, _ in rows) == ["inv-a", "inv-a", "inv-b"]
    assert all(isinstance(state, dict) for _, state in rows)


def test_held_event_reached_by_fleet_and_connection_is_applied_once(store):
    # Held: the fleet is not linked to any onboarding yet.
    store.record_events(
        [_event("fc1", "fleet_connection.created", {"id": "fc-1", "fleet_id": "fleet-h", "connection_id": "conn-h"})]
    )
    hot = store.statements
    with store.engine.connect() as conn:
        held = conn.execute(hot.held_events, {"fleets": hot.keys(["fleet-h"]), "conns": hot.keys(["conn-h"])}).all()
    assert [row.event_id for row in held] == ["fc1", "fc1"]  # once per key; the batch applies it once

    share = {"id": "sa-h", "fleet_id": "fleet-h", "invitation_id": "inv-h", "status": "active"}
    store.record_events([_event("sa", "share_agreement.created", share)])
    onboarding = store.get_onboarding("inv-h")
    assert onboarding is not None and onboarding.connection_ids == ("conn-h",)
    with store.engine.connect() as conn:
        assert conn.execute(hot.held_events, {"fleets": hot.keys(["fleet-h"]), "conns": hot.keys([])}).all() == []
