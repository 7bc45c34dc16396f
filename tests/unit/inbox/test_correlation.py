"""Which onboarding a record reaches, by the fields Catena's newest specs define (correlation.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from catena_airflow.inbox.correlation import correlation_keys, could_sign, record_keys, targets
from catena_airflow.inbox.models import Stage
from catena_airflow.inbox.projection import EventRecord, State, join, observation_fact, records_of, ts
from tests.unit.inbox import fleet_events as fe

A, B = "inv-a", "inv-b"


class Index:
    """An in-memory stand-in for the rows a store batch has loaded."""

    def __init__(self, **states: State) -> None:
        self.states = states

    def state(self, invitation_id: str) -> State:
        return self.states[invitation_id]

    def _with(self, key: str, value: str) -> Sequence[str]:
        return [i for i, s in self.states.items() if s.get(key) == value]

    def with_ref(self, fleet_ref: str) -> Sequence[str]:
        return self._with("fleet_ref", fleet_ref)

    def with_fleet(self, fleet_id: str) -> Sequence[str]:
        return self._with("fleet_id", fleet_id)

    def with_connection(self, connection_id: str) -> Sequence[str]:
        return [i for i, s in self.states.items() if connection_id in s.get("connection_ids", ())]


def row(*, minutes: int = 0, stage: Stage = Stage.INVITED, **identity) -> State:
    opened = fe.at(minutes)
    state = observation_fact(at=opened, stage=Stage.INVITED, opened_at=opened, expires_at=opened + timedelta(hours=24))
    if stage is not Stage.INVITED:
        state = join(state, observation_fact(at=opened + timedelta(minutes=1), stage=stage))
    return join(state, observation_fact(at=opened, **identity))


SIGNED = fe.at(30)


def share_agreement(
    variant: fe.Variant = fe.NEWEST, *, effective: datetime | None = SIGNED, delivered: datetime = SIGNED, **fields
) -> EventRecord:
    """A ``share_agreement.created`` record signed at ``effective`` (None: no effective_date), sent at ``delivered``."""
    record = fe.share_agreement_record(variant=variant, effective=effective, **fields)
    return records_of("e-sa", "share_agreement.created", [record], delivered)[0]


def test_a_share_agreement_goes_to_its_fleet_refs_onboarding():
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF), B: row(fleet_ref="OTHER")})
    assert targets(share_agreement(invitation_id=A), index) == [A]


def test_the_current_invitation_of_a_fleet_ref_wins_over_a_failed_one():
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF, stage=Stage.EXPIRED), B: row(minutes=10, fleet_ref=fe.FLEET_REF)})
    assert targets(share_agreement(), index) == [B]


def test_of_two_open_invitations_of_a_fleet_ref_the_most_recent_wins():
    """Catena refreshes rather than duplicates, so two open ones mean an expiry not seen yet."""
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF), B: row(minutes=10, fleet_ref=fe.FLEET_REF)})
    assert targets(share_agreement(), index) == [B]


def test_an_invitation_past_its_expiry_and_never_accepted_cannot_have_signed():
    lapsed = row(minutes=-24 * 60, fleet_ref=fe.FLEET_REF)  # expired at fe.at(0), before the agreement
    assert not could_sign(lapsed, "2026-03-01T12:30:00.000000+00:00")
    assert targets(share_agreement(), Index(**{A: lapsed})) == []


def test_an_onboarding_linked_to_another_fleet_is_never_chosen():
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF, fleet_id="another-fleet")})
    assert targets(share_agreement(), index) == []


def test_without_a_fleet_ref_only_an_onboarding_already_linked_to_the_fleet_is_reached():
    variant = fe.Variant(share_agreement_fleet_ref=False)
    assert targets(share_agreement(variant), Index(**{A: row(fleet_ref=fe.FLEET_REF)})) == []
    linked = Index(**{A: row(fleet_ref=fe.FLEET_REF, fleet_id=fe.FLEET_ID)})
    assert targets(share_agreement(variant), linked) == [A]


@pytest.mark.parametrize("claimed", [A, B, "unknown"])
def test_an_older_versions_invitation_id_only_ever_vetoes(claimed):
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF)})
    variant = fe.Variant(share_agreement_invitation_id="present")
    assert targets(share_agreement(variant, invitation_id=claimed), index) == ([A] if claimed == A else [])
    # Never the only key: without a fleet ref, an unlinked fleet stays unlinked whatever it claims.
    no_ref = fe.Variant(share_agreement_fleet_ref=False, share_agreement_invitation_id="present")
    assert targets(share_agreement(no_ref, invitation_id=A), index) == []


def test_a_null_invitation_id_is_no_claim():
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF)})
    assert targets(share_agreement(fe.Variant(share_agreement_invitation_id="null")), index) == [A]


def test_foreign_fleets_link_nothing():
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF, fleet_id=fe.FLEET_ID)})
    for env in fe.foreign_events(40):
        rec = records_of(env["id"], env["event_name"], env["data"], fe.at(40))[0]
        assert targets(rec, index) == []


def test_fleet_only_events_follow_the_fleet_then_the_connection():
    conn_linked = join(row(fleet_ref="X"), observation_fact(at=fe.T0, connection_ids=["c-1"]))
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF, fleet_id=fe.FLEET_ID), B: conn_linked})
    execution = {"id": "x", "fleet_id": fe.FLEET_ID, "connection_id": "c-1", "schedule_id": "s"}
    assert targets(records_of("e", "execution.failed", [execution], fe.T0)[0], index) == [A]
    schedule = {"id": "s", "connection_id": "c-1", "status": "inactive"}
    assert targets(records_of("e", "schedule.deactivated", [schedule], fe.T0)[0], index) == [B]


def test_invitation_records_name_their_own_onboarding():
    rec = records_of("e", "invitation.created", [fe.invitation_record("active", invitation_id=B)], fe.T0)[0]
    assert targets(rec, Index()) == [B]
    assert correlation_keys(rec).fleet_ref == fe.FLEET_REF


def test_record_keys_name_what_a_batch_reads_first():
    recs = []
    for env in fe.happy(fe.OLDEST):
        recs += records_of(env["id"], env["event_name"], env["data"], fe.T0)
    invs, fleets, refs, conns = record_keys(recs)
    assert (invs, fleets, refs, conns) == ({fe.INVITATION_ID}, {fe.FLEET_ID}, {fe.FLEET_REF}, {fe.CONNECTION_ID})


# --- when an agreement was signed, against the invitation's expiry ---------------------------------

EXPIRY = fe.at(24 * 60)  # row()'s invitation, opened at fe.at(0), expires 24 h later


def test_an_agreement_signed_before_the_expiry_but_delivered_after_it_still_reaches_the_invitation():
    """The signing time is the record's effective_date, not the envelope's (late) timestamp."""
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF)})
    late = share_agreement(effective=EXPIRY - timedelta(hours=1), delivered=EXPIRY + timedelta(hours=1))
    assert targets(late, index) == [A]
    after = share_agreement(effective=EXPIRY + timedelta(hours=1), delivered=EXPIRY - timedelta(hours=1))
    assert targets(after, index) == []


def test_without_an_effective_date_the_delivery_time_is_the_signing_time():
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF)})
    assert targets(share_agreement(effective=None, delivered=EXPIRY - timedelta(hours=1)), index) == [A]
    assert targets(share_agreement(effective=None, delivered=EXPIRY + timedelta(hours=1)), index) == []


def test_an_agreement_signed_at_the_very_moment_of_the_expiry_can_still_be_the_invitations():
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF)})
    assert targets(share_agreement(effective=EXPIRY, delivered=EXPIRY), index) == [A]


def test_an_accepted_invitation_no_longer_expires():
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF, stage=Stage.ACCEPTED)})
    signed = EXPIRY + timedelta(hours=6)
    assert targets(share_agreement(effective=signed, delivered=signed), index) == [A]


def test_an_invitation_with_no_known_expiry_can_sign_at_any_time():
    never_expires = observation_fact(at=fe.T0, stage=Stage.INVITED, opened_at=fe.T0, fleet_ref=fe.FLEET_REF)
    assert could_sign(never_expires, ts(fe.at(10 * 24 * 60)))
    assert targets(share_agreement(effective=fe.at(10 * 24 * 60)), Index(**{A: never_expires})) == [A]


@pytest.mark.parametrize("failure", [Stage.DECLINED, Stage.EXPIRED, Stage.DELETED])
def test_a_fleet_refs_only_invitation_having_failed_holds_the_agreement(failure):
    failed = row(fleet_ref=fe.FLEET_REF, stage=failure)
    assert not could_sign(failed, ts(fe.at(2)))
    assert targets(share_agreement(effective=fe.at(2), delivered=fe.at(2)), Index(**{A: failed})) == []


# --- which of a fleet ref's onboardings ----------------------------------------------------------------


def test_the_onboarding_already_linked_to_the_fleet_wins_over_a_more_recent_unlinked_one():
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF, fleet_id=fe.FLEET_ID), B: row(minutes=10, fleet_ref=fe.FLEET_REF)})
    assert targets(share_agreement(), index) == [A]


def test_the_most_recent_wins_by_time_not_by_invitation_id():
    index = Index(**{A: row(minutes=10, fleet_ref=fe.FLEET_REF), B: row(fleet_ref=fe.FLEET_REF)})
    assert A < B
    assert targets(share_agreement(), index) == [A]


# --- what other records name ---------------------------------------------------------------------------


def test_an_invitation_record_without_an_id_reaches_nothing():
    record = {**fe.invitation_record("active"), "id": None}
    rec = records_of("e", "invitation.created", [record], fe.T0)[0]
    assert targets(rec, Index(**{A: row(fleet_ref=fe.FLEET_REF)})) == []


def test_an_invitation_record_names_its_fleet():
    accepted = fe.invitation_record("accepted", fleet_id=fe.FLEET_ID)
    rec = records_of("e", "invitation.accepted", [accepted], fe.T0)[0]
    assert correlation_keys(rec).fleet_id == fe.FLEET_ID
    assert record_keys([rec]) == ({fe.INVITATION_ID}, {fe.FLEET_ID}, {fe.FLEET_REF}, set())


UNLINKED_FLEET = "fleet-not-linked-yet"


@pytest.mark.parametrize(
    ("event_name", "record"),
    [
        ("connection.staled", fe.connection_record("stale", fleet_id=UNLINKED_FLEET)),
        ("fleet_connection.created", {"id": "fc", "fleet_id": UNLINKED_FLEET, "connection_id": fe.CONNECTION_ID}),
        ("execution.failed", {"id": "x", "fleet_id": UNLINKED_FLEET, "connection_id": fe.CONNECTION_ID}),
    ],
)
def test_an_event_of_an_unlinked_fleet_follows_its_connection(event_name, record):
    """A connection linked by a REST read (its fleet not linked yet) still gets its connection's events."""
    conn_linked = join(row(fleet_ref=fe.FLEET_REF), observation_fact(at=fe.T0, connection_ids=[fe.CONNECTION_ID]))
    rec = records_of("e", event_name, [record], fe.T0)[0]
    assert correlation_keys(rec).connection_id == fe.CONNECTION_ID
    assert targets(rec, Index(**{B: conn_linked})) == [B]


@pytest.mark.parametrize("unreadable", ["not-a-date", "2026-13-45T00:00:00Z"])
def test_an_unreadable_effective_date_falls_back_to_the_delivery_time(unreadable):
    """A signed record is never refused over a field it does not need: as if it had no effective_date."""
    index = Index(**{A: row(fleet_ref=fe.FLEET_REF)})
    record = {**fe.share_agreement_record(), "effective_date": unreadable}
    before, after = EXPIRY - timedelta(hours=1), EXPIRY + timedelta(hours=1)
    assert targets(records_of("e-sa", "share_agreement.created", [record], before)[0], index) == [A]
    assert targets(records_of("e-sa", "share_agreement.created", [record], after)[0], index) == []
