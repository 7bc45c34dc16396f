"""Store reads the dashboard asks for (it reads the inbox only through the store), on both engines."""

from __future__ import annotations

import pytest

from tests.unit.inbox import fleet_events as fe

pytestmark = pytest.mark.integration

OTHER_CONNECTION = "019d0000-0000-7000-8000-00000000c002"


def staled(store, n: int, conn_id: str) -> str:
    env = fe.envelope(n, "connection.staled", fe.connection_record("stale", conn_id=conn_id))
    assert store.record_event(env, fe.body(env)).stored
    return env["id"]


def test_latest_event_per_connection(store):
    staled(store, 1, fe.CONNECTION_ID)
    latest = staled(store, 2, fe.CONNECTION_ID)
    other = staled(store, 3, OTHER_CONNECTION)
    created = fe.envelope(4, "connection.created", fe.connection_record(conn_id=fe.CONNECTION_ID))
    store.record_event(created, fe.body(created))  # another name: not the newest staled

    found = store.latest_event_per_connection("connection.staled", [fe.CONNECTION_ID, OTHER_CONNECTION, "none"])
    assert {conn: event.event_id for conn, event in found.items()} == {
        fe.CONNECTION_ID: latest,
        OTHER_CONNECTION: other,
    }
    assert found[fe.CONNECTION_ID].received_at.tzinfo is not None
    assert store.latest_event_per_connection("connection.staled", []) == {}
    assert store.latest_event_per_connection("schedule.deactivated", [fe.CONNECTION_ID]) == {}


def test_list_onboardings_without_a_limit_returns_every_row(store):
    ids = [f"019d0000-0000-7000-8000-{n:012d}" for n in range(1, 106)]
    for invitation_id in ids:
        store.register_invitation(fe.registration(invitation_id))
    assert len(store.list_onboardings()) == 100  # the default limit
    every = store.list_onboardings(limit=None)
    assert sorted(o.invitation_id for o in every) == ids
    assert len(store.list_onboardings(limit=None, offset=100)) == 5
