"""The pure projection: facts, join, attempts, the read model (no correlation, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catena_airflow.inbox.models import Stage
from catena_airflow.inbox.projection import (
    PROJECTED_FAMILIES,
    attempts,
    current_stage,
    event_fact,
    gating_stage,
    invitation_stage_times,
    is_projected,
    join,
    observation_fact,
    onboarding_row,
    recency,
    records_of,
    to_onboarding,
    to_utc,
    ts,
)
from tests.unit.inbox import fleet_events as fe
from tests.unit.inbox.conftest import local_time_zone
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


def test_onboarding_families_are_projected_and_others_are_not():
    assert all(is_projected(f"{family}.created") for family in PROJECTED_FAMILIES)
    assert not is_projected("vehicle.location_updated") and not is_projected("webhook.created")


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


# --- facts, exactly: they are what the store persists ----------------------------------------------

T10 = "2026-03-01T12:10:00.000000+00:00"  # the envelope's time in the cases below
CLOCK = [T10, "e#0"]  # (event time, event id # record index)


def t(hhmm: str) -> str:
    return f"2026-03-01T{hhmm}:00.000000+00:00"


def connection_fact(status: str) -> dict:
    return {"connection_ids": ["c"], "connections": {"c": [CLOCK, {"status": status, "at": T10}]}}


#: What a REST read says about an invitation's identity (observation_fact's arguments).
IDENTITY = {
    "fleet_id": "F",
    "fleet_ref": "REF",
    "magic_link": "https://m",
    "opened_at": fe.T0,
    "expires_at": fe.at(60),
}


@pytest.mark.parametrize(
    ("event_name", "record", "expected"),
    [
        pytest.param(
            "invitation.created",
            {
                "id": "inv",
                "status": "Active",
                "fleet_ref": "REF",
                "fleet_id": None,
                "magic_link": "https://m",
                "created_at": "2026-03-01T12:01:00Z",
                "expires_at": "2026-03-02T12:01:00Z",
            },
            {
                "stage_times": {"invited": [t("12:01")]},  # timed by created_at, not by the envelope
                "invitation_status": [[t("12:01"), "e#0"], "active"],
                "fleet_ref": "REF",
                "magic_link": "https://m",
                "opened_at": t("12:01"),
                "expires_at": "2026-03-02T12:01:00.000000+00:00",
            },
            id="created",
        ),
        pytest.param(
            "invitation.accepted",
            {
                "id": "inv",
                "status": "accepted",
                "fleet_ref": "REF",
                "fleet_id": "F",
                "accepted_at": "2026-03-01T12:05Z",
            },
            {
                "stage_times": {"accepted": [t("12:05")]},
                "invitation_status": [[t("12:05"), "e#0"], "accepted"],
                "fleet_id": "F",
                "fleet_ref": "REF",
            },
            id="accepted",
        ),
        pytest.param(
            "invitation.declined",
            # Catena's own declined_at is kept even when it is later than the envelope's timestamp.
            {"id": "inv", "status": "declined", "decline_reason": "not now", "declined_at": "2026-03-01T12:12Z"},
            {
                "stage_times": {"declined": [t("12:12")]},
                "invitation_status": [[t("12:12"), "e#0"], "declined"],
                "decline_reason": [[t("12:12"), "e#0"], "not now"],
            },
            id="declined",
        ),
        pytest.param(
            "invitation.expired",
            # An expiry happens at expires_at, but never later than Catena reports it.
            {"id": "inv", "status": "expired", "expires_at": "2026-03-01T12:30Z"},
            {
                "stage_times": {"expired": [T10]},
                "invitation_status": [CLOCK, "expired"],
                "expires_at": t("12:30"),
            },
            id="expired",
        ),
        pytest.param(
            "invitation.viewed",
            {"id": "inv", "status": "active"},
            {"stage_times": {"viewed": [T10]}, "invitation_status": [CLOCK, "active"]},
            id="viewed",
        ),
        pytest.param(
            "invitation.refreshed",  # no stage of its own: its status still counts, at the envelope's time
            {"id": "inv", "status": "active"},
            {"invitation_status": [CLOCK, "active"]},
            id="unknown-action",
        ),
        pytest.param(
            "share_agreement.created",
            {
                "id": "sa",
                "fleet_id": "F",
                "fleet_ref": "REF",
                "status": "Active",
                "effective_date": "2026-03-01T12:04Z",
                "scopes": {"vehicle": "read"},
            },
            {
                "stage_times": {"share_agreement": [t("12:04")]},
                "fleet_id": "F",
                "fleet_ref": "REF",
                "share_agreement": [CLOCK, {"id": "sa", "status": "active", "scopes": {"vehicle": "read"}}],
            },
            id="share-agreement",
        ),
        pytest.param(
            "share_agreement.created",
            {"id": "sa", "fleet_id": "F", "status": "active", "scopes": ["vehicle"]},
            {
                "stage_times": {"share_agreement": [T10]},
                "fleet_id": "F",
                "share_agreement": [CLOCK, {"id": "sa", "status": "active", "scopes": {}}],
            },
            id="share-agreement-odd-scopes",
        ),
        pytest.param(
            "share_agreement.deleted",
            {"id": "sa", "fleet_id": "F", "fleet_ref": None},
            {"fleet_id": "F", "share_agreement": [CLOCK, {"id": "sa", "status": "deleted", "scopes": {}}]},
            id="share-agreement-deleted",
        ),
        pytest.param(
            "share_agreement.updated",
            {"id": "sa", "fleet_id": "F"},
            {"fleet_id": "F", "share_agreement": [CLOCK, {"id": "sa", "status": None, "scopes": {}}]},
            id="share-agreement-no-status",
        ),
        pytest.param(
            "connection.created",
            {"id": "c", "fleet_id": "F", "status": "Active"},
            {"stage_times": {"connection": [T10]}, **connection_fact("active")},
            id="connection",
        ),
        pytest.param(
            "connection.updated",
            {"id": "c", "fleet_id": "F", "status": "Stale"},
            connection_fact("stale"),
            id="connection-status",
        ),
        pytest.param(
            "connection.updated",
            {"id": "c", "fleet_id": "F"},
            connection_fact("active"),
            id="connection-no-status",
        ),
        pytest.param(
            "connection.staled",
            {"id": "c", "fleet_id": "F", "status": "active"},
            connection_fact("stale"),
            id="connection-staled",
        ),
        pytest.param(
            "fleet_connection.created",
            {"id": "fc", "fleet_id": "F", "connection_id": "c"},
            {"stage_times": {"connected": [T10]}, "connection_ids": ["c"]},
            id="fleet-connection",
        ),
        pytest.param(
            "execution.failed",
            {
                "id": "x",
                "schedule_id": "s",
                "connection_id": "c",
                "resource": "vehicle",
                "updated_at": "2026-03-01T12:08Z",
            },
            {
                "schedules": {
                    "s": {
                        "connection_id": "c",
                        "resource": "vehicle",
                        "failed_ids": ["x"],
                        "last_failure_at": t("12:08"),
                    }
                }
            },
            id="execution-failed",
        ),
        pytest.param(
            "execution.failed",
            {"schedule_id": "s", "connection_id": "c"},
            {
                "schedules": {
                    "s": {"connection_id": "c", "resource": None, "failed_ids": ["e#0"], "last_failure_at": T10}
                }
            },
            id="execution-failed-bare",
        ),
        pytest.param(
            "execution.succeeded",
            {"id": "x", "schedule_id": "s", "connection_id": "c", "resource": "vehicle"},
            {"schedules": {"s": {"connection_id": "c", "resource": "vehicle"}}},
            id="execution-succeeded",
        ),
        pytest.param(
            "schedule.deactivated",
            {"id": "s", "connection_id": "c", "resource": "vehicle"},
            {
                "schedules": {
                    "s": {
                        "connection_id": "c",
                        "resource": "vehicle",
                        "status": [CLOCK, {"status": "inactive", "at": T10}],
                    }
                }
            },
            id="schedule-deactivated",
        ),
        pytest.param(
            "schedule.updated",
            {"id": "s", "connection_id": "c", "status": "Active"},
            {
                "schedules": {
                    "s": {"connection_id": "c", "resource": None, "status": [CLOCK, {"status": "active", "at": T10}]}
                }
            },
            id="schedule-status",
        ),
        pytest.param(
            "schedule.updated",
            {"id": "s", "connection_id": "c"},
            {"schedules": {"s": {"connection_id": "c", "resource": None}}},
            id="schedule-no-status",
        ),
    ],
)
def test_the_fact_of_each_record_shape(event_name, record, expected):
    assert event_fact(records_of("e", event_name, [record], fe.at(10))[0]) == expected


def test_the_fact_of_a_full_rest_observation():
    fact = observation_fact(
        at=fe.at(5),
        stage=Stage.VIEWED,
        stage_times={Stage.INVITED: fe.T0, Stage.SENT: None},  # a stage with no time is no fact
        **IDENTITY,
        invitation_status="Active",
        connection_ids=["c2"],
        connection_statuses={"c1": "Stale"},
        schedule_statuses={"s1": "Inactive"},
        share_agreement={"id": "sa", "status": "Active", "scopes": {"vehicle": "read"}},
        decline_reason="why",
        dag_id="d",
        run_id="r1",
    )
    clock = [t("12:05"), "~rest"]
    assert fact == {
        # invitation_status "active" is the invited stage, which stage_times already times
        "stage_times": {"invited": [t("12:00")], "viewed": [t("12:05")], "share_agreement": [t("12:05")]},
        "fleet_id": "F",
        "fleet_ref": "REF",
        "magic_link": "https://m",
        "opened_at": t("12:00"),
        "expires_at": t("13:00"),
        "invitation_status": [clock, "active"],
        "decline_reason": [clock, "why"],
        "connection_ids": ["c1", "c2"],  # the listed ones and those with a status
        "connections": {"c1": [clock, {"status": "stale", "at": t("12:05")}]},
        "schedules": {"s1": {"status": [clock, {"status": "inactive", "at": t("12:05")}]}},
        "share_agreement": [clock, {"id": "sa", "status": "active", "scopes": {"vehicle": "read"}}],
        "dag_run": [clock, {"dag_id": "d", "run_id": "r1"}],
    }


def test_an_observed_status_is_timed_by_catenas_own_time_when_given():
    fact = observation_fact(at=fe.at(30), invitation_status="Declined", stage_times={Stage.DECLINED: fe.at(3)})
    assert fact == {"stage_times": {"declined": [t("12:03")]}, "invitation_status": [[t("12:30"), "~rest"], "declined"]}
    # Without it, the status is a stage reached when it was observed.
    assert observation_fact(at=fe.at(30), invitation_status="expired")["stage_times"] == {"expired": [t("12:30")]}


def test_an_observed_share_agreement_keeps_catenas_signing_time():
    fact = observation_fact(
        at=fe.at(30), share_agreement={"id": "sa", "status": "active"}, stage_times={Stage.SHARE_AGREEMENT: fe.at(4)}
    )
    assert fact["stage_times"] == {"share_agreement": [t("12:04")]}


def test_the_fact_of_a_redirect_page_never_holds_a_stage():
    fact = observation_fact(at=fe.at(10), source="redirect", stage="redirect_failure", invitation_status="Declined")
    assert fact == {
        "redirects": {"redirect_failure": T10},
        "invitation_status": [[T10, "~redirect"], "declined"],
    }


def test_the_fact_of_a_registration_of_a_refreshed_invitation():
    fact = observation_fact(
        at=fe.at(11), source="register", invitation_status="active", new_attempt_at=fe.at(10), dag_id="d"
    )
    clock = [t("12:11"), "~register"]
    assert fact == {
        "attempts": [T10],
        "stage_times": {"invited": [T10, t("12:11")]},
        "invitation_status": [clock, "active"],
        "dag_run": [clock, {"dag_id": "d", "run_id": None}],
    }
    assert observation_fact(at=fe.at(11), run_id="r") == {
        "dag_run": [[t("12:11"), "~rest"], {"dag_id": None, "run_id": "r"}]
    }


def test_a_schedules_identity_comes_from_whichever_fact_has_it():
    """An execution names the schedule's connection and resource; a REST observation of its status does not."""
    execution = {"schedules": {"s": {"connection_id": "c", "resource": "vehicle", "failed_ids": ["x"]}}}
    observed = observation_fact(at=fe.at(5), schedule_statuses={"s": "active"})
    for merged in (join(execution, observed), join(observed, execution)):
        schedule = to_onboarding("i", merged).schedules["s"]
        assert (schedule.connection_id, schedule.resource, schedule.status) == ("c", "vehicle", "active")


def test_failures_counted_before_they_were_keyed_by_execution_add_up():
    older = {"schedules": {"s": {"failed": 2}}}
    newer = {"schedules": {"s": {"failed": 3, "failed_ids": ["x"]}}}
    assert join(older, newer)["schedules"]["s"] == {"failed": 5, "failed_ids": ["x"]}
    assert to_onboarding("i", join(newer, older)).schedules["s"].failed_executions == 6


def test_the_fact_of_a_new_attempt_alone_starts_it_invited():
    assert observation_fact(at=fe.at(11), new_attempt_at=fe.at(10)) == {
        "attempts": [T10],
        "stage_times": {"invited": [T10]},
    }


def test_a_fact_needs_a_time():
    with pytest.raises(ValueError, match=r"^a fact needs a time$"):
        observation_fact(at=None)


def test_empty_identity_fields_are_no_identity():
    record = {"id": "inv", "status": "active", "fleet_ref": "", "fleet_id": "", "magic_link": ""}
    assert event_fact(records_of("e", "invitation.viewed", [record], fe.at(10))[0]) == {
        "stage_times": {"viewed": [T10]},
        "invitation_status": [CLOCK, "active"],
    }


# --- join --------------------------------------------------------------------------------------------


def test_the_empty_state_is_the_identity_of_join():
    full = join(
        observation_fact(
            at=fe.at(5),
            **IDENTITY,
            invitation_status="active",
            dag_id="d",
            run_id="r",
        ),
        observation_fact(at=fe.at(6), source="redirect", stage="redirect_success"),
    )
    assert set(full) >= {"opened_at", "magic_link", "expires_at", "redirects", "dag_run"}
    assert join(full, {}) == join({}, full) == full


def test_a_redirect_seen_twice_keeps_its_latest_time():
    first = observation_fact(at=fe.at(5), source="redirect", stage="redirect_failure")
    again = observation_fact(at=fe.at(9), source="redirect", stage="redirect_failure")
    assert join(first, again)["redirects"] == join(again, first)["redirects"] == {"redirect_failure": t("12:09")}


# --- attempts ------------------------------------------------------------------------------------------


def test_a_stage_reached_at_the_very_instant_of_a_refresh_belongs_to_the_new_attempt():
    sent_then = fe.envelope(10, "invitation.sent", fe.invitation_record("active"))
    first, second = attempts(state_of([*fe.declined(), sent_then], refresh(10)))
    assert "sent" not in first.stage_times
    assert second.stage_times["sent"] == T10


def test_a_refresh_during_the_second_attempt_looks_at_that_attempt_only():
    """The first attempt's decline is not the second's: a retried task's refresh then changes nothing."""
    viewed_again = fe.envelope(11, "invitation.viewed", fe.invitation_record("active"))
    ob = onboarding([*fe.declined(), viewed_again], refresh(10), refresh(20))
    assert (ob.stage, ob.attempt, ob.attempt_started_at) == (Stage.VIEWED, 2, fe.at(10))
    assert current_stage(state_of([*fe.declined(), viewed_again], refresh(10), refresh(20))) is Stage.VIEWED


def test_each_previous_attempt_keeps_when_it_started():
    declined_again = fe.envelope(
        15, "invitation.declined", fe.invitation_record("declined", declined_at=fe.at(15).isoformat())
    )
    ob = onboarding([*fe.declined(), declined_again], refresh(10), refresh(20))
    assert (ob.attempt, ob.stage) == (3, Stage.INVITED)
    assert current_stage(state_of([*fe.declined(), declined_again], refresh(10), refresh(20))) is Stage.INVITED
    assert [(a.number, a.started_at, a.stage) for a in ob.previous_attempts] == [
        (1, None, Stage.DECLINED),
        (2, fe.at(10), Stage.DECLINED),
    ]


def test_recency_is_when_the_current_attempt_began():
    assert recency({}) == ""
    assert recency({"opened_at": t("12:00")}) == t("12:00")
    assert recency({"opened_at": t("12:00"), "attempts": [t("12:10"), t("12:20")]}) == t("12:20")
    assert recency({"attempts": [t("12:10")], "stage_times": {"viewed": [t("12:30")]}}) == t("12:10")
    # Without either, its latest stage time (a state written before opened_at was kept: a plain string).
    assert recency({"stage_times": {"invited": t("12:01"), "viewed": [t("12:03"), t("12:02")]}}) == t("12:03")


# --- the read model ------------------------------------------------------------------------------------


def test_the_read_model_shows_every_field_of_the_state():
    state = join(
        observation_fact(
            at=fe.at(5),
            **IDENTITY,
            connection_statuses={"c": "stale"},
            schedule_statuses={"s": "inactive"},
            share_agreement={"id": "sa", "status": "active"},
            dag_id="d",
            run_id="r",
        ),
        {"schedules": {"s2": {"connection_id": "c", "failed_ids": ["x"]}}},
    )
    ob = to_onboarding("inv", state, created_at=fe.T0, updated_at=fe.at(5))
    assert (ob.invitation_id, ob.fleet_id, ob.fleet_ref, ob.magic_link) == ("inv", "F", "REF", "https://m")
    assert (ob.expires_at, ob.created_at, ob.updated_at) == (fe.at(60), fe.T0, fe.at(5))
    assert (ob.share_agreement_id, ob.share_agreement_status) == ("sa", "active")
    assert (ob.dag_id, ob.run_id) == ("d", "r")
    assert (ob.connections["c"].status, ob.connections["c"].at) == ("stale", fe.at(5))
    assert (ob.schedules["s"].status, ob.schedules["s"].at) == ("inactive", fe.at(5))
    # A schedule known only from its executions is active, since no time.
    assert (ob.schedules["s2"].status, ob.schedules["s2"].at, ob.schedules["s2"].failed_executions) == (
        "active",
        None,
        1,
    )


# --- time ------------------------------------------------------------------------------------------------


@pytest.fixture
def tokyo(monkeypatch):
    """A machine whose local time is not UTC."""
    yield from local_time_zone(monkeypatch, "Asia/Tokyo")


def test_times_are_utc_whatever_the_machines_zone(tokyo):
    assert ts("2026-03-01T14:00:00+02:00") == t("12:00")
    assert ts(datetime(2026, 3, 1, 12, 0)) == t("12:00")  # a naive time is UTC
    assert ts("2026-03-01T12:00:00") == t("12:00")
    assert to_utc("2026-03-01T14:00:00+02:00") == to_utc(fe.T0) == fe.T0
    assert to_utc("") is None and to_utc(None) is None and ts(None) is None


def test_join_is_commutative_when_two_values_share_a_clock():
    """Two REST reads by one source at one instant carry the same clock; which one wins cannot depend on order."""
    clock = ["2026-03-01T12:00:00.000000+00:00", "~rest"]
    pending = {"invitation_status": [clock, "pending"], "connections": {"c-1": [clock, {"status": "active"}]}}
    accepted = {"invitation_status": [clock, "accepted"], "connections": {"c-1": [clock, {"status": "stale"}]}}
    assert join(pending, accepted) == join(accepted, pending)
    assert join(join(pending, accepted), pending) == join(pending, accepted)


def test_the_onboarding_row_denormalizes_the_read_model_into_its_columns():
    """The columns the dashboard filters and sorts on, beside the state they are read from."""
    run = observation_fact(at=fe.at(8), dag_id="catena_fleet_onboarding", run_id="manual__1", decline_reason="not now")
    state = state_of(fe.happy(), run)
    view = to_onboarding(fe.INVITATION_ID, state)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    assert onboarding_row(state, now) == {
        "fleet_ref": fe.FLEET_REF,
        "fleet_id": fe.FLEET_ID,
        "stage": "connected",
        "invitation_status": view.invitation_status,
        "decline_reason": None,
        "magic_link": view.magic_link,
        "expires_at": view.expires_at,
        "connected_at": fe.at(7),
        "dag_id": "catena_fleet_onboarding",
        "run_id": "manual__1",
        "state": state,
        "updated_at": now,
    }
    assert view.invitation_status and view.magic_link and view.expires_at  # each column holds a value here
    declined = state_of(fe.declined())
    reason = onboarding_row(declined, now)["decline_reason"]
    assert reason and reason == to_onboarding(fe.INVITATION_ID, declined).decline_reason
