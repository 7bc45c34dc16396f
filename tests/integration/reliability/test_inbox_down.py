"""The inbox database goes away in the middle of a burst of deliveries, then comes back.

Real processes: the sandbox delivers (and retries, then dead-letters), ``catena-webhooks serve`` receives,
PostgreSQL stores, and a TCP proxy between the receiver and PostgreSQL is killed for the outage (so
PostgreSQL, shared with other tests, keeps running). While it is down the receiver must answer 503,
never 2xx or 4xx (Catena takes those as delivered); after a DLQ replay every event is in the inbox
exactly once and every onboarding reached the state its scenario ends in.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.engine import make_url

from tests.integration.reliability.helpers import (
    FAMILIES,
    DeliveryFigures,
    expected_stage,
    fleets_linked_by_events,
    invite,
    proxied,
    registrar,
    replay_dead_letters,
    subscribe,
    wait_settled,
)
from tests.integration.reliability.inbox_probe import event_id_counts, onboarding_stages

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SECRET = "inbox-down-secret-4Yp2"
BURST = 300  # telematics events, published in batches while the database goes down
BATCH = 30


def test_inbox_outage_loses_nothing_and_stores_nothing_twice(sandbox, catena_client, processes, postgres_url):
    pg = make_url(postgres_url)
    proxy = processes.proxy(pg.host or "127.0.0.1", pg.port or 5432)
    inbox_url = proxied(postgres_url, proxy.port)
    receiver = processes.receiver(inbox_url=inbox_url, secrets=SECRET)
    subscriptions = subscribe(catena_client, receiver.url, SECRET, (*FAMILIES, "vehicle.added"))
    fleets_linked_by_events(sandbox)

    before = invite(catena_client, "before", 1, register=registrar(postgres_url))  # the database up
    wait_settled(sandbox)
    assert set(onboarding_stages(postgres_url)) >= set(before), receiver.log()[-2000:]

    down = threading.Event()

    def burst() -> None:
        for n in range(BURST // BATCH):
            if n == 3:
                proxy.kill()  # the outage starts in the middle of the burst
                down.set()
            sandbox.admin(
                "POST",
                "/events",
                json={"event_name": "vehicle.added", "data": [{"id": f"veh-{n}", "fleet_id": "f-1"}], "count": BATCH},
            ).raise_for_status()

    publisher = threading.Thread(target=burst)
    publisher.start()
    assert down.wait(30)
    # Whole onboardings happen while the inbox is down; their registrations wait too (the operator's
    # task retries until the inbox is back).
    late: list = []
    during = invite(catena_client, "during", 1, register=late.append)
    publisher.join(60)
    stats = wait_settled(sandbox)
    outage = DeliveryFigures.of(sandbox, subscriptions)
    assert outage.answered.get(503, 0) > 0, outage.answered  # the receiver said "retry later"...
    assert not {code for code in outage.answered if 400 <= code < 500}, outage.answered  # ...never "done"
    assert stats["dlq"] > 0  # Catena gave up retrying: the events wait in its dead-letter queue

    proxy.start()  # the database is back
    for invitation in late:
        registrar(postgres_url)(invitation)
    reactivated = replay_dead_letters(catena_client, subscriptions)
    wait_settled(sandbox)

    delivered = DeliveryFigures.of(sandbox, subscriptions)
    counts = event_id_counts(postgres_url)
    assert set(counts) == delivered.events  # every event Catena sent is in the inbox: none lost
    assert set(counts.values()) == {1}  # and exactly once
    assert sandbox.stats()["dlq"] == 0
    stages = onboarding_stages(postgres_url)
    assert {ref: stages[ref] for ref in before + during} == {ref: expected_stage(ref) for ref in before + during}
    print(
        f"\nFIGURES inbox-down: events={len(delivered.events)} stored={len(counts)} lost=0 "
        f"attempts={delivered.attempts} answered={delivered.answered} dead_lettered_then_replayed={stats['dlq']} "
        f"subscriptions_reactivated={reactivated}"
    )
