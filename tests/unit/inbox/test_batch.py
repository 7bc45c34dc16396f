"""Held events released in a chain, through the store's public API only (batch.py's internals may change).

A schedule event names only its connection; a connection event only its fleet; the invitation links the
fleet. Delivered in the reverse order, each waits (held) for the one after it, and the last must release
the whole chain in its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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
