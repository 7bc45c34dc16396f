"""The receiver's hourly counters (events, duplicates, signature failures, rejections) and its health read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select, true

from catena_airflow.inbox import pg_transaction, projection
from catena_airflow.inbox.engine import InboxDatabase, retried_when_busy
from catena_airflow.inbox.models import HourlyCount, WebhookStats
from catena_airflow.inbox.schema import events, receiver_counters

COUNTER_EVENTS = "events"
COUNTER_DUPLICATES = "duplicates"
COUNTER_SIGNATURE_FAILURES = "signature_failures"
COUNTER_REJECTED = "rejected"


class Counters:
    """Adds to the counters (alone, or inside another writer's transaction) and reads them back."""

    def __init__(self, db: InboxDatabase) -> None:
        self.db = db

    @retried_when_busy
    def add_counters(self, counts: Mapping[str, int], *, at: datetime | None = None) -> None:
        """Add to the receiver's hourly counters (signature failures, rejections, ...)."""
        if any(counts.values()):
            with self.db.write() as conn:
                self.add_in(conn, counts, at or datetime.now(UTC))

    def add_in(self, conn: Connection, counts: Mapping[str, int], at: datetime) -> None:
        """Add within the writing transaction ``conn`` (a batch's event counts commit with its events)."""
        rows = [{"counter": name, "hour": _hour(at), "count": n} for name, n in sorted(counts.items()) if n]
        if rows and not pg_transaction.rows_at_commit(conn, self.db.statements.add_counter, rows):
            conn.execute(self.db.statements.add_counter, rows)

    def webhook_stats(self, *, now: datetime | None = None, hours: int = 24) -> WebhookStats:
        """Receiver health: last event, events per hour (last ``hours``), signature failures, duplicates."""
        now = projection.to_utc(now) or datetime.now(UTC)
        current = _hour(now)
        with self.db.engine.connect() as conn:
            last = conn.execute(select(events.c.received_at).order_by(events.c.seq.desc()).limit(1)).scalar()
            totals = dict(
                conn.execute(
                    select(receiver_counters.c.counter, func.sum(receiver_counters.c.count)).group_by(
                        receiver_counters.c.counter
                    )
                ).all()
            )
            recent = conn.execute(
                select(receiver_counters.c.counter, receiver_counters.c.hour, receiver_counters.c.count).where(
                    receiver_counters.c.hour > current - timedelta(hours=hours)
                )
            ).all()
            held = conn.execute(select(func.count()).select_from(events).where(events.c.held == true())).scalar()
        per_hour: dict[str, dict[datetime, int]] = {}
        for counter, hour, count in recent:
            per_hour.setdefault(counter, {})[projection.to_utc(hour)] = int(count)
        events_by_hour = per_hour.get(COUNTER_EVENTS, {})
        return WebhookStats(
            last_event_at=projection.to_utc(last),
            events_total=int(totals.get(COUNTER_EVENTS) or 0),
            events_last_hour=events_by_hour.get(current, 0),
            events_per_hour=tuple(
                HourlyCount(
                    hour=current - timedelta(hours=h), count=events_by_hour.get(current - timedelta(hours=h), 0)
                )
                for h in range(hours - 1, -1, -1)
            ),
            signature_failures=int(totals.get(COUNTER_SIGNATURE_FAILURES) or 0),
            signature_failures_last_hour=per_hour.get(COUNTER_SIGNATURE_FAILURES, {}).get(current, 0),
            duplicates_dropped=int(totals.get(COUNTER_DUPLICATES) or 0),
            duplicates_last_hour=per_hour.get(COUNTER_DUPLICATES, {}).get(current, 0),
            rejected=int(totals.get(COUNTER_REJECTED) or 0),
            held_events=int(held or 0),
        )


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
