"""The hot statements' guarantees, through the store's public API, on both inbox engines.

Onboarding events are deduplicated by the batch's pre-read before anything is inserted; every other
event (telematics, unknown names) relies on the event insert's ``ON CONFLICT DO NOTHING`` alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from catena_airflow.inbox import InboxStore, IncomingEvent
from tests.fixtures.databases import migrated_store
from tests.unit.inbox import fleet_events as fe


@pytest.fixture
def store(inbox_url) -> Iterator[InboxStore]:
    with migrated_store(inbox_url) as store:
        yield store


def telematics(n: int) -> dict[str, Any]:
    """A ``vehicle.added`` delivery: not an onboarding event, so not read before its insert."""
    return fe.envelope(n, "vehicle.added", {"id": f"vehicle-{n}", "fleet_id": fe.FLEET_ID, "vin": f"VIN{n:05d}"})


def item(envelope: dict[str, Any]) -> IncomingEvent:
    return IncomingEvent.from_envelope(envelope, fe.body(envelope))


def test_a_redelivered_telematics_event_is_a_duplicate_not_an_error(store):
    env = telematics(1)
    first = store.record_event(env, fe.body(env))
    again = store.record_event(env, fe.body(env))  # Catena's retry after a lost 202, in its own transaction
    assert (first.stored, first.duplicate) == (True, False)
    assert (again.stored, again.duplicate, again.seq) == (False, True, None)
    assert [e.event_id for e in store.events_after(0)] == [env["id"]]
    assert store.webhook_stats().duplicates_dropped == 1


def test_a_batch_mixing_stored_and_new_telematics_events(store):
    stored = telematics(1)
    store.record_events([item(stored)])
    new = telematics(2)
    outcomes = store.record_events([item(stored), item(new), item(new)])
    assert [(o.stored, o.duplicate) for o in outcomes] == [(False, True), (True, False), (False, True)]
    assert outcomes[1].seq == store.last_seq()
    assert [e.event_id for e in store.events_after(0)] == [stored["id"], new["id"]]
    assert store.webhook_stats().duplicates_dropped == 2


def test_a_redelivered_event_of_an_unknown_name_is_a_duplicate(store):
    env = fe.envelope(1, "trailer_vehicle_association.added", {"id": "a-1", "fleet_id": fe.FLEET_ID})
    outcomes = [store.record_event(env, fe.body(env)) for _ in range(3)]
    assert [o.duplicate for o in outcomes] == [False, True, True]
    assert len(store.events_after(0)) == 1
