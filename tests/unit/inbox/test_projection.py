"""The pure projection: facts, join, attempts, the read model (no correlation, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catena_airflow.inbox.models import Stage
from catena_airflow.inbox.projection import (
    attempts,
    event_fact,
    gating_stage,
    invitation_stage_times,
    join,
    observation_fact,
    records_of,
    to_onboarding,
)
from tests.unit.inbox import fleet_events as fe
from tests.unit.inbox.views import comparable


def facts(envelopes):
    out = []
    for env in envelopes:
        when = datetime.fromisoformat(env["timestamp"].replace("Z", "+00:00"))
        out += [event_fact(rec) for rec in records_of(env["id"], env["event_name"], env["data"], when)]
    return out


def state_of(envelopes, *extra):
    state = {}
    for fact in [*facts(envelopes), *extra]:
        state = join(state, fact)
    return state


def onboarding(envelopes, *extra):
    return to_onboarding(fe.INVITATION_ID, state_of(envelopes, *extra))


@st.composite
def shuffled_with_duplicates(draw, items):
    """Every item at least once, some several times, in any order."""
    extra = draw(st.lists(st.sampled_from(items), max_size=len(items)))
    return draw(st.permutations(items + extra))


@pytest.mark.parametrize("scenario", sorted(fe.SCENARIOS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_join_is_order_and_duplicate_insensitive(scenario, data):
    build, expected = fe.SCENARIOS[scenario]
    all_facts = facts(build())
    reference = state_of([], *all_facts)

    state = state_of([], *data.draw(shuffled_with_duplicates(all_facts)))

    assert state == reference
    assert to_onboarding(fe.INVITATION_ID, state).stage is Stage(expected)


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
    assert ob.connected_at == fe.at(7)
    assert ob.share_agreement_scopes == {"vehicle": "read", "vehicle_location": "read", "user": None}
    assert ob.connection_ids == (fe.CONNECTION_ID,)
    assert ob.connections[fe.CONNECTION_ID].status == "stale"
    schedule = ob.schedules[fe.SCHEDULE_ID]
    assert (schedule.status, schedule.failed_executions, schedule.resource) == ("inactive", 2, "vehicle")
    assert schedule.last_failure_at == datetime(2026, 3, 1, 13, 5, tzinfo=UTC)
    assert ob.invitation_status == "accepted"
    assert (ob.attempt, ob.attempt_started_at, ob.previous_attempts) == (1, None, ())


def test_the_same_fact_under_two_envelope_ids_counts_once():
    """One event delivered to an org-wide and a per-invitation subscription may carry two envelope ids."""
    operations = fe.operational_events(20)
    copies = [{**env, "id": env["id"][:-3] + "999", "timestamp": env["timestamp"]} for env in operations]
    ob = onboarding(fe.happy() + operations + copies)
    assert ob.schedules[fe.SCHEDULE_ID].failed_executions == 2
    assert comparable(ob) == comparable(onboarding(fe.happy() + operations))


def test_reuse_without_connection_created_is_connected():
    ob = onboarding(fe.reuse())
    assert ob.stage is Stage.CONNECTED
    assert Stage.CONNECTION not in ob.stage_times
    assert ob.connections[fe.CONNECTION_ID].status == "active"


def test_decline_keeps_reason_and_its_own_time():
    ob = onboarding(fe.declined())
    assert ob.stage is Stage.DECLINED and ob.is_failed
    assert ob.decline_reason == "Not ready yet \u2014 try Q3"
    assert ob.stage_times[Stage.DECLINED] == datetime(2026, 3, 1, 12, 3, tzinfo=UTC)


def test_an_expiry_is_timed_by_expires_at_not_by_its_delivery():
    late = fe.envelope(90, "invitation.expired", fe.invitation_record("expired", expires=fe.at(3)))
    assert onboarding([late]).stage_times[Stage.EXPIRED] == fe.at(3)


def test_stage_only_moves_forward():
    late_view = fe.envelope(30, "invitation.viewed", fe.invitation_record("active"))
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


def test_unknown_event_names_do_not_break_projection():
    odd = fe.envelope(40, "invitation.refreshed", {"id": fe.INVITATION_ID})
    assert onboarding([*fe.reuse(), odd]).stage is Stage.CONNECTED


def test_states_written_before_stage_time_sets_still_read():
    legacy = {"stage_times": {"invited": "2026-03-01T12:00:00.000000+00:00"}, "schedules": {"s": {"failed": 3}}}
    merged = join(legacy, observation_fact(at=fe.at(5), stage=Stage.VIEWED))
    ob = to_onboarding("i", merged)
    assert ob.stage is Stage.VIEWED and ob.stage_times[Stage.INVITED] == fe.T0
    assert ob.schedules["s"].failed_executions == 3


# --- attempts ---------------------------------------------------------------------------------------


def refresh(minutes: int):
    """What registering Catena's refreshed invitation adds: a new attempt from that time."""
    return observation_fact(
        at=fe.at(minutes), invitation_status="active", new_attempt_at=fe.at(minutes), expires_at=fe.at(minutes + 60)
    )


def second_attempt_accepts(first: int = 10):
    active = fe.invitation_record("active")
    return [
        fe.envelope(first + 1, "invitation.viewed", active),
        *fe.fleet_events(first + 2),
    ]


def test_a_refresh_after_a_decline_starts_a_clean_attempt():
    ob = onboarding(fe.declined(), refresh(10))
    assert (ob.stage, ob.attempt, ob.attempt_started_at) == (Stage.INVITED, 2, fe.at(10))
    assert ob.decline_reason is None
    (first,) = ob.previous_attempts
    assert (first.number, first.stage, first.started_at) == (1, Stage.DECLINED, None)
    assert first.stage_times[Stage.DECLINED] == datetime(2026, 3, 1, 12, 3, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_second_attempt_connects_whatever_the_old_ones_events_do(data):
    """The old attempt's decline, delivered late or twice, never fails the new one."""
    everything = [*facts(fe.declined() + second_attempt_accepts()), refresh(10)]
    state = state_of([], *data.draw(shuffled_with_duplicates(everything)))
    ob = to_onboarding(fe.INVITATION_ID, state)
    assert (ob.stage, ob.attempt) == (Stage.CONNECTED, 2)
    assert [a.stage for a in ob.previous_attempts] == [Stage.DECLINED]


def test_a_refresh_while_an_attempt_is_still_open_changes_nothing():
    """A retried create task refreshes an active invitation: the attempt goes on."""
    viewed = fe.happy()[:3]
    ob = onboarding(viewed, refresh(10))
    assert (ob.stage, ob.attempt, ob.previous_attempts) == (Stage.VIEWED, 1, ())


def test_an_expired_then_refreshed_invitation_waits_again_and_can_expire_again():
    active_again = fe.invitation_record("expired", expires=fe.at(70))
    ob = onboarding(fe.expired(), refresh(10))
    assert (ob.stage, ob.attempt) == (Stage.INVITED, 2)
    ob = onboarding([*fe.expired(), fe.envelope(75, "invitation.expired", active_again)], refresh(10))
    assert (ob.stage, ob.attempt) == (Stage.EXPIRED, 2)
    assert ob.stage_times[Stage.EXPIRED] == fe.at(70)


def test_attempt_windows_split_stage_times():
    state = state_of(fe.declined(), refresh(10))
    first, second = attempts(state)
    assert (first.start, first.end) == (None, second.start)
    assert set(first.stage_times) == {"invited", "viewed", "declined"}
    assert set(second.stage_times) == {"invited"}


def test_rest_stage_times_use_catenas_own_times_but_never_the_future():
    now = fe.at(30)
    assert invitation_stage_times("declined", observed_at=now, declined_at=fe.at(3)) == {Stage.DECLINED: fe.at(3)}
    assert invitation_stage_times("expired", observed_at=now, expires_at=fe.at(90)) == {Stage.EXPIRED: now}
    assert invitation_stage_times("accepted", observed_at=now) == {Stage.ACCEPTED: now}
    assert invitation_stage_times("active", observed_at=now) == {}
    assert invitation_stage_times("ACCEPTED", observed_at=now, accepted_at=fe.at(1)) == {Stage.ACCEPTED: fe.at(1)}


def test_share_agreement_scopes_may_be_null():
    record = fe.share_agreement_record()
    record["scopes"] = None
    fact = event_fact(records_of("e", "share_agreement.created", [record], fe.T0)[0])
    assert to_onboarding("i", fact).share_agreement_scopes == {}


def test_time_bounds_of_facts_are_canonical():
    a = observation_fact(at=datetime(2026, 3, 1, 13, 0, tzinfo=UTC), stage=Stage.VIEWED)
    b = observation_fact(at=datetime(2026, 3, 1, 14, 0, tzinfo=UTC) - timedelta(hours=1), stage=Stage.VIEWED)
    assert join(a, b) == join(a, a) == a
