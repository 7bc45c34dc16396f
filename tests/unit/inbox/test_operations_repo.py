"""The operations DAG's state in the inbox (schema v5): fleet status, execution failures, held schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def test_fleet_status_round_trip(store):
    assert store.get_fleet_status("f1") is None
    store.set_fleet_status("f1", status="stale", ingestion_paused=True, reason="connection c1 stale", fleet_ref="acme")
    store.set_fleet_status("f1", status="active", ingestion_paused=False)
    status = store.get_fleet_status("f1")
    assert (status.status, status.ingestion_paused, status.fleet_ref) == ("active", False, "acme")
    assert [s.fleet_id for s in store.list_fleet_statuses("active")] == ["f1"]
    assert store.list_fleet_statuses("stale") == []


def test_execution_failures_are_recorded_once_per_event(store):
    assert store.record_execution_failure(event_id="e1#0", schedule_id="s1")
    assert not store.record_execution_failure(event_id="e1#0", schedule_id="s1")
    assert store.record_execution_failure(event_id="e2#0", schedule_id="s1")
    assert store.count_execution_failures("s1") == 2
    assert store.count_execution_failures("s1", since=datetime.now(UTC) + timedelta(minutes=1)) == 0


def test_a_held_schedule_pauses_its_resource_until_reactivated(store):
    store.hold_schedule(
        "s1",
        connection_id="c1",
        state="awaiting_connection",
        reason="connection c1 is stale",
        fleet_id="f1",
        resource="vehicle_location",
    )
    assert store.paused_resources("f1") == {"vehicle_location": "connection c1 is stale"}
    assert [h.schedule_id for h in store.list_schedule_holds("awaiting_connection", fleet_id="f1")] == ["s1"]
    store.schedule_reactivated("s1", connection_id="c1")
    hold = store.get_schedule_hold("s1")
    assert (hold.state, hold.reason, hold.reactivations, hold.fleet_id) == ("reactivated", None, 1, "f1")
    assert store.paused_resources("f1") == {}


def test_reactivations_are_counted_per_24_hour_window(store):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    store.schedule_reactivated("s1", connection_id="c1", now=start)
    store.schedule_reactivated("s1", connection_id="c1", now=start + timedelta(hours=23))
    assert store.reactivations_today("s1", now=start + timedelta(hours=23)) == 2
    assert store.reactivations_today("s1", now=start + timedelta(hours=25)) == 0
    store.schedule_reactivated("s1", connection_id="c1", now=start + timedelta(hours=25))  # a fresh window
    assert store.reactivations_today("s1", now=start + timedelta(hours=25)) == 1
    assert store.reactivations_today("unknown") == 0


def test_fleet_statuses_read_back_whole_and_in_fleet_order(store):
    before = datetime.now(UTC)
    store.set_fleet_status("f2", status="stale", ingestion_paused=True, reason="connection c2 stale", fleet_ref="b")
    store.set_fleet_status("f1", status="stale", ingestion_paused=True, reason="connection c1 stale", fleet_ref="a")
    first, second = store.list_fleet_statuses("stale")
    assert (first.fleet_id, first.fleet_ref, first.status) == ("f1", "a", "stale")
    assert (first.ingestion_paused, first.reason) == (True, "connection c1 stale")
    assert second.fleet_id == "f2"
    assert before <= first.updated_at <= datetime.now(UTC)


def test_execution_failures_count_from_since(store):
    before = datetime.now(UTC)
    store.record_execution_failure(event_id="e1#0", schedule_id="s1")
    store.record_execution_failure(event_id="e2#0", schedule_id="s2")
    assert store.count_execution_failures("s1", since=before) == 1
    assert store.count_execution_failures("s3", since=before) == 0


def test_schedule_holds_read_back_whole_in_schedule_order_and_per_fleet(store):
    before = datetime.now(UTC)
    for schedule_id, fleet_id in (("s3", "f2"), ("s2", "f1"), ("s1", "f1")):
        store.hold_schedule(
            schedule_id,
            connection_id=f"c-{fleet_id}",
            state="needs_decision",
            reason=f"{schedule_id} deactivated",
            fleet_id=fleet_id,
            fleet_ref=f"ref-{fleet_id}",
            resource=f"resource_{schedule_id}",
        )
    assert [h.schedule_id for h in store.list_schedule_holds()] == ["s1", "s2", "s3"]
    first, second = store.list_schedule_holds("needs_decision", fleet_id="f1")
    assert (first.schedule_id, first.connection_id, first.fleet_ref, first.resource) == (
        "s1",
        "c-f1",
        "ref-f1",
        "resource_s1",
    )
    assert (first.reactivations, first.window_started_at) == (0, None)
    assert before <= first.updated_at <= datetime.now(UTC)
    assert second.schedule_id == "s2"
    assert store.paused_resources("f1") == {"resource_s1": "s1 deactivated", "resource_s2": "s2 deactivated"}


def test_a_reactivation_window_lasts_24_hours_to_the_microsecond(store):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    store.schedule_reactivated("s1", connection_id="c1", now=start)
    store.schedule_reactivated("s1", connection_id="c1", now=start + timedelta(hours=24))  # still the window
    assert store.reactivations_today("s1", now=start + timedelta(hours=24)) == 2
    assert store.reactivations_today("s1", now=start + timedelta(hours=24, microseconds=1)) == 0
    assert store.reactivations_today("s1") == 0  # now, months later: the clock's own time, aware
