"""Held events released in a chain, through the store's public API only (batch.py's internals may change).

A schedule event names only its connection; a connection event only its fleet; the invitation links the
fleet. Delivered in the reverse order, each waits (held) for the one after it, and the last must release
the whole chain in its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from catena_airflow.inbox import InboxStore, IncomingEvent, Stage
from tests.fixtures.databases import migrated_store
from tests.unit.inbox import fleet_events as fe


@pytest.fixture
def store(inbox_url) -> Iterator[InboxStore]:
    with migrated_store(inbox_url) as store:
        yield store


def chain() -> list[dict[str, Any]]:
    """``schedule.deactivated`` (connection only), ``connection.created`` (fleet only), ``invitation.accepted``."""
    [schedule] = [e for e in fe.operational_events(20) if e["event_name"] == "schedule.deactivated"]
    [connection] = [e for e in fe.happy() if e["event_name"] == "connection.created"]
    [accepted] = [e for e in fe.happy() if e["event_name"] == "invitation.accepted"]
    return [schedule, connection, accepted]


def test_a_chain_of_held_events_over_three_transactions(store):
    schedule, connection, accepted = chain()
    # Another fleet's connection event, held too: releasing the chain must leave it held.
    other = fe.envelope(50, "connection.created", {"id": "conn-other", "fleet_id": "fleet-other", "status": "active"})
    for env in (schedule, other, connection):
        store.record_event(env, fe.body(env))
    assert store.get_onboarding(fe.INVITATION_ID) is None
    assert store.webhook_stats().held_events == 3

    store.record_event(accepted, fe.body(accepted))

    onboarding = store.get_onboarding(fe.INVITATION_ID)
    assert onboarding.connection_ids == (fe.CONNECTION_ID,)
    assert onboarding.schedules[fe.SCHEDULE_ID].status == "inactive"
    assert store.webhook_stats().held_events == 1
    assert {e.event_name: e.invitation_id for e in store.events_after(0) if e.event_id != other["id"]} == dict.fromkeys(
        ["schedule.deactivated", "connection.created", "invitation.accepted"], fe.INVITATION_ID
    )
    assert store.get_event(other["id"]).invitation_id is None


def test_the_same_chain_in_one_batch(store):
    store.record_events([IncomingEvent.from_envelope(env, fe.body(env)) for env in chain()])
    assert store.get_onboarding(fe.INVITATION_ID).schedules[fe.SCHEDULE_ID].status == "inactive"
    assert store.webhook_stats().held_events == 0


def test_the_chain_released_by_a_rest_observation(store):
    """Reconciliation, not the webhook, learns the fleet: the same chain is released."""
    schedule, connection, _ = chain()
    store.record_events([IncomingEvent.from_envelope(env, fe.body(env)) for env in (schedule, connection)])
    store.register_invitation({"id": fe.INVITATION_ID, "fleet_ref": fe.FLEET_REF, "status": "active"})
    onboarding = store.record_observation(fe.INVITATION_ID, fleet_id=fe.FLEET_ID, source="rest")
    assert onboarding.schedules[fe.SCHEDULE_ID].status == "inactive"
    assert store.webhook_stats().held_events == 0


def test_a_held_event_without_a_timestamp_is_timed_by_its_receipt(store):
    """Catena's envelope timestamp may be null: a held event released later keeps the time it arrived."""
    [connection] = [e for e in fe.happy() if e["event_name"] == "connection.created"]
    received = fe.at(45)
    untimed = {**connection, "timestamp": None}
    store.record_event(untimed, fe.body(untimed), received_at=received)
    assert store.webhook_stats().held_events == 1

    accepted = next(e for e in fe.happy() if e["event_name"] == "invitation.accepted")
    store.record_event(accepted, fe.body(accepted))

    onboarding = store.get_onboarding(fe.INVITATION_ID)
    assert onboarding.stage_times[Stage.CONNECTION] == received
    assert onboarding.connections[fe.CONNECTION_ID].at == received


def test_an_event_that_changes_nothing_leaves_the_onboarding_row_untouched(store):
    """The same fact under another envelope id (two subscriptions) reaches the row but does not rewrite it."""
    events = fe.happy()
    for env in events:
        store.record_event(env, fe.body(env))
    before = store.get_onboarding(fe.INVITATION_ID)
    viewed = next(e for e in events if e["event_name"] == "invitation.viewed")
    copy = {**viewed, "id": "019d0000-0000-7000-8000-999999999999"}

    assert store.record_event(copy, fe.body(copy)).stored

    after = store.get_onboarding(fe.INVITATION_ID)
    assert after.updated_at == before.updated_at
    assert after == before


def test_a_refresh_that_extends_the_expiry_releases_an_agreement_signed_after_the_old_one(store):
    """Catena refreshed the invitation (a later expires_at) and the fleet signed after the old expiry; the
    agreement's webhook came before the refresh was registered, so it waited: the refresh releases it."""
    store.register_invitation(fe.registration(expires_at=fe.at(60).isoformat()))
    agreement = fe.envelope(
        90, "share_agreement.created", fe.share_agreement_record(effective=fe.at(90))
    )  # after the first expiry: no live invitation of the fleet ref could have signed it
    store.record_event(agreement, fe.body(agreement))
    assert store.get_onboarding(fe.INVITATION_ID).fleet_id is None
    assert store.webhook_stats().held_events == 1

    store.register_invitation(fe.registration(expires_at=fe.at(24 * 60).isoformat()), new_attempt_at=fe.at(80))

    onboarding = store.get_onboarding(fe.INVITATION_ID)
    assert (onboarding.fleet_id, onboarding.stage) == (fe.FLEET_ID, Stage.SHARE_AGREEMENT)
    assert store.webhook_stats().held_events == 0


def test_a_reinvite_after_a_decline_releases_the_agreement_that_waited_for_it(store):
    """The fleet ref's only invitation was declined, so its agreement waited; Catena's refresh (same
    expiry) makes the invitation live again, and its registration releases the agreement."""
    for env in fe.declined():
        store.record_event(env, fe.body(env))
    agreement = fe.envelope(12, "share_agreement.created", fe.share_agreement_record(effective=fe.at(12)))
    store.record_event(agreement, fe.body(agreement))
    assert store.webhook_stats().held_events == 1

    store.register_invitation(fe.registration(), new_attempt_at=fe.at(10))

    onboarding = store.get_onboarding(fe.INVITATION_ID)
    assert (onboarding.fleet_id, onboarding.stage, onboarding.attempt) == (fe.FLEET_ID, Stage.SHARE_AGREEMENT, 2)
    assert store.webhook_stats().held_events == 0


def test_in_one_batch_an_agreement_sees_the_invitation_created_with_it(store):
    """The fleet ref's newer invitation is created in the same group commit as the agreement (listed
    first): the agreement goes to that newest invitation, not to the older one still open."""
    newer = "019d0000-0000-7000-8000-00000000a002"
    store.register_invitation(fe.registration())
    created = fe.envelope(
        10,
        "invitation.created",
        fe.invitation_record("active", invitation_id=newer, created=fe.at(10)),
        event_id="e-created",
    )
    agreement = fe.envelope(12, "share_agreement.created", fe.share_agreement_record(effective=fe.at(12)))
    store.record_events([IncomingEvent.from_envelope(env, fe.body(env)) for env in (agreement, created)])

    assert store.get_onboarding(newer).fleet_id == fe.FLEET_ID
    assert store.get_onboarding(fe.INVITATION_ID).fleet_id is None


def test_a_connection_linked_by_a_rest_read_releases_its_held_schedule_event(store):
    """No event names the connection when REST links it: the link alone must release what waited for it."""
    schedule, _, _ = chain()
    store.record_event(schedule, fe.body(schedule))
    store.register_invitation(fe.registration())

    onboarding = store.record_observation(fe.INVITATION_ID, connection_ids=[fe.CONNECTION_ID], source="rest")

    assert onboarding.schedules[fe.SCHEDULE_ID].status == "inactive"
    assert store.webhook_stats().held_events == 0


def test_a_redelivered_event_that_names_no_key_is_a_duplicate(store):
    """An onboarding-family event with none of the keys correlation reads (no fleet, no connection) is
    still recognised as stored when Catena delivers it again."""
    bare = fe.envelope(30, "execution.failed", {"id": "x-bare", "schedule_id": fe.SCHEDULE_ID, "status": "failed"})
    first = store.record_event(bare, fe.body(bare))
    again = store.record_event(bare, fe.body(bare))
    assert (first.stored, again.stored, again.duplicate) == (True, False, True)


def ties(conn_a: str, conn_z: str) -> list[dict[str, Any]]:
    """Two status changes of each connection in the same second: the larger event id wins the tie. For
    ``conn_a`` the winner is stored second, for ``conn_z`` first (whatever order held events come back in)."""
    stale = "019d0000-0000-7000-8000-0000000000a{}"
    active = "019d0000-0000-7000-8000-0000000000f{}"
    return [
        fe.envelope(40, "connection.staled", fe.connection_record("stale", conn_id=conn_a), event_id=stale.format(1)),
        fe.envelope(
            40, "connection.updated", fe.connection_record("active", conn_id=conn_a), event_id=active.format(1)
        ),
        fe.envelope(
            40, "connection.updated", fe.connection_record("active", conn_id=conn_z), event_id=active.format(2)
        ),
        fe.envelope(40, "connection.staled", fe.connection_record("stale", conn_id=conn_z), event_id=stale.format(2)),
    ]


@pytest.mark.parametrize("held", [True, False], ids=["held-then-released", "applied-on-arrival"])
def test_released_held_events_break_ties_by_event_id_as_events_applied_on_arrival(store, held):
    """Equal timestamps are ordered by event id, whether the events waited for their fleet or not."""
    [accepted] = [e for e in fe.happy() if e["event_name"] == "invitation.accepted"]
    if not held:
        store.record_event(accepted, fe.body(accepted))
    for env in ties("conn-a", "conn-z"):
        store.record_event(env, fe.body(env))
    assert store.webhook_stats().held_events == (4 if held else 0)
    if held:
        store.record_event(accepted, fe.body(accepted))

    onboarding = store.get_onboarding(fe.INVITATION_ID)
    assert {c: onboarding.connections[c].status for c in ("conn-a", "conn-z")} == {
        "conn-a": "active",
        "conn-z": "active",
    }
    assert store.webhook_stats().held_events == 0


# --- what a write costs: batch.py's promise is a bounded number of statements, each key read once ------

#: The projection's statements, by the start of their SQL.
_KINDS = {
    "SELECT anon_1.kind": "read",
    "INSERT INTO catena_onboardings ": "insert",
    "UPDATE catena_onboardings ": "update",
    "INSERT INTO catena_onboarding_connections ": "link",
    "UPDATE catena_events SET": "claim",
}


@pytest.fixture
def sqlite_store(sqlite_url) -> Iterator[InboxStore]:
    """SQLite only: on PostgreSQL the writes are sent together at commit (pg_transaction), past the
    cursor events these tests count."""
    with migrated_store(sqlite_url) as store:
        yield store


@contextmanager
def statements(store: InboxStore) -> Iterator[list[tuple[str, int]]]:
    """The projection statements sent to the database meanwhile, as (kind, rows), in order."""
    sent: list[tuple[str, int]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        text = " ".join(statement.split())
        for start, kind in _KINDS.items():
            if text.startswith(start):
                sent.append((kind, len(parameters) if executemany else 1))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_releasing_a_chain_reads_each_key_once(sqlite_store):
    """The chain's last event, with another fleet's event that stays held: one read for what the batch
    names, one for the connection the release links; one row written, one link, two held events claimed."""
    schedule, connection, accepted = chain()
    for env in (schedule, connection):
        sqlite_store.record_event(env, fe.body(env))
    other = fe.envelope(50, "connection.created", {"id": "conn-other", "fleet_id": "fleet-other", "status": "active"})
    with statements(sqlite_store) as sent:
        sqlite_store.record_events([IncomingEvent.from_envelope(env, fe.body(env)) for env in (accepted, other)])
    assert sent == [("read", 1), ("read", 1), ("insert", 1), ("link", 1), ("claim", 2)]
    assert sqlite_store.webhook_stats().held_events == 1


def test_an_event_held_under_two_keys_read_together_is_released_once(sqlite_store):
    """``connection.created`` waits under its fleet and its connection; a batch naming both reads it twice
    in one statement, and must apply and claim it once."""
    _, connection, accepted = chain()
    sqlite_store.record_event(connection, fe.body(connection))
    linked = fe.envelope(
        30, "fleet_connection.created", {"id": "fc-1", "fleet_id": fe.FLEET_ID, "connection_id": fe.CONNECTION_ID}
    )
    with statements(sqlite_store) as sent:
        sqlite_store.record_events([IncomingEvent.from_envelope(env, fe.body(env)) for env in (accepted, linked)])
    assert sent == [("read", 1), ("insert", 1), ("link", 1), ("claim", 1)]
    assert sqlite_store.get_onboarding(fe.INVITATION_ID).stage is Stage.CONNECTED


def test_registering_an_invitation_reads_only_its_own_row(sqlite_store):
    """Without a fleet ref there is no fleet ref's held agreement to look at."""
    with statements(sqlite_store) as sent:
        sqlite_store.register_invitation({"id": "i-1", "status": "active"})
    assert sent == [("read", 1), ("insert", 1)]


def test_an_event_for_a_connected_onboarding_reads_only_what_it_names(sqlite_store):
    """The fleet and connections of an onboarding linked before this write have no held events to fetch."""
    for env in fe.happy():
        sqlite_store.record_event(env, fe.body(env))
    schedule, _, _ = chain()  # names only the connection
    with statements(sqlite_store) as sent:
        sqlite_store.record_event(schedule, fe.body(schedule))
    viewed = next(e for e in fe.happy() if e["event_name"] == "invitation.viewed")
    again = {**viewed, "id": "019d0000-0000-7000-8000-999999999999", "data": [{**viewed["data"][0], "fleet_id": None}]}
    with statements(sqlite_store) as sent_again:
        sqlite_store.record_event(again, fe.body(again))  # names the invitation and its fleet ref only
    assert sent == [("read", 1), ("update", 1)]
    assert sent_again == [("read", 1)]  # it changes nothing


def test_an_observation_that_opens_no_fleet_ref_reads_only_its_onboarding(sqlite_store):
    """A redirect on a live invitation changes neither its fleet ref nor its expiry: no held agreement of
    its fleet ref can newly reach it, so none is read."""
    sqlite_store.register_invitation(fe.registration())
    with statements(sqlite_store) as sent:
        sqlite_store.record_observation(fe.INVITATION_ID, stage="redirect_success", source="redirect", at=fe.at(5))
    assert sent == [("read", 1), ("update", 1)]
