"""Watcher cursors: where each inbox-tailing watcher (triggers/inbox_events.py) stopped.

One row per watcher name: the ``seq`` of the last event it emitted. The watcher reads events with
``seq`` above it (``events_after``), and since ``seq`` order is commit order it never misses one.

A cursor write is not an inbox write in the sense of ``InboxDatabase.write``: it changes no event or
onboarding and allocates no ``seq``, so it does not take the writer lock (a watcher moving its cursor
after every event would otherwise queue behind, and hold up, the receiver's writers). It is one
upsert statement in a transaction of its own, so watchers saving at once never conflict.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from catena_airflow.inbox.engine import InboxDatabase, retried_when_busy
from catena_airflow.inbox.schema import watcher_cursors


class WatcherCursorsRepo:
    """The ``catena_airflow_watcher_cursors`` table (schema v4)."""

    def __init__(self, db: InboxDatabase) -> None:
        self.db = db

    def watcher_cursor(self, name: str) -> int | None:
        """The ``seq`` of the last event the watcher ``name`` emitted; None if it never saved one."""
        with self.db.engine.connect() as conn:
            value = conn.execute(select(watcher_cursors.c.seq).where(watcher_cursors.c.name == name)).scalar()
        return None if value is None else int(value)

    @retried_when_busy
    def set_watcher_cursor(self, name: str, seq: int) -> None:
        """Save ``seq`` as where the watcher ``name`` stopped (created on first save, else replaced)."""
        now = datetime.now(UTC)
        insert = self.db.insert(watcher_cursors).values(name=name, seq=seq, updated_at=now)
        upsert = insert.on_conflict_do_update(
            index_elements=[watcher_cursors.c.name],
            set_={"seq": insert.excluded.seq, "updated_at": insert.excluded.updated_at},
        )
        with self.db.engine.begin() as conn:
            conn.execute(upsert)
