"""Incremental onboarding reads (the shared poller's one statement per poll), on both inbox engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from catena_airflow.inbox import InboxStore, Stage
from catena_airflow.inbox.changes import BEGINNING, DEFAULT_OVERLAP, next_since
from catena_airflow.inbox.schema import onboardings
from tests.fixtures.databases import migrated_store


@pytest.fixture
def store(inbox_url) -> Iterator[InboxStore]:
    with migrated_store(inbox_url) as store:
        yield store


def register(store: InboxStore, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for i, invitation_id in enumerate(ids):
        store.register_invitation(
            {"id": invitation_id, "created_at": "2026-11-27T10:00:00Z", "status": "active", "fleet_ref": f"acme-{i}"}
        )
    return ids


def stamp(store: InboxStore, invitation_id: str, updated_at: datetime) -> None:
    """Rewrite a row's ``updated_at``: a writer whose clock is behind, or whose commit came late."""
    with store.engine.begin() as conn:
        conn.execute(
            onboardings.update().where(onboardings.c.invitation_id == invitation_id).values(updated_at=updated_at)
        )


def seen_of(rows) -> dict[str, datetime]:
    return {i: row.updated_at for i, row in rows.items() if row is not None}


def test_fresh_ids_are_read_whatever_their_age_and_unknown_ones_are_none(store):
    ids = register(store, 3)
    stamp(store, ids[0], datetime(2020, 1, 1, tzinfo=UTC))
    found = store.read_onboarding_changes(watched=[*ids, "unknown"], fresh=[*ids, "unknown"])
    assert found.rows.keys() == {*ids, "unknown"}
    assert found.rows["unknown"] is None
    assert all(found.rows[i].stage is Stage.INVITED for i in ids)
    assert found.newest == max(found.rows[i].updated_at for i in ids)


def test_only_rows_changed_since_the_cursor_are_parsed(store):
    ids = register(store, 5)
    first = store.read_onboarding_changes(watched=ids, fresh=ids)
    assert (
        store.read_onboarding_changes(
            watched=ids, changed_since=next_since(first.newest), seen=seen_of(first.rows)
        ).rows
        == {}
    )  # re-read within the overlap, but every version is already known: nothing parsed
    store.record_observation(ids[2], stage=Stage.ACCEPTED, fleet_id="fleet-2")
    found = store.read_onboarding_changes(watched=ids, changed_since=next_since(first.newest), seen=seen_of(first.rows))
    assert found.rows.keys() == {ids[2]}
    assert found.rows[ids[2]].stage is Stage.ACCEPTED
    assert found.newest == found.rows[ids[2]].updated_at > first.newest


def test_a_change_stamped_before_the_cursor_is_caught_by_the_overlap_window(store):
    ids = register(store, 3)
    first = store.read_onboarding_changes(watched=ids, fresh=ids)
    # Committed after the read, stamped by a clock 2 s behind (inside the overlap) / an hour behind (outside).
    stamp(store, ids[0], first.newest - DEFAULT_OVERLAP + timedelta(seconds=3))
    stamp(store, ids[1], first.newest - timedelta(hours=1))
    incremental = store.read_onboarding_changes(
        watched=ids, changed_since=next_since(first.newest), seen=seen_of(first.rows)
    )
    assert incremental.rows.keys() == {ids[0]}
    # What the overlap cannot see, the poller's periodic full read does.
    full = store.read_onboarding_changes(watched=ids, fresh=ids, changed_since=next_since(first.newest))
    assert full.rows[ids[1]].updated_at == first.newest - timedelta(hours=1)


def test_rows_nobody_watches_are_skipped_but_move_the_cursor(store):
    mine, other = register(store, 2)
    first = store.read_onboarding_changes(watched=[mine], fresh=[mine])
    store.record_observation(other, stage=Stage.ACCEPTED)
    found = store.read_onboarding_changes(
        watched=[mine], changed_since=next_since(first.newest), seen=seen_of(first.rows)
    )
    assert found.rows == {}
    assert found.fetched >= 1
    assert found.newest > first.newest


def test_an_empty_inbox_has_no_cursor_and_the_next_read_sees_every_new_row(store):
    empty = store.read_onboarding_changes(watched=["soon"], fresh=["soon"])
    assert empty.rows == {"soon": None}
    assert empty.newest is None
    assert next_since(empty.newest) == BEGINNING
    (new,) = register(store, 1)
    found = store.read_onboarding_changes(watched=[new], changed_since=next_since(empty.newest))
    assert found.rows.keys() == {new}
