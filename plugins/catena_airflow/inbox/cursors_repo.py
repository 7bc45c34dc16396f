"""Reader cursors: how far each reader of the inbox's ``seq`` got.

One row per reader name: the ``seq`` of the last event it emitted or handled. Two kinds of readers keep
one here, under names of their own: the asset watchers (triggers/inbox_events.py, ``watcher:...``) and,
since schema v5, the operations handlers (operators/operations.py, ``operations:...``). A reader reads
events with ``seq`` above its cursor (``events_after``), and since ``seq`` order is commit order it
never misses one. Watchers set theirs (``set_watcher_cursor``); handlers only ever move theirs forward
(``advance_watcher_cursor``).

A cursor write is not an inbox write in the sense of ``InboxDatabase.write``: it changes no event or
onboarding and allocates no ``seq``, so it does not take the writer lock (a watcher moving its cursor
after every event would otherwise queue behind, and hold up, the receiver's writers). It is one
upsert statement in a transaction of its own, so readers saving at once never conflict.
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
        """The ``seq`` the reader ``name`` got to; None if it never saved one."""
        with self.db.engine.connect() as conn:
            value = conn.execute(select(watcher_cursors.c.seq).where(watcher_cursors.c.name == name)).scalar()
        return None if value is None else int(value)

    @retried_when_busy
    def set_watcher_cursor(self, name: str, seq: int) -> None:
        """Save ``seq`` as where the reader ``name`` stopped (created on first save, else replaced)."""
        with self.db.engine.begin() as conn:
            conn.execute(self.db.upsert(watcher_cursors, _row(name, seq), ("name",)))

    @retried_when_busy
    def advance_watcher_cursor(self, name: str, seq: int) -> None:
        """Move the cursor of ``name`` forward to ``seq`` (created on first save; never moved backwards)."""
        insert = self.db.insert(watcher_cursors).values(_row(name, seq))
        upsert = insert.on_conflict_do_update(
            index_elements=[watcher_cursors.c.name],
            set_={"seq": insert.excluded.seq, "updated_at": insert.excluded.updated_at},
            where=watcher_cursors.c.seq < insert.excluded.seq,
        )
        with self.db.engine.begin() as conn:
            conn.execute(upsert)


def _row(name: str, seq: int) -> dict[str, object]:
    return {"name": name, "seq": seq, "updated_at": datetime.now(UTC)}
