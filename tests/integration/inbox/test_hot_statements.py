"""The store's prebuilt batch read binds each key list as one parameter; check what it finds on both engines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from catena_airflow.inbox import IncomingEvent
from catena_airflow.inbox.statements import ReadKind

pytestmark = pytest.mark.integration

_NOW = datetime.now(UTC).isoformat()


def _event(event_id: str, name: str, record: dict) -> IncomingEvent:
    envelope = {"id": event_id, "event_name": name, "webhook_id": "wh", "timestamp": _NOW, "data": [record]}
    return IncomingEvent.from_envelope(envelope, json.dumps(envelope))


def _read(store, **keys) -> list:
    hot = store.statements
    with store.engine.connect() as conn:
        return conn.execute(hot.batch_reads, hot.batch_read_params(**keys)).all()


def _of(rows, kind: ReadKind) -> list:
    return [row for row in rows if row.kind == kind]


def test_batch_reads_finds_stored_event_ids_only(store):
    store.record_events([_event("e1", "vehicle_location.added", {"id": "v1"})])
    assert [row.key for row in _read(store, ids=["e1", "nope"])] == ["e1"]
    assert _read(store) == []  # every key list empty: nothing


def test_batch_reads_reaches_onboardings_by_invitation_fleet_or_connection(store):
    store.record_events(
        [
            _event("a1", "invitation.accepted", {"id": "inv-a", "status": "accepted", "fleet_id": "fleet-a"}),
            _event("b1", "invitation.accepted", {"id": "inv-b", "status": "accepted", "fleet_id": "fleet-b"}),
            _event("c1", "invitation.accepted", {"id": "inv-c", "status": "accepted", "fleet_id": "fleet-c"}),
            _event("c2", "fleet_connection.created", {"id": "fc", "fleet_id": "fleet-c", "connection_id": "conn-c"}),
        ]
    )
    rows = _read(store, invs=["inv-a"], fleets=["fleet-a", "fleet-b"], conns=["conn-c", "conn-none"])
    # inv-a is reached by its id and by its fleet: it comes twice; inv-b by its fleet; inv-c by its connection.
    assert sorted(row.key for row in _of(rows, ReadKind.ONBOARDING)) == ["inv-a", "inv-a", "inv-b", "inv-c"]
    assert all(isinstance(row.state, dict) and row.state for row in _of(rows, ReadKind.ONBOARDING))
    assert [(row.key, row.ref) for row in _of(rows, ReadKind.LINK)] == [("conn-c", "inv-c")]
    assert [row.kind for row in rows] == sorted(row.kind for row in rows)  # links before the rows they reach


def test_batch_reads_orders_onboardings_oldest_first(store):
    for n in (3, 1, 2):  # created in this order
        store.record_events(
            [_event(f"o{n}", "invitation.accepted", {"id": f"inv-{n}", "status": "accepted", "fleet_id": "shared"})]
        )
    assert [row.key for row in _read(store, fleets=["shared"])] == ["inv-3", "inv-1", "inv-2"]


def test_batch_reads_held_event_reached_by_fleet_and_connection_comes_twice_and_is_applied_once(store):
    # Held: the fleet is not linked to any onboarding yet.
    store.record_events(
        [_event("fc1", "fleet_connection.created", {"id": "fc-1", "fleet_id": "fleet-h", "connection_id": "conn-h"})]
    )
    held = _of(_read(store, held_fleets=["fleet-h"], held_conns=["conn-h"]), ReadKind.HELD)
    assert [(row.key, row.ref) for row in held] == [("fc1", "fleet_connection.created")] * 2
    assert json.loads(held[0].payload)["id"] == "fc1" and held[0].seq is not None
    assert _read(store, fleets=["fleet-h"], conns=["conn-h"]) == []  # onboarding keys alone do not read held events

    accepted = {"id": "inv-h", "status": "accepted", "fleet_id": "fleet-h", "fleet_ref": "ref-h"}
    store.record_events([_event("acc", "invitation.accepted", accepted)])
    onboarding = store.get_onboarding("inv-h")
    assert onboarding is not None and onboarding.connection_ids == ("conn-h",)
    assert _of(_read(store, held_fleets=["fleet-h"], held_conns=["conn-h"]), ReadKind.HELD) == []


def test_batch_reads_reaches_onboardings_and_held_agreements_by_fleet_ref(store):
    # A share agreement of a fleet ref with no onboarding yet waits under its ref.
    share = {"id": "sa-r", "fleet_id": "fleet-r", "fleet_ref": "ref-r", "status": "active", "scopes": {}}
    store.record_events([_event("sa", "share_agreement.created", share)])
    held = _of(_read(store, held_refs=["ref-r"]), ReadKind.HELD)
    assert [(row.key, row.ref) for row in held] == [("sa", "share_agreement.created")]
    assert _read(store, refs=["ref-r"]) == []

    store.record_events([_event("i", "invitation.created", {"id": "inv-r", "status": "active", "fleet_ref": "ref-r"})])

    assert [row.key for row in _of(_read(store, refs=["ref-r"]), ReadKind.ONBOARDING)] == ["inv-r"]
    assert _of(_read(store, held_refs=["ref-r"]), ReadKind.HELD) == []
    assert store.get_onboarding("inv-r").fleet_id == "fleet-r"
