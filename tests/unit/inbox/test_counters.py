"""The receiver's hourly counters and its health read (inbox/counters.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from catena_airflow.inbox.models import HourlyCount, WebhookStats
from tests.fixtures.databases import migrated_store
from tests.unit.inbox import fleet_events as fe

NOW = datetime(2026, 3, 1, 12, 40, 5, 123, tzinfo=UTC)
HOUR = datetime(2026, 3, 1, 12, tzinfo=UTC)  # NOW's hour


def rows(store) -> list[tuple]:
    with store.engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT counter, hour, count FROM catena_receiver_counters ORDER BY 1, 2")
        return [tuple(r) for r in found]


def test_an_empty_inbox_reports_zeros_for_each_of_the_last_24_hours(store):
    stats = store.webhook_stats(now=NOW)
    assert stats == WebhookStats(
        events_per_hour=tuple(HourlyCount(hour=HOUR - timedelta(hours=h), count=0) for h in range(23, -1, -1))
    )


def test_counts_are_added_per_counter_and_hour(store):
    store.add_counters({"events": 2, "duplicates": 1}, at=NOW)
    store.add_counters({"events": 3, "signature_failures": 4}, at=NOW + timedelta(minutes=5))
    store.add_counters({"events": 7, "rejected": 2}, at=NOW - timedelta(hours=1))
    store.add_counters({"events": 1}, at=NOW - timedelta(hours=23))
    store.add_counters({"events": 100, "signature_failures": 10, "duplicates": 10}, at=NOW - timedelta(hours=24))
    stats = store.webhook_stats(now=NOW)
    # Totals are over all time; "last hour" is the current hour; the histogram the last 24 hours.
    assert (stats.events_total, stats.events_last_hour) == (113, 5)
    assert (stats.signature_failures, stats.signature_failures_last_hour) == (14, 4)
    assert (stats.duplicates_dropped, stats.duplicates_last_hour) == (11, 1)
    assert stats.rejected == 2
    per_hour = {c.hour: c.count for c in stats.events_per_hour}
    assert list(per_hour) == [HOUR - timedelta(hours=h) for h in range(23, -1, -1)]
    assert per_hour == {
        **{hour: 0 for hour in per_hour},
        HOUR: 5,
        HOUR - timedelta(hours=1): 7,
        HOUR - timedelta(hours=23): 1,
    }


def test_a_shorter_window(store):
    store.add_counters({"events": 1}, at=NOW - timedelta(hours=2))
    store.add_counters({"events": 2}, at=NOW - timedelta(hours=3))
    stats = store.webhook_stats(now=NOW, hours=3)
    assert stats.events_per_hour == (
        HourlyCount(hour=HOUR - timedelta(hours=2), count=1),
        HourlyCount(hour=HOUR - timedelta(hours=1), count=0),
        HourlyCount(hour=HOUR, count=0),
    )
    assert stats.events_total == 3


def test_the_hour_is_the_utc_hour_whatever_the_callers_zone(store):
    local = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))  # 18:10 there
    store.add_counters({"events": 1}, at=local)
    stats = store.webhook_stats(now=local)
    assert stats.events_last_hour == 1 and stats.events_per_hour[-1] == HourlyCount(hour=HOUR, count=1)
    assert [(name, count) for name, _, count in rows(store)] == [("events", 1)]
    assert stats.events_per_hour[-1].hour.tzinfo is not None


def test_the_hour_is_the_utc_hour_whatever_the_machines_zone(store, machine_in_india):
    store.add_counters({"events": 1}, at=NOW)
    assert store.webhook_stats(now=NOW).events_per_hour[-1] == HourlyCount(hour=HOUR, count=1)


def test_zero_counts_are_not_written(store):
    store.add_counters({"rejected": 0, "duplicates": 0}, at=NOW)
    store.record_events([], counters={"rejected": 0})
    assert rows(store) == []
    store.add_counters({"rejected": 0, "duplicates": 2}, at=NOW)
    assert [(name, count) for name, _, count in rows(store)] == [("duplicates", 2)]


def test_without_a_time_counts_go_to_the_current_hour(store):
    before = datetime.now(UTC)
    store.add_counters({"rejected": 1})
    after = datetime.now(UTC)
    [(_, hour, count)] = rows(store)
    hours = {t.replace(minute=0, second=0, microsecond=0) for t in (before, after)}
    assert datetime.fromisoformat(str(hour)).replace(tzinfo=UTC) in hours and count == 1
    assert store.webhook_stats(now=after).rejected == 1


def test_the_last_event_is_the_newest_stored_and_held_events_are_counted(store):
    envs = fe.happy()
    connection_events = [e for e in envs if e["event_name"].startswith(("connection.", "fleet_connection."))]
    store.record_event(connection_events[0], fe.body(connection_events[0]), received_at=NOW)
    store.record_event(connection_events[1], fe.body(connection_events[1]), received_at=NOW - timedelta(hours=2))
    other = fe.envelope(1, "vehicle_location.added", {"id": "v-1", "fleet_id": fe.FLEET_ID})
    store.record_event(other, fe.body(other), received_at=NOW - timedelta(hours=1))
    stats = store.webhook_stats(now=NOW)
    assert stats.last_event_at == NOW - timedelta(hours=1)  # the last stored, not the latest received
    assert stats.held_events == 2
    assert stats.events_total == 3


def test_counters_on_postgres_are_sent_with_the_commit_and_add_up(postgres_url):
    with migrated_store(postgres_url) as store:
        store.add_counters({"events": 2, "rejected": 1}, at=NOW)
        store.add_counters({"events": 3, "rejected": 0}, at=NOW)
        store.record_events([], counters={"signature_failures": 4})
        stats = store.webhook_stats(now=NOW)
        assert (stats.events_total, stats.events_last_hour, stats.rejected, stats.signature_failures) == (5, 5, 1, 4)
