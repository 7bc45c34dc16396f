from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catena_airflow.inbox.models import Stage
from catena_airflow.inbox.projection import (
    comparable,
    event_fact,
    gating_stage,
    join,
    observation_fact,
    project,
    records_of,
    to_onboarding,
)
from tests.unit.inbox import fleet_events as fe


def records(envelopes):
    out = []
    for env in envelopes:
        at = datetime.fromisoformat(env["timestamp"].replace("Z", "+00:00"))
        out += records_of(env["id"], env["event_name"], env["data"], at)
    return out


def onboarding(envelopes, **kwargs):
    return to_onboarding(fe.INVITATION_ID, project(fe.INVITATION_ID, records(envelopes), **kwargs))


@st.composite
def shuffled_with_duplicates(draw, envelopes):
    """Every event at least once, some several times, in any order."""
    extra = draw(st.lists(st.sampled_from(envelopes), max_size=len(envelopes)))
    return draw(st.permutations(envelopes + extra))


@pytest.mark.parametrize("scenario", sorted(fe.SCENARIOS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_order_and_duplication_gives_the_same_state(scenario, data):
    build, expected_stage = fe.SCENARIOS[scenario]
    envelopes = build()
    reference = project(fe.INVITATION_ID, records(envelopes))
    delivered = data.draw(shuffled_with_duplicates(envelopes))

    state = project(fe.INVITATION_ID, records(delivered))

    assert comparable(state) == comparable(reference)
    assert to_onboarding(fe.INVITATION_ID, state).stage == Stage(expected_stage)


def test_happy_path_state():
    ob = onboarding(fe.happy() + fe.operational_events(20))

    assert ob.stage is Stage.CONNECTED and ob.is_connected and ob.is_terminal
    assert ob.fleet_id == fe.FLEET_ID and ob.fleet_ref == fe.FLEET_REF
    assert list(ob.stage_times) == [
        Stage.INVITED,
        Stage.SENT,
        Stage.VIEWED,
        Stage.ACCEPTED,
        Stage.SHARE_AGREEMENT,
        Stage.CONNECTION,
        Stage.CONNECTED,
    ]
    assert ob.connected_at == datetime(2026, 3, 1, 12, 7, tzinfo=UTC)
    assert ob.share_agreement_id == "sa-1" and ob.share_agreement_scopes == {"vehicles": "read"}
    assert ob.connection_ids == (fe.CONNECTION_ID,)
    assert ob.connections[fe.CONNECTION_ID].status == "stale"
    schedule = ob.schedules[fe.SCHEDULE_ID]
    assert (schedule.status, schedule.failed_executions, schedule.resource) == ("inactive", 2, "vehicles")
    assert schedule.last_failure_at == datetime(2026, 3, 1, 13, 5, tzinfo=UTC)
    assert ob.invitation_status == "accepted"


def test_reuse_without_connection_created_is_connected():
    ob = onboarding(fe.reuse())
    assert ob.stage is Stage.CONNECTED
    assert Stage.CONNECTION not in ob.stage_times
    assert ob.connections[fe.CONNECTION_ID].status == "active"


def test_decline_keeps_reason_and_time():
    ob = onboarding(fe.declined())
    assert ob.stage is Stage.DECLINED and ob.is_failed
    assert ob.decline_reason == "Not ready yet \u2014 try Q3"
    assert ob.stage_times[Stage.DECLINED] == datetime(2026, 3, 1, 12, 3, tzinfo=UTC)


def test_fleet_events_alone_are_not_applied():
    """connection/fleet_connection events name only a fleet: without the invitation's link they wait."""
    fleet_only = [env for env in fe.happy() if not env["event_name"].startswith(("invitation.", "share_agreement."))]
    assert onboarding(fleet_only).stage is Stage.INVITED
    assert onboarding(fleet_only).connection_ids == ()


def test_a_registration_links_the_fleet():
    fleet_only = [env for env in fe.happy() if env["event_name"].startswith(("connection.", "fleet_connection."))]
    base = observation_fact(at=fe.T0, fleet_id=fe.FLEET_ID, stage=Stage.INVITED)
    assert onboarding(fleet_only, base=base).stage is Stage.CONNECTED


def test_other_invitations_events_are_ignored():
    other = fe.envelope(9, "invitation.declined", {"id": "someone-else", "status": "declined"})
    assert onboarding([*fe.reuse(), other]).stage is Stage.CONNECTED


def test_stage_only_moves_forward():
    # A late `viewed` after acceptance does not move the onboarding back.
    late_view = fe.envelope(30, "invitation.viewed", {"id": fe.INVITATION_ID, "status": "active"})
    ob = onboarding([*fe.reuse(), late_view])
    assert ob.stage is Stage.CONNECTED
    assert ob.invitation_status == "active"  # the raw status is last-writer-wins by event time


@pytest.mark.parametrize(
    ("reached", "expected"),
    [
        ({}, Stage.INVITED),
        ({"invited": "1", "viewed": "2", "sent": "3"}, Stage.VIEWED),
        ({"invited": "1", "declined": "2"}, Stage.DECLINED),
        ({"declined": "2", "deleted": "3"}, Stage.DELETED),
        ({"declined": "4", "deleted": "3"}, Stage.DECLINED),
        ({"accepted": "5", "expired": "6"}, Stage.ACCEPTED),
        ({"share_agreement": "5", "connection": "6"}, Stage.CONNECTION),
        ({"expired": "6", "connected": "7"}, Stage.CONNECTED),
    ],
)
def test_gating_stage(reached, expected):
    assert gating_stage(reached) is expected


def test_redirects_never_change_the_stage():
    fact = observation_fact(at=fe.T0, source="redirect", stage="redirect_failure")
    ob = to_onboarding("i", join({}, fact))
    assert ob.stage is Stage.INVITED and set(ob.redirects) == {"redirect_failure"}


def test_join_is_commutative_for_facts():
    facts = [event_fact(rec) for rec in records(fe.happy() + fe.operational_events(20))]
    forward = {}
    for fact in facts:
        forward = join(forward, fact)
    backward = {}
    for fact in reversed(facts):
        backward = join(fact, backward)
    assert comparable(forward) == comparable(backward)


def test_unknown_event_names_do_not_break_projection():
    ob = onboarding([*fe.reuse(), fe.envelope(40, "invitation.refreshed", {"id": fe.INVITATION_ID})])
    assert ob.stage is Stage.CONNECTED
