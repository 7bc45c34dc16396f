"""Catena's delivery at its worst (duplicates, reordering, jitter) changes nothing in the end.

The same demo-sized set of onboardings (every sandbox scenario, several fleets each) runs twice against
real receiver processes and PostgreSQL inboxes: once clean, once with the sandbox's delivery faults on.
The final onboarding of every fleet must be the same in both, and so must the events kept.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from catena_airflow.inbox import InboxStore
from tests.integration.reliability.helpers import (
    expected_stage,
    fleets_linked_by_events,
    invite,
    registrar,
    subscribe,
    wait_settled,
)
from tests.integration.reliability.inbox_probe import event_id_counts

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SECRET = "delivery-faults-secret-2Lm7"
FLEETS_PER_SCENARIO = 3
FAULTS = {"duplicate_rate": 0.3, "reorder_rate": 0.3, "reorder_delay": 0.2, "jitter_seconds": 0.1}


def final_onboardings(store: InboxStore) -> dict[str, dict[str, Any]]:
    """Each fleet's onboarding without the ids and times that differ between two runs by nature."""
    return {
        o.fleet_ref: {
            "stage": o.stage.value,
            "stages_reached": sorted(s.value for s in o.stage_times),
            "invitation_status": o.invitation_status,
            "decline_reason": o.decline_reason,
            "share_agreement": (o.share_agreement_status, o.share_agreement_scopes),
            "connections": sorted(c.status for c in o.connections.values()),
            "schedules": sorted((s.resource, s.status, s.failed_executions) for s in o.schedules.values()),
            "linked": (o.fleet_id is not None, len(o.connection_ids)),
        }
        for o in store.list_onboardings(limit=1000)
    }


def run(sandbox, catena_client, processes, inbox_url: str, faults: dict[str, float] | None) -> dict[str, Any]:
    sandbox.reset()
    fleets_linked_by_events(sandbox)
    if faults:
        sandbox.admin("PUT", "/faults", json=faults).raise_for_status()
    receiver = processes.receiver(inbox_url=inbox_url, secrets=SECRET)
    subscribe(catena_client, receiver.url, SECRET)
    refs = invite(catena_client, "demo", FLEETS_PER_SCENARIO, register=registrar(inbox_url))
    wait_settled(sandbox)
    receiver.stop()
    store = InboxStore(inbox_url)
    try:
        onboardings = final_onboardings(store)
        stats = store.webhook_stats()
        names = Counter(e.event_name for e in store.events_after(0, limit=100_000))
    finally:
        store.dispose()
    attempts = len(sandbox.deliveries(limit=20_000))
    return {"refs": refs, "onboardings": onboardings, "stats": stats, "names": names, "attempts": attempts}


def test_duplicates_reordering_and_jitter_end_in_the_clean_state(
    sandbox, catena_client, processes, postgres_database_factory
):
    clean_url, faulty_url = postgres_database_factory(), postgres_database_factory()
    clean = run(sandbox, catena_client, processes, clean_url, None)
    faulty = run(sandbox, catena_client, processes, faulty_url, FAULTS)

    assert {ref: o["stage"] for ref, o in clean["onboardings"].items()} == {
        ref: expected_stage(ref) for ref in clean["refs"]
    }
    assert faulty["onboardings"] == clean["onboardings"]
    assert faulty["names"] == clean["names"]  # the same events kept, each once
    assert set(event_id_counts(faulty_url).values()) == {1}
    assert clean["stats"].duplicates_dropped == 0
    assert faulty["stats"].duplicates_dropped > 0  # duplicates really arrived, and were dropped
    assert faulty["stats"].rejected == faulty["stats"].signature_failures == 0
    events = sum(clean["names"].values())
    print(
        f"\nFIGURES delivery-faults: fleets={len(clean['refs'])} events={events} "
        f"stored_clean={sum(clean['names'].values())} stored_faulty={sum(faulty['names'].values())} lost=0 "
        f"attempts_clean={clean['attempts']} attempts_faulty={faulty['attempts']} "
        f"duplicates_dropped={faulty['stats'].duplicates_dropped}"
    )
