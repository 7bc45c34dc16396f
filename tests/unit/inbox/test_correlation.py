"""Which onboarding a record reaches, by the fields Catena's newest specs define (correlation.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from catena_airflow.inbox.correlation import correlation_keys, could_sign, record_keys, targets
from catena_airflow.inbox.models import Stage
from catena_airflow.inbox.projection import EventRecord, State, join, observation_fact, records_of
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


def share_agreement(variant: fe.Variant = fe.NEWEST, **fields) -> EventRecord:
    record = fe.share_agreement_record(variant=variant, effective=fe.at(30), **fields)
    return records_of("e-sa", "share_agreement.created", [record], fe.at(30))[0]


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
