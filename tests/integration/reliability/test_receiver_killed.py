"""The receiver process is SIGKILLed in the middle of a burst and started again.

A kill may land between the commit and the answer: Catena then retries an event the inbox already
holds, which must be dropped as a duplicate, not applied twice. Everything not committed is retried
or dead-lettered by the sandbox and replayed. PostgreSQL inbox, real processes throughout.
"""

from __future__ import annotations

import threading
import time

import pytest

from catena_airflow.inbox import InboxStore
from tests.integration.reliability.helpers import (
    FAMILIES,
    DeliveryFigures,
    expected_stage,
    fleets_linked_by_events,
    invite,
    registrar,
    replay_dead_letters,
    subscribe,
    wait_settled,
)
from tests.integration.reliability.inbox_probe import event_id_counts, onboarding_stages, stored_count

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SECRET = "receiver-killed-secret-8Hc1"
BURST = 400
BATCH = 20


def test_receiver_killed_mid_burst_loses_nothing_and_applies_nothing_twice(
    sandbox, catena_client, processes, postgres_url
):
    receiver = processes.receiver(inbox_url=postgres_url, secrets=SECRET)
    subscriptions = subscribe(catena_client, receiver.url, SECRET, (*FAMILIES, "vehicle.added"))
    fleets_linked_by_events(sandbox)
    published = threading.Event()

    def burst() -> None:
        for n in range(BURST // BATCH):
            sandbox.admin(
                "POST",
                "/events",
                json={"event_name": "vehicle.added", "data": [{"id": f"veh-{n}", "fleet_id": "f-2"}], "count": BATCH},
            ).raise_for_status()
            time.sleep(0.02)  # a steady stream, so the kill lands while deliveries are in flight
        published.set()

    publisher = threading.Thread(target=burst)
    publisher.start()
    fleets = invite(catena_client, "killed", 2, register=registrar(postgres_url))
    deadline = time.monotonic() + 90  # generous: the machine is shared, commits can be slow
    while stored_count(postgres_url) < 50:  # the burst is well under way
        assert time.monotonic() < deadline, receiver.log()[-2000:]
        time.sleep(0.02)
    receiver.kill()
    killed_with = stored_count(postgres_url)
    assert published.wait(60)
    publisher.join(10)
    wait_settled(sandbox)
    receiver.start()  # same port, same inbox
    reactivated = replay_dead_letters(catena_client, subscriptions)
    wait_settled(sandbox)

    delivered = DeliveryFigures.of(sandbox, subscriptions)
    counts = event_id_counts(postgres_url)
    assert killed_with < len(delivered.events)  # the kill really interrupted the burst
    assert set(counts) == delivered.events  # nothing lost
    assert set(counts.values()) == {1}  # nothing stored twice
    assert sandbox.stats()["dlq"] == 0
    stages = onboarding_stages(postgres_url)
    assert {ref: stages[ref] for ref in fleets} == {ref: expected_stage(ref) for ref in fleets}
    store = InboxStore(postgres_url)
    try:
        duplicates = store.webhook_stats().duplicates_dropped
    finally:
        store.dispose()
    print(
        f"\nFIGURES receiver-killed: events={len(delivered.events)} stored={len(counts)} lost=0 "
        f"stored_when_killed={killed_with} attempts={delivered.attempts} answered={delivered.answered} "
        f"duplicates_dropped={duplicates} subscriptions_reactivated={reactivated}"
    )
